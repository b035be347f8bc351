"""Physics acceptance tests of rljax.contact (analytic facts and Dojo's box toss)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import contact

G = 9.81


def box_world(dt=0.01, mu=0.5, half=(0.25, 0.25, 0.25), mass=1.0, gravity=(0.0, 0.0, -G), ground=True):
    return contact.World(
        bodies=(contact.Box(half_extents=half, mass=mass),),
        ground=contact.Plane() if ground else None,
        friction=mu, gravity=gravity, dt=dt,
    )


@jax.jit
def _stack_worlds(*worlds):
    return jax.tree.map(lambda *x: jnp.stack(x), *worlds)


def test_free_fall_is_the_exact_parabola():
    # No ground: midpoint velocities make positions lie exactly on the parabola
    # whose velocity at t = -dt/2 is the initial velocity.
    dt = 0.01
    world = contact.World(
        bodies=(contact.Box(half_extents=(0.1, 0.2, 0.3), mass=2.0), contact.Sphere(radius=0.1, mass=0.5)),
        gravity=(0.0, 0.0, -G), dt=dt, body_pairs=(),  # no candidates: no relaxed far-field force
    )
    p0 = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 2.0]])
    v0 = np.array([[1.0, -2.0, 3.0], [0.0, 0.5, 0.0]])
    s = world.init_state(pos=p0, vel=v0, ang_vel=[[0.1, 0.2, 0.3], [0.0, 0.0, 0.0]])
    steps = 50
    st = jax.jit(lambda s: contact.rollout(world, s, steps=steps))(s)
    t = dt * np.arange(1, steps + 1)[:, None, None]
    g = np.array([0.0, 0.0, -G])
    expected = p0 + (v0 + 0.5 * dt * g) * t + 0.5 * g * t**2
    np.testing.assert_allclose(np.asarray(st.pos), expected, rtol=0, atol=1e-12)
    assert bool(np.all(st.solver.converged))


def test_torque_free_spinning_box_conserves_momentum_and_energy():
    # Three distinct edge lengths and a spin near the unstable middle axis, so the
    # body tumbles (the Dzhanibekov flip) during the 1000 steps.
    world = box_world(half=(0.1, 0.2, 0.4), mass=2.0, gravity=(0.0, 0.0, 0.0), ground=False)
    s = world.init_state(pos=[[0.0, 0.0, 0.0]], vel=[[0.1, 0.0, 0.0]], ang_vel=[[0.3, 4.0, 0.2]])
    st = jax.jit(lambda s: contact.rollout(world, s, steps=1000))(s)
    states = [contact.State(st.pos[k], st.quat[k], st.vel[k], st.ang_vel[k]) for k in range(0, 1000, 10)]
    mom = np.array([np.asarray(contact.momentum(world, x)[1]) for x in states])
    energy = np.array([float(contact.kinetic_energy(world, x)) for x in states])
    assert np.max(np.abs(mom - mom[0])) / np.linalg.norm(mom[0]) < 1e-9
    assert np.max(np.abs(energy - energy[0])) / energy[0] < 1e-3
    # no drift: the last tenth's mean energy equals the first tenth's
    assert abs(energy[-10:].mean() - energy[:10].mean()) / energy[0] < 1e-6
    # it did tumble: the middle-axis spin changed sign at some point
    assert np.min(np.asarray(st.ang_vel[:, 0, 1])) < 0


def test_resting_sphere_hovers_at_kappa_gap():
    dt, m, r = 0.01, 0.5, 0.1
    kappas = jnp.array([1e-7, 1e-6, 1e-5])
    world = contact.World(bodies=(contact.Sphere(radius=r, mass=m),), ground=contact.Plane(), friction=0.5, dt=dt)
    s = world.init_state(pos=[[0.0, 0.0, r + 0.05]])
    st = jax.jit(jax.vmap(lambda k: contact.rollout(world, s, steps=150, kappa=k)))(kappas)
    gaps = np.asarray(st.pos[:, :, 0, 2]) - r
    assert np.all(gaps > 0), "penetration"
    expected = np.asarray(kappas) / (m * G * dt)
    np.testing.assert_allclose(gaps[:, -1], expected, rtol=1e-3)


def test_dojo_box_toss_comes_to_rest():
    # Dojo's unit test: edge 0.5, 8 corners, mu 0.1, tossed with spin; all four
    # time steps in one vmapped program (dt is a pytree leaf of the World).
    dts = (0.1, 0.05, 0.01, 0.005)
    worlds = _stack_worlds(*[box_world(dt=dt, mu=0.1) for dt in dts])
    s = box_world().init_state(pos=[[0.0, 0.0, 1.0]], vel=[[1.0, 0.5, 0.0]], ang_vel=[[2.0, 3.0, 4.0]])
    steps = 1000

    @jax.jit
    @jax.vmap
    def toss(world):
        st = contact.rollout(world, s, steps=steps)
        return st.pos[-1], st.vel[-1], st.ang_vel[-1], st.solver

    pos, vel, ang, info = toss(worlds)
    for i, dt in enumerate(dts):
        speed = float(np.linalg.norm(vel[i])) + 0.25 * float(np.linalg.norm(ang[i]))
        assert speed < 1e-6, (dt, speed)
        assert abs(float(pos[i, 0, 2]) - 0.25) < 1e-3, (dt, pos[i])
    assert bool(np.all(info.converged)), np.asarray(info.iterations)


def test_block_on_incline_sticks_iff_mu_ge_tan_theta():
    # Tilt gravity by theta instead of the plane: same mechanics, exact geometry.
    theta = np.deg2rad(20.0)
    tan = np.tan(theta)
    mus = (tan + 0.02, 0.5, tan - 0.02, 0.2, 0.05)
    dt, steps, kappa = 0.01, 100, 1e-9
    gravity = (G * np.sin(theta), 0.0, -G * np.cos(theta))
    worlds = _stack_worlds(*[box_world(dt=dt, mu=mu, gravity=gravity) for mu in mus])
    gap = kappa / (G * np.cos(theta) * dt / 4.0)
    s = box_world().init_state(pos=[[0.0, 0.0, 0.25 + gap]])

    @jax.jit
    @jax.vmap
    def slide(world):
        return contact.rollout(world, s, steps=steps, kappa=kappa)

    st = slide(worlds)
    for i, mu in enumerate(mus):
        x = np.asarray(st.pos[i, :, 0, 0])
        v = np.asarray(st.vel[i, :, 0, 0])
        if mu >= tan:
            # relaxed friction (kappa > 0) creeps, by orders of magnitude less than a slide
            assert abs(x[-1]) < 1e-5 and abs(v[-1]) < 1e-5, (mu, x[-1], v[-1])
        else:
            assert x[-1] > 1e-2, (mu, x[-1])
            accel = (v[-1] - v[19]) / (dt * (steps - 20))
            expected = G * (np.sin(theta) - mu * np.cos(theta))
            assert abs(accel - expected) / expected < 1e-3, (mu, accel, expected)
    assert bool(np.all(st.solver.converged))


@pytest.mark.slow
def test_sliding_block_stops_at_v0_squared_over_2_mu_g():
    mu, v0, dt = 0.5, 1.0, 0.001
    world = box_world(dt=dt, mu=mu)
    s = world.init_state(pos=[[0.0, 0.0, 0.25 + 1e-7 / (G * dt / 4)]], vel=[[v0, 0.0, 0.0]])
    st = jax.jit(lambda s: contact.rollout(world, s, steps=300, kappa=1e-7))(s)
    dist = float(st.pos[-1, 0, 0])
    expected = v0**2 / (2 * mu * G)
    assert abs(dist - expected) / expected < 1e-2
    assert abs(float(st.vel[-1, 0, 0])) < 1e-5  # stopped, up to kappa-sized creep


def test_sphere_sphere_collision_is_inelastic_and_conserves_momentum():
    # Head-on, no gravity: equal and opposite impulses keep total momentum exact;
    # contact without restitution leaves both moving with the centre-of-mass velocity.
    world = contact.World(
        bodies=(contact.Sphere(radius=0.1, mass=1.0), contact.Sphere(radius=0.1, mass=3.0)),
        gravity=(0.0, 0.0, 0.0), friction=0.5, dt=0.01,
    )
    s = world.init_state(pos=[[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]], vel=[[2.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    st = jax.jit(lambda s: contact.rollout(world, s, steps=60, kappa=1e-8))(s)
    p0 = np.asarray(contact.momentum(world, s)[0])
    p1 = np.asarray(contact.momentum(world, jax.tree.map(lambda x: x[-1], st))[0])
    np.testing.assert_allclose(p1, p0, atol=1e-10)
    dist = np.linalg.norm(np.asarray(st.pos[:, 1] - st.pos[:, 0]), axis=-1)
    assert np.all(dist > 0.2), "interpenetration"
    # Effective restitution ~0: only the kappa-sized barrier repulsion that keeps the
    # relaxed gap open separates them again, slowly (0 <= e << 1).
    v_rel = float(st.vel[-1, 1, 0] - st.vel[-1, 0, 0])
    assert 0.0 <= v_rel / 3.0 < 5e-3, v_rel
    assert bool(np.all(st.solver.converged))
