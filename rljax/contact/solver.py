"""Primal-dual interior-point solve of one time step.

Unknowns ``w = (y, z)``: ``y`` [N, 6] midpoint body velocities and, per contact
candidate, ``z`` [C, 8] = (gamma, s, beta0, b1, b2, psi, eta1, eta2):

- orthant pair: normal impulse ``gamma >= 0`` and gap slack ``s >= 0``;
- second-order-cone pair: ``beta = (beta0, b)`` (friction impulse ``b`` in the
  tangent basis, ``beta0 = mu gamma``) and ``eta = (psi, v_t)`` (tangential
  slip velocity); ``beta o eta = 0`` is maximum dissipation.

Residual rows: impulse balance (6 per body), then per contact
``s - phi(next pose)``, ``eta_t - v_t``, ``beta0 - mu gamma``,
``gamma s - kappa`` and ``beta o eta - kappa e`` with the Jordan product
``u o v = (u.v, u0 v1: + v0 u1:)``.

The Newton matrix ``[[A, B], [C, D]]`` has ``D`` block-diagonal (8x8 per
contact) and only three rows of ``C`` / columns of ``B`` per contact, so the
contact unknowns are eliminated onto the 6-per-body Schur complement
``S = A - B D^-1 C``: cost is linear in contacts plus one (6N)^3 factorisation.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jax import Array, lax

from rljax.contact import collision
from rljax.contact.dynamics import dynamics_residual, next_pose
from rljax.contact.rotation import quat_to_mat

# Columns of z that carry impulse into the dynamics (gamma, b1, b2) and rows of
# the contact block that depend on body velocities (s - phi, eta_t - v_t).
_IMPULSE_COLS = np.array([0, 3, 4])
FRACTION_TO_BOUNDARY = 0.95
MAX_BACKTRACK = 8
INIT_MU = 1e-3  # initial complementarity (impulse x metres)
INIT_MIN_GAP = 1e-2  # floor of the initial gap slack [m]


class Problem(NamedTuple):
    """Everything a step depends on (the differentiable inputs).

    world: ``World``. pos/vel/ang_vel/force/torque: [N, 3]. quat: [N, 4].
    """

    world: Any
    pos: Array
    quat: Array
    vel: Array
    ang_vel: Array
    force: Array
    torque: Array


class Options(NamedTuple):
    """Static solver settings (hashable: they are ``custom_vjp`` nondiff args)."""

    max_iter: int = 50
    tol: float = 1e-10
    comp_rtol: float = 1e-3
    relaxed_grad: bool = False
    debug: bool = False  # print per-iteration progress with jax.debug.print


class Blocks(NamedTuple):
    """Factored Newton matrix."""

    lu: Any  # LU of the Schur complement S [6N, 6N]
    b: Array  # dynamics rows w.r.t. (gamma, b1, b2): [6N, C, 3]
    ck: Array  # (s - phi, eta_t - v_t) rows w.r.t. y: [C, 3, 6N]
    dinv: Array  # [C, 8, 8]


def sizes(problem: Problem) -> tuple[int, int]:
    return problem.pos.shape[0], collision.candidates(problem.world).count


def split(problem: Problem, w: Array) -> tuple[Array, Array]:
    n, c = sizes(problem)
    return w[: 6 * n].reshape(n, 6), w[6 * n :].reshape(c, 8)


def join(y: Array, z: Array) -> Array:
    return jnp.concatenate([y.reshape(-1), z.reshape(-1)])


# ---- residual -------------------------------------------------------------------


def _kinematics(problem: Problem, y: Array):
    """Geometry at the next pose, tangent bases [C, 2, 3] and relative velocity [C, 3]."""
    world = problem.world
    cand = collision.candidates(world)
    pos_next, quat_next = next_pose(problem.pos, problem.quat, y, jnp.asarray(world.dt))
    geom = collision.geometry(world, pos_next, quat_next)
    tangents = collision.tangent_basis(geom.normal)
    # Velocities of the body points; the static ground is an extra zero row. The
    # body-frame w is also its own axis over the step, so R_k w = R_{k+1} w.
    rot = quat_to_mat(problem.quat)
    w_world = jnp.einsum("nij,nj->ni", rot, y[:, 3:])
    v_ext = jnp.concatenate([y[:, :3], jnp.zeros((1, 3), y.dtype)])
    w_ext = jnp.concatenate([w_world, jnp.zeros((1, 3), y.dtype)])
    va = v_ext[cand.a] + jnp.cross(w_ext[cand.a], geom.r_a)
    vb = v_ext[cand.b] + jnp.cross(w_ext[cand.b], geom.r_b)
    return geom, tangents, vb - va


def _wrench(problem: Problem, geom, tangents: Array, lam: Array) -> Array:
    """Contact impulses lam [C, 3] = (gamma, b1, b2) summed per body, [N, 6]."""
    n = problem.pos.shape[0]
    cand = collision.candidates(problem.world)
    imp = lam[:, :1] * geom.normal + jnp.einsum("ck,ckj->cj", lam[:, 1:], tangents)
    rot = quat_to_mat(problem.quat)
    rot_ext = jnp.concatenate([rot, jnp.eye(3, dtype=rot.dtype)[None]])
    ang_b = jnp.einsum("cji,cj->ci", rot_ext[cand.b], jnp.cross(geom.r_b, imp))
    ang_a = jnp.einsum("cji,cj->ci", rot_ext[cand.a], jnp.cross(geom.r_a, -imp))
    out = jnp.zeros((n + 1, 6), imp.dtype)
    out = out.at[cand.b].add(jnp.concatenate([imp, ang_b], -1))
    out = out.at[cand.a].add(jnp.concatenate([-imp, ang_a], -1))
    return out[:n]


def _lam(z: Array) -> Array:
    return z[:, _IMPULSE_COLS]


def _dyn_rows(problem: Problem, y: Array, lam: Array) -> Array:
    geom, tangents, _ = _kinematics(problem, y)
    wrench = _wrench(problem, geom, tangents, lam)
    p = problem
    return dynamics_residual(p.world, p.pos, p.quat, p.vel, p.ang_vel, p.force, p.torque, y, wrench)


def _kin_rows(problem: Problem, y: Array, z: Array) -> Array:
    geom, tangents, vrel = _kinematics(problem, y)
    vt = jnp.einsum("ckj,cj->ck", tangents, vrel)
    return jnp.concatenate([(z[:, 1] - geom.phi)[:, None], z[:, 6:8] - vt], -1)


def _local_rows(z: Array, mu: Array, kappa: Array) -> Array:
    """Per-contact rows that involve only that contact's unknowns, [C, 5]."""
    gamma, s = z[:, 0], z[:, 1]
    beta, eta = z[:, 2:5], z[:, 5:8]
    cone0 = jnp.sum(beta * eta, -1) - kappa
    cone1 = beta[:, :1] * eta[:, 1:] + eta[:, :1] * beta[:, 1:]
    return jnp.concatenate(
        [(beta[:, 0] - mu * gamma)[:, None], (gamma * s - kappa)[:, None], cone0[:, None], cone1], -1
    )


