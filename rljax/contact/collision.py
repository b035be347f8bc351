"""Contact candidates: a static list, each with a smooth signed gap.

Each candidate joins body ``a`` and body ``b`` (``a == N`` is the static ground).
For a configuration it yields the gap ``phi`` (>= 0 when separated), the unit
normal ``n`` pointing from ``a`` to ``b``, and the contact point's offsets
``r_a``, ``r_b`` from each body's centre of mass (world frame). An impulse
``lam`` acts on ``b`` at ``r_b`` and ``-lam`` on ``a`` at ``r_a``.

Candidates are fixed per shape pair (box-plane: 8 corners, capsule-plane: 2
ends, sphere-anything: 1), which keeps every shape static for jit and vmap.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from rljax.contact import small_ops
from rljax.contact.rotation import quat_to_mat, skew
from rljax.contact.shapes import Box, Capsule, Sphere

_EPS = 1e-12


class Geometry(NamedTuple):
    """Per-candidate geometry, all [C, ...]: phi [C], normal [C, 3], r_a/r_b [C, 3]."""

    phi: Array
    normal: Array
    r_a: Array
    r_b: Array


class GeometryJacobian(NamedTuple):
    """Derivatives of ``Geometry`` w.r.t. a small rigid motion of each candidate's two bodies.

    The trailing axes [2, 6] are body ``a`` then body ``b``, each moved by a twist
    ``(dx, dtheta)``: ``pos -> pos + dx``, ``rot -> (I + skew(dtheta)) rot`` (world
    frame). phi: [C, 2, 6]; normal, r_a, r_b: [C, 3, 2, 6]. The ground's columns are 0.
    """

    phi: Array
    normal: Array
    r_a: Array
    r_b: Array


@dataclasses.dataclass(frozen=True)
class Candidates:
    """Static candidate structure: body indices ``a``/``b`` as numpy int arrays [C]."""

    a: np.ndarray
    b: np.ndarray

    @property
    def count(self) -> int:
        return int(self.a.shape[0])


def _safe_norm(d: Array) -> Array:
    # A smooth floor keeps the normal finite when centres coincide (Newton iterates only).
    return jnp.sqrt(jnp.sum(d * d, axis=-1) + _EPS)


def tangent_basis(n: Array) -> Array:
    """Orthonormal tangents [..., 2, 3] of unit normals [..., 3] (Duff et al. 2017).

    The friction cone is isotropic, so the basis' only discontinuity (at n_z = 0
    flipping sign) does not change the physics.
    """
    sign = jnp.where(n[..., 2] >= 0.0, 1.0, -1.0)
    a = -1.0 / (sign + n[..., 2])
    b = n[..., 0] * n[..., 1] * a
    t1 = jnp.stack([1.0 + sign * n[..., 0] ** 2 * a, sign * b, -sign * n[..., 0]], axis=-1)
    t2 = jnp.stack([b, sign + n[..., 1] ** 2 * a, -n[..., 1]], axis=-1)
    return jnp.stack([t1, t2], axis=-2)


# ---- body vs plane ---------------------------------------------------------------


def _plane_points(body, pos: Array, rot: Array, n: Array, offset: Array):
    """Lowest candidate points of one body against the plane.

    Returns (phi [k], r_b [k, 3], lever [k, 3]): ``lever`` is the part of ``r_b``
    fixed in the body (corner, capsule end; 0 for a sphere); the rest, ``-radius n``,
    stays along the plane normal whatever the body's orientation.
    """
    if isinstance(body, Sphere):
        lever = jnp.zeros((1, 3), pos.dtype)
        r_b = (-jnp.asarray(body.radius) * n)[None]
    elif isinstance(body, Box):
        lever = small_ops.einsum("kj,ij->ki", body.corners(), rot)
        r_b = lever
    elif isinstance(body, Capsule):
        ends = jnp.asarray([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]) * jnp.asarray(body.half_length)
        lever = small_ops.einsum("kj,ij->ki", ends, rot)
        r_b = lever - jnp.asarray(body.radius) * n
    else:  # pragma: no cover - World validates kinds
        raise ValueError(f"unsupported body {type(body)}")
    phi = jnp.sum((pos[None] + r_b) * n, -1) - offset
    return phi, r_b, lever


# ---- body vs body (a is the first of the pair, b the second) ---------------------


def _closest_point(body, pos: Array, rot: Array, target: Array) -> Array:
    """Closest point of body ``a``'s core (centre, box, or capsule segment) to ``target``."""
    if isinstance(body, Sphere):
        return pos
    if isinstance(body, Box):
        h = jnp.asarray(body.half_extents)
        local = jnp.clip(small_ops.einsum("ji,j->i", rot, target - pos), -h, h)
        return pos + small_ops.einsum("ij,j->i", rot, local)
    if isinstance(body, Capsule):
        axis = rot[:, 2]
        half = jnp.asarray(body.half_length)
        t = jnp.clip(jnp.dot(target - pos, axis), -half, half)
        return pos + t * axis
    raise ValueError(f"unsupported body {type(body)}")  # pragma: no cover


def _core_radius(body) -> Array:
    return jnp.asarray(body.radius) if isinstance(body, (Sphere, Capsule)) else jnp.asarray(0.0)


