"""Solver, gradient, batching and API tests of rljax.contact."""

import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import contact
from rljax.contact import local_block, small_ops, solver

G = 9.81


def mixed_world(dt=0.01, mu=0.5):
    """Box, sphere and capsule on a plane, with sphere-box, box-capsule and sphere-capsule pairs."""
    return contact.World(
        bodies=(
            contact.Box(half_extents=(0.2, 0.15, 0.1), mass=1.0),
            contact.Sphere(radius=0.1, mass=0.5),
            contact.Capsule(radius=0.05, half_length=0.2, mass=0.7),
        ),
        ground=contact.Plane(normal=(0.1, 0.0, 1.0), offset=-0.05),
        friction=mu, dt=dt,
    )


def mixed_state(world):
    quat = np.array([[0.9, 0.1, 0.3, 0.2], [1.0, 0.0, 0.0, 0.0], [0.8, 0.5, 0.0, 0.1]])
    return world.init_state(
        pos=[[0.0, 0.0, 0.3], [0.0, 0.05, 0.55], [0.5, 0.0, 0.4]],
        quat=quat,
        vel=[[0.5, 0.0, -1.0], [0.0, 0.0, -2.0], [-1.0, 0.2, 0.0]],
        ang_vel=[[1.0, -2.0, 0.5], [0.0, 3.0, 0.0], [0.5, 0.5, 5.0]],
    )


def slide_world(mu=0.3, mass=1.0, half=0.25):
    return contact.World(bodies=(contact.Box(half_extents=(half, half, half), mass=mass),),
                         ground=contact.Plane(), friction=mu, dt=0.01)


@pytest.mark.parametrize("pairs", [True, False], ids=["body-pairs", "ground-only"])
def test_structured_jacobian_matches_jacfwd(pairs):
    # With body-body pairs the Schur complement is one dense matrix; without, it is
    # block-diagonal per body (6x6 blocks): both paths against jax.jacfwd.
    world = mixed_world()
    if not pairs:
        world = contact.World(world.bodies, world.ground, world.friction, world.gravity, world.dt, body_pairs=())
    st = mixed_state(world)
    problem = solver.Problem(world, st.pos, st.quat, st.vel, st.ang_vel,
                             force=jnp.ones((3, 3)) * 0.3, torque=jnp.ones((3, 3)) * -0.1)
    n, c = solver.sizes(problem)
    assert c == 8 + 1 + 2 + (4 if pairs else 0)  # box corners, sphere, capsule ends; 1 + 2 + 1 pair candidates
    rng = np.random.default_rng(0)
    z = np.abs(rng.normal(size=(c, 8))) + 0.1
    z[:, 2] += 1.0  # interior of the cones
    z[:, 5] += 1.0
    y = rng.normal(size=(n, 6))
    w = solver.join(jnp.asarray(y), jnp.asarray(z))
    r = jnp.asarray(rng.normal(size=w.shape))

    @jax.jit
    def check(problem, w, r):
        dense = solver.dense_jacobian(problem, w)
        ref = jax.jacfwd(lambda ww: solver.residual(problem, ww, 1e-3))(w)
        blocks = solver.factor(problem, w)
        dy, dz = solver.newton_solve(problem, blocks, r[: 6 * n].reshape(n, 6), r[6 * n :].reshape(c, 8))
        a_y, a_z = solver.newton_solve_transpose(problem, blocks, r[: 6 * n], r[6 * n :].reshape(c, 8))
        return dense, ref, solver.join(dy, dz), jnp.concatenate([a_y, a_z.reshape(-1)])

    dense, ref, sol, sol_t = check(problem, w, r)
    np.testing.assert_allclose(dense, ref, rtol=1e-10, atol=1e-10)
    # The Schur-complement solves agree with a dense solve, both ways round.
    np.testing.assert_allclose(sol, np.linalg.solve(ref, -r), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sol_t, np.linalg.solve(ref.T, r), rtol=1e-8, atol=1e-10)


