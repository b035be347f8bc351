"""Discrete Euler-Lagrange dynamics of free rigid bodies (Dojo-style).

Unknowns per body are the midpoint velocities over the step, ``y = (v, w)``
([N, 6]; ``v`` world frame, ``w`` body frame). The next pose is
``x+ = x + dt v`` and ``q+ = q * [sqrt(1 - |dt w / 2|^2), dt w / 2]``.

The rotational row is the discrete Euler-Lagrange equation of the Lagrangian
``dt/2 w^T J w`` on that quaternion map; it conserves spatial angular momentum
exactly for torque-free bodies (discrete Noether), which is why it is used
instead of an explicit Euler step of Euler's equations:

    mu+(w+) - mu-(w-) = dt R^T tau + contact angular impulse (body frame)
    mu+(w) = s(w) J w + dt/2 w x J w,   mu-(w) = s(w) J w - dt/2 w x J w,
    s(w) = sqrt(1 - dt^2 |w|^2 / 4).
"""

from __future__ import annotations

from typing import Tuple

import jax.numpy as jnp
from jax import Array

from rljax.contact import small_ops
from rljax.contact.rotation import normalize, quat_mul, quat_to_mat, step_quat


def _s(w: Array, dt: Array) -> Array:
    return jnp.sqrt(jnp.maximum(1.0 - 0.25 * dt**2 * jnp.sum(w * w, axis=-1, keepdims=True), 1e-12))


def momentum_plus(w: Array, inertia: Array, dt: Array) -> Array:
    """Discrete body-frame angular momentum leaving the current pose, [..., 3]."""
    jw = inertia * w
    return _s(w, dt) * jw + 0.5 * dt * jnp.cross(w, jw)


def momentum_minus(w: Array, inertia: Array, dt: Array) -> Array:
    """Discrete body-frame angular momentum arriving at the next pose, [..., 3]."""
    jw = inertia * w
    return _s(w, dt) * jw - 0.5 * dt * jnp.cross(w, jw)


def next_pose(pos: Array, quat: Array, y: Array, dt: Array) -> Tuple[Array, Array]:
    """Pose after one step with midpoint velocities ``y`` [N, 6]: ([N, 3], [N, 4])."""
    pos_next = pos + dt * y[:, :3]
    quat_next = normalize(quat_mul(quat, step_quat(y[:, 3:], dt)))
    return pos_next, quat_next


def dynamics_residual(
    world, pos: Array, quat: Array, vel: Array, ang_vel: Array,
    force: Array, torque: Array, y: Array, wrench: Array,
) -> Array:
    """Impulse balance per body, [N, 6].

    ``wrench`` [N, 6] is the contact impulse on each body: linear part in the
    world frame, angular part in the body frame of the current pose.
    ``force``/``torque`` [N, 3] are world-frame and held constant over the step.
    """
    dt = jnp.asarray(world.dt)
    m = world.masses()[:, None]
    inertia = world.inertias()
    g = jnp.asarray(world.gravity)
    rot = quat_to_mat(quat)
    r_lin = m * (y[:, :3] - vel) - dt * (m * g + force) - wrench[:, :3]
    torque_body = small_ops.einsum("nji,nj->ni", rot, torque)
    r_ang = (
        momentum_plus(y[:, 3:], inertia, dt)
        - momentum_minus(ang_vel, inertia, dt)
        - dt * torque_body
        - wrench[:, 3:]
    )
    return jnp.concatenate([r_lin, r_ang], axis=-1)


def momentum(world, state) -> Tuple[Array, Array]:
    """Linear [3] and angular [3] (world frame, about the origin) momentum of a state.

    The angular part uses the discrete momentum ``R(q) mu-(w)`` that the
    integrator conserves exactly; it differs from ``R J w`` by O(dt^2).
    """
    dt = jnp.asarray(world.dt)
    m = world.masses()[:, None]
    p = m * state.vel
    spin = jnp.einsum("nij,nj->ni", quat_to_mat(state.quat), momentum_minus(state.ang_vel, world.inertias(), dt))
    return p.sum(0), (jnp.cross(state.pos, p) + spin).sum(0)


def kinetic_energy(world, state) -> Array:
    """Total kinetic energy (scalar) from the midpoint velocities."""
    m = world.masses()
    lin = 0.5 * m * jnp.sum(state.vel**2, axis=-1)
    ang = 0.5 * jnp.sum(world.inertias() * state.ang_vel**2, axis=-1)
    return jnp.sum(lin + ang)