def residual(problem: Problem, w: Array, kappa: Array) -> Array:
    """Full residual [6N + 8C] at target complementarity ``kappa``."""
    y, z = split(problem, w)
    r_y = _dyn_rows(problem, y, _lam(z))
    r_z = jnp.concatenate([_kin_rows(problem, y, z), _local_rows(z, jnp.asarray(problem.world.friction), kappa)], -1)
    return join(r_y, r_z)


def dense_jacobian(problem: Problem, w: Array) -> Array:
    """Newton matrix assembled from the structured blocks (for tests), [M, M]."""
    n, c = sizes(problem)
    y, z = split(problem, w)
    a, b, ck, d = _raw_blocks(problem, y, z)
    b_full = jnp.zeros((6 * n, c, 8), w.dtype).at[:, :, _IMPULSE_COLS].set(b)
    c_full = jnp.zeros((c, 8, 6 * n), w.dtype).at[:, :3, :].set(ck)
    d_full = jax.scipy.linalg.block_diag(*d) if c else jnp.zeros((0, 0), w.dtype)
    top = jnp.concatenate([a, b_full.reshape(6 * n, 8 * c)], 1)
    bottom = jnp.concatenate([c_full.reshape(8 * c, 6 * n), d_full], 1)
    return jnp.concatenate([top, bottom], 0)


# ---- Newton system -------------------------------------------------------------------


def _impulse_block(problem: Problem, y: Array) -> Array:
    """d(dynamics rows)/d(gamma, b1, b2), [6N, C, 3]: the rows are linear in the impulses."""
    n, c = sizes(problem)
    cand = collision.candidates(problem.world)
    geom, tangents, _ = _kinematics(problem, y)
    dirs = jnp.concatenate([geom.normal[:, None, :], tangents], 1)  # [C, 3 (impulse), 3 (xyz)]
    rot = quat_to_mat(problem.quat)
    rot_ext = jnp.concatenate([rot, jnp.eye(3, dtype=rot.dtype)[None]])

    def body_block(idx, r, sign):  # wrench on one body per unit impulse, [C, 6, 3]
        ang = jnp.einsum("cji,ckj->cik", rot_ext[idx], jnp.cross(r[:, None, :], dirs))
        return sign * jnp.concatenate([jnp.swapaxes(dirs, 1, 2), ang], 1)

    ar = jnp.arange(c)
    out = jnp.zeros((n + 1, 6, c, 3), y.dtype)
    out = out.at[cand.b, :, ar, :].add(body_block(cand.b, geom.r_b, 1.0))
    out = out.at[cand.a, :, ar, :].add(body_block(cand.a, geom.r_a, -1.0))
    return -out[:n].reshape(6 * n, c, 3)