def test_closed_form_contact_blocks_match_dense_linear_algebra():
    rng = np.random.default_rng(1)
    z = np.abs(rng.normal(size=(6, 8))) + 0.1
    z[:, 2] += 1.0
    z[:, 5] += 1.0
    mu = 0.4
    d = np.asarray(local_block.d_matrix(jnp.asarray(z), mu))
    # d_matrix against forward mode on the contact's own rows.
    def rows(zi):
        kin = jnp.concatenate([zi[1:2], zi[6:8]])
        beta, eta = zi[2:5], zi[5:8]
        return jnp.concatenate([kin, jnp.stack([zi[2] - mu * zi[0], zi[0] * zi[1], beta @ eta]),
                                beta[0] * eta[1:] + eta[0] * beta[1:]])
    np.testing.assert_allclose(d, jax.vmap(jax.jacfwd(rows))(jnp.asarray(z)), atol=1e-14)
    g = rng.normal(size=(6, 8))
    np.testing.assert_allclose(local_block.d_solve(z, mu, g), np.linalg.solve(d, g[..., None])[..., 0], rtol=1e-10)
    np.testing.assert_allclose(local_block.d_solve_t(z, mu, g),
                               np.linalg.solve(np.swapaxes(d, 1, 2), g[..., None])[..., 0], rtol=1e-10)
    np.testing.assert_allclose(local_block.d_kin_columns(z, mu), np.linalg.inv(d)[:, :, :3], rtol=1e-10, atol=1e-12)
    m = rng.normal(size=(4, 6, 6)) + 5.0 * np.eye(6)
    np.testing.assert_allclose(small_ops.inv6(m), np.linalg.inv(m), rtol=1e-12, atol=1e-14)


def test_small_ops_products_gathers_and_scatters():
    rng = np.random.default_rng(2)
    for spec, sa, sb in [("c...kt,cktj->c...kj", (4, 3, 2, 6), (4, 2, 6, 6)), ("ckn,cki->ni", (40, 2, 3), (40, 2, 6)),
                         ("cji,cj->ci", (5, 3, 3), (5, 3)), ("ij,jk->ki", (3, 4), (4, 5))]:
        a, b = rng.normal(size=sa), rng.normal(size=sb)
        np.testing.assert_allclose(small_ops.einsum(spec, a, b), np.einsum(spec, a, b), rtol=1e-12, atol=1e-13)
    x = rng.normal(size=(4, 3))
    idx = np.array([3, 3, 0, 1, 1, 3, 4])
    np.testing.assert_array_equal(small_ops.take(np.concatenate([x, np.zeros((1, 3))]), idx),
                                  np.concatenate([x, np.zeros((1, 3))])[idx])
    v = rng.normal(size=(7, 2))
    ref = np.zeros((4, 2))
    np.add.at(ref, idx[idx < 4], v[idx < 4])
    np.testing.assert_allclose(small_ops.segment_sum(v, idx, 4), ref, rtol=1e-12)


KAPPA_FD = 1e-5
TIGHT = dict(tol=1e-13, comp_rtol=1e-9)


def _final_x(v0, mu, mass, half, steps=30):
    world = slide_world(mu, mass, half)
    gap = KAPPA_FD / (mass * G * 0.01 / 4)
    s = world.init_state(pos=jnp.array([[0.0, 0.0, 0.25]]) + jnp.array([[0.0, 0.0, gap]]))
    s = s.replace(vel=jnp.array([[1.0, 0.0, 0.0]]) * v0)
    st = contact.rollout(world, s, steps=steps, kappa=KAPPA_FD, **TIGHT)
    return st.pos[-1, 0, 0]


def test_ift_gradients_match_central_differences_on_a_slide(capsys):
    args = (1.0, 0.3, 1.0, 0.25)
    names = ("v0", "mu", "mass", "half_extent")
    f = jax.jit(_final_x)
    grads = jax.jit(jax.grad(_final_x, argnums=(0, 1, 2, 3)))(*args)
    eps = 1e-5
    for i, g in enumerate(grads):
        hi = list(args); lo = list(args)
        hi[i] += eps; lo[i] -= eps
        fd = (f(*hi) - f(*lo)) / (2 * eps)
        scale = max(abs(float(fd)), 1e-3)  # size derivative is ~0: compare absolutely there
        with capsys.disabled():
            print(f"\n[contact] d x_final / d {names[i]}: IFT {float(g):.10g}  FD {float(fd):.10g}  "
                  f"rel. err {abs(float(g) - float(fd)) / scale:.1e}")
        assert abs(float(g) - float(fd)) / scale < 1e-4, (i, float(g), float(fd))
    # sanity: sliding further with more initial speed, less with more friction
    assert grads[0] > 0 and grads[1] < 0


