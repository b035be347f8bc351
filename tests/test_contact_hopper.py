"""contact/hopper: a planar one-legged hopper (planar joint to the world, three hinges)
through the float32 bridge. Protocol and validation without compiling; then one compiled
program, a T-step rollout with the gradient of a masked reward sum w.r.t. the actions
(``_program``), run a few times: zero action (falls and terminates as designed), random
actions (reward = forward velocity + bonus - control cost, planarity), and the gradient
against central differences."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.contact import Hopper
from envs.contact.hopper import FOOT, SHIN, THIGH, TORSO
from rljax import env as env_lib

T = 50  # steps per compiled rollout: the zero-action hopper is down by then


def test_registered_and_bad_kwargs_rejected():
    assert "contact/hopper" in envs.names()
    assert isinstance(envs.make("contact/hopper"), Hopper)
    with pytest.raises(ValueError, match="does not take"):
        envs.make("contact/hopper", wind=1.0)
    for kw in [{"friction": 0.0}, {"torso_length": -1.0}, {"thigh_length": 0.05}, {"shin_length": math.nan},
               {"foot_length": 0.0}, {"radius": 0.0}, {"masses": (1.0, 1.0, 1.0)}, {"masses": (1.0, 1.0, -1.0, 1.0)},
               {"max_torque": math.inf}, {"joint_damping": -0.1}, {"dt": 0.0}, {"healthy_reward": -1.0},
               {"ctrl_cost": math.nan}, {"posture_reward": -0.5}, {"min_height": 5.0}, {"max_pitch": 0.0},
               {"reset_noise": 0.7}, {"armature": -0.1}, {"armature": math.nan},
               {"kappa": 0.0}, {"grad_kappa": -1.0}, {"max_iter": 0}, {"warm_start": 1}]:
        with pytest.raises(ValueError, match=list(kw)[0]):
            envs.make("contact/hopper", **kw)
    # Armature reaches the hip, knee and ankle (not the planar root): 0.1 by default, 0 on request.
    joints = envs.make("contact/hopper").world().joints
    assert [float(j.armature) for j in joints] == [0.0, 0.1, 0.1, 0.1]
    assert all(float(j.armature) == 0.0 for j in envs.make("contact/hopper", armature=0.0).world().joints)


def test_protocol_shapes_and_float32_without_x64():
    assert not jax.config.jax_enable_x64
    env = envs.make("contact/hopper")
    # Planar root (3 unactuated DOFs) + hip, knee, ankle.
    assert env.world.num_dofs == 6 and env.action_size == 3
    state = jax.eval_shape(env.reset, jax.random.key(0))
    assert state.obs.shape == (11,) and state.obs.dtype == jnp.float32
    for leaf in jax.tree.leaves(state):
        assert leaf.dtype != jnp.float64, "float64 leaked out of the env"
    # (The step's outputs are checked on the compiled rollout below: tracing it costs seconds.)
    assert env.fresh_reset and not env.discrete_actions and env.default_episode_length == 200
    assert env_lib.observation_size(env) == 11


def test_reset_stands_upright_on_the_ground():
    env = envs.make("contact/hopper", reset_noise=0.0)
    state = env.reset(jax.random.key(0))
    b = state.pipeline_state["bodies"]
    obs = np.asarray(state.obs)
    assert obs.dtype == np.float32 and obs.shape == (11,)
    np.testing.assert_allclose(obs, [env.standing_height + 1e-3] + [0.0] * 10, atol=1e-6)
    # Stacked: torso over thigh over shin, the foot lying flat (radius + 1 mm up) under the ankle.
    np.testing.assert_allclose(np.asarray(b.pos)[:, 0], [0.0, 0.0, 0.0, env.ankle_to_foot], atol=1e-6)
    np.testing.assert_allclose(b.pos[FOOT, 2], env.radius + 1e-3, atol=1e-6)
    assert b.pos[TORSO, 2] > b.pos[THIGH, 2] > b.pos[SHIN, 2] > b.pos[FOOT, 2]
    # The noisy reset starts every joint inside its limits and the hopper healthy.
    noisy = env.reset(jax.random.key(1))
    assert float(noisy.done) == 0.0 and np.all(np.abs(np.asarray(noisy.obs)[1:5]) <= env.reset_noise + 1e-6)


def test_posture_reward_is_one_upright_and_zero_at_the_edge_of_termination():
    # Computed on hand-made poses (no solver step): the smooth term SHAC and APG get gradients from.
    plain, shaped = envs.make("contact/hopper"), envs.make("contact/hopper", posture_reward=0.5)
    action = jnp.array([0.2, -0.4, 0.0])
    before = plain.reset(jax.random.key(0)).pipeline_state

    def reward(env, z, pitch, vx=0.7):
        pos, quat = env.pose(jnp.zeros(()), jnp.asarray(z), jnp.array([pitch, 0.0, 0.0, 0.0]))
        vel = jnp.zeros((4, 3)).at[TORSO, 0].set(vx)
        after = dict(before, bodies=before["bodies"]._replace(pos=pos, quat=quat, vel=vel))
        return float(env._reward(before, after, action))

    h0, base = plain.standing_height, 0.7 + 0.5 - plain.ctrl_cost * 0.2
    for z, pitch in [(h0, 0.0), (h0 - 0.2, 0.5), (h0 + 0.3, -0.9)]:
        np.testing.assert_allclose(reward(plain, z, pitch), base, atol=1e-6)  # off by default: Gym's reward
    np.testing.assert_allclose(reward(shaped, h0, 0.0), base + 0.5, atol=1e-6)
    np.testing.assert_allclose(reward(shaped, h0 + 0.3, 0.0), base + 0.5, atol=1e-6)  # no penalty in the air
    np.testing.assert_allclose(reward(shaped, h0, plain.max_pitch), base, atol=1e-5)
    np.testing.assert_allclose(reward(shaped, h0, -plain.max_pitch), base, atol=1e-5)
    np.testing.assert_allclose(reward(shaped, plain.min_height, 0.0), base, atol=1e-5)
    np.testing.assert_allclose(reward(shaped, 0.5 * (h0 + plain.min_height), 0.5),
                               base + 0.5 * (1 - 0.25 - 0.25), atol=1e-5)


@functools.lru_cache(maxsize=None)
def _program():
    """(env, start state, jitted ``(actions [T, 3], mask [T]) -> ((masked reward sum, aux), grad)``).

    One compiled program serves every test below (compiling a jointed step program
    costs ~30 s): the rollout's outputs ride in ``aux``; ``mask`` picks the steps
    whose rewards are summed and differentiated.
    """
    env = envs.make("contact/hopper")
    start = env.reset(jax.random.key(0))

    def total(actions, mask):
        def body(s, a):
            s = env.step(s, a)
            b = s.pipeline_state["bodies"]
            return s, (s.obs, s.reward, s.done, s.metrics["solver_converged"], s.metrics["solver_iterations"],
                       b.pos, b.quat)

        _, out = jax.lax.scan(body, start, actions)
        return jnp.sum(mask * out[1]), out

    return env, start, jax.jit(jax.value_and_grad(total, has_aux=True))


def test_zero_action_falls_and_terminates_as_designed():
    # Unpowered, the hinges only damp: the hopper folds and the torso drops below min_height
    # (or tips past max_pitch) within T steps. Terminated exactly when unhealthy.
    env, start, run = _program()
    (total, out), grad = jax.device_get(run(jnp.zeros((T, 3)), jnp.zeros(T)))
    obs, reward, done, conv, iters, pos, quat = out
    for leaf in jax.tree.leaves((total, out, grad)):
        assert leaf.dtype != np.float64, "float64 leaked out of the env"
    assert obs.dtype == np.float32 and obs.shape == (T, 11) and np.isfinite(obs).all()
    assert reward.shape == (T,) and reward.dtype == np.float32 and done.dtype == np.float32
    assert conv.all() and np.median(iters) <= 15, (conv.mean(), np.median(iters))
    unhealthy = (obs[:, 0] < env.min_height) | (np.abs(obs[:, 1]) > env.max_pitch)
    np.testing.assert_array_equal(done, unhealthy.astype(np.float32))
    first = int(np.argmax(done))
    print("zero action: terminated at step", first)
    assert done[-1] == 1.0 and 10 < first < T - 5  # stands briefly, then falls
    assert np.all(done[first:] == 1.0)  # and stays down
    # Healthy bonus every step, no control cost: reward = forward velocity + 1.
    np.testing.assert_allclose(reward, obs[:, 5] + env.healthy_reward, atol=1e-6)
    assert not np.any(grad)  # mask = 0


def test_random_actions_reward_and_planarity():
    env, start, run = _program()
    actions = jax.random.uniform(jax.random.key(3), (T, 3), minval=-1.5, maxval=1.5)  # clipped by the env
    (_, (obs, reward, done, conv, iters, pos, quat)), _ = jax.device_get(run(actions, jnp.zeros(T)))
    assert np.isfinite(obs).all() and np.isfinite(reward).all() and conv.all()
    # Reward computed independently: torso x displacement over the step / dt + bonus - ctrl cost.
    x = np.concatenate([[float(start.pipeline_state["bodies"].pos[TORSO, 0])], pos[:, TORSO, 0]])
    a = np.clip(np.asarray(actions), -1.0, 1.0)
    expected = np.diff(x) / env.dt + env.healthy_reward - env.ctrl_cost * np.sum(a * a, -1)
    np.testing.assert_allclose(reward, expected, atol=2e-3)
    np.testing.assert_allclose(reward, obs[:, 5] + env.healthy_reward - env.ctrl_cost * np.sum(a * a, -1),
                               atol=1e-5)
    # The planar joint keeps the chain in the x-z plane: no y, no rotation about x or z.
    assert np.max(np.abs(pos[..., 1])) < 1e-5 and np.max(np.abs(quat[..., [1, 3]])) < 1e-5
    # Observed torso height and pitch are the torso's pose.
    np.testing.assert_allclose(obs[:, 0], pos[:, TORSO, 2], atol=1e-6)
    pitch = 2 * np.arctan2(quat[:, TORSO, 2], quat[:, TORSO, 0])
    np.testing.assert_allclose(np.angle(np.exp(1j * (obs[:, 1] - pitch))), 0.0, atol=1e-5)  # up to 2 pi
    # Forward kinematics of the observed pitch and joint angles puts the shin where it is.
    angles = np.concatenate([obs[:, 1:2], obs[:, 2:5]], -1)
    fk = jax.vmap(lambda p, an: env.pose(p[0], p[2], an)[0])(jnp.asarray(pos[:, TORSO]), jnp.asarray(angles))
    np.testing.assert_allclose(np.asarray(fk), pos, atol=2e-3)


def test_gradient_of_the_reward_sum_matches_central_differences():
    # d(reward over the first 4 steps) / d(actions): finite, and along a random direction
    # equal to a central difference of the float32 bridge. The step is 0.4 N m of torque: at
    # h = 0.05 (2 N m at 40 N m) the contact sequence's curvature alone puts the difference 9% off.
    env, start, run = _program()
    actions = 0.3 * jax.random.uniform(jax.random.key(5), (T, 3), minval=-1.0, maxval=1.0)
    mask = (jnp.arange(T) < 4).astype(jnp.float32)
    (value, _), grad = run(actions, mask)
    grad = np.asarray(grad)
    assert np.isfinite(grad).all() and np.abs(grad[:4]).max() > 1e-3 and not np.any(grad[4:])
    direction = np.asarray(jax.random.normal(jax.random.key(6), (T, 3))) * np.asarray(mask)[:, None]
    h = 0.01
    (up, _), _ = run(actions + h * direction, mask)
    (down, _), _ = run(actions - h * direction, mask)
    fd = (float(up) - float(down)) / (2 * h)
    analytic = float(np.sum(grad * direction))
    print(f"directional derivative: grad {analytic:.5f}, central difference {fd:.5f}")
    assert abs(analytic - fd) < 0.01 * abs(fd) + 1e-3, (analytic, fd)