def _raw_blocks(problem: Problem, y: Array, z: Array):
    n, c = sizes(problem)
    lam = _lam(z)

    def rows_of_y(yy):
        return _dyn_rows(problem, yy, lam), _kin_rows(problem, yy, z)

    a, ck = jax.jacfwd(rows_of_y)(y)
    a = a.reshape(6 * n, 6 * n)
    ck = ck.reshape(c, 3, 6 * n)
    b = _impulse_block(problem, y)
    mu = jnp.asarray(problem.world.friction)

    def local(zi):  # the 8 rows of one contact w.r.t. its own 8 unknowns
        kin = jnp.concatenate([zi[1:2], zi[6:8]])  # phi, v_t do not depend on z
        return jnp.concatenate([kin, _local_rows(zi[None], mu, 0.0)[0]])

    d = jax.vmap(jax.jacfwd(local))(z)
    return a, b, ck, d


def factor(problem: Problem, w: Array) -> Blocks:
    """Linearise at ``w`` and factor the Schur complement onto body velocities."""
    y, z = split(problem, w)
    a, b, ck, d = _raw_blocks(problem, y, z)
    dinv = jnp.linalg.inv(d)
    # S = A - sum_c B_c Dinv_c[impulse cols, kin rows] C_c
    m = dinv[:, _IMPULSE_COLS][:, :, :3]
    s = a - jnp.einsum("ick,ckl,clj->ij", b, m, ck)
    return Blocks(lu=jsl.lu_factor(s), b=b, ck=ck, dinv=dinv)


def newton_solve(blocks: Blocks, r_y: Array, r_z: Array) -> tuple[Array, Array]:
    """Solve ``J (dy, dz) = -(r_y, r_z)`` with ``r_y`` [N, 6], ``r_z`` [C, 8]."""
    n = r_y.shape[0]
    t = jnp.einsum("cij,cj->ci", blocks.dinv, r_z)
    rhs = -r_y.reshape(-1) + jnp.einsum("ick,ck->i", blocks.b, t[:, _IMPULSE_COLS])
    dy = jsl.lu_solve(blocks.lu, rhs)
    dz = -t - jnp.einsum("cik,ckj,j->ci", blocks.dinv[:, :, :3], blocks.ck, dy)
    return dy.reshape(n, 6), dz


def newton_solve_transpose(blocks: Blocks, g_y: Array, g_z: Array) -> tuple[Array, Array]:
    """Solve ``J^T (a_y, a_z) = (g_y, g_z)`` (flat g_y [6N], g_z [C, 8])."""
    u = jnp.einsum("cji,cj->ci", blocks.dinv, g_z)  # Dinv^T g_z
    rhs = g_y - jnp.einsum("ckj,ck->j", blocks.ck, u[:, :3])
    a_y = jsl.lu_solve(blocks.lu, rhs, trans=1)
    bta = jnp.einsum("ick,i->ck", blocks.b, a_y)  # B^T a_y, nonzero on impulse cols
    g2 = g_z.at[:, _IMPULSE_COLS].add(-bta)
    a_z = jnp.einsum("cji,cj->ci", blocks.dinv, g2)
    return a_y, a_z


# ---- interior point ------------------------------------------------------------------


def _orthant_step(u: Array, du: Array) -> Array:
    ratio = jnp.where(du < 0, -u / jnp.where(du < 0, du, -1.0), jnp.inf)
    return jnp.min(ratio, initial=jnp.inf)


