"""Analytic derivatives of the residual w.r.t. the body velocities ``y``.

The Newton matrix is ``[[A, B], [Ck, D]]`` (rows: dynamics, contact; columns:
``y``, ``z``). ``D`` lives in ``local_block``; this module builds the others from
the candidate geometry and its twist derivatives (``collision.geometry_jacobian``),
chained through the step map ``y -> next pose``:

    d pos_next = dt dv,    d theta_next (world) = R_next E(w) dw,

with ``E`` from ``rotation.step_quat_jacobian``. Every contact couples only its
two bodies, so per-contact blocks carry a [2, 6] (body a, body b) axis; the
ground (index N) is dropped when they are summed per body.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from rljax.contact import collision, small_ops
from rljax.contact.residual import Kinematics, Problem, kinematics
from rljax.contact.rotation import quat_to_mat, skew, step_quat_jacobian


class Jacobian(NamedTuple):
    """Blocks of the Newton matrix outside ``D``.

    The per-contact blocks have a "side" axis of length K over the contact's
    moving bodies (``sides``): (b,) when every candidate is against the ground,
    (a, b) otherwise.

    a_body: [N, 6, 6] dynamics rows of a body w.r.t. its own velocities, contact-free.
    a_contact: [C, K, 6, K, 6] d(dynamics rows)/d(velocities) of the contact's
      bodies through the contact geometry, at fixed impulses.
    b: [C, K, 6, 3] d(dynamics rows)/d(gamma, b1, b2).
    ck: [C, 3, K, 6] d(gap row, slip rows)/d(velocities).
    """

    a_body: Array
    a_contact: Array
    b: Array
    ck: Array


def sides(problem: Problem) -> tuple:
    """Static: which of a contact's bodies (0 = a, 1 = b) can move."""
    return (0, 1) if problem.world.body_pairs else (1,)


def incidence(problem: Problem) -> np.ndarray:
    """Static one-hot [C, K, N]: side k of contact c is body n (the ground is no body)."""
    n = problem.pos.shape[0]
    cand = collision.candidates(problem.world)
    ks = sides(problem)
    out = np.zeros((cand.count, len(ks), n))
    for c, ab in enumerate(zip(cand.a, cand.b)):
        for k, side in enumerate(ks):
            if ab[side] < n:
                out[c, k, ab[side]] = 1.0
    return out


def _body_block(problem: Problem, y: Array) -> Array:
    """d(impulse balance)/d(own velocities) without contact, [N, 6, 6]."""
    world = problem.world
    dt = jnp.asarray(world.dt)
    n = y.shape[0]
    m = world.masses()
    inertia = world.inertias()
    w = y[:, 3:]
    # momentum_plus(w) = s(w) J w + dt/2 w x J w with s = sqrt(1 - dt^2 |w|^2 / 4).
    arg = 1.0 - 0.25 * dt**2 * jnp.sum(w * w, -1)
    s = jnp.sqrt(jnp.maximum(arg, 1e-12))
    ds = jnp.where(arg > 1e-12, -0.25 * dt**2 / s, 0.0)[:, None] * w
    jw = inertia * w
    eye = jnp.eye(3, dtype=y.dtype)
    d_ang = (s[:, None, None] * eye * inertia[:, None, :] + jw[:, :, None] * ds[:, None, :]
             + 0.5 * dt * (skew(w) * inertia[:, None, :] - skew(jw)))
    zero = jnp.zeros((n, 3, 3), y.dtype)
    lin = m[:, None, None] * eye
    return jnp.concatenate([jnp.concatenate([lin, zero], -1), jnp.concatenate([zero, d_ang], -1)], -2)


def _rotation_maps(problem: Problem, y: Array, kin: Kinematics) -> Array:
    """d(world rotation of the next pose)/d(body angular velocity), [N + 1, 3, 3] (ground: 0)."""
    dt = jnp.asarray(problem.world.dt)
    rot_map = small_ops.einsum("nij,njk->nik", quat_to_mat(kin.quat_next), step_quat_jacobian(y[:, 3:], dt))
    return jnp.concatenate([rot_map, jnp.zeros((1, 3, 3), y.dtype)])


def _lever_map(rot: Array, r: Array, dirs: Array) -> Array:
    """Body-frame angular impulse per unit impulse along ``dirs``: ``R^T (r x dirs)``, [C, 3, 3]."""
    return small_ops.einsum("cji,cjk->cik", rot, jnp.cross(r[:, :, None], dirs, axis=1))


