"""Factor and solve the Newton system of a step by a Schur complement on body velocities.

The Newton matrix ``[[A, B], [Ck, D]]`` has ``D`` block-diagonal (8x8 per contact,
solved in closed form by ``local_block``) and only three rows of ``Ck`` / columns
of ``B`` per contact, so the contact unknowns are eliminated onto the 6-per-body
Schur complement ``S = A - B D^-1 Ck``. Every contact couples at most two bodies;
with no body-body candidates (static) ``S`` is block-diagonal and is inverted as
N independent 6x6 blocks instead of one (6N)x(6N) matrix.

With joints (static branch) the limit pairs (gamma, s) are eliminated onto the
body velocities like contacts (they add ``grad x (gamma / s) grad x^T``), but
the joint multipliers have a zero diagonal block, so they stay: the bordered
(KKT) matrix ``K = [[S, Bj], [Cj, 0]]`` on (body velocities, multipliers) is
LU-factored densely, (6N + L) square, small for the robots targeted (<= ~8
bodies). It is non-singular while the joints form a forest (``World`` checks).
Without joints nothing of this is traced.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from rljax.contact import collision, local_block, small_ops
from rljax.contact.jacobian import Jacobian, incidence, jacobian, sides
from rljax.contact.residual import (
    IMPULSE_COLS, Problem, has_joints, joint_maps, joint_row_jacobians, joint_sizes, sizes, split, split_joint,
)


class JointBlocks(NamedTuple):
    """The bordered part of a factored Newton matrix (problems with joints).

    lu: ``jax.scipy.linalg.lu_factor`` of K [6N + L, 6N + L]. bl: [6N, M]
    d(impulse balance)/d(limit impulses). cl: [M, 6N] d(limit gaps)/d(velocities).
    gamma, s: [M] the limit pairs at the linearisation point.
    """

    lu: tuple
    bl: Array
    cl: Array
    gamma: Array
    s: Array


class Blocks(NamedTuple):
    """Factored Newton matrix.

    s_inv: inverse of the Schur complement as [G, m, m] blocks (G = N, m = 6 when
    block-diagonal; G = 1, m = 6N otherwise): the loop solves three systems per
    factorisation, and a 6x6 matrix-vector product is cheaper than two
    triangular solves. jac: the ``Jacobian`` blocks. z: [C, 8] contact unknowns
    (they define ``D``). mu: friction. d_kin: [C, 8, 3] the columns of ``D^-1``
    for the gap and slip rows (the only rows ``Ck dy`` reaches). d_inv: [C, 3]
    ``local_block.pivot_inverses(z)``.
    """

    s_inv: Array
    jac: Jacobian
    z: Array
    mu: Array
    d_kin: Array
    d_inv: Array
    joint: JointBlocks | None = None


def block_diagonal(problem: Problem) -> bool:
    """Static: True when no contact couples two bodies (only ground candidates)."""
    return len(sides(problem)) == 1


def _bodies(problem: Problem) -> list:
    """Static body index per side of every contact: K index arrays [C] (N = ground)."""
    cand = collision.candidates(problem.world)
    return [(cand.a, cand.b)[k] for k in sides(problem)]


def _gather(problem: Problem, x: Array) -> Array:
    """Per-body [N, 6] -> per-contact side [C, K, 6]; the ground's rows are 0."""
    x_ext = jnp.concatenate([x, jnp.zeros((1,) + x.shape[1:], x.dtype)])
    return jnp.stack([small_ops.take(x_ext, idx) for idx in _bodies(problem)], 1)


def _scatter(problem: Problem, x: Array) -> Array:
    """Per-contact side [C, K, 6] -> summed per body [N, 6] (the ground's share dropped)."""
    n = problem.pos.shape[0]
    return sum(small_ops.segment_sum(x[:, k], idx, n) for k, idx in enumerate(_bodies(problem)))


def _schur(problem: Problem, jac: Jacobian, d_kin: Array) -> Array:
    """``S = A - B D^-1 Ck`` as [N, 6, 6] blocks or one [1, 6N, 6N] matrix."""
    n, c = sizes(problem)
    m = d_kin[:, IMPULSE_COLS]  # (impulse unknowns) x (gap and slip rows), [C, 3, 3]
    s_c = jac.a_contact - small_ops.einsum("ckim,cmqj->ckiqj", small_ops.einsum("ckil,clm->ckim", jac.b, m), jac.ck)
    if block_diagonal(problem):
        return jac.a_body + small_ops.segment_sum(s_c[:, 0, :, 0, :], _bodies(problem)[0], n)
    p = jnp.asarray(incidence(problem), d_kin.dtype)
    s = small_ops.einsum("cniqj,cqm->nimj", small_ops.einsum("ckn,ckiqj->cniqj", p, s_c), p)
    s = s + jac.a_body[:, :, None, :] * jnp.asarray(np.eye(n), d_kin.dtype)[:, None, :, None]
    return s.reshape(1, 6 * n, 6 * n)


