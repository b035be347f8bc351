"""Joints through the float32 bridge: float32_step(..., actuation) against the float64
solver, implicit-function gradients w.r.t. actuation against float64 finite differences,
jit + vmap from a float32 program, and WorldSpec joint validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import contact
from rljax.contact import Bodies, StepOptions, WorldSpec, float32_step

LENGTH, T = 0.5, 20
# A sphere bob on a damped world hinge about y at height 1 (clear of the ground).
SPEC = WorldSpec(bodies=(("sphere", 0.05, 1.0),), friction=0.5, dt=0.01,
                 joints=(("revolute", None, 0, (0.0, 0.0, 1.0), (0.0, 0.0, LENGTH), (0.0, 1.0, 0.0), 0.05),))
OPTS = StepOptions(kappa=1e-6)


def swung(theta):
    """(pos [1, 3], quat [1, 4]) of the bob swung by ``theta`` about +y."""
    pos = np.array([[-LENGTH * np.sin(theta), 0.0, 1.0 - LENGTH * np.cos(theta)]])
    quat = np.array([[np.cos(theta / 2), 0.0, np.sin(theta / 2), 0.0]])
    return pos, quat


def bridge_rollout(bodies, actuations):
    """float32 rollout through the bridge: bob x positions [T]."""
    zero = jnp.zeros((1, 3), jnp.float32)

    def body(b, a):
        b, info = float32_step(SPEC, OPTS, b, zero, zero, a)
        return b, (b.pos[0, 0], info.converged)

    return jax.lax.scan(body, bodies, actuations)[1]


def f32_bodies(theta):
    pos, quat = swung(theta)
    z = jnp.zeros((1, 3), jnp.float32)
    return Bodies(jnp.asarray(pos, jnp.float32), jnp.asarray(quat, jnp.float32), z, z)


@jax.jit
def _f64_rollout(pos, quat, actuations):
    world = SPEC()
    return contact.rollout(world, world.init_state(pos=pos, quat=quat), actuations=actuations, kappa=OPTS.kappa)


def f64_rollout(theta, actuations):
    """Reference: the float64 solver on ``SPEC()`` (batched over leading axes of
    ``actuations [..., T, 1]``); bob x positions [..., T] and the states."""
    pos, quat = swung(theta)
    acts = jnp.asarray(actuations, jnp.float64)
    fn = _f64_rollout
    for _ in range(acts.ndim - 2):
        fn = jax.vmap(fn, in_axes=(None, None, 0))
    states = fn(jnp.asarray(pos), jnp.asarray(quat), acts)
    assert bool(np.all(states.solver.converged))
    return np.asarray(states.pos[..., 0, 0]), states


ACTS = 0.4 * np.sin(np.linspace(0.0, 3.0, T))[:, None]


def test_jointed_pendulum_through_bridge_matches_float64_step_under_jit_and_vmap():
    thetas = np.array([0.5, -0.3])
    ref = [f64_rollout(th, ACTS) for th in thetas]
    # The hinge holds and the actuated bob moves: a real reference, not a resting one.
    angles = np.asarray(jax.vmap(lambda s: contact.joint_positions(SPEC(), s))(ref[0][1]))[:, 0]
    assert abs(angles[-1] - thetas[0]) > 0.05
    with jax.enable_x64(False):
        batch = jax.tree.map(lambda *x: jnp.stack(x), *[f32_bodies(th) for th in thetas])
        acts = jnp.stack([jnp.asarray(ACTS, jnp.float32), jnp.asarray(-ACTS, jnp.float32)])
        xs, conv = jax.jit(jax.vmap(bridge_rollout))(batch, acts)
    assert xs.dtype == jnp.float32 and bool(np.all(conv))
    np.testing.assert_allclose(np.asarray(xs[0]), ref[0][0], atol=2e-5)
    ref_neg = f64_rollout(thetas[1], -ACTS)[0]
    np.testing.assert_allclose(np.asarray(xs[1]), ref_neg, atol=2e-5)


@pytest.mark.slow  # ~50 s on 1 shared core: compiling the bridge's backward solve dominates
def test_gradient_wrt_actuation_matches_float64_finite_differences():
    theta, t = 0.4, 8
    acts = ACTS[:t]

    eps = 1e-5
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(3, t, 1))
    x_t = f64_rollout(theta, acts[None] + eps * np.concatenate([directions, -directions]))[0][:, -1]
    fd = (x_t[:3] - x_t[3:]) / (2 * eps)
    with jax.enable_x64(False):
        grad = jax.jit(jax.grad(lambda a: bridge_rollout(f32_bodies(theta), a)[0][-1]))(
            jnp.asarray(acts, jnp.float32))
    assert grad.dtype == jnp.float32 and grad.shape == (t, 1)
    analytic = np.einsum("ktj,tj->k", directions, np.asarray(grad, np.float64))
    print("d x_T / d actuation along 3 directions: bridge", analytic, "float64 fd", fd)
    assert np.abs(fd).max() > 1e-4  # the torques do move the bob
    np.testing.assert_allclose(analytic, fd, rtol=1e-3, atol=1e-6)
    # Late torques act for fewer steps: the last one barely moves x_T, the first one most.
    g = np.abs(np.asarray(grad[:, 0]))
    assert g[0] > g[-1]


def test_worldspec_joints_are_hashable_and_validated():
    spec = WorldSpec(bodies=(("sphere", 0.1, 1.0),), friction=0.5, dt=0.01,
                     joints=[["revolute", None, 0, [0.0, 0.0, 1.0], np.zeros(3), [0, 1, 0]]])
    assert spec.joints == (("revolute", None, 0, (0.0, 0.0, 1.0), (0.0, 0.0, 0.0), (0, 1, 0)),)
    assert hash(spec) == hash(WorldSpec(bodies=spec.bodies, friction=0.5, dt=0.01, joints=spec.joints))
    assert spec.num_dofs == 1 and WorldSpec(bodies=spec.bodies, friction=0.5, dt=0.01).num_dofs == 0
    body = (("sphere", 0.1, 1.0),)
    for joints, match in [((("hinge", None, 0),), "unknown joint kind"),
                          ((("revolute", None, 3),), r"joints\[0\].*child"),
                          ((("fixed", None, 0, (0, 0, 0), (0, 0, 0), (1, 0, 0, 0), 1.0),), "at most 5"),
                          ((("revolute", None, 0, (0, 0, 0), (0, 0, 0), (0, 0, 0)),), "axis"),
                          ((("revolute", None, 0), ("revolute", None, 0)), "loop"),
                          ((("revolute",),), r"joints\[0\]"),
                          ("revolute", "joint tuples")]:
        with pytest.raises(ValueError, match=match):
            WorldSpec(bodies=body, friction=0.5, dt=0.01, joints=joints)
