"""DACER: the Gaussian-mixture entropy estimate against closed forms, gradients through the denoising
chain against finite differences, the noise-scale regulator's schedule, config checks, and the
bimodal bandit (DACER keeps both modes, Gaussian SAC picks one)."""

import math

import chex
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import agents, evaluate
from rljax.agents.dacer import (CoverageSettings, NoiseScaleRegulator, NoiseScaleSettings, fit_gaussian_mixture,
                                mixture_entropy)
from rljax.agents.sac.entropy import ActorSample
from rljax.env import RewardScaling
from rljax.policies import DiffusionHead


def _gaussian_entropy(cov: np.ndarray) -> float:
    d = cov.shape[0]
    return 0.5 * d * (1 + math.log(2 * math.pi)) + 0.5 * np.linalg.slogdet(cov)[1]


class TestMixtureEntropy(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_within_five_percent_of_a_known_gaussians_entropy(self):
        estimate = self.variant(mixture_entropy)
        for cov in (np.array([[1.0, 0.5], [0.5, 2.0]]), np.diag([0.5, 1.0, 3.0])):
            samples = jax.random.normal(jax.random.key(0), (2000, cov.shape[0])) @ np.linalg.cholesky(cov).T
            truth = _gaussian_entropy(cov)
            got = float(estimate(jnp.asarray(samples, jnp.float32), jax.random.key(1)))
            assert abs(got - truth) <= 0.05 * abs(truth), (got, truth)

    def test_separates_two_narrow_modes(self):
        """Two modes at +-0.6 of std 0.1: entropy log 2 + H(N(0, 0.1^2)) = -0.19; one Gaussian over both
        would say 0.93."""
        signs = jnp.where(jnp.arange(2000) % 2 == 0, 1.0, -1.0)[:, None]
        samples = 0.6 * signs + 0.1 * jax.random.normal(jax.random.key(0), (2000, 1))
        truth = math.log(2) + _gaussian_entropy(np.array([[0.01]]))
        assert abs(float(mixture_entropy(samples, jax.random.key(1))) - truth) < 0.05
        mixture = fit_gaussian_mixture(samples, jax.random.key(1))
        chex.assert_shape((mixture.weights, mixture.means, mixture.covariances), [(3,), (3, 1), (3, 1, 1)])
        np.testing.assert_allclose(float(jnp.sum(mixture.weights)), 1.0, rtol=1e-5)

    def test_rejects_more_components_than_samples(self):
        with pytest.raises(ValueError, match="num_components=3: must be <= the number of samples"):
            mixture_entropy(jnp.zeros((2, 1)), jax.random.key(0))


def test_gradients_through_the_denoising_chain_match_finite_differences():
    """d/dparams of a function of the sampled action, backpropagated through all K steps (float64)."""
    head = DiffusionHead(2, (16, 16), num_steps=5, min_std=1e-3)
    obs = jax.random.normal(jax.random.key(0), (8, 3))
    with jax.enable_x64(True):
        params = jax.tree.map(lambda x: x.astype(jnp.float64), head.init(jax.random.key(1), 3))
        obs = obs.astype(jnp.float64)
        weights = jnp.asarray([[1.0, -2.0]], jnp.float64)

        def objective(p):
            action = head.sample(p, obs, jax.random.key(2))[0]
            return jnp.sum(jnp.sin(3.0 * action) * weights)

        grad = jax.grad(objective)(params)
        flat, unravel = jax.flatten_util.ravel_pytree(params)
        directions = jax.random.normal(jax.random.key(3), (4,) + flat.shape, jnp.float64)
        h = 1e-6
        for d in directions:
            numeric = (objective(unravel(flat + h * d)) - objective(unravel(flat - h * d))) / (2 * h)
            analytic = jnp.dot(jax.flatten_util.ravel_pytree(grad)[0], d)
            np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-6, atol=1e-9)
        assert float(jnp.linalg.norm(jax.flatten_util.ravel_pytree(grad)[0])) > 1e-3  # the test has teeth


def _regulator(**settings) -> NoiseScaleRegulator:
    return NoiseScaleRegulator(NoiseScaleSettings(**settings), action_size=2)


