"""DSAC-T: a preset over SAC's loop with its reference defaults; Pendulum and
reward-scale robustness (slow)."""

import math

import chex
import jax
import numpy as np
import pytest
from test_sac import pendulum_returns

import envs
from rljax.agents import dsac_t, sac
from rljax.critics import GaussianCriticSettings
from rljax.env import RewardScaling


def test_reference_defaults():
    cfg = dsac_t.Config()
    assert cfg.critic == "gaussian" and cfg.target_policy and cfg.policy_delay == 2
    assert cfg.policy_hidden_sizes == cfg.critic_hidden_sizes == (256, 256, 256) and cfg.activation == "gelu"
    # The temperature's rate is 10x the reference's (see dsac_t.Config).
    assert (cfg.actor_learning_rate, cfg.critic_learning_rate, cfg.temperature.learning_rate) == (1e-4, 1e-4, 3e-3)
    assert (cfg.gamma, cfg.batch_size, cfg.tau) == (0.99, 256, 0.005)
    assert (cfg.tanh_gaussian.log_std_min, cfg.tanh_gaussian.log_std_max) == (-20.0, 0.5)
    assert (cfg.gaussian.eps, cfg.gaussian.bound_sigmas, cfg.gaussian.tau_b) == (0.1, 3.0, 0.005)
    assert cfg.temperature.init == pytest.approx(math.e) and cfg.temperature.target_entropy_per_dim == -1.0
    assert cfg.entropy == "learned" and not cfg.gaussian.huber_ratio


def test_is_a_preset_of_the_shared_loop():
    assert isinstance(dsac_t.Config(), sac.Config)
    assert dsac_t.train is sac.train and dsac_t.update is sac.update and dsac_t.init is sac.init


def test_config_validation():
    with pytest.raises(ValueError, match="critic"):
        dsac_t.Config(critic="twin_q")
    with pytest.raises(ValueError, match="policy_delay"):
        dsac_t.Config(unroll_length=1)  # one gradient step per update can't hold a delayed group of 2
    with pytest.raises(ValueError, match="critic_learning_rate"):
        dsac_t.Config(critic_learning_rate=-1.0)


@pytest.mark.parametrize("huber_ratio", [False, True])
def test_trains_and_tracks_running_std(huber_ratio):
    env = envs.make("pendulum")
    cfg = dsac_t.Config(total_steps=800, num_envs=2, unroll_length=1, warmup_steps=200, batch_size=32,
                        buffer_size=1_000, policy_hidden_sizes=(16,), critic_hidden_sizes=(16,),
                        gaussian=GaussianCriticSettings(huber_ratio=huber_ratio))
    result = jax.jit(dsac_t.train, static_argnums=0)(env, cfg, jax.random.key(0))
    assert not np.asarray(result.metrics["nonfinite"]).any()
    sigma_bar = np.asarray(result.state.critic_state["sigma_bar"])
    assert sigma_bar.shape == (2,) and (sigma_bar > 0).all()
    assert float(result.state.critic_state["initialized"]) == 1.0
    # A Polyak target policy exists and lags the policy.
    lag = jax.tree.map(lambda t, p: float(np.abs(t - p).max()), result.state.target_params["policy"],
                       result.state.params["policy"])
    assert max(jax.tree.leaves(lag)) > 0


# The one stated Pendulum config (the library's preset): only environment-interaction fields differ
# from the defaults.
PENDULUM = dsac_t.presets.preset("pendulum")


@pytest.mark.slow
def test_dsac_t_pendulum():
    """About 22 min on 2 shared CPU cores (4 seeds x 14k gradient steps of 3x256 GELU nets)."""
    returns = pendulum_returns(dsac_t, PENDULUM)
    print("DSAC-T pendulum returns per seed:", returns)
    assert returns.mean() >= -200


@pytest.mark.slow
@pytest.mark.parametrize("scale", [0.01, 0.1, 10.0, 100.0])
def test_dsac_t_reward_scale_robustness(scale):
    """Same config, rewards scaled during training; evaluated in the original scale (about 15-40 min each
    on 2 shared CPU cores). Within 50 of the x1 figure in README (-150)."""
    returns = pendulum_returns(dsac_t, PENDULUM, RewardScaling(envs.make("pendulum"), scale))
    print(f"DSAC-T pendulum, reward x{scale}, returns per seed:", returns)
    assert returns.mean() >= -200


def test_normalised_rewards_make_learning_the_same_at_every_reward_scale():
    """Rewards x 0.01 and x 100 give learning the same numbers (up to float rounding): the warm-up's reward
    std scales with them."""
    cfg = dsac_t.Config(total_steps=600, num_envs=2, unroll_length=1, warmup_steps=200, batch_size=32,
                        buffer_size=1_000, policy_hidden_sizes=(16,), critic_hidden_sizes=(16,))
    train = jax.jit(dsac_t.train, static_argnums=(0, 1))
    results = {scale: train(RewardScaling(envs.make("pendulum"), scale), cfg, jax.random.key(0))
               for scale in (0.01, 100.0)}
    small, large = results[0.01], results[100.0]
    np.testing.assert_allclose(float(large.state.reward_normalizer) * 1e4, float(small.state.reward_normalizer),
                               rtol=1e-4)
    chex.assert_trees_all_close(small.params, large.params, rtol=1e-3, atol=1e-5)
    raw = train(RewardScaling(envs.make("pendulum"), 100.0), cfg.replace(normalize_rewards=False), jax.random.key(0))
    assert float(raw.state.reward_normalizer) == 1.0
    # Unnormalised, the critic's outputs have to grow towards the targets' scale (still 100x short here).
    assert abs(float(raw.metrics["target_q"][-1])) > 100 * abs(float(raw.metrics["q"][-1]))
    with pytest.raises(ValueError, match="normalize_rewards=True: .* warmup_steps must be > 0"):
        dsac_t.Config(warmup_steps=0)
