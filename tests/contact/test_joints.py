"""Joints in the contact solver: conservation, drift, limits, IFT gradients, validation."""

import dataclasses

import chex
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import contact
from rljax.contact import joints, residual, rotation, solver

G = 9.81
TIGHT = dict(kappa=1e-6, tol=1e-13, comp_rtol=1e-9)


def rot_y(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def quat_y(theta: float) -> list:
    return [np.cos(theta / 2), 0.0, np.sin(theta / 2), 0.0]


def pendulum(theta0: float, dt: float, length: float = 1.0, radius: float = 0.05, **joint_kw):
    """A sphere hanging at ``length`` below a world hinge about y, swung out by ``theta0``."""
    bob = contact.Sphere(radius=radius, mass=1.0)
    hinge = contact.Revolute(parent=None, child=0, child_anchor=(0.0, 0.0, length), axis=(0.0, 1.0, 0.0), **joint_kw)
    world = contact.World(bodies=(bob,), ground=None, dt=dt, joints=(hinge,))
    pos = -rot_y(theta0) @ np.array([0.0, 0.0, length])
    return world, world.init_state(pos=[pos], quat=[quat_y(theta0)])


@jax.jit
def run_1000(world, state):
    return contact.rollout(world, state, steps=1000, tol=1e-12)


def swing_energy(world, state, states):
    """Midpoint kinetic energy plus the potential averaged over each step's two poses, [T].

    That is the pairing of the variational integrator (velocity at k + 1/2,
    potential at k and k + 1); it oscillates by O((omega dt)^2), without drift.
    """
    m, inertia = 1.0, np.asarray(world.inertias()[0])
    v, w = np.asarray(states.vel)[:, 0], np.asarray(states.ang_vel)[:, 0]
    z = np.asarray(states.pos)[:, 0, 2]
    z_prev = np.concatenate([[float(state.pos[0, 2])], z[:-1]])
    return 0.5 * m * np.sum(v**2, -1) + 0.5 * np.sum(inertia * w**2, -1) + m * G * 0.5 * (z + z_prev)


@pytest.mark.slow
def test_pendulum_conserves_energy_and_swings_at_the_analytic_period():
    length, radius = 1.0, 0.05
    # Energy: theta0 = 0.5 rad, dt = 3e-4 s (omega dt = 9.4e-4). The integrator's bounded
    # oscillation is ~(omega dt)^2 / 2 = 4.4e-7 of the swing energy m g L (1 - cos theta0),
    # the energy measured from the bottom of the swing.
    theta0, dt = 0.5, 3e-4
    world, state = pendulum(theta0, dt, length, radius)
    states = run_1000(world, state)
    assert bool(np.all(states.solver.converged))
    e = swing_energy(world, state, states)
    scale = 1.0 * G * length * (1.0 - np.cos(theta0))
    assert np.ptp(e) / scale < 1e-6, np.ptp(e) / scale
    # It does swing: the angle falls by more than a third over the 0.3 s.
    angle = np.asarray(jax.vmap(lambda s: contact.joint_positions(world, s))(states))[:, 0]
    assert angle[-1] < theta0 - 0.15

    # Period: theta0 = 0.05 rad (the amplitude correction theta0^2 / 16 = 1.6e-4), dt = 5 ms,
    # 1000 steps = 2.5 periods; T0 = 2 pi sqrt((I + m L^2) / (m g L)) for the physical pendulum.
    theta0, dt = 0.05, 5e-3
    world, state = pendulum(theta0, dt, length, radius)
    states = run_1000(world, state)
    assert bool(np.all(states.solver.converged))
    angle = np.asarray(jax.vmap(lambda s: contact.joint_positions(world, s))(states))[:, 0]
    t = dt * np.arange(1, 1001)
    up = np.nonzero((angle[:-1] < 0) & (angle[1:] >= 0))[0]  # upward zero crossings, interpolated
    crossings = t[up] - angle[up] * dt / (angle[up + 1] - angle[up])
    assert len(crossings) >= 2
    period = (crossings[-1] - crossings[0]) / (len(crossings) - 1)
    inertia = 0.4 * 1.0 * radius**2
    t0 = 2 * np.pi * np.sqrt((inertia + length**2) / (G * length))
    assert abs(period / t0 - 1) < 1e-3, (period, t0)


def test_armature_adds_its_rotor_inertia_to_the_pendulum():
    """A hinge with armature I_a swings at T0 = 2 pi sqrt((I + m L^2 + I_a) / (m g L)) to 1e-3, and keeps
    the energy with the rotor's 0.5 I_a w^2 counted (bounded oscillation, no drift)."""
    length, radius, theta0, dt, rotor = 1.0, 0.05, 0.05, 5e-3, 0.5
    world, state = pendulum(theta0, dt, length, radius, armature=rotor)
    states = run_1000(world, state)
    assert bool(np.all(states.solver.converged))
    angle = np.asarray(jax.vmap(lambda s: contact.joint_positions(world, s))(states))[:, 0]
    t = dt * np.arange(1, 1001)
    up = np.nonzero((angle[:-1] < 0) & (angle[1:] >= 0))[0]
    crossings = t[up] - angle[up] * dt / (angle[up + 1] - angle[up])
    assert len(crossings) >= 2
    period = (crossings[-1] - crossings[0]) / (len(crossings) - 1)
    t0 = 2 * np.pi * np.sqrt((0.4 * radius**2 + length**2 + rotor) / (G * length))
    assert abs(period / t0 - 1) < 1e-3, (period, t0)
    rate = np.asarray(states.ang_vel)[:, 0, 1]  # the hinge's rate: the bob's pitch rate (world hinge)
    e = swing_energy(world, state, states) + 0.5 * rotor * rate**2
    scale = G * length * (1.0 - np.cos(theta0))
    assert np.ptp(e) / scale < 1e-3, np.ptp(e) / scale
    assert abs(e[-100:].mean() - e[:100].mean()) / scale < 1e-4


def double_pendulum(dt=0.01, damping=0.0):
    links = (contact.Capsule(radius=0.05, half_length=0.25, mass=1.0),
             contact.Capsule(radius=0.05, half_length=0.25, mass=0.7))
    hinges = (
        contact.Revolute(parent=None, child=0, child_anchor=(0.0, 0.0, 0.25), axis=(0.0, 1.0, 0.0),
                         damping=damping),
        contact.Revolute(parent=0, child=1, parent_anchor=(0.0, 0.0, -0.25), child_anchor=(0.0, 0.0, 0.25),
                         axis=(0.0, 1.0, 0.0), damping=damping),
    )
    world = contact.World(bodies=links, ground=None, dt=dt, joints=hinges)
    # Both links horizontal along +x: a chaotic swing from rest.
    q = quat_y(np.pi / 2)
    pos = [[0.25, 0.0, 0.0], [0.75, 0.0, 0.0]]
    return world, world.init_state(pos=pos, quat=[q, q])


def test_double_pendulum_constraint_drift_stays_below_1e_8():
    world, state = double_pendulum()
    states = jax.jit(lambda s: contact.rollout(world, s, steps=300, tol=1e-12))(state)
    assert bool(np.all(states.solver.converged))
    rows = np.asarray(jax.vmap(lambda p, q: joints.constraint_rows(world, p, q))(states.pos, states.quat))
    # Rows 0-2 / 5-7: anchor mismatch (m); 3-4 / 8-9: axis misalignment (sin of half the angle).
    assert np.max(np.abs(rows)) < 1e-8, np.max(np.abs(rows))
    q = np.asarray(jax.vmap(lambda s: contact.joint_positions(world, s))(states))
    assert np.ptp(q[:, 1]) > 1.0  # the elbow really moves
    # The links stay in the x-z plane (hinges about y).
    assert np.max(np.abs(np.asarray(states.pos)[:, :, 1])) < 1e-9
    # Joint velocities (midpoint, over each step) against differences of joint positions:
    # equal up to the step map's O((dt w)^2) and the angle's O(dt) curvature.
    qd = np.asarray(jax.vmap(lambda s: contact.joint_velocities(world, s))(states))
    fd = np.diff(q, axis=0) / float(world.dt)
    np.testing.assert_allclose(qd[1:], fd, atol=2e-2 * np.max(np.abs(fd)))


def slider(limits=(-0.3, 0.3), kappa=1e-6):
    box = contact.Box(half_extents=(0.1, 0.1, 0.1), mass=1.0)
    rail = contact.Prismatic(parent=None, child=0, parent_anchor=(0.0, 0.0, 1.0), axis=(0.0, 0.0, 1.0),
                             limits=limits)
    world = contact.World(bodies=(box,), ground=None, dt=0.01, joints=(rail,))
    return world, world.init_state(pos=[[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("push", [0.0, 20.0], ids=["gravity-lower", "actuated-upper"])
def test_prismatic_limit_stops_the_slider(push):
    kappa, lower, upper = 1e-6, -0.3, 0.3
    world, state = slider((lower, upper))
    acts = jnp.full((100, 1), push)
    states = jax.jit(lambda s, a: contact.rollout(world, s, actuations=a, kappa=kappa, tol=1e-12))(state, acts)
    assert bool(np.all(states.solver.converged))
    x = np.asarray(jax.vmap(lambda s: contact.joint_positions(world, s))(states))[:, 0]
    assert np.all(x > lower) and np.all(x < upper)  # never passes a limit
    # At rest the limit impulse carries the net load: gamma = |push - m g| dt, so the
    # slack is gamma s = kappa over that.
    rest_gap = kappa / (abs(push - G) * world.dt)
    gap = (x[-1] - lower) if push < G else (upper - x[-1])
    assert abs(gap / rest_gap - 1) < 1e-3, (gap, rest_gap)
    assert abs(float(contact.joint_velocities(world, jax.tree.map(lambda a: a[-1], states))[0])) < 1e-6
    # Off the rail's axis nothing moves.
    np.testing.assert_allclose(np.asarray(states.pos)[-1, 0, :2], 0.0, atol=1e-10)


def test_fixed_joint_holds_a_body_and_welds_two():
    box = contact.Box(half_extents=(0.1, 0.2, 0.3), mass=2.0)
    world = contact.World(bodies=(box,), ground=None, dt=0.01,
                          joints=(contact.Fixed(parent=-1, child=0, parent_anchor=(0.3, 0.0, 1.0)),))
    state = world.init_state(pos=[[0.3, 0.0, 1.0]])
    states = jax.jit(lambda s: contact.rollout(world, s, steps=100))(state)
    assert bool(np.all(states.solver.converged))
    np.testing.assert_allclose(np.asarray(states.pos)[:, 0], [[0.3, 0.0, 1.0]] * 100, atol=1e-12)
    np.testing.assert_allclose(np.asarray(states.quat)[:, 0], [[1.0, 0.0, 0.0, 0.0]] * 100, atol=1e-12)

    # Two bodies welded off-centre fall as one: the pair's centre of mass follows g t^2 / 2
    # whatever the torque spinning them, and the weld's rows stay zero.
    bodies = (contact.Sphere(radius=0.1, mass=1.0), contact.Box(half_extents=(0.1, 0.1, 0.1), mass=3.0))
    weld = contact.Fixed(parent=0, child=1, parent_anchor=(0.5, 0.0, 0.0))
    world = contact.World(bodies=bodies, ground=None, dt=0.01, joints=(weld,))
    state = world.init_state(pos=[[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
    torques = jnp.zeros((50, 2, 3)).at[:, 1, 2].set(2.0)
    states = jax.jit(lambda s: contact.rollout(world, s, torques=torques, tol=1e-12))(state)
    com = (1.0 * np.asarray(states.pos)[:, 0] + 3.0 * np.asarray(states.pos)[:, 1]) / 4.0
    t = 0.01 * np.arange(1, 51)
    # Each step moves by dt * v(k+1/2): the discrete free fall is z_k = -g dt^2 k (k + 1) / 2.
    np.testing.assert_allclose(com[:, 2], -G * t * (t + 0.01) / 2, atol=1e-10)
    # A pure torque does not move the centre of mass sideways (it starts at x = 0.375).
    np.testing.assert_allclose(com[:, :2], np.broadcast_to([0.375, 0.0], (50, 2)), atol=1e-10)
    rows = jax.vmap(lambda p, q: joints.constraint_rows(world, p, q))(states.pos, states.quat)
    assert float(jnp.max(jnp.abs(rows))) < 1e-10
    assert float(jnp.max(jnp.abs(states.ang_vel[-1]))) > 0.1  # the torque does spin the pair


def test_spherical_pendulum_keeps_its_anchor_distance():
    length = 0.8
    bob = contact.Sphere(radius=0.05, mass=0.5)
    ball = contact.Spherical(parent=None, child=0, parent_anchor=(0.0, 0.0, 1.0), child_anchor=(0.0, 0.0, length))
    world = contact.World(bodies=(bob,), ground=None, dt=0.005, joints=(ball,))
    theta = 0.6
    pos = np.array([0.0, 0.0, 1.0]) - rot_y(theta) @ np.array([0.0, 0.0, length])
    state = world.init_state(pos=[pos], quat=[quat_y(theta)], vel=[[0.0, 1.5, 0.0]])
    states = jax.jit(lambda s: contact.rollout(world, s, steps=400, tol=1e-12))(state)
    assert bool(np.all(states.solver.converged))
    anchor = np.asarray(states.pos)[:, 0] + np.asarray(jax.vmap(contact.rotate)(
        states.quat[:, 0], jnp.broadcast_to(jnp.array([0.0, 0.0, length]), (400, 3))))
    np.testing.assert_allclose(anchor, np.broadcast_to([0.0, 0.0, 1.0], anchor.shape), atol=1e-10)
    dist = np.linalg.norm(np.asarray(states.pos)[:, 0] - [0.0, 0.0, 1.0], axis=-1)
    np.testing.assert_allclose(dist, length, atol=1e-10)
    assert np.ptp(np.asarray(states.pos)[:, 0, 1]) > 0.1  # a conical swing, out of the x-z plane
    # Its 3 DOFs: the rotation vector from rest, whose norm is the body's rotation angle.
    rotvec = np.asarray(jax.vmap(lambda s: contact.joint_positions(world, s))(states))
    assert rotvec.shape == (400, 3)
    angle = 2 * np.arccos(np.clip(np.abs(np.asarray(states.quat)[:, 0, 0]), 0.0, 1.0))
    np.testing.assert_allclose(np.linalg.norm(rotvec, axis=-1), angle, atol=1e-7)


def central_difference(f, x, h):
    """Fourth-order central differences of scalar ``f`` at flat ``x`` (truncation O(h^4)).

    The solves are exact to ~1e-13, so a plain two-point difference cannot reach
    1e-6 relative: its truncation needs h < 1e-5, where that noise over h is too large.
    """
    def d(i, k):
        return float(f(x.at[i].add(k * h)))
    return np.array([(8 * (d(i, 1) - d(i, -1)) - (d(i, 2) - d(i, -2))) / (12 * h) for i in range(x.size)])


@pytest.mark.slow
def test_ift_gradients_of_a_joint_angle_match_finite_differences():
    # d(elbow angle after 20 steps) / d(elbow anchor, axis, damping, actuation), damped double
    # pendulum; the initial state is built from the anchor so the joint holds at t = 0.
    base, state0 = double_pendulum(dt=0.01, damping=0.3)

    def final_angle(params):
        anchor, axis, damping, act = params
        elbow = contact.Revolute(parent=0, child=1, parent_anchor=anchor, child_anchor=(0.0, 0.0, 0.25),
                                 axis=axis, damping=damping)
        world = contact.World(bodies=base.bodies, ground=None, dt=base.dt, joints=(base.joints[0], elbow))
        q = state0.quat
        p1 = state0.pos[0] + contact.rotate(q[0], anchor) - contact.rotate(q[1], jnp.array([0.0, 0.0, 0.25]))
        state = state0.replace(pos=state0.pos.at[1].set(p1))
        states = contact.rollout(world, state, actuations=jnp.broadcast_to(act, (20, 2)), kappa=1e-6, tol=1e-13)
        return contact.joint_positions(world, jax.tree.map(lambda a: a[-1], states))[1]

    params = (jnp.array([0.0, 0.0, -0.25]), jnp.array([0.1, 1.0, 0.05]), jnp.asarray(0.3), jnp.array([0.5, -0.4]))
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    g = np.asarray(jax.flatten_util.ravel_pytree(jax.jit(jax.grad(final_angle))(params))[0])
    fd = central_difference(jax.jit(lambda x: final_angle(unravel(x))), flat, 1e-4)
    # The anchor's y offset (along the hinge) leaves the planar elbow angle unchanged to first order.
    assert abs(g[1]) < 1e-9 and abs(fd[1]) < 1e-9, (g[1], fd[1])
    rest = np.r_[0, 2:flat.size]
    assert np.all(np.abs(fd[rest]) > 1e-4)  # every other parameter matters
    np.testing.assert_allclose(g[rest], fd[rest], rtol=1e-6)


def test_ift_gradients_of_armature_match_finite_differences():
    # d(elbow angle after 20 steps) / d(shoulder and elbow armature), damped and driven double pendulum.
    base, state = double_pendulum(dt=0.01, damping=0.3)

    def final_angle(rotors):
        hinges = tuple(dataclasses.replace(j, armature=a) for j, a in zip(base.joints, rotors))
        world = contact.World(bodies=base.bodies, ground=None, dt=base.dt, joints=hinges)
        states = contact.rollout(world, state, actuations=jnp.broadcast_to(jnp.array([0.5, -0.4]), (20, 2)),
                                 kappa=1e-6, tol=1e-13)
        return contact.joint_positions(world, jax.tree.map(lambda a: a[-1], states))[1]

    rotors = jnp.array([0.05, 0.02])
    g = np.asarray(jax.jit(jax.grad(final_angle))(rotors))
    fd = central_difference(jax.jit(final_angle), rotors, 1e-4)
    assert np.all(np.abs(fd) > 1e-3), fd  # both rotors matter
    np.testing.assert_allclose(g, fd, rtol=1e-6)


@pytest.mark.slow
def test_ift_gradient_through_an_active_limit_matches_finite_differences():
    # Pushed into the upper limit, which at kappa = 1e-3 is a soft barrier (gamma = kappa / s):
    # the position depends on the push and the limit smoothly, and the IFT gradients are
    # exact for that relaxed problem.
    kappa = 1e-3
    world, state = slider((-0.3, 0.05))

    def final_x(push, upper):
        rail = contact.Prismatic(parent=None, child=0, parent_anchor=(0.0, 0.0, 1.0), axis=(0.0, 0.0, 1.0),
                                 limits=jnp.stack([-0.3, upper]))
        w = contact.World(bodies=world.bodies, ground=None, dt=world.dt, joints=(rail,))
        # comp_rtol: gamma s = kappa to 1e-9 relative, else the solution is only that accurate.
        states = contact.rollout(w, state, actuations=jnp.broadcast_to(push, (30, 1)), kappa=kappa, tol=1e-13,
                                 comp_rtol=1e-9)
        return contact.joint_positions(w, jax.tree.map(lambda a: a[-1], states))[0]

    args = jnp.array([15.0, 0.05])
    grad = np.asarray(jax.jit(jax.grad(lambda a: final_x(a[0], a[1])))(args))
    fd = central_difference(jax.jit(lambda a: final_x(a[0], a[1])), args, 1e-4)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    assert abs(float(grad[0])) > 1e-3 and abs(float(grad[1]) - 1.0) < 0.1  # it rides on the limit


def planar_box(axis=(0.0, 1.0, 0.0), child_anchor=(0.0, 0.0, 0.0), damping=0.0, **state_kw):
    """A box (unequal half extents, so out-of-plane torques would tumble it) held by a
    planar joint to the world through the origin, no ground; its state from ``state_kw`` (if any)."""
    box = contact.Box(half_extents=(0.1, 0.2, 0.3), mass=2.0)
    plane = contact.Planar(parent=None, child=0, child_anchor=child_anchor, axis=axis, damping=damping)
    world = contact.World(bodies=(box,), ground=None, dt=0.01, joints=(plane,))
    return world, world.init_state(**state_kw) if state_kw else None


def test_planar_body_falls_freely_in_its_plane_and_never_leaves_it():
    # x-z plane (normal y). Pushed along y and twisted about x and z, all of which the joint
    # takes; in the plane nothing acts but gravity, so the centre follows the discrete free
    # fall exactly and the spin about y stays what it was.
    steps, dt, vx, vz, spin = 100, 0.01, 0.5, 0.2, 3.0
    world, state = planar_box(pos=[[0.0, 0.0, 1.0]], vel=[[vx, 0.0, vz]], ang_vel=[[0.0, spin, 0.0]])
    forces = jnp.zeros((steps, 1, 3)).at[:, 0, 1].set(5.0)
    torques = jnp.zeros((steps, 1, 3)).at[:, 0, 0].set(2.0).at[:, 0, 2].set(-1.0)
    states = jax.jit(lambda s: contact.rollout(world, s, forces=forces, torques=torques, tol=1e-12))(state)
    assert bool(np.all(states.solver.converged))
    pos, quat = np.asarray(states.pos)[:, 0], np.asarray(states.quat)[:, 0]
    k = np.arange(1, steps + 1)
    # Each step moves by dt * v(k+1/2): z_k = z_0 + vz dt k - g dt^2 k (k + 1) / 2.
    np.testing.assert_allclose(pos[:, 0], vx * dt * k, atol=1e-9)
    np.testing.assert_allclose(pos[:, 2], 1.0 + vz * dt * k - G * dt**2 * k * (k + 1) / 2, atol=1e-9)
    assert np.max(np.abs(pos[:, 1])) < 1e-8  # out of the plane
    assert np.max(np.abs(quat[:, [1, 3]])) < 1e-8  # no rotation about x or z ...
    assert np.max(np.abs(np.asarray(states.ang_vel)[:, 0, [0, 2]])) < 1e-8
    assert abs(quat[-1, 2]) > 0.5  # ... while it does turn about y
    rows = np.asarray(jax.vmap(lambda p, q: joints.constraint_rows(world, p, q))(states.pos, states.quat))
    assert rows.shape == (steps, 3) and np.max(np.abs(rows)) < 1e-8
    # Its 3 DOFs: in-plane displacements along tangent_basis(y) and the angle about y.
    coords = np.asarray(jax.vmap(lambda s: contact.joint_positions(world, s))(states))
    t = np.asarray(contact.collision.tangent_basis(jnp.array([0.0, 1.0, 0.0])))
    np.testing.assert_allclose(coords[:, :2], pos @ t.T, atol=1e-12)
    np.testing.assert_allclose(coords[:, 2], 2 * np.arctan2(quat[:, 2], quat[:, 0]), atol=1e-12)
    rates = np.asarray(jax.vmap(lambda s: contact.joint_velocities(world, s))(states))
    np.testing.assert_allclose(rates[:, 2], spin, atol=1e-9)
    np.testing.assert_allclose(np.diff(coords[:, :2], axis=0) / dt, rates[1:, :2], atol=1e-9)


def test_planar_joint_with_an_offset_anchor_on_a_tilted_plane_holds_and_reads_its_rates():
    # Weightless, on a tilted plane, anchored off-centre and driven on all three DOFs: the rows
    # hold, and joint_velocities (the anchor's in-plane velocity, the spin) are the rates of
    # joint_positions up to the step's O(dt) curvature.
    anchor = np.array([0.05, 0.1, -0.2])
    box = contact.Box(half_extents=(0.1, 0.2, 0.3), mass=2.0)
    plane = contact.Planar(parent=None, child=0, child_anchor=anchor, axis=(0.2, 1.0, -0.1), damping=0.1)
    world = contact.World(bodies=(box,), ground=None, gravity=(0.0, 0.0, 0.0), dt=0.01, joints=(plane,))
    state = world.init_state(pos=[-anchor])
    acts = jnp.broadcast_to(jnp.array([3.0, -2.0, 0.5]), (60, 3))
    states = jax.jit(lambda s: contact.rollout(world, s, actuations=acts, tol=1e-13))(state)
    assert bool(np.all(states.solver.converged))
    rows = np.asarray(jax.vmap(lambda p, q: joints.constraint_rows(world, p, q))(states.pos, states.quat))
    assert np.max(np.abs(rows)) < 1e-9
    q = np.asarray(jax.vmap(lambda s: contact.joint_positions(world, s))(states))
    qd = np.asarray(jax.vmap(lambda s: contact.joint_velocities(world, s))(states))
    fd = np.diff(q, axis=0) / float(world.dt)
    np.testing.assert_allclose(qd[1:], fd, atol=2e-2 * np.max(np.abs(fd)))
    assert np.all(np.sign(qd[-1]) == [1.0, -1.0, 1.0])  # each DOF driven its way


def test_ift_gradients_through_a_planar_joint_match_finite_differences():
    # d(final position and angle) / d(plane normal, child anchor, damping, actuation): a box
    # on a tilted plane (gravity partly out of it) under damping and in-plane actuation.
    # Initial state: at rest with the anchor on the plane through the origin.
    steps = 15

    def final(params):
        axis, anchor, damping, act = params
        world, _ = planar_box(axis=axis, child_anchor=anchor, damping=damping)
        state = world.init_state(pos=-anchor[None], vel=[[0.3, 0.0, 0.1]], ang_vel=[[0.0, 1.0, 0.0]])
        states = contact.rollout(world, state, actuations=jnp.broadcast_to(act, (steps, 3)), kappa=1e-6,
                                 tol=1e-13)
        last = jax.tree.map(lambda a: a[-1], states)
        q = contact.joint_positions(world, last)
        return last.pos[0, 0] + 0.7 * last.pos[0, 2] - 0.4 * last.pos[0, 1] + 0.3 * q[2]

    params = (jnp.array([0.15, 1.0, -0.1]), jnp.array([0.05, 0.0, 0.1]), jnp.asarray(0.4),
              jnp.array([2.0, -1.0, 0.3]))
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    g = np.asarray(jax.flatten_util.ravel_pytree(jax.jit(jax.grad(final))(params))[0])
    fd = central_difference(jax.jit(lambda x: final(unravel(x))), flat, 1e-4)
    assert np.sum(np.abs(fd) > 1e-4) >= 8  # the parameters matter
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def mixed_joint_world():
    bodies = (contact.Box(half_extents=(0.2, 0.2, 0.1), mass=2.0), contact.Sphere(radius=0.1, mass=0.5),
              contact.Capsule(radius=0.05, half_length=0.2, mass=0.4), contact.Sphere(radius=0.1, mass=0.3),
              contact.Sphere(radius=0.1, mass=0.6))
    js = (
        contact.Revolute(parent=0, child=1, parent_anchor=(0.2, 0.0, 0.1), axis=(0.0, 1.0, 0.2), damping=0.2,
                         limits=(-1.0, 1.0)),
        contact.Prismatic(parent=0, child=2, parent_anchor=(-0.2, 0.0, 0.1), child_anchor=(0.0, 0.0, -0.2),
                          axis=(0.0, 0.0, 1.0), damping=0.1, limits=(-0.1, 0.3)),
        contact.Spherical(parent=2, child=3, parent_anchor=(0.0, 0.0, 0.2), damping=0.05),
        contact.Fixed(parent=None, child=4, parent_anchor=(1.0, 1.0, 0.5)),
    )
    world = contact.World(bodies=bodies, ground=contact.Plane(), friction=0.5, dt=0.01, joints=js)
    pos = [[0.0, 0.0, 0.15], [0.2, 0.0, 0.25], [-0.2, 0.0, 0.45], [-0.2, 0.0, 0.65], [1.0, 1.0, 0.5]]
    return world, world.init_state(pos=pos)


def test_jointed_bodies_get_no_contact_candidates():
    world, _ = mixed_joint_world()
    # Every pair with a sphere has a collision routine, but the jointed pairs (0, 1) and (2, 3)
    # get no candidate (box-capsule has no routine anyway).
    assert world.body_pairs == ((0, 3), (0, 4), (1, 2), (1, 3), (1, 4), (2, 4), (3, 4))
    # An explicit list may still include a jointed pair.
    explicit = contact.World(world.bodies, world.ground, body_pairs=((0, 1),), joints=world.joints)
    assert explicit.body_pairs == ((0, 1),)


@pytest.mark.parametrize("pairs", [True, False], ids=["body-pairs", "ground-only"])
def test_bordered_newton_solves_match_a_dense_solve(pairs):
    # Every joint kind, limits, damping and contacts (one body-body pair or ground only).
    world, state = mixed_joint_world()
    js = world.joints[:3] + (contact.Fixed(parent=None, child=0, parent_anchor=(0.0, 0.0, 0.15)),)
    world = contact.World((contact.Sphere(radius=0.2, mass=2.0),) + world.bodies[1:4], world.ground,
                          world.friction, world.gravity, world.dt, body_pairs=((1, 3),) if pairs else (), joints=js)
    state = world.init_state(pos=state.pos[:4])
    problem = solver.Problem(world, state.pos, state.quat, state.vel, state.ang_vel,
                             jnp.ones((4, 3)) * 0.3, jnp.ones((4, 3)) * -0.1, jnp.array([0.3, -1.0, 0.1, 0.2, 0.3]))
    n, c = solver.sizes(problem)
    rows, m = joints.num_rows(world), joints.num_limits(world)
    assert (rows, m) == (5 + 5 + 3 + 6, 4)
    rng = np.random.default_rng(0)
    z = np.abs(rng.normal(size=(c, 8))) + 0.1
    z[:, 2] += 1.0
    z[:, 5] += 1.0
    w = solver.join(jnp.asarray(rng.normal(size=(n, 6))), jnp.asarray(z), jnp.asarray(rng.normal(size=rows)),
                    jnp.asarray(np.abs(rng.normal(size=(m, 2))) + 0.1))
    r = jnp.asarray(rng.normal(size=w.shape))

    @jax.jit
    def check(problem, w, r):
        ref = jax.jacfwd(lambda ww: solver.residual(problem, ww, 1e-3))(w)
        blocks = solver.factor(problem, w)
        return ref, solver.newton_step(problem, blocks, r), solver.newton_step_transpose(problem, blocks, r)

    ref, sol, sol_t = check(problem, w, r)
    np.testing.assert_allclose(sol, np.linalg.solve(ref, -r), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sol_t, np.linalg.solve(ref.T, r), rtol=1e-8, atol=1e-10)


def twist_jacobian(fn, pos, quat):
    """d fn / d(body twists) by forward mode: [K, N, 6] (the reference for the closed forms)."""
    n = pos.shape[0]

    def moved(t):
        dq = jnp.concatenate([jnp.ones((n, 1), pos.dtype), 0.5 * t[:, 3:]], -1)
        return fn(pos + t[:, :3], rotation.normalize(rotation.quat_mul(quat, dq)))

    return jax.jacfwd(moved)(jnp.zeros((n, 6), pos.dtype))


def test_closed_form_joint_jacobians_match_forward_mode():
    # Every joint kind, to a body and to the world, off-rest, with offset anchors, tilted axes and
    # rest rotations, at a random pose that violates every constraint (the forms hold off it too).
    rest = (np.cos(0.3), 0.2, -0.5, 0.4)
    bodies = tuple(contact.Sphere(radius=0.1, mass=1.0) for _ in range(7))
    kw = dict(parent_anchor=(0.1, -0.2, 0.3), child_anchor=(-0.3, 0.1, 0.2), rest_quat=rest)
    js = (contact.Fixed(parent=None, child=0, **kw),
          contact.Revolute(parent=0, child=1, axis=(0.3, 1.0, 0.2), limits=(-2.0, 2.5), **kw),
          contact.Prismatic(parent=1, child=2, axis=(1.0, -0.4, 0.2), limits=(-0.1, 0.3), **kw),
          contact.Spherical(parent=2, child=3, **kw),
          contact.Planar(parent=3, child=4, axis=(0.2, 0.1, 1.0), **kw),
          contact.Revolute(parent=None, child=5, axis=(0.0, 0.0, 1.0), limits=(-1.0, 1.0), **kw),
          contact.Prismatic(parent=None, child=6, axis=(0.0, 1.0, 0.0), limits=(-1.0, 1.0), **kw))
    world = contact.World(bodies=bodies, ground=None, dt=0.02, joints=js)
    rng = np.random.default_rng(4)
    pos = jnp.asarray(rng.normal(size=(7, 3)))
    quat = rotation.normalize(jnp.asarray(rng.normal(size=(7, 4))))

    rows = jax.jit(lambda p, q: (joints.constraint_twists(world, p, q), joints.limit_twists(world, p, q)))(pos, quat)
    ref = (twist_jacobian(lambda p, q: joints.constraint_rows(world, p, q), pos, quat),
           twist_jacobian(lambda p, q: joints.limit_coordinates(world, p, q), pos, quat))
    assert rows[0].shape == (6 + 5 + 5 + 3 + 3 + 5 + 5, 7, 6) and rows[1].shape == (8, 7, 6)
    chex.assert_trees_all_close(rows, ref, rtol=1e-12, atol=1e-12)

    # Chained through the step map: the Newton matrix's joint rows w.r.t. the velocities.
    problem = solver.Problem(world, pos, quat, jnp.zeros((7, 3)), jnp.zeros((7, 3)), jnp.zeros((7, 3)),
                             jnp.zeros((7, 3)))
    y = jnp.asarray(rng.normal(size=(7, 6)))
    analytic = residual.joint_row_jacobians(problem, y)
    forward = jax.jacfwd(lambda v: residual.joint_rows(problem, v.reshape(7, 6)))(y.reshape(-1))
    chex.assert_trees_all_close(analytic, forward, rtol=1e-12, atol=1e-12)


def test_bad_joint_input_raises_value_error():
    two = (contact.Sphere(radius=0.1, mass=1.0), contact.Sphere(radius=0.1, mass=1.0))
    with pytest.raises(ValueError, match=r"joints\[0\]\.child = 5"):
        contact.World(bodies=two, joints=(contact.Revolute(parent=None, child=5),))
    with pytest.raises(ValueError, match=r"joints\[0\]\.parent = 2"):
        contact.World(bodies=two, joints=(contact.Spherical(parent=2, child=0),))
    with pytest.raises(ValueError, match="Revolute.axis"):
        contact.Revolute(parent=None, child=0, axis=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="Prismatic.limits.*lower < upper"):
        contact.Prismatic(parent=None, child=0, limits=(0.5, -0.5))
    with pytest.raises(ValueError, match=r"Revolute.limits.*\[-pi, pi\]"):
        contact.Revolute(parent=None, child=0, limits=(-4.0, 1.0))
    with pytest.raises(ValueError, match="damping"):
        contact.Revolute(parent=None, child=0, damping=-1.0)
    with pytest.raises(ValueError, match="Spherical.armature must be finite and >= 0"):
        contact.Spherical(parent=None, child=0, armature=-0.1)
    with pytest.raises(ValueError, match="Planar.limits must be None"):
        contact.Planar(parent=None, child=0, axis=(0.0, 1.0, 0.0), limits=(-1.0, 1.0))
    with pytest.raises(ValueError, match="Planar.axis"):
        contact.Planar(parent=None, child=0, axis=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="same body"):
        contact.Fixed(parent=1, child=1)
    with pytest.raises(ValueError, match="child must be a body index"):
        contact.Fixed(parent=None, child=None)
    with pytest.raises(ValueError, match="loop"):
        contact.World(bodies=two, joints=(contact.Revolute(parent=None, child=0), contact.Fixed(parent=0, child=1),
                                          contact.Spherical(parent=None, child=1)))
    with pytest.raises(ValueError, match=r"World.joints\[0\] must be"):
        contact.World(bodies=two, joints=("hinge",))
    world = contact.World(bodies=two, joints=(contact.Revolute(parent=None, child=0),
                                              contact.Spherical(parent=0, child=1)))
    state = world.init_state(pos=[[0.0, 0.0, 0.0], [0.0, 0.0, -0.3]])
    with pytest.raises(ValueError, match=r"actuation must have shape \(4,\)"):
        contact.step(world, state, actuation=jnp.zeros(3))
    with pytest.raises(ValueError, match=r"actuations must have shape \(5, 4\)"):
        contact.rollout(world, state, actuations=jnp.zeros((5, 2)))


@pytest.mark.slow
def test_hinged_arm_falls_onto_the_ground_and_rests_there():
    # A capsule arm hinged 0.3 m above the ground, released horizontal: it swings down until
    # its far end (0.6 m from the hinge, radius 0.05) touches the ground, at
    # cos(theta) = (0.3 - 0.05) / 0.6 from the vertical, and rests there.
    pivot, reach, radius = 0.3, 0.6, 0.05
    arm = contact.Capsule(radius=radius, half_length=reach / 2, mass=1.0)
    hinge = contact.Revolute(parent=None, child=0, parent_anchor=(0.0, 0.0, pivot),
                             child_anchor=(0.0, 0.0, reach / 2), axis=(0.0, 1.0, 0.0))
    world = contact.World(bodies=(arm,), ground=contact.Plane(), friction=0.5, dt=0.01, joints=(hinge,))
    theta0 = np.pi / 2
    pos = np.array([0.0, 0.0, pivot]) - rot_y(theta0) @ np.array([0.0, 0.0, reach / 2])
    state = world.init_state(pos=[pos], quat=[quat_y(theta0)])
    states = jax.jit(lambda s: contact.rollout(world, s, steps=150, kappa=1e-6))(state)
    assert bool(np.all(states.solver.converged))
    angle = np.asarray(jax.vmap(lambda s: contact.joint_positions(world, s))(states))[:, 0]
    rest = np.arccos((pivot - radius) / reach)
    assert np.all(angle > rest - 1e-4)  # never through the ground
    assert abs(angle[-1] - rest) < 1e-4, (angle[-1], rest)
    assert abs(float(contact.joint_velocities(world, jax.tree.map(lambda a: a[-1], states))[0])) < 1e-4
    rows = jax.vmap(lambda p, q: joints.constraint_rows(world, p, q))(states.pos, states.quat)
    assert float(jnp.max(jnp.abs(rows))) < 1e-8  # the hinge holds through the impact
