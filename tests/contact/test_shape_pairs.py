"""Box-box, capsule-box and capsule-capsule contact (rljax.contact.collision)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import contact
from rljax.contact import collision
from rljax.contact.rotation import quat_mul, quat_to_mat

G = 9.81
DT = 0.01
KAPPA = 1e-6


def axis_quat(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def resting_gap(count, mass):
    """Gap at which ``count`` equally loaded candidates carry ``mass``: count * kappa / gap = m g dt."""
    return count * KAPPA / (mass * G * DT)


def run(world, state, steps, **kw):
    st = jax.jit(lambda s: contact.rollout(world, s, steps=steps, kappa=KAPPA, **kw))(state)
    return jax.tree.map(np.asarray, st)


def report(capsys, name, st):
    it = st.solver.iterations
    drift = np.abs(st.pos[:, :, :2] - st.pos[:1, :, :2]).max()
    with capsys.disabled():
        print(f"\n[contact] {name}: {it.shape[0]} steps, iterations median {np.median(it):.0f} max {it.max()}, "
              f"converged {st.solver.converged.mean():.3f}, horizontal drift {drift:.1e} m")


# ---- box-box ----------------------------------------------------------------------


@pytest.mark.slow
def test_box_resting_on_a_box_stays_put(capsys):
    # A smaller box centred on a larger one: its 4 bottom corners rest on the top
    # face, so both gaps are analytic (4 and 4 candidates carrying 1 and 2 kg).
    ha, hb = 0.25, 0.2
    world = contact.World(bodies=(contact.Box(half_extents=(ha,) * 3, mass=1.0),
                                  contact.Box(half_extents=(hb,) * 3, mass=1.0)),
                          ground=contact.Plane(), friction=0.5, dt=DT)
    assert collision.candidates(world).count == 16 + 52
    g_ground, g_top = resting_gap(4, 2.0), resting_gap(4, 1.0)
    s = world.init_state(pos=[[0.0, 0.0, ha + g_ground], [0.0, 0.0, 2 * ha + hb + g_ground + g_top]])
    steps = 1000
    st = run(world, s, steps)
    report(capsys, "box on box", st)
    assert st.solver.converged.all()
    horizontal = np.abs(st.pos[:, :, :2] - st.pos[:1, :, :2]).max()
    assert horizontal < 1e-6, horizontal
    bottom_of_b = st.pos[:, 1, 2] - hb
    top_of_a = st.pos[:, 0, 2] + ha
    gap = bottom_of_b - top_of_a  # exact: both boxes stay level (checked below)
    assert gap.min() > 0.0, gap.min()
    # Far candidates (gap >= 0.05 m) carry kappa / gap each: a few 1e-4 of the load.
    np.testing.assert_allclose(gap[-1], g_top, rtol=2e-3)
    np.testing.assert_allclose(st.pos[-1, 0, 2] - ha, g_ground, rtol=2e-3)
    assert np.abs(st.quat[:, :, 1:]).max() < 1e-7  # no tilt
    assert np.abs(st.vel[-1]).max() < 1e-6  # relaxed (kappa > 0) friction creeps, ~1e-7 m/s


def _stack(steps, capsys):
    # Three equal cubes: every corner of one sits on a corner of the next, the
    # degenerate case for vertex-face contact (ties between faces at each corner).
    h, m = 0.2, 1.0
    world = contact.World(bodies=(contact.Box(half_extents=(h,) * 3, mass=m),) * 3, ground=contact.Plane(),
                          friction=0.5, dt=DT, body_pairs=((0, 1), (1, 2)))
    z = [h + resting_gap(4, 3 * m), 3 * h + resting_gap(4, 3 * m) + resting_gap(8, 2 * m)]
    z.append(z[1] + 2 * h + resting_gap(8, m))
    s = world.init_state(pos=[[0.0, 0.0, zi] for zi in z])
    st = run(world, s, steps)
    report(capsys, "stack of three equal boxes", st)
    assert st.solver.converged.all()
    horizontal = np.abs(st.pos[:, :, :2]).max()
    assert horizontal < 1e-6, horizontal
    assert np.abs(st.quat[:, :, 1:]).max() < 1e-7
    assert np.abs(st.vel[-1]).max() < 1e-6
    # Each interface carries its load on 8 to 16 coincident candidates (corners of
    # both boxes and edge pairs crossing at the corners): gap between those bounds.
    for lower, load in ((0, 2 * m), (1, m)):
        gap = (st.pos[:, lower + 1, 2] - h) - (st.pos[:, lower, 2] + h)
        assert gap.min() > 0.0, (lower, gap.min())
        assert resting_gap(8, load) * 0.999 <= gap[-1] <= resting_gap(16, load) * 1.001, (lower, gap[-1])
    return st


def test_stack_of_three_boxes_stands_200_steps(capsys):
    _stack(200, capsys)


@pytest.mark.slow
def test_stack_of_three_boxes_stands_1000_steps(capsys):
    _stack(1000, capsys)


def _segment_distance(p0, u, hu, q0, v, hv):
    """Distance between segments p0 + s u, q0 + t v (numpy, dense sampling + refinement)."""
    s = np.linspace(-hu, hu, 401)
    t = np.linspace(-hv, hv, 401)
    d = (p0 + s[:, None] * u)[:, None] - (q0 + t[:, None] * v)[None]
    return np.sqrt((d**2).sum(-1)).min()


@pytest.mark.slow
def test_ridge_falls_across_a_box_edge_and_rests_on_the_edges(capsys):
    # b is a long box turned 45 degrees about x, so its lowest edge (a ridge along
    # x) lies across the top face of the cube a and over both of a's top edges
    # along y: it can only rest on the two edge-edge contacts (its corners hang
    # beyond a, so vertex-face contact alone would let the ridge cut through).
    ha, hb = 0.2, (0.4, 0.1, 0.1)
    world = contact.World(bodies=(contact.Box(half_extents=(ha,) * 3, mass=1.0),
                                  contact.Box(half_extents=hb, mass=0.5)),
                          ground=contact.Plane(), friction=0.5, dt=DT)
    ridge_depth = np.sqrt(2.0) * hb[1]  # centre of b above its ridge
    drop = 0.02
    s = world.init_state(pos=[[0.0, 0.0, ha + resting_gap(4, 1.5)], [0.0, 0.0, 2 * ha + ridge_depth + drop]],
                         quat=[[1.0, 0.0, 0.0, 0.0], axis_quat([1, 0, 0], np.pi / 4)])
    # The corners of b are outside a: no vertex candidate is near contact.
    geom = collision.geometry(world, s.pos, s.quat)
    assert np.asarray(geom.phi)[8 + 8:8 + 8 + 16].min() > 0.1
    st = run(world, s, 150)
    report(capsys, "ridge across a box", st)
    assert st.solver.converged.all()
    # Height of b's ridge (body edge along x at y = z = -hb) above a's top where it
    # crosses a's two top edges, x = -ha and x = +ha.
    rot = np.asarray(quat_to_mat(jnp.asarray(st.quat[:, 1])))
    ends = st.pos[:, 1, None] + np.einsum("tij,kj->tki", rot, np.array([[-hb[0], -hb[1], -hb[2]],
                                                                        [hb[0], -hb[1], -hb[2]]]))
    gaps = []
    for x in (-ha, ha):
        w = (x - ends[:, 0, 0]) / (ends[:, 1, 0] - ends[:, 0, 0])
        gaps.append(ends[:, 0, 2] + w * (ends[:, 1, 2] - ends[:, 0, 2]) - (st.pos[:, 0, 2] + ha))
    gaps = np.stack(gaps, 1)
    assert gaps.min() > 0.0, gaps.min()  # no cut through a's edges
    # At rest on exactly the two edge-edge candidates, one per edge.
    np.testing.assert_allclose(gaps[-1], resting_gap(1, 0.25), rtol=5e-3)
    # Balanced on the ridge, an unstable equilibrium: the tilt only starts to grow.
    assert np.abs(st.quat[:, 1] - st.quat[0, 1]).max() < 1e-4
    assert np.abs(st.vel[-1, :, 2]).max() < 1e-6


@pytest.mark.slow
def test_edge_meets_edge_crosswise_without_passing_through():
    # No gravity: a is turned 45 degrees about y (a ridge along y on top), b 45
    # degrees about x (a ridge along x below) and thrown down onto a. The ridges
    # cross at one point: pure edge-edge contact.
    h = 0.2
    world = contact.World(bodies=(contact.Box(half_extents=(h,) * 3, mass=1.0),) * 2,
                          gravity=(0.0, 0.0, 0.0), friction=0.5, dt=DT)
    rise = np.sqrt(2.0) * h
    qa, qb = axis_quat([0, 1, 0], np.pi / 4), axis_quat([1, 0, 0], np.pi / 4)
    s = world.init_state(pos=[[0.0, 0.0, 0.0], [0.0, 0.0, 2 * rise + 0.05]], quat=[qa, qb],
                         vel=[[0.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    st = run(world, s, 60)
    assert st.solver.converged.all()
    ra, rb = quat_to_mat(jnp.asarray(st.quat[:, 0])), quat_to_mat(jnp.asarray(st.quat[:, 1]))
    ra, rb = np.asarray(ra), np.asarray(rb)
    # a's top ridge: body edge along y at (x, z) = (-h, +h); b's lowest: along x at (y, z) = (-h, -h).
    gaps = []
    for k in range(st.pos.shape[0]):
        pa = st.pos[k, 0] + ra[k] @ np.array([-h, 0.0, h])
        pb = st.pos[k, 1] + rb[k] @ np.array([0.0, -h, -h])
        gaps.append(_segment_distance(pa, ra[k][:, 1], h, pb, rb[k][:, 0], h)
                    * np.sign((pb - pa) @ np.array([0.0, 0.0, 1.0])))
    gaps = np.array(gaps)
    assert gaps.min() > -1e-6, gaps.min()  # no pass-through
    assert gaps.min() < 1e-3  # and they did meet
    # Nearly inelastic: only the kappa barrier separates them again, slowly.
    v_rel = float(st.vel[-1, 1, 2] - st.vel[-1, 0, 2])
    assert 0.0 <= v_rel < 0.1, v_rel
    p0 = np.asarray(contact.momentum(world, s)[0])
    np.testing.assert_allclose(st.vel[-1].sum(0), p0, atol=1e-9)


# ---- capsules -------------------------------------------------------------------


def _capsule_scene(lower, steps, quat_top, pos_top, vel_top=(0.0, 0.0, 0.0)):
    r, half = 0.05, 0.3
    world = contact.World(bodies=(lower, contact.Capsule(radius=r, half_length=half, mass=0.5)),
                          ground=contact.Plane(), friction=0.5, dt=DT)
    if isinstance(lower, contact.Box):
        z0 = float(lower.half_extents[2]) + resting_gap(4, 1.5)
        q0 = [1.0, 0.0, 0.0, 0.0]
    else:
        z0 = float(lower.radius) + resting_gap(2, 1.5)
        q0 = axis_quat([0, 1, 0], np.pi / 2)  # lying along x
    s = world.init_state(pos=[[0.0, 0.0, z0], pos_top(z0)], quat=[q0, quat_top], vel=[[0.0] * 3, list(vel_top)])
    return world, s, run(world, s, steps)


@pytest.mark.slow
def test_capsule_lies_across_a_box(capsys):
    # Along y, longer than the box is wide: it rests on the box's two top edges
    # along x (its ends hang over), on the two capsule-box candidates.
    box = contact.Box(half_extents=(0.2, 0.2, 0.2), mass=1.0)
    r = 0.05
    world, s, st = _capsule_scene(box, 300, axis_quat([1, 0, 0], np.pi / 2),
                                  lambda z0: [0.0, 0.0, z0 + 0.2 + r + resting_gap(2, 0.5) + 0.01])
    report(capsys, "capsule across a box", st)
    assert st.solver.converged.all()
    gap = (st.pos[:, 1, 2] - r) - (st.pos[:, 0, 2] + 0.2)
    assert gap.min() > 0.0, gap.min()
    np.testing.assert_allclose(gap[-1], resting_gap(2, 0.5), rtol=5e-3)
    assert np.abs(st.pos[:, 1, :2]).max() < 1e-6
    assert np.abs(st.vel[-1]).max() < 1e-6


@pytest.mark.slow
def test_capsule_lies_across_a_capsule(capsys):
    lower = contact.Capsule(radius=0.05, half_length=0.3, mass=1.0)
    r = 0.05
    world, s, st = _capsule_scene(lower, 300, axis_quat([1, 0, 0], np.pi / 2),
                                  lambda z0: [0.0, 0.0, z0 + 2 * r + resting_gap(3, 0.5)])
    report(capsys, "capsule across a capsule", st)
    assert st.solver.converged.all()
    gap = (st.pos[:, 1, 2] - st.pos[:, 0, 2]) - 2 * r  # axes cross at right angles
    assert gap.min() > 0.0, gap.min()
    # The three candidates meet at the crossing (alternation is exact at 90 degrees).
    np.testing.assert_allclose(gap[-1], resting_gap(3, 0.5), rtol=5e-3)
    assert np.abs(st.pos[:, :, :2]).max() < 1e-6
    assert np.abs(st.vel[-1]).max() < 1e-6


@pytest.mark.slow
def test_capsule_dropped_on_a_capsule_settles(capsys):
    lower = contact.Capsule(radius=0.05, half_length=0.3, mass=1.0)
    r = 0.05
    yaw = axis_quat([0, 0, 1], np.deg2rad(30.0))
    world, s, st = _capsule_scene(lower, 300, np.asarray(quat_mul(jnp.asarray(yaw), jnp.asarray(
        axis_quat([1, 0, 0], np.pi / 2)))), lambda z0: [0.0, 0.0, z0 + 2 * r + 0.1], vel_top=(0.0, 0.0, -0.5))
    report(capsys, "capsule dropped on a capsule", st)
    assert st.solver.converged.mean() > 0.99
    # Closest distance of the axes over the whole fall (numpy, independent of the solver's geometry).
    rot = np.asarray(quat_to_mat(jnp.asarray(st.quat)))
    dist = np.array([_segment_distance(st.pos[k, 0], rot[k, 0][:, 2], 0.3, st.pos[k, 1], rot[k, 1][:, 2], 0.3)
                     for k in range(st.pos.shape[0])])
    assert dist.min() - 2 * r > -1e-6, dist.min() - 2 * r
    assert dist[-1] - 2 * r < 1e-3  # still on the lower capsule
    assert np.abs(st.vel[-1]).max() < 1e-4 and np.abs(st.ang_vel[-1]).max() < 1e-3


# ---- derivatives ----------------------------------------------------------------


def _twisted(pos, quat, body, k, eps):
    """Pose with body ``body`` moved along twist coordinate ``k`` (0-2 dx, 3-5 dtheta, world)."""
    pos, quat = np.array(pos), np.array(quat)
    if k < 3:
        pos[body, k] += eps
    else:
        e = np.zeros(3)
        e[k - 3] = 1.0
        quat[body] = np.asarray(quat_mul(jnp.asarray(axis_quat(e, eps)), jnp.asarray(quat[body])))
    return jnp.asarray(pos), jnp.asarray(quat)


@pytest.mark.parametrize("kind", ["box-box", "capsule-box", "box-capsule", "capsule-capsule"])
def test_pair_geometry_derivatives_match_finite_differences(kind):
    shapes = {"box": contact.Box(half_extents=(0.3, 0.2, 0.15), mass=1.0),
              "capsule": contact.Capsule(radius=0.05, half_length=0.25, mass=1.0)}
    a, b = kind.split("-")
    world = contact.World(bodies=(shapes[a], shapes[b]), dt=DT)
    # A generic pose with the bodies close (contacts of every kind within reach).
    pos = np.array([[0.0, 0.0, 0.0], [0.1, -0.05, 0.38]])
    quat = np.stack([axis_quat([0.3, 0.2, 1.0], 0.4), axis_quat([1.0, -0.5, 0.2], 0.9)])
    ref = (jnp.asarray(pos), jnp.asarray(quat))
    jac = jax.jit(lambda p, q: collision.geometry_jacobian(world, p, q, ref=(p, q)))(*ref)
    eps = 1e-6
    moves = [(body, k, sgn) for body in (0, 1) for k in range(6) for sgn in (1.0, -1.0)]
    poses = [_twisted(pos, quat, body, k, sgn * eps) for body, k, sgn in moves]
    geoms = jax.jit(jax.vmap(lambda p, q: collision.geometry(world, p, q, ref=ref)))(
        jnp.stack([p for p, _ in poses]), jnp.stack([q for _, q in poses]))
    for i, (body, k, _) in enumerate(moves[::2]):
        for name in ("phi", "normal", "r_a", "r_b"):
            x = np.asarray(getattr(geoms, name))
            fd = (x[2 * i] - x[2 * i + 1]) / (2 * eps)
            an = np.asarray(getattr(jac, name))[..., body, k]
            np.testing.assert_allclose(an, fd, rtol=1e-6, atol=1e-7, err_msg=f"{kind} {name} body {body} k {k}")
    geom = jax.jit(lambda p, q: collision.geometry(world, p, q))
    # The geometry itself: a smooth signed gap that is positive here and near contact somewhere.
    phi = np.asarray(geom(*ref).phi)
    assert phi.shape == (collision.pair_count(shapes[a], shapes[b]),)
    assert np.all(np.isfinite(phi))


# ---- which bodies meet the ground -----------------------------------------------------


def test_ground_bodies_leaves_the_others_in_free_fall():
    """A sphere left out of ``ground_bodies`` falls through the floor exactly as in free fall,
    while the listed box lands beside it; the candidate list holds only the box's 8 corners."""
    world = contact.World(bodies=(contact.Box(half_extents=(0.1, 0.1, 0.1), mass=1.0), contact.Sphere(radius=0.1, mass=1.0)),
                          ground=contact.Plane(), dt=DT, body_pairs=(), ground_bodies=(0,))
    assert collision.candidates(world).b.tolist() == [0] * 8
    state = world.init_state(pos=jnp.array([[0.0, 0.0, 0.2], [1.0, 0.0, 0.2]]))
    steps = 40
    st = run(world, state, steps)
    k = np.arange(1, steps + 1)
    # The integrator's free fall: z_k = z_0 - g dt^2 k (k + 1) / 2 (velocity first, then position).
    np.testing.assert_allclose(st.pos[:, 1, 2], 0.2 - G * DT**2 * k * (k + 1) / 2, atol=1e-9)
    assert st.pos[-1, 1, 2] < -0.1                 # the sphere went through
    assert abs(st.pos[-1, 0, 2] - 0.1) < 1e-3      # the box rests on the floor


@pytest.mark.parametrize("bad", [(2,), (-1,), (0, 0), (True,), (0.5,)])
def test_ground_bodies_bad_entries_are_named(bad):
    with pytest.raises(ValueError, match="ground_bodies"):
        contact.World(bodies=(contact.Sphere(radius=0.1, mass=1.0), contact.Sphere(radius=0.1, mass=1.0)),
                      ground=contact.Plane(), ground_bodies=bad)
    with pytest.raises(ValueError, match="ground_bodies"):
        contact.WorldSpec(bodies=(("sphere", 0.1, 1.0), ("sphere", 0.1, 1.0)), friction=0.5, dt=0.01,
                          ground_bodies=bad)
