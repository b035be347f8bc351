"""SAC: config validation, discrete rejection, the max-entropy optimum on a
1-D bandit, every critic head in a vmapped sweep, and Pendulum (slow)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import agents, evaluate
from rljax.agents import sac
from rljax.critics import C51Settings
from rljax.env import Env, State
from scripts import experiment


class Bandit(Env):
    """One-step continuous bandit: constant observation, reward ``-(a - 0.5)^2``, terminates."""

    discrete_actions = False
    default_episode_length = 1
    fresh_reset = True

    @property
    def observation_size(self) -> int:
        return 1

    @property
    def action_size(self) -> int:
        return 1

    @property
    def backend(self) -> str:
        return "jax"

    def reset(self, rng):
        zero = jnp.zeros((), jnp.float32)
        return State(pipeline_state=zero, obs=jnp.ones(1), reward=zero, done=zero, metrics={}, info={})

    def step(self, state, action):
        reward = -jnp.square(action[0] - 0.5)
        return state.replace(reward=reward, done=jnp.ones((), jnp.float32))


@pytest.mark.parametrize("kwargs, field", [
    ({"actor_learning_rate": 0.0}, "actor_learning_rate"),
    ({"gamma": 1.5}, "gamma"),
    ({"critic": "ensemble"}, "critic"),
    ({"utd_ratio": 0.3}, "utd_ratio"),
    ({"policy_delay": 2}, "policy_delay"),
    ({"buffer_size": 100}, "buffer_size"),
    ({"total_steps": 1000}, "total_steps"),
    ({"entropy": "adaptive"}, "entropy"),
    ({"policy": "categorical"}, "reparameterised continuous head"),
    ({"warmup_steps": -1}, "warmup_steps"),
    ({"activation": "sigmoid"}, "activation"),
])
def test_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        sac.Config(**kwargs)


def test_config_schedule():
    cfg = sac.Config(total_steps=30_000, num_envs=4, utd_ratio=0.25, warmup_steps=2_000)
    assert (cfg.env_steps_per_update, cfg.grad_steps_per_update, cfg.num_updates) == (4, 1, 7_000)


def test_discrete_env_rejected_before_compiling():
    env = envs.make("cartpole")
    cfg = sac.Config(total_steps=20_000)
    with pytest.raises(ValueError, match="discrete"):
        sac.init(env, cfg, jax.random.key(0))
    with pytest.raises(ValueError, match="discrete"):
        jax.jit(sac.train, static_argnums=0)(env, cfg, jax.random.key(0))
    with pytest.raises(ValueError, match="discrete"):
        agents.dsac_t.train(env, agents.dsac_t.Config(), jax.random.key(0))


def test_bandit_reaches_max_entropy_optimum():
    """gamma 0, fixed alpha: the optimum of E[r(a)] + alpha H(pi) is pi*(a) ~ exp(r(a)/alpha)
    = exp(-(a - 0.5)^2 / alpha), i.e. N(0.5, alpha/2) over the action a = tanh(u) (truncation
    to (-1, 1) is negligible at alpha = 0.05: 0.5 +- 3.2 std). 4 seeds in one vmapped program."""
    alpha = 0.05
    cfg = sac.Config(total_steps=12_256, num_envs=8, utd_ratio=0.25, warmup_steps=256, gamma=0.0, entropy="fixed",
                     temperature=sac.TemperatureSettings(init=alpha), policy_hidden_sizes=(64, 64),
                     critic_hidden_sizes=(64, 64), batch_size=256)
    env = Bandit()

    def one_seed(key):
        result = sac.train(env, cfg, key)
        actions = sac.make_policy(env, cfg, result.params)(jnp.ones((100_000, 1)), jax.random.fold_in(key, 1))
        return actions[:, 0].mean(), actions[:, 0].var(), result.metrics["nonfinite"]

    means, variances, nonfinite = jax.jit(jax.vmap(one_seed))(jax.random.split(jax.random.key(0), 4))
    print("bandit action mean, variance per seed:", means, variances)
    assert not np.asarray(nonfinite).any()
    np.testing.assert_allclose(np.asarray(means), 0.5, rtol=0.05)
    assert float(np.mean(variances)) == pytest.approx(alpha / 2, rel=0.1)
    np.testing.assert_allclose(np.asarray(variances), alpha / 2, rtol=0.2)


@pytest.mark.parametrize("critic", [
    "twin_q", "c51",
    # Each critic costs a compile (~30 s on 2 cores); the Gaussian head also runs in test_dsac_t.py.
    pytest.param("quantile", marks=pytest.mark.slow), pytest.param("gaussian", marks=pytest.mark.slow)])
def test_every_critic_trains_in_a_vmapped_sweep(critic):
    """Tiny runs, two learning rates as one program: shapes, finiteness, env-step accounting."""
    env = envs.make("pendulum")
    cfg = sac.Config(total_steps=600, num_envs=2, warmup_steps=200, batch_size=32, buffer_size=1_000,
                     policy_hidden_sizes=(16,), critic_hidden_sizes=(16,), critic=critic,
                     c51=C51Settings(v_min=-500.0, v_max=0.0))
    cfgs = sac.Config.stack([cfg.replace(critic_learning_rate=lr) for lr in (1e-4, 1e-3)])
    result = jax.jit(jax.vmap(lambda c: sac.train(env, c, jax.random.key(0))))(cfgs)
    assert result.metrics["critic_loss"].shape == (2, cfg.num_updates)
    assert not np.asarray(result.metrics["nonfinite"]).any()
    np.testing.assert_allclose(result.metrics["env_steps"][0, -1], 600)
    assert not np.allclose(result.metrics["critic_loss"][0], result.metrics["critic_loss"][1])


# The one stated Pendulum config (the library's preset): only environment-interaction fields differ
# from the defaults.
PENDULUM = sac.presets.preset("pendulum")


def pendulum_returns(module, cfg, train_env=None, seeds=4):
    """Mean deterministic evaluation return per seed, all seeds in one vmapped program."""
    env = envs.make("pendulum")
    train_env = env if train_env is None else train_env

    def run(key):
        result = module.train(train_env, cfg, key)
        policy = module.make_policy(env, cfg, result.params, deterministic=True)
        return evaluate(env, policy, jax.random.fold_in(key, 1), num_episodes=16).mean(), result.metrics["nonfinite"]

    returns, nonfinite = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), seeds))
    assert not np.asarray(nonfinite).any()
    return np.asarray(returns)


@pytest.mark.slow
def test_sac_pendulum():
    """About 5-8 minutes on 2 CPU cores (4 seeds x 14k gradient steps)."""
    returns = pendulum_returns(sac, PENDULUM)
    print("SAC pendulum returns per seed:", returns)
    assert returns.mean() >= -200


def test_experiment_script_writes_a_run_folder(tmp_path):
    import glob
    import json
    import os

    module = experiment("sac")
    summary = module.main(["--env", "pendulum", "--total-steps", "1200", "--warmup-steps", "400",
                           "--batch-size", "32", "--policy-hidden-sizes", "16",
                           "--critic-hidden-sizes", "16", "--seeds", "2", "--chunks", "2",
                           "--run-root", str(tmp_path), "--no-checkpoints"])
    run_dir = summary["run_dir"]
    for name in ("config.json", "metrics.csv", "curves.png", "summary.json"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0, name
    assert glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    config = json.load(open(os.path.join(run_dir, "config.json")))["config"]
    assert config["total_steps"] == 1200 and config["num_envs"] == 4  # the pendulum preset, overridden
    assert config["temperature"]["learning_rate"] == 3e-4  # groups are saved nested
    assert len(summary["eval_return_per_seed"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("scale", [0.1, 10.0])
def test_sac_reward_scale(scale):
    """SAC under DSAC-T's reward-scale test (same PENDULUM config; a measurement, SAC makes no such claim)."""
    from rljax.env import RewardScaling

    returns = pendulum_returns(sac, PENDULUM, RewardScaling(envs.make("pendulum"), scale))
    print(f"SAC pendulum, reward x{scale}, returns per seed:", returns)
    assert returns.mean() >= -200


def test_entropy_regulators_are_one_pluggable_piece():
    env = envs.make("pendulum")
    base = sac.Config(total_steps=400, num_envs=2, warmup_steps=200, batch_size=32, buffer_size=1_000,
                      policy_hidden_sizes=(16,), critic_hidden_sizes=(16,))
    results = {name: jax.jit(sac.train, static_argnums=0)(env, base.replace(entropy=name), jax.random.key(0))
               for name in ("learned", "fixed", "none")}
    learned, fixed, none = (results[n].metrics for n in ("learned", "fixed", "none"))
    assert np.all(np.asarray(none["alpha"]) == 0.0) and "entropy_estimate" not in none
    np.testing.assert_allclose(np.asarray(fixed["alpha"]), 1.0)
    alphas = np.asarray(learned["alpha"])  # the entropy starts above the target: the temperature falls
    assert 0.99 < alphas[0] <= 1.0 and alphas[-1] < alphas[0] and "entropy_estimate" in learned
    with pytest.raises(ValueError, match="entropy='adaptive': must be one of"):
        base.replace(entropy="adaptive")
