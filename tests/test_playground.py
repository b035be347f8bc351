"""MuJoCo Playground's DM Control Suite tasks through envs.make("playground/<Name>") (the playground extra)."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import playground
from rljax import agents, env as env_lib

mujoco_playground = pytest.importorskip("mujoco_playground", reason='needs pip install -e ".[playground]"')


def test_names_are_listed_without_importing_playground():
    code = ("import sys, envs; n = envs.names(); "
            "assert 'playground/CartpoleBalance' in n and 'playground/WalkerWalk' in n; "
            "assert 'mujoco_playground' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_static_task_list_matches_the_installed_package():
    from mujoco_playground._src import dm_control_suite

    assert set(playground.DM_CONTROL_SUITE) == set(dm_control_suite.ALL_ENVS)


def test_tasks_that_download_assets_and_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="Go1Getup needs MuJoCo Menagerie assets"):
        envs.make("playground/Go1Getup")
    with pytest.raises(ValueError, match="unknown env 'playground/Cartpole'.*playground/CartpoleBalance"):
        envs.make("playground/Cartpole")
    with pytest.raises(ValueError, match="config_overrides \\['impl'\\] not accepted"):
        envs.make("playground/CartpoleBalance", config_overrides={"impl": "warp"})
    with pytest.raises(ValueError, match="action_repeat=0; must be an int >= 1"):
        envs.make("playground/CartpoleBalance", action_repeat=0)


def test_cartpole_balance_follows_the_env_protocol():
    env = envs.make("playground/CartpoleBalance")
    assert (env.observation_size, env.action_size, env.default_episode_length) == (5, 1, 1000)
    assert env.backend == "mjx" and not env_lib.is_discrete(env)
    state = jax.jit(env.reset)(jax.random.key(0))
    assert state.obs.dtype == jnp.float32 and state.obs.shape == (5,)
    step = jax.jit(env.step)
    # Actions are clipped to [-1, 1] before they reach the actuators.
    clipped, at_limit = step(state, jnp.array([3.0])), step(state, jnp.array([1.0]))
    np.testing.assert_array_equal(np.asarray(clipped.obs), np.asarray(at_limit.obs))
    assert float(clipped.done) == 0.0 and np.isfinite(float(clipped.reward))


def test_action_repeat_sums_rewards_and_shortens_the_time_limit():
    env1 = envs.make("playground/CartpoleBalance")
    env2 = envs.make("playground/CartpoleBalance", action_repeat=2)
    assert env2.default_episode_length == 500 and env2.dt == pytest.approx(2 * env1.dt)
    state = jax.jit(env1.reset)(jax.random.key(1))
    action = jnp.array([0.5])
    one = jax.jit(env1.step)(state, action)
    two = jax.jit(env1.step)(one, action)
    repeated = jax.jit(env2.step)(state, action)
    np.testing.assert_allclose(np.asarray(repeated.obs), np.asarray(two.obs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(repeated.reward), float(one.reward + two.reward), rtol=1e-5)


def test_ppo_and_fpo_run_on_a_playground_task():
    """A few updates of each in one compiled program: finite metrics, episodes counted under the time limit."""
    env = envs.make("playground/CartpoleBalance", config_overrides={"episode_length": 50})
    assert env.default_episode_length == 50
    for module in (agents.ppo, agents.fpo):
        cfg = module.Config(total_steps=2 * 8 * 64, num_envs=8, unroll_length=64, num_minibatches=2, num_epochs=2)
        result = jax.jit(module.train, static_argnums=0)(env, cfg, jax.random.key(0))
        returns = np.asarray(result.metrics["episode_return"])
        assert np.isfinite(returns[-1]) and 0.0 < returns[-1] <= 50.0, returns


def test_a_playground_training_state_checkpoints_and_restores(tmp_path):
    """MJX's contact arrays of the contact-free cartpole are zero-size; the runner's checkpoints must hold them."""
    from rljax import checkpoint

    env = envs.make("playground/CartpoleBalance")
    cfg = agents.ppo.Config(num_envs=4, unroll_length=8)
    state = agents.ppo.init(env, cfg, jax.random.key(0))
    assert any(np.size(x) == 0 for x in jax.tree.leaves(state))
    path = checkpoint.save(str(tmp_path), 1, state)
    restored = checkpoint.restore(path, like=state)
    def raw(x):
        return jax.random.key_data(x) if jnp.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key) else x

    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(np.asarray(raw(a)), np.asarray(raw(b)))
