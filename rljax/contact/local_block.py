"""The per-contact 8x8 block ``D`` of the Newton matrix, in closed form.

``D`` is the derivative of a contact's 8 residual rows w.r.t. its own 8 unknowns
``z = (gamma, s, beta0, b1, b2, psi, eta1, eta2)`` (rows: gap, slip (2), cone
radius, orthant complementarity, cone complementarity (3)). It is sparse:
the gap and slip rows pin ``ds`` and ``d eta_t``, the orthant row then gives
``d gamma``, the radius row ``d beta0``, and the three cone rows leave a 3x3
system in ``(d b, d psi)`` that one scalar elimination solves. Its pivots are
``s``, ``psi`` and ``psi beta0 - eta_t . b``, all positive strictly inside the
orthant and the cones, which the interior point keeps.

That replaces a batched LU inverse of [C, 8, 8] per Newton iteration by a few
elementwise operations. Right-hand sides are [C, 8] or [C, 8, K].
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array


def _cols(z: Array, r: Array):
    """z's columns shaped to broadcast against r's rows (adds a trailing axis for [C, 8, K])."""
    extra = (None,) * (r.ndim - 2)
    zz = z[(slice(None), slice(None)) + extra]
    return [zz[:, i] for i in range(z.shape[1])]


def d_matrix(z: Array, mu: Array) -> Array:
    """``D`` [C, 8, 8] (for tests and dense assembly)."""
    gamma, s, beta0, b1, b2, psi, e1, e2 = (z[:, i] for i in range(8))
    c = z.shape[0]
    zero, one = jnp.zeros((c,), z.dtype), jnp.ones((c,), z.dtype)
    mu = jnp.broadcast_to(mu, (c,))
    rows = [
        [zero, one, zero, zero, zero, zero, zero, zero],
        [zero, zero, zero, zero, zero, zero, one, zero],
        [zero, zero, zero, zero, zero, zero, zero, one],
        [-mu, zero, one, zero, zero, zero, zero, zero],
        [s, gamma, zero, zero, zero, zero, zero, zero],
        [zero, zero, psi, e1, e2, beta0, b1, b2],
        [zero, zero, e1, psi, zero, b1, beta0, zero],
        [zero, zero, e2, zero, psi, b2, zero, beta0],
    ]
    return jnp.stack([jnp.stack(r, -1) for r in rows], -2)


def pivot_inverses(z: Array) -> Array:
    """Reciprocal pivots ``(1 / s, 1 / psi, 1 / (psi beta0 - eta_t . b))``, [C, 3].

    A Newton iteration solves with the same ``D`` several times; with these
    precomputed each solve is multiplies and adds only, which XLA fuses into a
    single loop (divisions it keeps apart, one loop each).
    """
    s, beta0, b1, b2, psi, e1, e2 = (z[:, i] for i in range(1, 8))
    return jnp.stack([1.0 / s, 1.0 / psi, 1.0 / (psi * beta0 - e1 * b1 - e2 * b2)], 1)


def d_solve(z: Array, mu: Array, r: Array, inv: Array | None = None) -> Array:
    """``D^-1 r`` for r [C, 8] or [C, 8, K]; ``inv``: ``pivot_inverses(z)`` if precomputed."""
    gamma, s, beta0, b1, b2, psi, e1, e2 = _cols(z, r)
    inv_s, inv_psi, inv_det = _cols(pivot_inverses(z) if inv is None else inv, r)[:3]
    ds, de1, de2 = r[:, 0], r[:, 1], r[:, 2]
    dgamma = (r[:, 4] - gamma * ds) * inv_s
    dbeta0 = r[:, 3] + mu * dgamma
    # Cone rows with the known parts moved right: [e^T beta0; psi I b] (db, dpsi) = (q5, q6, q7).
    q5 = r[:, 5] - psi * dbeta0 - b1 * de1 - b2 * de2
    q6 = r[:, 6] - e1 * dbeta0 - beta0 * de1
    q7 = r[:, 7] - e2 * dbeta0 - beta0 * de2
    dpsi = (psi * q5 - e1 * q6 - e2 * q7) * inv_det
    db1 = (q6 - b1 * dpsi) * inv_psi
    db2 = (q7 - b2 * dpsi) * inv_psi
    return jnp.stack([dgamma, ds, dbeta0, db1, db2, dpsi, de1, de2], 1)


def d_solve_t(z: Array, mu: Array, g: Array) -> Array:
    """``D^-T g`` for g [C, 8] or [C, 8, K]."""
    gamma, s, beta0, b1, b2, psi, e1, e2 = _cols(z, g)
    # Columns 3, 4, 5 of D involve only x5, x6, x7: eliminate x6, x7 into column 5.
    x5 = (psi * g[:, 5] - b1 * g[:, 3] - b2 * g[:, 4]) / (psi * beta0 - e1 * b1 - e2 * b2)
    x6 = (g[:, 3] - e1 * x5) / psi
    x7 = (g[:, 4] - e2 * x5) / psi
    x3 = g[:, 2] - psi * x5 - e1 * x6 - e2 * x7
    x4 = (g[:, 0] + mu * x3) / s
    x0 = g[:, 1] - gamma * x4
    x1 = g[:, 6] - b1 * x5 - beta0 * x6
    x2 = g[:, 7] - b2 * x5 - beta0 * x7
    return jnp.stack([x0, x1, x2, x3, x4, x5, x6, x7], 1)


def d_kin_columns(z: Array, mu: Array) -> Array:
    """The first three columns of ``D^-1`` (gap row, two slip rows), [C, 8, 3].

    ``d_solve`` on the unit vectors with the zero entries dropped: these are the
    only columns the coupling to body velocities reaches.
    """
    gamma, s, beta0, b1, b2, psi, e1, e2 = (z[:, i] for i in range(8))
    det = psi * beta0 - e1 * b1 - e2 * b2
    zero, one = jnp.zeros_like(s), jnp.ones_like(s)
    # Gap row: ds = 1 moves gamma, hence the cone radius beta0, hence b and psi.
    dgamma = -gamma / s
    dbeta0 = mu * dgamma
    dpsi = dbeta0 * (e1 * e1 + e2 * e2 - psi * psi) / det
    gap = [dgamma, one, dbeta0, -(e1 * dbeta0 + b1 * dpsi) / psi, -(e2 * dbeta0 + b2 * dpsi) / psi, dpsi, zero, zero]
    # Slip row k: d eta_k = 1 with gamma and beta0 fixed.
    slips = []
    for k, (bk, ek) in enumerate(((b1, e1), (b2, e2))):
        dpsi_k = (beta0 * ek - psi * bk) / det
        db = [-(b1 * dpsi_k) / psi, -(b2 * dpsi_k) / psi]
        db[k] = db[k] - beta0 / psi
        de = [zero, zero]
        de[k] = one
        slips.append([zero, zero, zero, db[0], db[1], dpsi_k, de[0], de[1]])
    cols = [jnp.stack(col, -1) for col in (gap, *slips)]
    return jnp.stack(cols, -1)