def _factor_joints(problem: Problem, w: Array, s: Array, maps) -> JointBlocks:
    """Bordered matrix on (velocities, joint multipliers) with the limits eliminated, LU-factored."""
    n = problem.pos.shape[0]
    rows, m = joint_sizes(problem)
    y, _ = split(problem, w)
    _, lim = split_joint(problem, w)
    dt = jnp.asarray(problem.world.dt, w.dtype)
    if block_diagonal(problem):
        s = s[:, :, None, :] * jnp.asarray(np.eye(n), w.dtype)[:, None, :, None]
    s = s.reshape(6 * n, 6 * n)
    maps = joint_maps(problem) if maps is None else maps
    dofs = maps.dofs.reshape(-1, 6 * n)
    bj = -maps.rows.reshape(rows, 6 * n).T
    bl = -maps.limits.reshape(m, 6 * n).T
    cj, cl = joint_row_jacobians(problem, y)
    gamma, slack = lim[:, 0], lim[:, 1]
    # Implicit damping adds dt c S^T S, armature a S^T S; each limit pair adds its (gamma / s) stiffness.
    s = s + dt * dofs.T @ (maps.damping[:, None] * dofs) - bl @ ((gamma / slack)[:, None] * cl)
    s = s + dofs.T @ (maps.armature[:, None] * dofs)
    k = jnp.concatenate([jnp.concatenate([s, bj], 1),
                         jnp.concatenate([cj, jnp.zeros((rows, rows), w.dtype)], 1)], 0)
    return JointBlocks(jax.scipy.linalg.lu_factor(k), bl, cl, gamma, slack)


def factor(problem: Problem, w: Array, maps=None) -> Blocks:
    """Linearise at ``w`` and invert the Schur complement onto body velocities.

    ``maps``: ``residual.joint_maps(problem)`` if precomputed (problems with joints).
    """
    y, z = split(problem, w)
    mu = jnp.asarray(problem.world.friction, w.dtype)
    jac = jacobian(problem, y, z)
    d_kin = local_block.d_kin_columns(z, mu)
    s = _schur(problem, jac, d_kin)
    if has_joints(problem):
        return Blocks(None, jac, z, mu, d_kin, local_block.pivot_inverses(z), _factor_joints(problem, w, s, maps))
    s_inv = small_ops.inv6(s) if block_diagonal(problem) else jnp.linalg.inv(s)
    return Blocks(s_inv, jac, z, mu, d_kin, local_block.pivot_inverses(z))


def _s_solve(problem: Problem, blocks: Blocks, rhs: Array, trans: bool) -> Array:
    """Solve ``S x = rhs`` or ``S^T x = rhs``; rhs [N, 6] -> [N, 6]."""
    k, m, _ = blocks.s_inv.shape
    spec = "kji,kj->ki" if trans else "kij,kj->ki"
    return small_ops.einsum(spec, blocks.s_inv, rhs.reshape(k, m)).reshape(rhs.shape)


def newton_solve(problem: Problem, blocks: Blocks, r_y: Array, r_z: Array, r_x: Array | None = None) -> tuple:
    """Solve ``J dw = -r`` with ``r_y`` [N, 6], ``r_z`` [C, 8].

    Returns ``(dy, dz)``; with joints ``r_x`` [L + 2M] is the joint tail of the
    residual and the result is ``(dy, dz, dx)``.
    """
    jac = blocks.jac
    t = local_block.d_solve(blocks.z, blocks.mu, r_z, blocks.d_inv)
    rhs = -r_y + _scatter(problem, small_ops.einsum("ckil,cl->cki", jac.b, t[:, IMPULSE_COLS]))
    jb = blocks.joint
    if jb is None:
        dy = _s_solve(problem, blocks, rhs, False)
    else:
        n = problem.pos.shape[0]
        rows, m = joint_sizes(problem)
        r_j, r_l = r_x[:rows], r_x[rows:].reshape(m, 2)
        rhs = rhs.reshape(-1) - jb.bl @ ((jb.gamma * r_l[:, 0] - r_l[:, 1]) / jb.s)
        sol = jax.scipy.linalg.lu_solve(jb.lu, jnp.concatenate([rhs, -r_j]))
        dy, d_lam = sol[: 6 * n].reshape(n, 6), sol[6 * n :]
    kin = small_ops.einsum("cjki,cki->cj", jac.ck, _gather(problem, dy))
    dz = -t - small_ops.einsum("cik,ck->ci", blocks.d_kin, kin)
    if jb is None:
        return dy, dz
    ds = -r_l[:, 0] + jb.cl @ dy.reshape(-1)
    d_gamma = (-r_l[:, 1] - jb.gamma * ds) / jb.s
    return dy, dz, jnp.concatenate([d_lam, jnp.stack([d_gamma, ds], -1).reshape(-1)])