def test_regulator_steps_alpha_once_per_period_against_the_mean_estimate():
    """A deterministic actor: the explored actions are N(0, (0.1 alpha)^2 I) in 2-D, entropy
    2.84 + 2 log 0.3 = 0.43 at alpha 3, above the target -1.8, so alpha falls, by the Adam rate,
    exactly at each period's end."""
    regulator = _regulator(update_period=3, entropy_states=2, entropy_samples=200, learning_rate=0.1,
                           noise_scale=0.1)
    sampler = lambda obs, k: jnp.zeros(obs.shape[:-1] + (2,))  # noqa: E731
    sample = ActorSample(obs=jnp.zeros((8, 3)), action=jnp.zeros((8, 2)), log_prob=None)
    update = jax.jit(lambda s, k: regulator.update(s, sample, k, sampler))
    state, alphas, estimates = regulator.init(), [], []
    for i in range(6):
        state, metrics = update(state, jax.random.key(i))
        alphas.append(float(regulator.alpha(state)))
        estimates.append(float(metrics["entropy_estimate"]))
    np.testing.assert_allclose(alphas[:2], 3.0)
    np.testing.assert_allclose(alphas[2], 3.0 * math.exp(-0.1), rtol=1e-4)  # Adam's first step: the rate
    assert alphas[3] == alphas[4] == alphas[2] and alphas[5] < alphas[4]
    truth = _gaussian_entropy(np.eye(2) * 0.3**2)
    np.testing.assert_allclose(np.mean(estimates[:3]), truth, atol=0.1)


def test_exploration_noise_is_scaled_by_alpha_and_clipped_to_the_action_box():
    regulator = _regulator(noise_scale=0.1, init=2.0)
    state = regulator.init()
    noisy = regulator.explore(state, jnp.zeros((20_000, 2)), jax.random.key(0))
    np.testing.assert_allclose(float(jnp.std(noisy)), 0.2, rtol=0.02)
    assert float(jnp.max(jnp.abs(regulator.explore(state, jnp.full((100, 2), 0.99), jax.random.key(1))))) <= 1.0


def test_config_checks():
    cfg = agents.dacer.Config()
    assert cfg.policy == "diffusion" and cfg.entropy == "noise_scale" and cfg.diffusion.num_steps == 20
    assert cfg.diffusion.clip_gradient == "inward"  # ours: the exact clip gradient can strand the actor
    with pytest.raises(ValueError, match="mixture_components=300: must be <= entropy_samples"):
        NoiseScaleSettings(mixture_components=300)
    with pytest.raises(ValueError, match="entropy_states=512: must be <= batch_size"):
        cfg.replace(noise_scale=cfg.noise_scale.replace(entropy_states=512))
    with pytest.raises(ValueError, match="entropy="):
        cfg.replace(entropy="learned")
    assert not agents.dacer.make_parts(envs.make("pendulum"), cfg).regulator.regularizes_actor  # weight 0
    with pytest.raises(ValueError, match="weight=-1.0"):
        CoverageSettings(weight=-1.0)
    with pytest.raises(ValueError, match="candidates=0"):
        cfg.replace(coverage=cfg.coverage.replace(candidates=0))
    with pytest.raises(ValueError, match="discrete actions"):
        agents.dacer.init(envs.make("cartpole"), cfg.replace(total_steps=20_000), jax.random.key(0))
    with pytest.raises(ValueError, match="noise_scale settings group"):
        agents.sac.make_parts(envs.make("pendulum"), agents.sac.Config(entropy="noise_scale"))


def test_dacer_learns_the_better_bump_of_the_unequal_bandit():
    """4 seeds in one program: through its chain, the diffusion actor moves to the 1.0 bump at +0.6 (the other
    bump, at -0.6, pays 0.8; a uniform policy about 0.22)."""
    env = envs.make("bandit/bimodal_unequal")
    cfg = agents.dacer.Config(total_steps=12_000, num_envs=16, unroll_length=1, warmup_steps=1000,
                              buffer_size=20_000, gamma=0.0, utd_ratio=0.25, batch_size=128,
                              policy_hidden_sizes=(64, 64), critic_hidden_sizes=(256, 256), actor_learning_rate=1e-3,
                              critic_learning_rate=1e-3)
    cfg = cfg.replace(diffusion=cfg.diffusion.replace(num_steps=5))

    def run(key):
        result = agents.dacer.train(env, cfg, key)
        deterministic = agents.dacer.make_policy(env, cfg, result.params, deterministic=True)
        samples = agents.dacer.make_policy(env, cfg, result.params)(jnp.ones((1000, 1)), key)[:, 0]
        return (evaluate(env, deterministic, key, num_episodes=16).mean(), jnp.mean(jnp.abs(samples - 0.6) < 0.2),
                result.metrics["nonfinite"])

    returns, near_better, nonfinite = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), 4))
    assert not np.asarray(nonfinite).any()
    assert np.all(np.asarray(returns) >= 0.95), returns
    assert np.all(np.asarray(near_better) >= 0.9), near_better