def _pair(body_a, body_b, pos_a, rot_a, pos_b, rot_b):
    """One candidate between two bodies, at least one of which is a sphere."""
    if not isinstance(body_b, Sphere):  # put the sphere second
        phi, n, r_b, r_a = _pair(body_b, body_a, pos_b, rot_b, pos_a, rot_a)
        return phi, -n, r_a, r_b
    p = _closest_point(body_a, pos_a, rot_a, pos_b)
    d = pos_b - p
    dist = _safe_norm(d)
    n = d / dist
    ra, rb = _core_radius(body_a), jnp.asarray(body_b.radius)
    phi = dist - ra - rb
    return phi, n, p + ra * n - pos_a, -rb * n


def candidates(world) -> Candidates:
    """Static candidate list of a ``World`` (plane candidates first, then body pairs)."""
    n_bodies = world.num_bodies
    a, b = [], []
    if world.ground is not None:
        for i, body in enumerate(world.bodies):
            k = 8 if isinstance(body, Box) else 2 if isinstance(body, Capsule) else 1
            a += [n_bodies] * k
            b += [i] * k
    for i, j in world.body_pairs:
        a.append(i)
        b.append(j)
    return Candidates(a=np.asarray(a, dtype=np.int32), b=np.asarray(b, dtype=np.int32))


def geometry(world, pos: Array, quat: Array) -> Geometry:
    """Gap, normal and lever arms of every candidate at pose ``pos`` [N, 3], ``quat`` [N, 4]."""
    rot = quat_to_mat(quat)
    phis, normals, ras, rbs = [], [], [], []
    if world.ground is not None:
        n = world.ground.unit_normal()
        off = jnp.asarray(world.ground.offset)
        for i, body in enumerate(world.bodies):
            phi, r_b, _ = _plane_points(body, pos[i], rot[i], n, off)
            k = phi.shape[0]
            phis.append(phi)
            normals.append(jnp.broadcast_to(n, (k, 3)))
            ras.append(jnp.zeros((k, 3), pos.dtype))
            rbs.append(r_b)
    for i, j in world.body_pairs:
        phi, nrm, r_a, r_b = _pair(world.bodies[i], world.bodies[j], pos[i], rot[i], pos[j], rot[j])
        phis.append(phi[None])
        normals.append(nrm[None])
        ras.append(r_a[None])
        rbs.append(r_b[None])
    if not phis:
        z = jnp.zeros((0, 3), pos.dtype)
        return Geometry(jnp.zeros((0,), pos.dtype), z, z, z)
    return Geometry(
        phi=jnp.concatenate(phis),
        normal=jnp.concatenate(normals),
        r_a=jnp.concatenate(ras),
        r_b=jnp.concatenate(rbs),
    )


def _pair_jacobian(body_a, body_b, pos_a, rot_a, pos_b, rot_b):
    """Twist derivatives of one body-body candidate: phi [2, 6], normal/r_a/r_b [3, 2, 6].

    Forward mode over the 12 twist coordinates of this pair only: the clamped
    closest-point maps have no tidy closed form, and there are few pairs.
    """

    def moved(tw):
        ra = rot_a + small_ops.einsum("ij,jk->ik", skew(tw[3:6]), rot_a)
        rb = rot_b + small_ops.einsum("ij,jk->ik", skew(tw[9:12]), rot_b)
        return _pair(body_a, body_b, pos_a + tw[0:3], ra, pos_b + tw[6:9], rb)

    jac = jax.jacfwd(moved)(jnp.zeros((12,), pos_a.dtype))
    return tuple(j.reshape(j.shape[:-1] + (2, 6)) for j in jac)


def geometry_jacobian(world, pos: Array, quat: Array, sides: tuple = (0, 1)) -> GeometryJacobian:
    """``GeometryJacobian`` of every candidate at pose ``pos`` [N, 3], ``quat`` [N, 4].

    ``sides`` (static) picks the bodies whose twist columns are returned (0 = a,
    1 = b); the side axis then has length ``len(sides)`` instead of 2.

    Against the plane the normal is fixed and the contact point moves with the
    body: ``d phi = n . dx + (lever x n) . dtheta``, ``d r_b = dtheta x lever``.
    """
    rot = quat_to_mat(quat)
    dtype = pos.dtype
    phis, normals, ras, rbs = [], [], [], []
    if world.ground is not None:
        n = world.ground.unit_normal()
        off = jnp.asarray(world.ground.offset)
        for i, body in enumerate(world.bodies):
            _, _, lever = _plane_points(body, pos[i], rot[i], n, off)
            k = lever.shape[0]
            d_phi = (jnp.zeros((k, 6), dtype), jnp.concatenate([jnp.broadcast_to(n, (k, 3)), jnp.cross(lever, n)], -1))
            d_rb = (jnp.zeros((k, 3, 6), dtype), jnp.concatenate([jnp.zeros((k, 3, 3), dtype), -skew(lever)], -1))
            phis.append(jnp.stack([d_phi[side] for side in sides], -2))
            normals.append(jnp.zeros((k, 3, len(sides), 6), dtype))
            ras.append(jnp.zeros((k, 3, len(sides), 6), dtype))
            rbs.append(jnp.stack([d_rb[side] for side in sides], -2))
    for i, j in world.body_pairs:
        jac = _pair_jacobian(world.bodies[i], world.bodies[j], pos[i], rot[i], pos[j], rot[j])
        for out, d in zip((phis, normals, ras, rbs), jac):
            out.append(d[None][..., sides, :])
    if not phis:
        k = len(sides)
        return GeometryJacobian(jnp.zeros((0, k, 6), dtype), *(jnp.zeros((0, 3, k, 6), dtype),) * 3)
    return GeometryJacobian(*(jnp.concatenate(x) for x in (phis, normals, ras, rbs)))