def newton_solve_transpose(problem: Problem, blocks: Blocks, g_y: Array, g_z: Array,
                           g_x: Array | None = None) -> tuple:
    """Solve ``J^T a = g`` (flat g_y [6N], g_z [C, 8]); returns ([6N], [C, 8]).

    With joints ``g_x`` [L + 2M] is the joint tail and a third entry [L + 2M] is returned.
    """
    n = problem.pos.shape[0]
    jac = blocks.jac
    u = local_block.d_solve_t(blocks.z, blocks.mu, g_z)
    rhs = g_y.reshape(n, 6) - _scatter(problem, small_ops.einsum("cjki,cj->cki", jac.ck, u[:, :3]))
    jb = blocks.joint
    if jb is None:
        a_y = _s_solve(problem, blocks, rhs, True)
    else:
        rows, m = joint_sizes(problem)
        g_j, g_l = g_x[:rows], g_x[rows:].reshape(m, 2)
        ratio = jb.gamma / jb.s
        rhs = rhs.reshape(-1) - jb.cl.T @ (ratio * g_l[:, 0]) + jb.cl.T @ g_l[:, 1]
        sol = jax.scipy.linalg.lu_solve(jb.lu, jnp.concatenate([rhs, g_j]), trans=1)
        a_y, a_j = sol[: 6 * n].reshape(n, 6), sol[6 * n :]
    bta = small_ops.einsum("ckil,cki->cl", jac.b, _gather(problem, a_y))
    a_z = local_block.d_solve_t(blocks.z, blocks.mu, g_z.at[:, IMPULSE_COLS].add(-bta))
    if jb is None:
        return a_y.reshape(-1), a_z
    g_gamma = g_l[:, 0] - jb.bl.T @ a_y.reshape(-1)
    a_l = jnp.stack([-ratio * g_gamma + g_l[:, 1], g_gamma / jb.s], -1)
    return a_y.reshape(-1), a_z, jnp.concatenate([a_j, a_l.reshape(-1)])


def newton_step(problem: Problem, blocks: Blocks, r: Array) -> Array:
    """Flat ``J^-1 (-r)`` for a flat residual ``r`` (any problem, with or without joints)."""
    n, c = sizes(problem)
    out = newton_solve(problem, blocks, r[: 6 * n].reshape(n, 6), r[6 * n : 6 * n + 8 * c].reshape(c, 8),
                       r[6 * n + 8 * c :] if has_joints(problem) else None)
    return jnp.concatenate([o.reshape(-1) for o in out])


def newton_step_transpose(problem: Problem, blocks: Blocks, g: Array) -> Array:
    """Flat ``J^-T g`` for a flat ``g`` (any problem, with or without joints)."""
    n, c = sizes(problem)
    out = newton_solve_transpose(problem, blocks, g[: 6 * n], g[6 * n : 6 * n + 8 * c].reshape(c, 8),
                                 g[6 * n + 8 * c :] if has_joints(problem) else None)
    return jnp.concatenate([o.reshape(-1) for o in out])


def dense_jacobian(problem: Problem, w: Array) -> Array:
    """Newton matrix assembled from the structured blocks (for tests; joint-free problems), [M, M]."""
    if has_joints(problem):
        raise ValueError("dense_jacobian covers joint-free problems; use jax.jacfwd of the residual")
    n, c = sizes(problem)
    y, z = split(problem, w)
    jac = jacobian(problem, y, z)
    p = incidence(problem)
    a = jnp.einsum("ckn,ckiqj,cqm->nimj", p, jac.a_contact, p)
    a = (a + jnp.einsum("nm,nij->nimj", np.eye(n), jac.a_body)).reshape(6 * n, 6 * n)
    b = jnp.zeros((n, 6, c, 8), w.dtype).at[:, :, :, IMPULSE_COLS].set(jnp.einsum("ckn,ckil->nicl", p, jac.b))
    ck = jnp.zeros((c, 8, n, 6), w.dtype).at[:, :3].set(jnp.einsum("cjki,ckn->cjni", jac.ck, p))
    d = local_block.d_matrix(z, jnp.asarray(problem.world.friction, w.dtype))
    d = jax.scipy.linalg.block_diag(*d) if c else jnp.zeros((0, 0), w.dtype)
    top = jnp.concatenate([a, b.reshape(6 * n, 8 * c)], 1)
    bottom = jnp.concatenate([ck.reshape(8 * c, 6 * n), d], 1)
    return jnp.concatenate([top, bottom], 0)