def _cone_step(u: Array, du: Array) -> Array:
    """Largest alpha keeping u + alpha du in the second-order cone, u: [C, 3]."""
    c = u[:, 0] ** 2 - jnp.sum(u[:, 1:] ** 2, -1)
    a = du[:, 0] ** 2 - jnp.sum(du[:, 1:] ** 2, -1)
    b = u[:, 0] * du[:, 0] - jnp.sum(u[:, 1:] * du[:, 1:], -1)
    disc = b * b - a * c
    sq = jnp.sqrt(jnp.maximum(disc, 0.0))
    # Roots of a t^2 + 2 b t + c = 0 written as c / (-b -+ sq) to avoid cancellation.
    roots = []
    for den in (-b + sq, -b - sq):
        safe = jnp.where(den == 0, 1.0, den)
        t = c / safe
        roots.append(jnp.where((den != 0) & (t > 0) & (disc >= 0), t, jnp.inf))
    # Also the first coordinate must stay positive (guards round-off on the boundary).
    t0 = jnp.where(du[:, 0] < 0, -u[:, 0] / jnp.where(du[:, 0] < 0, du[:, 0], -1.0), jnp.inf)
    return jnp.min(jnp.minimum(jnp.minimum(roots[0], roots[1]), t0), initial=jnp.inf)


def max_step(z: Array, dz: Array) -> Array:
    """Largest step keeping (gamma, s) > 0 and beta, eta inside their cones."""
    return jnp.minimum(
        _orthant_step(z[:, :2].reshape(-1), dz[:, :2].reshape(-1)),
        jnp.minimum(_cone_step(z[:, 2:5], dz[:, 2:5]), _cone_step(z[:, 5:8], dz[:, 5:8])),
    )


def duality(z: Array) -> Array:
    """Mean complementarity, equal to kappa on the central path."""
    c = z.shape[0]
    total = jnp.sum(z[:, 0] * z[:, 1]) + jnp.sum(z[:, 2:5] * z[:, 5:8])
    return total / max(2 * c, 1)


def _at_target(raw: Array, n: int, c: int, target: Array) -> Array:
    """Residual at complementarity ``target`` from the one at 0 (``target`` enters two rows)."""
    shift = jnp.zeros((c, 8), raw.dtype).at[:, 4:6].set(1.0).reshape(-1)
    return raw - target * jnp.concatenate([jnp.zeros((6 * n,), raw.dtype), shift])


def _measure(raw: Array, n: int, c: int, kappa: Array):
    """(equality-row inf-norm, max complementarity deviation from kappa)."""
    r = _at_target(raw, n, c, kappa)
    r_y, r_z = r[: 6 * n], r[6 * n :].reshape(c, 8)
    eq = jnp.maximum(jnp.max(jnp.abs(r_y), initial=0.0), jnp.max(jnp.abs(r_z[:, :4]), initial=0.0))
    comp = jnp.max(jnp.abs(r_z[:, 4:]), initial=0.0)
    return eq, comp


def initial_point(problem: Problem, mu0: float = INIT_MU) -> Array:
    """Slacks consistent with the predicted motion, centred at complementarity ``mu0``.

    Velocities start from the previous ones plus the free-flight update. Setting the
    gap slack to the predicted gap and the slip slack to the predicted slip makes
    the kinematic rows hold at the start; otherwise a far-away candidate (gap of
    metres against a slack of 1) jams the fraction-to-boundary rule.
    """
    n, c = sizes(problem)
    world = problem.world
    dt = jnp.asarray(world.dt)
    v = problem.vel + dt * (jnp.asarray(world.gravity) + problem.force / world.masses()[:, None])
    y = jnp.concatenate([v, problem.ang_vel], -1)
    geom, tangents, vrel = _kinematics(problem, y)
    vt = jnp.einsum("ckj,cj->ck", tangents, vrel)
    s = jnp.maximum(geom.phi, INIT_MIN_GAP)
    gamma = mu0 / s
    beta0 = jnp.asarray(world.friction) * gamma
    psi = jnp.maximum(mu0 / beta0, 2.0 * jnp.linalg.norm(vt, axis=-1) + INIT_MIN_GAP)
    zeros = jnp.zeros_like(s)
    z = jnp.stack([gamma, s, beta0, zeros, zeros, psi, vt[:, 0], vt[:, 1]], -1)
    return join(y, z)


class _Carry(NamedTuple):
    w: Array
    raw: Array  # residual(w, 0): every other target is a shift of it
    it: Array
    eq: Array
    comp: Array
    done: Array
    ok: Array