def jacobian(problem: Problem, y: Array, z: Array) -> Jacobian:
    """The blocks ``A`` (split), ``B`` and ``Ck`` at ``(y, z)`` [N, 6], [C, 8]."""
    world = problem.world
    cand = collision.candidates(world)
    ks = sides(problem)
    body = (cand.a, cand.b)
    kin = kinematics(problem, y)
    geom, tangents = kin.geom, kin.tangents
    dt = jnp.asarray(world.dt)
    gj = collision.geometry_jacobian(world, problem.pos + dt * y[:, :3], kin.quat_next, ks,
                                     ref=(problem.pos, problem.quat))
    rot_maps = _rotation_maps(problem, y, kin)
    rot_map = jnp.stack([small_ops.take(rot_maps, body[k]) for k in ks], 1)  # [C, K, 3, 3]
    moving = jnp.asarray(np.stack([body[k] < y.shape[0] for k in ks], 1), y.dtype)  # [C, K]

    def chain(d):  # twist derivative [C, ..., K, 6] -> velocity derivative [C, ..., K, 6]
        lin = dt * d[..., :3] * moving.reshape(moving.shape[:1] + (1,) * (d.ndim - 3) + moving.shape[1:] + (1,))
        return jnp.concatenate([lin, small_ops.einsum("c...kt,cktj->c...kj", d[..., 3:], rot_map)], -1)

    phi_y, rb_y = chain(gj.phi), chain(gj.r_b)
    rot = [small_ops.take(kin.rot, cand.a), small_ops.take(kin.rot, cand.b)]
    r = [geom.r_a, geom.r_b]
    eye = jnp.broadcast_to(jnp.eye(3, dtype=y.dtype), rot[0].shape)
    sign = (-1.0, 1.0)
    # Relative contact velocity: the bodies' own velocities, then the lever arms' motion.
    vrel_y = jnp.stack([
        sign[k] * jnp.concatenate([eye, -small_ops.einsum("cij,cjk->cik", skew(r[k]), rot[k])], -1) for k in ks
    ], 2)  # [C, 3, K, 6]
    vrel_y = vrel_y + small_ops.einsum("cij,cjkl->cikl", skew(small_ops.take(kin.w_world, cand.b)), rb_y)
    gamma, b = z[:, 0], z[:, 3:5]
    imp = gamma[:, None] * geom.normal + small_ops.einsum("ck,ckj->cj", b, tangents)
    if world.body_pairs:
        # Body-body candidates: the normal (hence the tangents) and a's lever move too.
        n_y, ra_y = chain(gj.normal), chain(gj.r_a)
        vrel_y = vrel_y - small_ops.einsum("cij,cjkl->cikl", skew(small_ops.take(kin.w_world, cand.a)), ra_y)
        dt_dn = jax.vmap(jax.jacfwd(collision.tangent_basis))(geom.normal)  # [C, 2, 3, 3]
        t_y = small_ops.einsum("ctim,cmkl->ctikl", dt_dn, n_y)
        vt_y = small_ops.einsum("cti,cikl->ctkl", tangents, vrel_y) + small_ops.einsum("ctikl,ci->ctkl", t_y, kin.vrel)
        imp_y = gamma[:, None, None, None] * n_y + small_ops.einsum("ctikl,ct->cikl", t_y, b)
        r_y = (ra_y, rb_y)
        ang = [small_ops.einsum("cij,cjkl->cikl", skew(r[k]), imp_y)
               - small_ops.einsum("cij,cjkl->cikl", skew(imp), r_y[k]) for k in (0, 1)]
    else:
        # Plane only: fixed normals, so the impulse is constant and only b's lever turns.
        vt_y = small_ops.einsum("cti,cikl->ctkl", tangents, vrel_y)
        imp_y = jnp.zeros_like(rb_y)
        ang = [None, -small_ops.einsum("cij,cjkl->cikl", skew(imp), rb_y)]
    # The residual has -wrench: b receives (imp, R_b^T r_b x imp), a the opposite.
    a_contact = jnp.stack([
        -sign[k] * jnp.concatenate([imp_y, small_ops.einsum("cji,cjkl->cikl", rot[k], ang[k])], 1) for k in ks
    ], 1)
    dirs = jnp.concatenate([geom.normal[:, :, None], jnp.swapaxes(tangents, 1, 2)], 2)  # columns n, t1, t2
    b_blk = jnp.stack([-sign[k] * jnp.concatenate([dirs, _lever_map(rot[k], r[k], dirs)], 1) for k in ks], 1)
    ck = -jnp.concatenate([phi_y[:, None], vt_y], 1)
    return Jacobian(_body_block(problem, y), a_contact, b_blk, ck)
