"""Warm starts of the interior point (``State.warm``, ``solver.warm_point``): same
physics and gradients as cold starts, fewer iterations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import contact
from rljax.contact import solver

TIGHT = dict(kappa=1e-6, comp_rtol=1e-8)  # solutions equal to ~1e-10, so trajectories can be compared


def box_world(mu=0.5, dt=0.01):
    return contact.World(bodies=(contact.Box(half_extents=(0.1, 0.1, 0.1), mass=1.0),), ground=contact.Plane(),
                         friction=mu, dt=dt)


def _both(world, state, steps, **kw):
    run = jax.jit(lambda s, ws: contact.rollout(world, s, steps=steps, warm_start=ws, **kw), static_argnums=1)
    return run(state, False), run(state, True)


def test_neutral_warm_is_the_cold_start_and_shape_is_checked():
    world = box_world()
    st = world.init_state(pos=[[0.0, 0.0, 0.3]], vel=[[1.0, 0.0, 0.0]])
    n, c = 1, 8
    assert st.warm.shape == (6 * n + 8 * c,) and not np.any(np.asarray(st.warm))
    p = solver.Problem(world, st.pos, st.quat, st.vel, st.ang_vel, jnp.zeros((1, 3)), jnp.zeros((1, 3)))
    w0, warm = solver.warm_point(p, st.warm, jnp.asarray(1e-6))
    assert not bool(warm)
    np.testing.assert_array_equal(np.asarray(w0), np.asarray(solver.initial_point(p)))
    with pytest.raises(ValueError, match="state.warm"):
        contact.step(world, st.replace(warm=jnp.zeros(7)), warm_start=True)


def test_warm_and_cold_trajectories_agree_and_warm_takes_fewer_iterations():
    # Drop, land, slide and come to rest: every phase, contact-set changes included.
    world = box_world()
    st = world.init_state(pos=[[0.0, 0.0, 0.15]], vel=[[1.5, 0.5, 0.0]], ang_vel=[[0.0, 0.0, 2.0]])
    cold, warm = _both(world, st, 80, **TIGHT)
    for name in ("pos", "quat", "vel", "ang_vel"):
        np.testing.assert_allclose(getattr(warm, name), getattr(cold, name), rtol=0, atol=1e-8)
    assert np.all(np.asarray(warm.solver.converged)) and np.all(np.asarray(cold.solver.converged))
    it_c, it_w = np.asarray(cold.solver.iterations), np.asarray(warm.solver.iterations)
    print(f"\n[warm start] drop/slide/rest: mean iterations cold {it_c.mean():.2f}, warm {it_w.mean():.2f}")
    assert it_w.mean() < 0.7 * it_c.mean()


def test_warm_start_cuts_iterations_on_a_resting_box():
    world = box_world()
    rest = 0.1 + 1e-6 / (9.81 * 0.01 / 4)
    st = world.init_state(pos=[[0.0, 0.0, rest]])
    cold, warm = _both(world, st, 50, kappa=1e-6)
    it_c, it_w = np.asarray(cold.solver.iterations), np.asarray(warm.solver.iterations)
    assert it_w[0] == it_c[0]  # the first step has no previous solution
    assert it_w[1:].mean() <= 2 and it_c[1:].mean() >= 5, (it_c, it_w)
    np.testing.assert_allclose(warm.pos, cold.pos, atol=1e-8)
    # the warm state holds the solution, with impulses m g dt / 4 on the four bottom corners
    z = np.asarray(warm.warm[-1, 6:]).reshape(8, 8)
    np.testing.assert_allclose(np.sort(z[:, 0])[-4:], 9.81 * 0.01 / 4, rtol=1e-3)


@pytest.mark.slow  # three gradient/forward programs to compile (~40 s on 2 busy cores)
def test_gradients_through_a_warm_started_rollout_match_cold_and_finite_differences():
    world = box_world(mu=0.3)
    base = world.init_state(pos=[[0.0, 0.0, 0.1 + 1e-4]])

    def final_x(vx, ws):
        st = base.replace(vel=jnp.array([[vx, 0.0, 0.0]]))
        return contact.rollout(world, st, steps=30, warm_start=ws, **TIGHT).pos[-1, 0, 0]

    g_cold = jax.jit(jax.grad(lambda v: final_x(v, False)))(1.0)
    g_warm = jax.jit(jax.grad(lambda v: final_x(v, True)))(1.0)
    f = jax.jit(lambda v: final_x(v, True))
    eps = 1e-6
    fd = (f(1.0 + eps) - f(1.0 - eps)) / (2 * eps)
    np.testing.assert_allclose(g_warm, g_cold, rtol=1e-7)
    np.testing.assert_allclose(g_warm, fd, rtol=1e-4)
    assert 0.1 < float(g_warm) < 0.31  # sliding decelerates: less than dt * steps


def test_bridge_carries_the_warm_start_from_float32():
    spec = contact.WorldSpec(bodies=(("box", (0.1, 0.1, 0.1), 1.0),), friction=0.5, dt=0.05)
    bodies = contact.resting_bodies(jnp.array([[0.0, 0.0, 0.1 + 1e-4 / (9.81 * 0.05 / 4)]]))
    force = jnp.array([[2.0, 1.0, 0.0]], jnp.float32)  # below the friction limit: the box sticks
    zero = jnp.zeros((1, 3), jnp.float32)

    def run(ws):
        opts = contact.StepOptions(warm_start=ws)
        b = bodies._replace(warm=contact.cold_warm(spec))

        def body(b, _):
            b, info = contact.float32_step(spec, opts, b, force, zero)
            return b, (b.pos, info.iterations)
        return jax.lax.scan(body, b, None, length=20)[1]

    (pos_c, it_c), (pos_w, it_w) = jax.jit(lambda: run(False))(), jax.jit(lambda: run(True))()
    assert pos_w.dtype == jnp.float32 and contact.warm_size(spec) == 6 + 8 * 8
    np.testing.assert_allclose(pos_w, pos_c, atol=1e-5)
    assert np.asarray(it_w)[1:].mean() < 0.5 * np.asarray(it_c)[1:].mean(), (it_c, it_w)
