"""Unit-quaternion helpers. Quaternions are scalar-first ``(w, x, y, z)``.

All functions act on the trailing axis and broadcast over leading axes.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array


def quat_mul(p: Array, q: Array) -> Array:
    """Hamilton product ``p * q`` of ``[..., 4]`` quaternions."""
    pw, pv = p[..., :1], p[..., 1:]
    qw, qv = q[..., :1], q[..., 1:]
    w = pw * qw - jnp.sum(pv * qv, axis=-1, keepdims=True)
    v = pw * qv + qw * pv + jnp.cross(pv, qv)
    return jnp.concatenate([w, v], axis=-1)


def quat_to_mat(q: Array) -> Array:
    """Rotation matrix ``[..., 3, 3]`` of a unit quaternion ``[..., 4]`` (body -> world)."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def rotate(q: Array, v: Array) -> Array:
    """Rotate ``[..., 3]`` vectors from body to world frame."""
    return jnp.einsum("...ij,...j->...i", quat_to_mat(q), v)


def normalize(q: Array) -> Array:
    return q / jnp.linalg.norm(q, axis=-1, keepdims=True)


def step_quat(omega: Array, dt: Array) -> Array:
    """Dojo's relative rotation over one step, ``[sqrt(1 - |h w / 2|^2), h w / 2]``.

    ``omega`` is the body-frame midpoint angular velocity ``[..., 3]``. This map (not
    the exponential) is what makes the discrete Euler-Lagrange equations below
    conserve angular momentum exactly. The clamp only guards Newton iterates that
    wander past ``|omega| = 2 / dt``; converged solutions never reach it.
    """
    u = 0.5 * dt * omega
    w = jnp.sqrt(jnp.maximum(1.0 - jnp.sum(u * u, axis=-1, keepdims=True), 1e-12))
    return jnp.concatenate([w, u], axis=-1)


def skew(v: Array) -> Array:
    """Cross-product matrix ``[..., 3, 3]`` of ``[..., 3]`` vectors: ``skew(v) @ u == v x u``."""
    z = jnp.zeros_like(v[..., 0])
    x, y, w = v[..., 0], v[..., 1], v[..., 2]
    rows = [[z, -w, y], [w, z, -x], [-y, x, z]]
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def step_quat_jacobian(omega: Array, dt: Array) -> Array:
    """Derivative of the step rotation as a body-frame angle, ``E`` [..., 3, 3].

    ``rot(step_quat(omega + d)) = rot(step_quat(omega)) (I + skew(E d)) + O(|d|^2)``.
    From ``2 vec(conj(q) dq)`` with ``q = (c, u)``, ``u = dt omega / 2`` and
    ``c = sqrt(1 - |u|^2)``: ``E = dt (c I + u u^T / c - skew(u))``. Inside the clamp
    of ``step_quat`` (only wild Newton iterates) this is a direction, not the derivative.
    """
    u = 0.5 * dt * omega
    c = jnp.sqrt(jnp.maximum(1.0 - jnp.sum(u * u, axis=-1), 1e-12))[..., None, None]
    eye = jnp.eye(3, dtype=omega.dtype)
    return dt * (c * eye + u[..., :, None] * u[..., None, :] / c - skew(u))