def interior_point(problem: Problem, kappa: Array, w0: Array, opts: Options):
    """Mehrotra predictor-corrector from ``w0`` towards ``residual(w; kappa) = 0``.

    Returns ``(w, iterations, eq_residual, comp_violation, converged)``. A step that
    produces non-finite numbers is rejected and ends the loop unconverged, so the
    last finite iterate is returned.
    """
    n, c = sizes(problem)
    kappa = jnp.asarray(kappa, w0.dtype)
    raw_fn = lambda w: residual(problem, w, 0.0)  # noqa: E731

    def converged(eq, comp):
        return (eq <= opts.tol) & (comp <= opts.comp_rtol * kappa)

    def body(carry: _Carry) -> _Carry:
        w, raw = carry.w, carry.raw
        _, z = split(problem, w)
        blocks = factor(problem, w)
        # Predictor: aim straight at zero complementarity.
        _, dz_a = newton_solve(blocks, raw[: 6 * n].reshape(n, 6), raw[6 * n :].reshape(c, 8))
        a_aff = jnp.minimum(1.0, max_step(z, dz_a))
        mu = duality(z)
        mu_aff = duality(z + a_aff * dz_a)
        sigma = jnp.clip((mu_aff / jnp.maximum(mu, 1e-300)) ** 3, 0.0, 1.0)
        target = jnp.maximum(sigma * mu, kappa)
        r_full = _at_target(raw, n, c, target)
        merit0 = jnp.linalg.norm(r_full)
        # Corrector: second-order term only while following the path; once the
        # target is kappa itself it would bias the fixed point, so plain Newton.
        use_corr = (sigma * mu > kappa).astype(w.dtype)
        corr = jnp.concatenate([
            (dz_a[:, 0] * dz_a[:, 1])[:, None],
            jnp.sum(dz_a[:, 2:5] * dz_a[:, 5:8], -1)[:, None],
            dz_a[:, 2:3] * dz_a[:, 6:8] + dz_a[:, 5:6] * dz_a[:, 3:5],
        ], -1)
        r_y = r_full[: 6 * n].reshape(n, 6)
        r_z = r_full[6 * n :].reshape(c, 8)
        dy_c, dz_c = newton_solve(blocks, r_y, r_z.at[:, 4:].add(use_corr * corr))
        # The corrected direction need not reduce the residual; plain Newton on the
        # centred residual does (directional derivative -|r|^2), so it is the fallback.
        dy_n, dz_n = newton_solve(blocks, r_y, r_z)
        dws = jnp.stack([join(dy_c, dz_c), join(dy_n, dz_n)])
        alphas = jnp.minimum(1.0, FRACTION_TO_BOUNDARY * jnp.stack([max_step(z, dz_c), max_step(z, dz_n)]))
        raws = jax.vmap(raw_fn)(w + alphas[:, None] * dws)

        def merit(r):
            m = jnp.linalg.norm(_at_target(r, n, c, target))
            return jnp.where(jnp.isfinite(m), m, jnp.inf)

        merits = jax.vmap(merit)(raws)
        take_c = merits[0] <= (1.0 - 1e-4 * alphas[0]) * merit0
        pick = jnp.where(take_c, 0, 1)
        dw, alpha, raw1, m1 = dws[pick], alphas[pick], raws[pick], merits[pick]

        # Backtracking (Armijo on the residual norm at the current target).
        def bt_cond(s):
            a, k, _, m = s
            return (k < MAX_BACKTRACK) & ~(m <= (1.0 - 1e-4 * a) * merit0)

        def bt_body(s):
            a, k, _, _ = s
            a = 0.5 * a
            r = raw_fn(w + a * dw)
            return a, k + 1, r, merit(r)

        alpha, _, raw1, _ = lax.while_loop(bt_cond, bt_body, (alpha, jnp.zeros((), jnp.int32), raw1, m1))
        if opts.debug:
            jax.debug.print(
                "it {i} mu {mu:.2e} sigma {sg:.2e} corr {tc} alpha {a:.2e} merit {m0:.2e} eq {e:.2e} comp {cp:.2e}",
                i=carry.it, mu=mu, sg=sigma, tc=take_c, a=alpha, m0=merit0, e=carry.eq, cp=carry.comp)
        w_new = w + alpha * dw
        finite = jnp.all(jnp.isfinite(w_new)) & jnp.all(jnp.isfinite(raw1))
        w_new = jnp.where(finite, w_new, w)
        raw1 = jnp.where(finite, raw1, raw)
        eq, comp = _measure(raw1, n, c, kappa)
        return _Carry(w_new, raw1, carry.it + 1, eq, comp, converged(eq, comp) | ~finite, finite)

    raw0 = raw_fn(w0)
    eq0, comp0 = _measure(raw0, n, c, kappa)
    init = _Carry(w0, raw0, jnp.zeros((), jnp.int32), eq0, comp0, converged(eq0, comp0), jnp.ones((), bool))
    out = lax.while_loop(lambda s: ~s.done & (s.it < opts.max_iter), body, init)
    ok = out.ok & converged(out.eq, out.comp) & jnp.isfinite(out.eq) & jnp.isfinite(out.comp)
    return out.w, out.it, out.eq, out.comp, ok