def test_normalised_rewards_make_dacer_learn_the_same_at_every_reward_scale():
    """DACER inherits DSAC-T's reward normalisation: rewards x 0.01 and x 100 give learning the same numbers
    (up to float rounding), so its actor, critic and alpha end the same."""
    cfg = agents.dacer.Config(total_steps=400, num_envs=2, unroll_length=1, warmup_steps=200, batch_size=32,
                              buffer_size=1_000, policy_hidden_sizes=(16,), critic_hidden_sizes=(16,),
                              noise_scale=NoiseScaleSettings(update_period=10, entropy_samples=16))
    cfg = cfg.replace(diffusion=cfg.diffusion.replace(num_steps=3))
    assert cfg.normalize_rewards
    train = jax.jit(agents.dacer.train, static_argnums=(0, 1))
    small, large = (train(RewardScaling(envs.make("pendulum"), scale), cfg, jax.random.key(0))
                    for scale in (0.01, 100.0))
    np.testing.assert_allclose(float(large.state.reward_normalizer) * 1e4, float(small.state.reward_normalizer),
                               rtol=1e-4)
    chex.assert_trees_all_close(small.params, large.params, rtol=1e-3, atol=1e-5)
    chex.assert_trees_all_close(small.state.entropy["log_alpha"], large.state.entropy["log_alpha"], atol=1e-5)


def test_mode_covering_term_is_the_boltzmann_expectation_of_the_imitation_loss():
    """With Q = -a^2 / (2 s^2) * temperature, the softmax weights over uniform candidates make the term a
    self-normalised estimate of E[loss(a)] under N(0, s^2) truncated to [-1, 1]; with loss(a) = a^2 that is
    s^2 (the truncation at 3.3 s changes it by < 1%)."""
    s, temperature = 0.3, 0.2
    regulator = NoiseScaleRegulator(NoiseScaleSettings(), 1, CoverageSettings(weight=2.0, temperature=temperature,
                                                                              candidates=4096))
    assert regulator.regularizes_actor and not NoiseScaleRegulator(NoiseScaleSettings(), 1).regularizes_actor
    obs = jnp.ones((16, 3))

    def q_value(o, a):
        chex.assert_shape((o, a), [(16 * 4096, 3), (16 * 4096, 1)])
        return -jnp.square(a[:, 0]) / (2 * s**2) * temperature

    term = jax.jit(lambda k: regulator.actor_regularizer(
        regulator.init(), obs, k, q_value, lambda o, a, _: jnp.square(a[..., 0])))(jax.random.key(0))
    np.testing.assert_allclose(float(term), 2.0 * s**2, rtol=0.03)


@pytest.mark.slow
def test_mode_covering_term_keeps_both_modes_of_the_bimodal_bandit():
    """4 seeds in one program on equal bumps at +-0.6 (``experiments/multimodal.py``'s config, 6 min): with
    the term, each mode keeps at least 25% of the actor's samples; DACER's -Q alone (same config, weight 0)
    ends with at least 90% on one side. (At 12k steps, 5 denoising steps and delay 2, 3 of 4 seeds with the
    term still sat on one bump.)"""
    env = envs.make("bandit/bimodal")
    cfg = agents.dacer.Config(total_steps=40_000, num_envs=16, unroll_length=1, warmup_steps=1000,
                              buffer_size=20_000, gamma=0.0, utd_ratio=0.25, batch_size=128, policy_delay=4,
                              policy_hidden_sizes=(64, 64), critic_hidden_sizes=(256, 256), actor_learning_rate=1e-3,
                              critic_learning_rate=1e-3)
    cfg = cfg.replace(diffusion=cfg.diffusion.replace(num_steps=10))

    def shares(cfg):
        def run(key):
            result = agents.dacer.train(env, cfg, key)
            samples = agents.dacer.make_policy(env, cfg, result.params)(jnp.ones((1000, 1)), key)[:, 0]
            return (jnp.mean(jnp.abs(samples - 0.6) < 0.2), jnp.mean(jnp.abs(samples + 0.6) < 0.2),
                    result.metrics["nonfinite"])
        plus, minus, nonfinite = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), 4))
        assert not np.asarray(nonfinite).any()
        return np.asarray(plus), np.asarray(minus)

    plus, minus = shares(cfg.replace(coverage=CoverageSettings(weight=10.0, temperature=0.1)))
    assert np.all(plus >= 0.25) and np.all(minus >= 0.25), (plus, minus)
    plus, minus = shares(cfg)
    assert np.all(np.maximum(plus, minus) >= 0.9), (plus, minus)
