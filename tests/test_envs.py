"""The env suite: registry errors, dynamics against Gymnasium's equations,
episode handling (termination vs truncation, final observation, auto-reset)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import env as env_lib
from rljax.env import Env, State


def test_names_cover_classic_and_every_brax_env():
    names = envs.names()
    for name in ("cartpole", "pendulum", "brax/ant", "brax/hopper", "brax/inverted_pendulum", "brax/humanoid"):
        assert name in names


def test_brax_test_only_envs_are_makeable_but_not_listed():
    from brax import envs as brax_envs

    names = envs.names()
    assert "brax/fast" not in names  # brax's "trivial Env for unit testing"
    assert {f"brax/{n}" for n in brax_envs._envs} - set(names) == {"brax/fast"}
    env = envs.make("brax/fast")
    assert env.observation_size == 2 and env.action_size == 1


def test_unknown_name_lists_valid_choices():
    with pytest.raises(ValueError, match="unknown env 'cartpol'; valid names: .*'cartpole'"):
        envs.make("cartpol")
    with pytest.raises(ValueError, match="unknown env 'brax/antt'"):
        envs.make("brax/antt")


def test_unknown_kwargs_list_accepted_ones():
    with pytest.raises(ValueError, match="'cartpole' does not take \\['mass'\\]; it takes .*'pole_mass'"):
        envs.make("cartpole", mass=2.0)
    with pytest.raises(ValueError, match="'brax/ant' does not take \\['legs'\\]; it takes .*'backend'"):
        envs.make("brax/ant", legs=6)
    with pytest.raises(ValueError, match="backend='physx'; must be one of"):
        envs.make("brax/ant", backend="physx")


def _gym_cartpole_step(s, action):
    # Gymnasium CartPole-v1 equations, written out independently in numpy.
    x, x_dot, th, th_dot = s
    force = 10.0 if action == 1 else -10.0
    total, pml, length = 1.1, 0.05, 0.5
    temp = (force + pml * th_dot**2 * math.sin(th)) / total
    th_acc = (9.8 * math.sin(th) - math.cos(th) * temp) / (length * (4 / 3 - 0.1 * math.cos(th) ** 2 / total))
    x_acc = temp - pml * th_acc * math.cos(th) / total
    return np.array([x + 0.02 * x_dot, x_dot + 0.02 * x_acc, th + 0.02 * th_dot, th_dot + 0.02 * th_acc])


def test_cartpole_matches_gymnasium_dynamics():
    env = envs.make("cartpole")
    state = env.reset(jax.random.key(3))
    s = np.asarray(state.obs, np.float64)
    actions = [1, 1, 0, 1, 0, 0, 0, 1, 1, 1]
    for a in actions:
        state = env.step(state, jnp.int32(a))
        s = _gym_cartpole_step(s, a)
        np.testing.assert_allclose(np.asarray(state.obs), s, rtol=1e-4, atol=1e-6)
        assert float(state.reward) == 1.0


def test_cartpole_terminates_past_12_degrees():
    env = envs.make("cartpole")
    state = env.reset(jax.random.key(0)).replace(pipeline_state=jnp.array([0.0, 0.0, 0.21, 0.0]))
    assert float(env.step(state, jnp.int32(0)).done) == 1.0


def test_pendulum_matches_gymnasium_dynamics_and_reward():
    env = envs.make("pendulum")
    state = env.reset(jax.random.key(0))
    th, th_dot = (float(v) for v in state.pipeline_state)
    for a in [0.5, -1.0, 2.0]:  # 2.0 is clipped to 1 (torque 2)
        u = 2.0 * min(max(a, -1.0), 1.0)
        norm = ((th + math.pi) % (2 * math.pi)) - math.pi
        cost = norm**2 + 0.1 * th_dot**2 + 0.001 * u**2
        th_dot = min(max(th_dot + (3 * 10.0 / 2 * math.sin(th) + 3.0 * u) * 0.05, -8.0), 8.0)
        th = th + th_dot * 0.05
        state = env.step(state, jnp.array([a]))
        np.testing.assert_allclose(float(state.reward), -cost, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(state.obs), [math.cos(th), math.sin(th), th_dot], rtol=1e-5, atol=1e-6)


def test_time_limit_truncates_and_keeps_final_observation():
    env = envs.make("pendulum")
    batched = env_lib.wrap_for_training(env, num_envs=3, length=5)
    state = batched.reset(jax.random.key(0))
    step = jax.jit(batched.step)
    for t in range(5):
        prev = state
        state = step(state, jnp.full((3, 1), 0.3))
    np.testing.assert_array_equal(np.asarray(state.done), 1.0)
    np.testing.assert_array_equal(np.asarray(state.info["truncation"]), 1.0)
    # The final observation is the pendulum stepped from the previous state, not the reset one.
    expected_final = jax.vmap(env.step, in_axes=(0, None))(
        prev.replace(info={}), jnp.array([0.3])).obs
    np.testing.assert_allclose(np.asarray(state.info["final_obs"]), np.asarray(expected_final), rtol=1e-6)
    assert not np.allclose(np.asarray(state.obs), np.asarray(state.info["final_obs"]))
    np.testing.assert_array_equal(np.asarray(state.info["steps"]), 0)  # reset happened
    assert np.all(np.asarray(state.info["last_episode_return"]) < 0)


def test_termination_is_not_truncation_and_resets_are_fresh():
    env = envs.make("cartpole")
    batched = env_lib.wrap_for_training(env, num_envs=64)
    state = batched.reset(jax.random.key(0))
    step = jax.jit(batched.step)
    ended = np.zeros(64, bool)
    for _ in range(60):  # always push right: every episode terminates long before 500 steps
        state = step(state, jnp.ones(64, jnp.int32))
        ended |= np.asarray(state.done) > 0
        assert np.all(np.asarray(state.info["truncation"]) == 0)
    assert ended.all()
    assert np.all(np.asarray(state.info["episodes"]) >= 1)
    # Fresh resets: envs restarted from different initial states.
    assert np.unique(np.asarray(state.obs)[:, 0]).size > 32


def test_brax_env_trains_through_the_same_wrappers():
    env = envs.make("brax/inverted_pendulum", backend="spring")
    assert env_lib.observation_size(env) == 4 and env.action_size == 1 and not env_lib.is_discrete(env)
    batched = env_lib.wrap_for_training(env, num_envs=2, length=3)
    state = batched.reset(jax.random.key(0))
    first_obs = np.asarray(state.obs)
    step = jax.jit(batched.step)
    for _ in range(3):
        state = step(state, jnp.zeros((2, 1)))
    np.testing.assert_array_equal(np.asarray(state.info["truncation"]), 1.0)
    # brax envs reset to the batch's first state (as brax's own wrapper does).
    np.testing.assert_allclose(np.asarray(state.obs), first_obs)
    assert np.all(np.asarray(state.info["last_episode_return"]) == 3.0)


def test_auto_reset_restarts_episodes_of_envs_that_never_terminate():
    # brax's reacher never sets done itself (its step keeps the incoming flag);
    # after an auto-reset the next episode must still run its full length.
    env = envs.make("brax/reacher", backend="spring")
    batched = env_lib.wrap_for_training(env, num_envs=2, length=5)

    def one_step(s, _):
        s = batched.step(s, jnp.zeros((2, env.action_size)))
        return s, (s.done, s.info["steps"])

    _, (done, steps) = jax.jit(lambda k: jax.lax.scan(one_step, batched.reset(k), None, length=12))(
        jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(done)[:, 0], [0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(np.asarray(steps)[:, 0], [1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2])


class UserEnv(Env):
    """A user's own env: not registered, none of the optional attributes, a cheap pure-JAX reset.
    A random walk started uniformly in [-1, 1]; episodes end after 3 steps (the default limit is
    not used: the test sets episode_length)."""

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
        x = jax.random.uniform(rng, (1,), minval=-1.0, maxval=1.0)
        zero = jnp.zeros((), jnp.float32)
        return State(pipeline_state=x, obs=x, reward=zero, done=zero, metrics={}, info={})

    def step(self, state, action):
        x = state.pipeline_state + 0.01 * action
        return state.replace(pipeline_state=x, obs=x, reward=-jnp.abs(x[0]))


def test_user_env_without_optional_attributes_gets_fresh_random_resets():
    env = UserEnv()
    assert not hasattr(env, "fresh_reset") and not hasattr(env, "default_episode_length")
    assert env_lib.fresh_reset(env) and not env_lib.is_discrete(env) and env_lib.episode_length(env) == 1000
    batched = env_lib.wrap_for_training(env, num_envs=4, length=3)
    step = jax.jit(batched.step)
    state = batched.reset(jax.random.key(0))
    starts = [np.asarray(state.obs[:, 0])]
    for _ in range(4):  # four episodes of 3 steps
        for _ in range(3):
            state = step(state, jnp.zeros((4, 1)))
        assert np.all(np.asarray(state.done) == 1.0) and np.all(np.asarray(state.info["truncation"]) == 1.0)
        starts.append(np.asarray(state.obs[:, 0]))
    starts = np.stack(starts)  # [episodes, envs]: every episode of every env starts somewhere new
    assert np.unique(starts).size == starts.size


def test_brax_envs_reuse_their_first_states_unless_they_declare_otherwise():
    from brax import envs as brax_envs

    env = brax_envs.get_environment("inverted_pendulum", backend="spring")  # made without the registry
    assert not env_lib.fresh_reset(env)
    env.fresh_reset = True
    assert env_lib.fresh_reset(env)
    assert not env_lib.fresh_reset(envs.make("brax/inverted_pendulum", backend="spring"))
