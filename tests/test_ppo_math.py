"""PPO's surrogate and the head contract it relies on: re-scoring from ``aux``,
per-term clipping of multi-term log-likelihoods, K = 1 equal to the
single-term loss, and a K = 3 head that learns CartPole."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import agents, evaluate
from rljax import env as env_lib
from rljax.agents.ppo.losses import clipped_surrogate, normalize_advantages, ppo_loss
from rljax.critics import ValueCritic
from rljax.policies import CategoricalHead, CategoricalSettings, GaussianHead, GaussianSettings, registry
from rljax.policies.base import HeadBase


@pytest.mark.parametrize("ratio,adv,expected", [
    (1.5, 1.0, 1.2),    # positive advantage: capped at 1 + eps
    (0.5, 1.0, 0.5),    # positive advantage, ratio below: unclipped (min)
    (0.5, -1.0, -0.8),  # negative advantage: capped at 1 - eps
    (1.5, -1.0, -1.5),  # negative advantage, ratio above: unclipped (min)
    (1.1, 2.0, 2.2),    # inside the trust region: plain ratio * A
])
def test_clipped_surrogate_cases(ratio, adv, expected):
    loss = clipped_surrogate(jnp.log(jnp.array([ratio])), jnp.array([adv]), 0.2)
    np.testing.assert_allclose(-float(loss), expected, rtol=1e-6)


def test_clipped_surrogate_gradient_vanishes_when_clipped():
    grad = jax.grad(lambda lr: clipped_surrogate(lr, jnp.array([1.0]), 0.2))(jnp.log(jnp.array([1.5])))
    assert float(grad[0]) == 0.0
    grad = jax.grad(lambda lr: clipped_surrogate(lr, jnp.array([1.0]), 0.2))(jnp.log(jnp.array([1.1])))
    np.testing.assert_allclose(float(grad[0]), -1.1, rtol=1e-6)  # d(-r A)/d log r = -r A


def test_multi_term_ratios_are_clipped_term_by_term():
    # Two samples x K = 3 terms; advantages broadcast over the terms; each term clipped on its own.
    ratios = jnp.array([[1.5, 1.1, 0.5], [0.5, 1.0, 1.5]])
    adv = jnp.array([1.0, -1.0])
    expected = np.mean([[1.2, 1.1, 0.5], [-0.8, -1.0, -1.5]])
    np.testing.assert_allclose(-float(clipped_surrogate(jnp.log(ratios), adv, 0.2)), expected, rtol=1e-6)
    # A schedule of clip values over the terms.
    eps = jnp.array([0.1, 0.2, 0.3])
    expected = np.mean([[1.1, 1.1, 0.5], [-0.9, -1.0, -1.5]])
    np.testing.assert_allclose(-float(clipped_surrogate(jnp.log(ratios), adv, eps)), expected, rtol=1e-6)
    with pytest.raises(AssertionError):
        clipped_surrogate(jnp.zeros((3, 2)), jnp.zeros(2), 0.2)  # advantages must match the batch axis


@pytest.mark.parametrize("name,env_name", [("categorical", "cartpole"), ("gaussian", "pendulum"),
                                           ("tanh_gaussian", "pendulum")])
def test_every_head_rescores_its_samples_from_aux(name, env_name):
    env = envs.make(env_name)
    obs_size = env_lib.observation_size(env)
    head = registry.make(name, action_size=env.action_size, hidden_sizes=(16,), activation="tanh")
    params = head.init(jax.random.key(0), obs_size)
    obs = jax.random.normal(jax.random.key(1), (8, 16, obs_size))
    action, aux, log_prob = head.sample_and_log_likelihood(params, obs, jax.random.key(2))
    same_action, same_aux = head.sample(params, obs, jax.random.key(2))
    chex.assert_trees_all_close((action, aux), (same_action, same_aux))
    chex.assert_trees_all_close(head.log_likelihood(params, obs, action, aux), log_prob, rtol=1e-5, atol=1e-5)
    chex.assert_shape(log_prob, (8, 16))


class _OldLoss:
    """PPO's loss as it was written before multi-term log-likelihoods (a reference)."""

    @staticmethod
    def __call__(params, batch, cfg, head, critic):
        log_ratio = head.log_likelihood(params["policy"], batch["obs"], batch["action"], {}) - batch["log_likelihood"]
        adv = normalize_advantages(batch["advantages"])
        ratio = jnp.exp(log_ratio)
        clipped = jnp.clip(ratio, 1 - cfg.clip_epsilon, 1 + cfg.clip_epsilon)
        policy_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
        value_loss = 0.5 * jnp.mean(jnp.square(critic.value(params["value"], batch["obs"]) - batch["returns"]))
        entropy = jnp.mean(head.entropy(params["policy"], batch["obs"]))
        return policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy


def _batch_and_params(head, obs_size, key):
    k = jax.random.split(key, 6)
    critic = ValueCritic((16,), "tanh")
    params = {"policy": head.init(k[0], obs_size), "value": critic.init(k[1], obs_size)}
    obs = jax.random.normal(k[2], (64, obs_size))
    action, aux = head.sample(params["policy"], obs, k[3])
    # Behaviour log-likelihoods of slightly different params, so ratios are not all 1.
    behaviour = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(k[4], p.shape), params["policy"])
    batch = {"obs": obs, "action": action, "aux": aux,
             "log_likelihood": head.log_likelihood(behaviour, obs, action, aux),
             "advantages": jax.random.normal(k[5], (64,)), "returns": jnp.ones(64), "values": jnp.zeros(64)}
    return params, batch, critic


class SingleTermLossTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_equals_the_single_term_formula_exactly(self):
        head = CategoricalHead(2, (16,), "tanh")
        params, batch, critic = _batch_and_params(head, 4, jax.random.key(0))
        cfg = agents.ppo.Config()
        new = self.variant(lambda p, b: ppo_loss(p, b, cfg, head, critic)[0])(params, batch)
        old = self.variant(lambda p, b: _OldLoss()(p, b, cfg, head, critic))(params, batch)
        assert float(new) == float(old)
        # The check is not vacuous: behaviour and current log-likelihoods differ.
        current = head.log_likelihood(params["policy"], batch["obs"], batch["action"], {})
        assert float(jnp.abs(batch["log_likelihood"] - current).max()) > 0.01


@dataclasses.dataclass(frozen=True)
class ThreeTermCategorical(CategoricalHead):
    """A toy chain head: the categorical log-prob split into K = 3 terms (thirds) that sum to it,
    as a 3-step denoising chain's per-step terms sum to the chain's log-prob. ``aux`` stores the
    Gumbel noise that picked the action, so re-scoring needs aux."""

    def sample(self, params, obs, key):
        logits = self._net.apply(params, obs)
        gumbel = jax.random.gumbel(key, logits.shape)
        return jnp.argmax(logits + gumbel, axis=-1).astype(jnp.int32), {"gumbel": gumbel}

    # The composed defaults (CategoricalHead's one-pass versions would bypass the override below).
    sample_and_log_likelihood = HeadBase.sample_and_log_likelihood
    log_likelihood_and_entropy = HeadBase.log_likelihood_and_entropy

    def log_likelihood(self, params, obs, action, aux):
        assert "gumbel" in aux  # PPO must hand back what sample stored
        log_prob = super().log_likelihood(params, obs, action, {})
        return jnp.stack([log_prob / 3.0] * 3, axis=-1)


registry.register("three_term_categorical", registry.HeadSpec(
    build=lambda n, sizes, act, s: ThreeTermCategorical(n, sizes, act), settings=CategoricalSettings,
    discrete=True, reparameterized=False))


def test_three_term_head_trains_cartpole_like_the_categorical_head():
    """K = 3 terms, each clipped, advantages broadcast: CartPole's preset still reaches the
    categorical head's threshold (the default-suite CartPole test: >= 475 over 4 seeds)."""
    env = envs.make("cartpole")
    cfg = agents.ppo.presets.preset("cartpole").replace(policy="three_term_categorical")
    head, _ = agents.ppo.make_heads(env, cfg)
    assert isinstance(head, ThreeTermCategorical)

    def one_seed(key):
        result = agents.ppo.train(env, cfg, key)
        policy = agents.ppo.make_policy(env, cfg, result.params, deterministic=True)
        return evaluate(env, policy, jax.random.fold_in(key, 1), num_episodes=16).mean(), result.metrics

    returns, metrics = jax.jit(jax.vmap(one_seed))(jax.random.split(jax.random.key(0), 4))
    print("three-term head, cartpole eval returns per seed:", returns)
    assert np.asarray(returns).mean() >= 475, returns
    assert not np.asarray(metrics["nonfinite"]).any()


@dataclasses.dataclass(frozen=True)
class NoEntropyGaussian(GaussianHead):
    """A head that says it has no entropy (as a flow head without a closed form would)."""

    entropy_kind = "none"
    log_likelihood_and_entropy = HeadBase.log_likelihood_and_entropy

    def entropy(self, params, obs, key=None):
        raise NotImplementedError("no entropy")


registry.register("no_entropy_gaussian", registry.HeadSpec(
    build=lambda n, sizes, act, s: NoEntropyGaussian(n, sizes, act, s.init_log_std), settings=GaussianSettings,
    discrete=False, reparameterized=True))


def test_head_without_entropy_logs_none_and_refuses_a_bonus():
    env = envs.make("pendulum")
    cfg = agents.ppo.Config(total_steps=1024, num_envs=4, unroll_length=64, policy="no_entropy_gaussian")
    with pytest.raises(ValueError, match="entropy_coef=0.01: the 'no_entropy_gaussian' policy head has no entropy"):
        agents.ppo.init(env, cfg, jax.random.key(0))
    result = jax.jit(agents.ppo.train, static_argnums=0)(env, cfg.replace(entropy_coef=0.0), jax.random.key(0))
    assert "entropy" not in result.metrics and "entropy_estimate" not in result.metrics
    assert np.isfinite(np.asarray(result.metrics["policy_loss"])).all()
    # A head with a closed form logs it; one with a sampled estimate logs it under its own name.
    exact = jax.jit(agents.ppo.train, static_argnums=0)(env, cfg.replace(policy="gaussian"), jax.random.key(0))
    assert "entropy" in exact.metrics
    estimate = jax.jit(agents.ppo.train, static_argnums=0)(env, cfg.replace(policy="tanh_gaussian"),
                                                           jax.random.key(0))
    assert "entropy_estimate" in estimate.metrics and "entropy" not in estimate.metrics


@pytest.mark.parametrize("n", [2, 5, 2048, 3000])
def test_minibatch_permutation_is_a_uniform_permutation(n):
    from rljax.agents.ppo.train import _permutation

    keys = jax.random.split(jax.random.key(0), 400)
    perms = np.asarray(jax.vmap(lambda k: _permutation(k, n))(keys))
    assert perms.dtype == np.int32
    assert all(np.array_equal(np.sort(p), np.arange(n)) for p in perms)
    # Every position takes every item about equally often (uniform marginals).
    first = np.bincount(perms[:, 0], minlength=n) if n <= 5 else np.bincount(perms[:, 0] * 5 // n, minlength=5)
    assert first.min() > 0.5 * first.mean()
    assert len({tuple(p[:8]) for p in perms}) > 300 or n <= 5
