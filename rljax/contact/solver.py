"""Primal-dual interior-point solve of one time step.

The residual (``residual``) is driven to zero by Mehrotra predictor-corrector
Newton steps (``newton``: analytic Jacobian blocks, closed-form per-contact
blocks, Schur complement on body velocities) with cone-aware
fraction-to-boundary steps and backtracking on the residual norm, inside one
``lax.while_loop``.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, custom_batching, lax

from rljax.contact import small_ops
from rljax.contact.newton import (
    Blocks, dense_jacobian, factor, newton_solve, newton_solve_transpose, newton_step, newton_step_transpose,
)
from rljax.contact.residual import (
    Problem, has_joints, join, joint_maps, joint_rows, joint_sizes, kinematics, residual, sizes, split, split_joint,
)

__all__ = [
    "Blocks", "Options", "Problem", "dense_jacobian", "factor", "initial_point", "interior_point",
    "join", "max_step", "newton_solve", "newton_solve_transpose", "newton_step", "newton_step_transpose",
    "no_warm_start", "residual", "sizes", "split", "split_joint", "warm_point",
]

# Dojo's 0.95. 0.99 saved 6% of the iterations on the MJX benchmark but left one
# step of the 1000-step mixed-shape rollout unconverged at the 50-iteration cap.
FRACTION_TO_BOUNDARY = 0.95
MAX_BACKTRACK = 8
INIT_MU = 1e-3  # initial complementarity (impulse x metres)
INIT_MIN_GAP = 1e-2  # floor of the initial gap slack [m]
# Under vmap, once at most this fraction of the worlds is unconverged they are
# gathered and finished as a batch of their own, and so on down the tuple (see
# ``interior_point``).
STRAGGLER_FRACTIONS = (1 / 4, 1 / 4)
# A smaller straggler batch is not split off: at a few worlds per batch the cost of an
# iteration hardly depends on the batch, and each split compiles the loop body again.
MIN_STRAGGLER_BATCH = 4


class Options(NamedTuple):
    """Static solver settings (hashable: they are ``custom_vjp`` nondiff args)."""

    max_iter: int = 50
    tol: float = 1e-10
    comp_rtol: float = 1e-3
    relaxed_grad: bool = False
    debug: bool = False  # print per-iteration progress with jax.debug.print
    warm_max_iter: int = 0  # > 0: a warm-started solve restarts cold if not converged within this many


# ---- interior point ------------------------------------------------------------------


def _positive_step(u: Array, du: Array) -> Array:
    """Largest alpha keeping ``u + alpha du > 0``, elementwise (inf where du >= 0)."""
    return jnp.where(du < 0, -u / jnp.where(du < 0, du, -1.0), jnp.inf)


def _cone_step(u: list, du: list) -> Array:
    """Largest alpha keeping ``u + alpha du`` in the second-order cone, per cone.

    ``u``, ``du``: the three cone coordinates as equal-shape arrays (written out:
    XLA:CPU reduces 2-long axes slowly).
    """
    c = u[0] * u[0] - u[1] * u[1] - u[2] * u[2]
    a = du[0] * du[0] - du[1] * du[1] - du[2] * du[2]
    b = u[0] * du[0] - u[1] * du[1] - u[2] * du[2]
    disc = b * b - a * c
    sq = jnp.sqrt(jnp.maximum(disc, 0.0))
    # Roots of a t^2 + 2 b t + c = 0 written as c / (-b -+ sq) to avoid cancellation.
    step = _positive_step(u[0], du[0])  # the first coordinate must stay positive (round-off guard)
    for den in (-b + sq, -b - sq):
        safe = jnp.where(den == 0, 1.0, den)
        t = c / safe
        step = jnp.minimum(step, jnp.where((den != 0) & (t > 0) & (disc >= 0), t, jnp.inf))
    return step


def max_step(z: Array, dz: Array, lim: Array | None = None, d_lim: Array | None = None) -> Array:
    """Largest step keeping (gamma, s) > 0 and beta, eta inside their cones.

    ``lim``, ``d_lim``: optional joint-limit pairs (gamma, s) [M, 2], kept > 0 too.
    """
    # Both cones of every contact in one pass, [C, 2] (fewer, larger XLA loops).
    cones, d_cones = z[:, 2:].reshape(-1, 2, 3), dz[:, 2:].reshape(-1, 2, 3)
    u = [cones[..., i] for i in range(3)]
    du = [d_cones[..., i] for i in range(3)]
    step = jnp.minimum(jnp.min(_positive_step(z[:, :2], dz[:, :2]), initial=jnp.inf),
                       jnp.min(_cone_step(u, du), initial=jnp.inf))
    if lim is not None:
        step = jnp.minimum(step, jnp.min(_positive_step(lim, d_lim), initial=jnp.inf))
    return step


def duality(z: Array, lim: Array | None = None) -> Array:
    """Mean complementarity (contacts' two pairs, and joint-limit pairs), equal to kappa on the central path."""
    c = z.shape[0]
    total = jnp.sum(z[:, 0] * z[:, 1]) + jnp.sum(z[:, 2:5] * z[:, 5:8])
    m = 0 if lim is None else lim.shape[0]
    if m:
        total = total + jnp.sum(lim[:, 0] * lim[:, 1])
    return total / max(2 * c + m, 1)


def _mask(problem: Problem, contact_cols: slice) -> np.ndarray:
    """Static 0/1 mask over the flat residual: contact rows ``contact_cols`` and the limits' second rows."""
    n, c = sizes(problem)
    rows, m = joint_sizes(problem)
    z_rows = np.zeros((c, 8))
    z_rows[:, contact_cols] = 1.0
    lim_rows = np.zeros((m, 2))
    lim_rows[:, 1] = 1.0
    return np.concatenate([np.zeros(6 * n), z_rows.reshape(-1), np.zeros(rows), lim_rows.reshape(-1)])


def _comp_rows(problem: Problem) -> np.ndarray:
    """Complementarity rows (contact rows 4-7, limit rows gamma s): the rest are equalities."""
    return _mask(problem, slice(4, 8))


def _at_target(raw: Array, problem: Problem, target: Array) -> Array:
    """Residual at complementarity ``target`` from the one at 0. ``target`` enters two rows per
    contact (orthant, cone's first: the cone's identity is e = (1, 0, 0)) and one per limit."""
    return raw - target * jnp.asarray(_mask(problem, slice(4, 6)), raw.dtype)


def _measure(raw: Array, problem: Problem, kappa: Array):
    """(equality-row inf-norm, max complementarity deviation from kappa)."""
    comp_rows = _comp_rows(problem) > 0
    r = jnp.abs(_at_target(raw, problem, kappa))
    eq = jnp.max(jnp.where(jnp.asarray(~comp_rows), r, 0.0), initial=0.0)
    comp = jnp.max(jnp.where(jnp.asarray(comp_rows), r, 0.0), initial=0.0)
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
    kin = kinematics(problem, y)
    vt = small_ops.einsum("ckj,cj->ck", kin.tangents, kin.vrel)
    s = jnp.maximum(kin.geom.phi, INIT_MIN_GAP)
    gamma = mu0 / s
    beta0 = jnp.asarray(world.friction) * gamma
    psi = jnp.maximum(mu0 / beta0, 2.0 * jnp.linalg.norm(vt, axis=-1) + INIT_MIN_GAP)
    zeros = jnp.zeros_like(s)
    z = jnp.stack([gamma, s, beta0, zeros, zeros, psi, vt[:, 0], vt[:, 1]], -1)
    if not has_joints(problem):
        return join(y, z)
    # Joint multipliers start at 0; limit slacks at the predicted distance, like gaps.
    rows, _ = joint_sizes(problem)
    s_lim = jnp.maximum(joint_rows(problem, y)[1], INIT_MIN_GAP)
    return join(y, z, jnp.zeros((rows,), y.dtype), jnp.stack([mu0 / s_lim, s_lim], -1))


def no_warm_start(problem: Problem) -> Array:
    """The neutral previous solution, zeros shaped like ``w``: every contact falls back to
    the cold start in ``warm_point`` (a zero impulse is not an interior point)."""
    shape = jax.eval_shape(initial_point, problem)
    return jnp.zeros(shape.shape, shape.dtype)


def warm_point(problem: Problem, w_prev: Array, kappa: Array, mu0: float = INIT_MU) -> tuple[Array, Array]:
    """Initial point seeded by the previous step's solution ``w_prev`` (same layout as ``w``).

    Returns ``(w0, warm)``: ``warm`` (bool scalar) says whether ``w0`` is the warm
    point or the cold ``initial_point`` it fell back to.

    Velocities start at the previous step's (``problem.vel``/``ang_vel``): a
    resting or sliding body keeps its contact impulses, so this beats free
    flight, which predicts penetration at every resting contact. Per contact the
    impulses (gamma, friction b) are kept; the gap and slip slacks are set to
    their prediction at those velocities (the kinematic rows hold); the duals
    are raised until each complementarity is at least ``kappa`` and the slip
    keeps the previous cone margin ``psi - |eta_t|``.

    What was measured (two-box scene, contact/push, contact/hop): warm points
    stall where the contact set changes, and mixing warm and cold contacts in
    one point was worse than either, so the whole step falls back to the cold
    point unless every contact's previous values are strictly interior and its
    predicted gap is open (the ``no_warm_start`` zeros therefore reproduce the
    cold start exactly). Predicting velocities from the previous impulses,
    starting above ``kappa``, widening the cone margin and choosing by residual
    norm all cost iterations and were dropped. A warm start can still stall
    when the applied force flips the slip direction; ``gradients.solve``
    restarts those cold after ``Options.warm_max_iter`` iterations. Not
    differentiated through (the caller stops its gradient).
    """
    world = problem.world
    cold = initial_point(problem, mu0)
    _, z_p = split(problem, w_prev)
    gamma_p, s_p, beta_p, eta_p = z_p[:, 0], z_p[:, 1], z_p[:, 2:5], z_p[:, 5:8]
    b_norm = jnp.sqrt(jnp.sum(beta_p[:, 1:] ** 2, -1))
    e_norm = jnp.sqrt(jnp.sum(eta_p[:, 1:] ** 2, -1))
    valid = ((gamma_p > 0) & (s_p > 0) & (beta_p[:, 0] > b_norm) & (eta_p[:, 0] > e_norm)
             & jnp.all(jnp.isfinite(z_p), -1))
    y = jnp.concatenate([problem.vel, problem.ang_vel], -1)
    kin = kinematics(problem, y)
    vt = small_ops.einsum("ckj,cj->ck", kin.tangents, kin.vrel)
    vt_norm = jnp.sqrt(jnp.sum(vt * vt, -1))
    use = jnp.all(valid & (kin.geom.phi > 0))
    s = jnp.where(use, kin.geom.phi, 1.0)  # (1.0 only keeps the discarded branch finite)
    gamma = jnp.maximum(gamma_p, kappa / s)
    beta0 = jnp.maximum(jnp.asarray(world.friction) * gamma, beta_p[:, 0])
    psi = jnp.maximum(eta_p[:, 0], vt_norm + (eta_p[:, 0] - e_norm))
    dot = beta0 * psi + jnp.sum(beta_p[:, 1:] * vt, -1)
    psi = psi + jnp.maximum(kappa - dot, 0.0) / jnp.where(use, beta0, 1.0)
    z = jnp.concatenate([gamma[:, None], s[:, None], beta0[:, None], beta_p[:, 1:], psi[:, None], vt], -1)
    if not has_joints(problem):
        return jnp.where(use, join(y, z), cold), use
    # Joint multipliers are free (equality rows): the previous ones are kept as they are;
    # limit pairs restart centred, as in the cold point.
    lam_p, _ = split_joint(problem, w_prev)
    _, limits_cold = split_joint(problem, cold)
    return jnp.where(use, join(y, z, lam_p, limits_cold), cold), use


class _Carry(NamedTuple):
    w: Array
    raw: Array  # residual(w, 0): every other target is a shift of it
    it: Array
    eq: Array
    comp: Array
    done: Array
    ok: Array


def _converged(eq: Array, comp: Array, kappa: Array, opts: Options) -> Array:
    return (eq <= opts.tol) & (comp <= opts.comp_rtol * kappa)


def _start(problem: Problem, maps: Any, kappa: Array, w0: Array, opts: Options) -> _Carry:
    raw0 = residual(problem, w0, 0.0, maps)
    eq0, comp0 = _measure(raw0, problem, kappa)
    return _Carry(w0, raw0, jnp.zeros((), jnp.int32), eq0, comp0, _converged(eq0, comp0, kappa, opts),
                  jnp.ones((), bool))


def _active(carry: _Carry, opts: Options) -> Array:
    return ~carry.done & (carry.it < opts.max_iter)


def _finish(carry: _Carry, kappa: Array, opts: Options):
    ok = (carry.ok & _converged(carry.eq, carry.comp, kappa, opts) & jnp.isfinite(carry.eq)
          & jnp.isfinite(carry.comp))
    return carry.w, carry.it, carry.eq, carry.comp, ok


def _iterate(problem: Problem, maps: Any, kappa: Array, carry: _Carry, opts: Options) -> _Carry:
    """One predictor-corrector Newton iteration with backtracking (``maps``: ``joint_maps(problem)``)."""
    n, c = sizes(problem)
    joint = has_joints(problem)
    raw_fn = lambda w: residual(problem, w, 0.0, maps)  # noqa: E731

    def limits(w):
        return split_joint(problem, w)[1] if joint else None

    w, raw = carry.w, carry.raw
    _, z = split(problem, w)
    lim = limits(w)
    blocks = factor(problem, w, maps)
    # Predictor: aim straight at zero complementarity.
    dw_a = newton_step(problem, blocks, raw)
    _, dz_a = split(problem, dw_a)
    dl_a = limits(dw_a)
    a_aff = jnp.minimum(1.0, max_step(z, dz_a, lim, dl_a))
    mu = duality(z, lim)
    mu_aff = duality(z + a_aff * dz_a, None if lim is None else lim + a_aff * dl_a)
    sigma = jnp.clip((mu_aff / jnp.maximum(mu, 1e-300)) ** 3, 0.0, 1.0)
    target = jnp.maximum(sigma * mu, kappa)
    r_full = _at_target(raw, problem, target)
    merit0 = jnp.linalg.norm(r_full)
    # Corrector: second-order term only while following the path; once the
    # target is kappa itself it would bias the fixed point, so plain Newton.
    use_corr = (sigma * mu > kappa).astype(w.dtype)
    corr = jnp.concatenate([
        (dz_a[:, 0] * dz_a[:, 1])[:, None],
        jnp.sum(dz_a[:, 2:5] * dz_a[:, 5:8], -1)[:, None],
        dz_a[:, 2:3] * dz_a[:, 6:8] + dz_a[:, 5:6] * dz_a[:, 3:5],
    ], -1)
    corr = jnp.concatenate([jnp.zeros((6 * n,), w.dtype),
                            jnp.concatenate([jnp.zeros((c, 4), w.dtype), corr], -1).reshape(-1)])
    if joint:
        rows, _ = joint_sizes(problem)
        corr_l = jnp.stack([jnp.zeros_like(dl_a[:, 0]), dl_a[:, 0] * dl_a[:, 1]], -1)
        corr = jnp.concatenate([corr, jnp.zeros((rows,), w.dtype), corr_l.reshape(-1)])
    dw_c = newton_step(problem, blocks, r_full + use_corr * corr)

    def merit(r):
        m = jnp.linalg.norm(_at_target(r, problem, target))
        return jnp.where(jnp.isfinite(m), m, jnp.inf)

    def step_len(dw):
        return jnp.minimum(1.0, FRACTION_TO_BOUNDARY * max_step(z, split(problem, dw)[1], lim, limits(dw)))

    alpha = step_len(dw_c)
    raw1 = raw_fn(w + alpha * dw_c)
    m1 = merit(raw1)
    take_c = m1 <= (1.0 - 1e-4 * alpha) * merit0

    # Armijo backtracking on the residual norm at the current target. The
    # corrected direction need not reduce it; plain Newton on the centred
    # residual does (directional derivative -|r|^2), so the first rejection
    # switches to that direction at its full step, later ones halve the step.
    # Under vmap this loop runs only while some world still rejects, so the
    # fallback solve costs nothing in the usual case where all accept.
    def bt_cond(st):
        a, k, _, m, _, _ = st
        return (k < MAX_BACKTRACK) & ~(m <= (1.0 - 1e-4 * a) * merit0)

    def bt_body(st):
        a, k, _, _, dw, on_newton = st
        dw_n = newton_step(problem, blocks, r_full)
        a_n = step_len(dw_n)
        a = jnp.where(on_newton, 0.5 * a, a_n)
        dw = jnp.where(on_newton, dw, dw_n)
        r = raw_fn(w + a * dw)
        return a, jnp.where(on_newton, k + 1, k), r, merit(r), dw, jnp.ones((), bool)

    # Without the corrector term the corrected direction is plain Newton already.
    bt0 = (alpha, jnp.zeros((), jnp.int32), raw1, m1, dw_c, use_corr == 0)
    alpha, _, raw1, _, dw, _ = lax.while_loop(bt_cond, bt_body, bt0)
    if opts.debug:
        jax.debug.print(
            "it {i} mu {mu:.2e} sigma {sg:.2e} corr {tc} alpha {a:.2e} merit {m0:.2e} eq {e:.2e} comp {cp:.2e}",
            i=carry.it, mu=mu, sg=sigma, tc=take_c, a=alpha, m0=merit0, e=carry.eq, cp=carry.comp)
    w_new = w + alpha * dw
    finite = jnp.all(jnp.isfinite(w_new)) & jnp.all(jnp.isfinite(raw1))
    w_new = jnp.where(finite, w_new, w)
    raw1 = jnp.where(finite, raw1, raw)
    eq, comp = _measure(raw1, problem, kappa)
    return _Carry(w_new, raw1, carry.it + 1, eq, comp, _converged(eq, comp, kappa, opts) | ~finite, finite)


def _solve_one(problem: Problem, kappa: Array, w0: Array, opts: Options):
    # The joint maps depend on the current pose only: once per step, not per iterate.
    maps = joint_maps(problem) if has_joints(problem) else None
    carry = _start(problem, maps, kappa, w0, opts)
    out = lax.while_loop(lambda s: _active(s, opts), lambda s: _iterate(problem, maps, kappa, s, opts), carry)
    return _finish(out, kappa, opts)


def _solve_batch(problem: Problem, kappa: Array, w0: Array, axes: tuple, opts: Options):
    """``_solve_one`` vmapped over ``axes`` (``(problem, kappa, w0)``'s in_axes: 0 or None per
    leaf; ``w0`` batched), with stragglers compacted.

    A vmapped ``while_loop`` runs every world until the slowest has converged. Here the
    batch of B iterates together only while more than ``B * STRAGGLER_FRACTIONS[0]``
    worlds are unconverged; those are then gathered into a batch of that size, which
    does the same with the next fraction, and so on while the straggler batch has at
    least ``MIN_STRAGGLER_BATCH`` worlds. Every world takes its own iterations, so the
    result is ``vmap(_solve_one)``'s up to round-off (each batch size compiles apart).
    Unbatched leaves (a world shared by the batch) stay unbatched.
    """
    p_axes, k_axes, _ = axes
    if not has_joints(problem):
        maps, m_axes = None, None
    elif any(ax == 0 for ax in jax.tree.leaves(p_axes)):
        maps, m_axes = jax.vmap(joint_maps, in_axes=(p_axes,))(problem), 0
    else:
        maps, m_axes = joint_maps(problem), None
    in_axes = (p_axes, m_axes, k_axes)
    carry = jax.vmap(partial(_start, opts=opts), in_axes=in_axes + (0,))(problem, maps, kappa, w0)
    iterate = jax.vmap(partial(_iterate, opts=opts), in_axes=in_axes + (0,))
    active = jax.vmap(partial(_active, opts=opts))

    def masked_iterate(args, c):
        new = iterate(*args, c)
        keep = active(c)
        return jax.tree.map(lambda a, b: jnp.where(keep.reshape(keep.shape + (1,) * (a.ndim - 1)), a, b), new, c)

    def run(args, carry, fractions):
        # Iterate the batch while more than its share ``fractions[0]`` is unconverged, then
        # finish that share as a batch of its own (with the remaining fractions).
        batch = carry.w.shape[0]
        few = int(batch * fractions[0]) if fractions else batch
        if not MIN_STRAGGLER_BATCH <= few < batch:
            return lax.while_loop(lambda c: jnp.any(active(c)), partial(masked_iterate, args), carry)
        carry = lax.while_loop(lambda c: jnp.sum(active(c)) > few, partial(masked_iterate, args), carry)

        def finish_stragglers(carry):
            idx = lax.top_k(active(carry).astype(jnp.int32), few)[1]
            take = lambda x: x[idx]  # noqa: E731
            rest_args = jax.tree.map(lambda ax, x: jax.tree.map(take, x) if ax == 0 else x, in_axes, args,
                                     is_leaf=lambda x: x is None)
            rest = run(rest_args, jax.tree.map(take, carry), fractions[1:])
            return jax.tree.map(lambda x, r: x.at[idx].set(r), carry, rest)

        return lax.cond(jnp.any(active(carry)), finish_stragglers, lambda c: c, carry)

    carry = run((problem, maps, kappa), carry, STRAGGLER_FRACTIONS)
    return jax.vmap(partial(_finish, opts=opts), in_axes=(0, k_axes))(carry, kappa)


@lru_cache(maxsize=None)
def _solver(opts: Options) -> Callable:
    @custom_batching.custom_vmap
    def solve(problem: Problem, kappa: Array, w0: Array):
        return _solve_one(problem, kappa, w0, opts)

    @solve.def_vmap
    def solve_batched(batch: int, in_batched, problem: Problem, kappa: Array, w0: Array):
        axes = jax.tree.map(lambda b: 0 if b else None, tuple(in_batched))
        if axes[2] is None:  # one start for the whole batch
            w0 = jnp.broadcast_to(w0, (batch,) + w0.shape)
        return _solve_batch(problem, kappa, w0, axes, opts), (True,) * 5

    return solve


def interior_point(problem: Problem, kappa: Array, w0: Array, opts: Options):
    """Mehrotra predictor-corrector from ``w0`` towards ``residual(w; kappa) = 0``.

    Returns ``(w, iterations, eq_residual, comp_violation, converged)``. A step that
    produces non-finite numbers is rejected and ends the loop unconverged, so the
    last finite iterate is returned. Under ``vmap`` the worlds still iterating once
    all but a few have converged are finished as a smaller batch of their own
    (``_solve_batch``, ``STRAGGLER_FRACTIONS``), so the batch does not pay its slowest
    world's iterations in full; the results are a plain ``vmap``'s up to round-off.
    """
    return _solver(opts)(problem, jnp.asarray(kappa, w0.dtype), w0)