def test_grad_reaches_every_world_number():
    # Cotangents of a World are Worlds whose entries may be negative: they must not
    # be validated like user input. Check a few against central differences.
    world = contact.World(bodies=(contact.Box(mass=1.0), contact.Sphere(radius=0.1, mass=0.5)),
                          ground=contact.Plane(), friction=0.5, dt=0.01)
    leaves, treedef = jax.tree.flatten(world)
    negative = jax.tree.unflatten(treedef, [-np.ones_like(np.asarray(x)) for x in leaves])  # as eager VJPs build
    assert float(negative.bodies[0].mass) == -1.0
    s = world.init_state(pos=[[0.0, 0.0, 0.2504], [0.6, 0.0, 0.15]], vel=[[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    kw = dict(kappa=1e-4, **TIGHT)

    @jax.jit
    def f(w):
        pos = contact.rollout(w, s, steps=5, **kw).pos[-1]
        return pos[0, 0] + pos[1, 2]

    g = jax.jit(jax.grad(f))(world)
    leaves = jax.tree.leaves(g)
    assert len(leaves) == len(jax.tree.leaves(world)) and all(np.all(np.isfinite(x)) for x in leaves)
    eps = 1e-6
    for name, get, make in (
        ("friction", lambda w: w.friction, lambda v: contact.World(world.bodies, world.ground, v, world.gravity, world.dt)),
        ("dt", lambda w: w.dt, lambda v: contact.World(world.bodies, world.ground, world.friction, world.gravity, v)),
        ("box mass", lambda w: w.bodies[0].mass,
         lambda v: contact.World((contact.Box(mass=v), world.bodies[1]), world.ground, world.friction, world.gravity, world.dt)),
        ("sphere radius", lambda w: w.bodies[1].radius,
         lambda v: contact.World((world.bodies[0], contact.Sphere(radius=v, mass=0.5)), world.ground, world.friction,
                                 world.gravity, world.dt)),
    ):
        v = float(get(world))
        fd = (f(make(v + eps)) - f(make(v - eps))) / (2 * eps)
        assert abs(float(get(g)) - float(fd)) <= 1e-4 * max(abs(float(fd)), 1e-2), (name, float(get(g)), float(fd))


def test_grad_kappa_mode_gives_relaxed_gradients_with_a_hard_forward():
    world = slide_world(mu=0.3)
    s = world.init_state(pos=[[0.0, 0.0, 0.25 + 1e-4]], vel=[[0.0, 0.0, 0.0]])

    def disp(force, kappa, grad_kappa):
        f = jnp.array([[force, 0.0, 0.0]])
        return contact.step(world, s, f, kappa=kappa, grad_kappa=grad_kappa, **TIGHT).pos[0, 0]

    hard = jax.jit(jax.value_and_grad(lambda f: disp(f, 1e-8, 1e-3)))
    soft = jax.jit(jax.value_and_grad(lambda f: disp(f, 1e-3, None)))
    force = 2.0  # below the stick threshold mu m g = 2.94
    (x_h, g_h), (x_s, g_s) = hard(force), soft(force)
    np.testing.assert_allclose(g_h, g_s, rtol=1e-6)  # gradient of the relaxed problem
    assert abs(float(x_h)) < abs(float(x_s))  # forward stayed (nearly) stuck
    assert float(g_h) > 0


def test_gradient_across_stick_slip_gets_smoother_as_kappa_grows():
    dt, m, mu = 0.01, 1.0, 0.3
    world = contact.World(bodies=(contact.Box(mass=m),), ground=contact.Plane(), friction=mu, dt=dt)
    kappas = jnp.array([1e-8, 1e-6, 1e-5, 1e-4, 1e-3])
    forces = jnp.linspace(0.0, 2.0 * mu * m * G, 41)

    def disp(force, kappa):
        gap = kappa / (m * G * dt / 4)  # resting equilibrium for this kappa
        s = world.init_state(pos=jnp.array([[0.0, 0.0, 0.25]]) + jnp.array([[0.0, 0.0, 1.0]]) * gap)
        st = contact.step(world, s, jnp.array([[1.0, 0.0, 0.0]]) * force, kappa=kappa)
        return st.pos[0, 0]

    grad = jax.jit(jax.vmap(jax.vmap(jax.grad(disp), (0, None)), (None, 0)))(forces, kappas)
    grad = np.asarray(grad) / (dt**2 / m)  # 0 when stuck, 1 when sliding (hard contact)
    roughness = np.max(np.abs(np.diff(grad, axis=1)), axis=1)  # largest jump between neighbours
    assert np.all(np.isfinite(grad))
    assert roughness[0] > 0.5  # nearly hard: the jump sits in one bin
    assert np.all(np.diff(roughness) < 0), roughness
    np.testing.assert_allclose(grad[0, -1], 1.0, atol=1e-3)  # sliding limit
    assert abs(grad[0, 0]) < 1e-3  # stuck


def test_vmap_over_worlds_and_states_equals_a_loop():
    mus = [0.1, 0.3, 0.8]
    vels = [[[1.0, 0.0, 0.0]], [[0.0, 2.0, -1.0]], [[-1.0, 0.5, 0.0]]]
    worlds = [slide_world(mu) for mu in mus]
    states = [w.init_state(pos=[[0.0, 0.0, 0.4]], vel=v, ang_vel=[[1.0, 0.0, 2.0]]) for w, v in zip(worlds, vels)]
    run = jax.jit(lambda w, s: contact.rollout(w, s, steps=40))
    batched = jax.jit(jax.vmap(lambda w, s: contact.rollout(w, s, steps=40)))(
        jax.tree.map(lambda *x: jnp.stack(x), *worlds), jax.tree.map(lambda *x: jnp.stack(x), *states))
    for i, (w, s) in enumerate(zip(worlds, states)):
        single = run(w, s)
        for name in ("pos", "quat", "vel", "ang_vel"):
            np.testing.assert_allclose(getattr(batched, name)[i], getattr(single, name), rtol=1e-9, atol=1e-11)


def test_long_rollout_has_no_nan_and_few_iterations(capsys):
    world = mixed_world()
    st = jax.jit(lambda s: contact.rollout(world, s, steps=1000))(mixed_state(world))
    for leaf in (st.pos, st.quat, st.vel, st.ang_vel):
        assert np.all(np.isfinite(np.asarray(leaf)))
    it = np.asarray(st.solver.iterations)
    conv = np.asarray(st.solver.converged)
    pct = np.percentile(it, [0, 25, 50, 75, 90, 99, 100])
    with capsys.disabled():
        print(f"\n[contact] iterations over 1000 steps (3 bodies, 15 candidates): "
              f"min/p25/p50/p75/p90/p99/max = {pct.tolist()}, converged {conv.mean():.3f}")
    assert np.median(it) <= 15
    assert conv.mean() >= 0.99
    # the bodies ended up resting on the (tilted) plane, not through it
    n = np.array([0.1, 0.0, 1.0]) / np.linalg.norm([0.1, 0.0, 1.0])
    assert np.all(np.asarray(st.pos[-1]) @ n > -0.05)


# ---- API, validation and float64 scoping ---------------------------------------------


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="mass"):
        contact.Box(mass=-1.0)
    with pytest.raises(ValueError, match="radius"):
        contact.Sphere(radius=0.0)
    with pytest.raises(ValueError, match="half_extents"):
        contact.Box(half_extents=(0.1, 0.2))
    with pytest.raises(ValueError, match="dt"):
        contact.World(bodies=(contact.Sphere(),), dt=0.0)
    with pytest.raises(ValueError, match="friction"):
        contact.World(bodies=(contact.Sphere(),), friction=-0.1)
    with pytest.raises(ValueError, match="body_pairs"):
        contact.World(bodies=(contact.Box(), contact.Box()), body_pairs=((0, 0),))
    with pytest.raises(ValueError, match="body_pairs"):
        contact.World(bodies=(contact.Box(), contact.Box()), body_pairs=((0, 2),))
    world = contact.World(bodies=(contact.Sphere(),), ground=contact.Plane())
    with pytest.raises(ValueError, match="pos"):
        world.init_state(pos=np.zeros((2, 3)))
    s = world.init_state(pos=[[0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="kappa"):
        contact.step(world, s, kappa=0.0)
    with pytest.raises(ValueError, match="force"):
        contact.step(world, s, force=np.zeros((3,)))


def test_float64_is_scoped_not_global():
    # importing the package leaves x64 off (checked in a fresh interpreter)
    code = "import jax; from rljax import contact; assert not jax.config.jax_enable_x64"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    # the fixture holds x64 on; leaving the scope turns it off again
    with jax.enable_x64(False):
        assert not jax.config.jax_enable_x64
        world = contact.World(bodies=(contact.Sphere(),), ground=contact.Plane())
        with pytest.raises(RuntimeError, match="enable_x64"):
            world.init_state(pos=[[0.0, 0.0, 1.0]])
    assert jax.config.jax_enable_x64


def test_non_convergence_is_reported_not_nan():
    world = contact.World(bodies=(contact.Sphere(),), ground=contact.Plane())
    s = world.init_state(pos=[[0.0, 0.0, 0.1]], vel=[[1.0, 0.0, -3.0]])
    st = jax.jit(lambda s: contact.step(world, s, max_iter=2))(s)
    assert not bool(st.solver.converged)
    assert int(st.solver.iterations) == 2
    assert np.all(np.isfinite(np.asarray(st.pos)))


@pytest.mark.parametrize("max_iter", [50, pytest.param(7, marks=pytest.mark.slow)], ids=["converging", "some-capped"])
def test_batched_solve_finishes_stragglers_apart_and_equals_a_plain_vmap(max_iter, monkeypatch):
    # 64 worlds under vmap: once at most 16 are unconverged they are gathered into a batch of
    # 16, and the last 4 of those into a batch of 4 (STRAGGLER_FRACTIONS). Each world must
    # still take its own iterations and land on its own solution, as in a plain vmapped
    # while_loop (STRAGGLER_FRACTIONS = ()), also when some stop at max_iter unconverged.
    # Only round-off differs (XLA compiles each batch size apart). A single unbatched solve
    # differs at round-off too, and a stalling step amplifies it: world 35's step 10 takes
    # 38 iterations in either batch, 50 alone.
    world = mixed_world()
    base = mixed_state(world)
    vels = jax.random.uniform(jax.random.key(3), (64, 3, 3), minval=-3.0, maxval=3.0)
    run = lambda v: contact.rollout(world, base.replace(vel=v), steps=25, max_iter=max_iter)  # noqa: E731
    assert solver.STRAGGLER_FRACTIONS == (1 / 4, 1 / 4) and solver.MIN_STRAGGLER_BATCH == 4
    compacted = jax.jit(jax.vmap(run))(vels)
    monkeypatch.setattr(solver, "STRAGGLER_FRACTIONS", ())
    plain = jax.jit(jax.vmap(run))(vels)
    it = np.asarray(compacted.solver.iterations)  # [world, step]
    if max_iter == 50:
        # The last compaction has work to do: at some step the slowest world iterates past the 5th slowest.
        ranked = np.sort(it, axis=0)
        assert np.any(ranked[-1] > ranked[-5])
    else:
        converged = np.asarray(compacted.solver.converged)
        assert 0.1 < converged.mean() < 0.99 and it.max() == 7, (converged.mean(), it.max())
    np.testing.assert_array_equal(it, np.asarray(plain.solver.iterations))
    chex.assert_trees_all_close(compacted, plain, rtol=1e-9, atol=1e-10)  # the solver tolerance


def test_batched_solve_keeps_ift_gradients_and_nests():
    # Gradients through a vmapped rollout (custom_vjp over the batched solve) are each world's
    # own, and a vmap over seeds of a vmap over worlds (the training layout) batches both.
    world = slide_world()
    base = world.init_state(pos=[[0.0, 0.0, 0.26]], ang_vel=[[0.0, 0.0, 1.0]])
    vx = jnp.linspace(0.2, 3.0, 16)

    def final_x(v):
        return contact.rollout(world, base.replace(vel=jnp.array([[v, 0.5, -1.0]])), steps=20).pos[-1, 0, 0]

    grads = jax.jit(jax.vmap(jax.grad(final_x)))(vx)
    single = jax.jit(jax.grad(final_x))
    chex.assert_trees_all_close(grads, jnp.stack([single(v) for v in vx]), rtol=1e-10, atol=1e-12)
    nested = jax.jit(jax.vmap(jax.vmap(final_x)))(vx.reshape(2, 8))
    chex.assert_trees_all_close(nested.reshape(-1), jax.jit(jax.vmap(final_x))(vx), rtol=1e-12, atol=1e-14)
