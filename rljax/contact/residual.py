"""The step's nonlinear complementarity residual.

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

With joints (``World.joints``, static) the unknowns gain a tail ``x`` =
(``lambda`` [L] joint impulses, ``(gamma, s)`` [M, 2] per limit row) and the
residual the rows ``joint constraints(next pose)`` [L] and per limit
``s - gap(next pose)``, ``gamma s - kappa``; the joint impulses, limit impulses,
actuation, damping and armature enter the impulse balance through ``joint_wrench``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from rljax.contact import collision, joints, small_ops
from rljax.contact.dynamics import dynamics_residual, next_pose
from rljax.contact.rotation import quat_to_mat, step_quat_jacobian

# Columns of z that carry impulse into the dynamics (gamma, b1, b2).
IMPULSE_COLS = np.array([0, 3, 4])


class Problem(NamedTuple):
    """Everything a step depends on (the differentiable inputs).

    world: ``World``. pos/vel/ang_vel/force/torque: [N, 3]. quat: [N, 4].
    actuation: [J_dof] joint torques / forces (``None``: zeros).
    """

    world: Any
    pos: Array
    quat: Array
    vel: Array
    ang_vel: Array
    force: Array
    torque: Array
    actuation: Any = None


class Kinematics(NamedTuple):
    """Contact geometry at the next pose for velocities ``y``.

    geom: ``collision.Geometry`` [C, ...]. tangents: [C, 2, 3]. vrel: [C, 3] velocity
    of b's contact point relative to a's. rot: [N + 1, 3, 3] current rotations
    (the ground's is the identity). w_world: [N + 1, 3] world angular velocities
    (the ground's is 0). quat_next: [N, 4].
    """

    geom: Any
    tangents: Array
    vrel: Array
    rot: Array
    w_world: Array
    quat_next: Array


def sizes(problem: Problem) -> tuple[int, int]:
    """(number of bodies N, number of contact candidates C); static."""
    return problem.pos.shape[0], collision.candidates(problem.world).count


def joint_sizes(problem: Problem) -> tuple[int, int]:
    """(joint equality rows L, limit rows M); static. Both 0 without joints."""
    return joints.num_rows(problem.world), joints.num_limits(problem.world)


def has_joints(problem: Problem) -> bool:
    """Static: whether the unknowns have a joint tail (the bordered Newton path)."""
    return bool(problem.world.joints)


def split(problem: Problem, w: Array) -> tuple[Array, Array]:
    """Flat ``w`` [6N + 8C (+ L + 2M)] -> (y [N, 6], z [C, 8]); the joint tail is ``split_joint``."""
    n, c = sizes(problem)
    return w[: 6 * n].reshape(n, 6), w[6 * n : 6 * n + 8 * c].reshape(c, 8)


def split_joint(problem: Problem, w: Array) -> tuple[Array, Array]:
    """Joint tail of flat ``w``: (lambda [L], limit (gamma, s) [M, 2])."""
    n, c = sizes(problem)
    rows, m = joint_sizes(problem)
    tail = w[6 * n + 8 * c :]
    return tail[:rows], tail[rows:].reshape(m, 2)


def join(y: Array, z: Array, *tail: Array) -> Array:
    """(y [N, 6], z [C, 8], optional joint tail lambda [L], limits [M, 2]) -> flat w."""
    return jnp.concatenate([y.reshape(-1), z.reshape(-1)] + [t.reshape(-1) for t in tail])


class JointMaps(NamedTuple):
    """Joint geometry at the current pose (constant over a step's Newton iterations).

    rows: [L, N, 6] generalised impulse of each constraint row's multiplier.
    limits: [M, N, 6] of each limit impulse (signed: it opens its gap).
    dofs: [J_dof, N, 6] ``joints.dof_directions``. damping: [J_dof]. actuation: [J_dof].
    armature: [J_dof]. dof_vel: [J_dof] the DOF velocities of the previous step's velocities.
    """

    rows: Array
    limits: Array
    dofs: Array
    damping: Array
    actuation: Array
    armature: Array
    dof_vel: Array


def joint_maps(problem: Problem) -> JointMaps:
    """``JointMaps`` of a problem (current pose, so independent of the unknowns)."""
    world = problem.world
    pos, quat = problem.pos, problem.quat
    rows = joints.constraint_twists(world, pos, quat)
    lims = joints.limit_twists(world, pos, quat)
    dofs = joints.dof_directions(world, pos, quat)
    act = problem.actuation
    act = jnp.zeros((dofs.shape[0],), pos.dtype) if act is None else jnp.asarray(act, pos.dtype)
    previous = jnp.concatenate([problem.vel, problem.ang_vel], -1)  # the step's incoming velocities, [N, 6]
    return JointMaps(rows, lims, dofs, joints.damping(world, pos.dtype), act, joints.armature(world, pos.dtype),
                     small_ops.einsum("jnk,nk->j", dofs, previous))


def joint_wrench(problem: Problem, maps: JointMaps, y: Array, lam: Array, gamma: Array) -> Array:
    """Joint, limit, actuation, damping and armature impulses per body [N, 6] (residual coordinates).

    Linear in ``y`` (damping is implicit: it uses the step's own DOF velocity;
    armature resists its change from the previous step's), ``lam`` [L] and the
    limit impulses ``gamma`` [M].
    """
    dt = jnp.asarray(problem.world.dt)
    nu = small_ops.einsum("jnk,nk->j", maps.dofs, y)
    out = small_ops.einsum("lnk,l->nk", maps.rows, lam) + small_ops.einsum("mnk,m->nk", maps.limits, gamma)
    out = out + dt * small_ops.einsum("jnk,j->nk", maps.dofs, maps.actuation - maps.damping * nu)
    return out - small_ops.einsum("jnk,j->nk", maps.dofs, maps.armature * (nu - maps.dof_vel))


def joint_rows(problem: Problem, y: Array) -> tuple[Array, Array]:
    """(constraint rows [L], limit gaps [M]) at the next pose for velocities ``y``."""
    world = problem.world
    pos_next, quat_next = next_pose(problem.pos, problem.quat, y, jnp.asarray(world.dt))
    return joints.constraint_rows(world, pos_next, quat_next), joints.limit_gaps(world, pos_next, quat_next)


def joint_row_jacobians(problem: Problem, y: Array) -> tuple[Array, Array]:
    """d(``joint_rows``)/d(velocities ``y`` [N, 6]): (constraint rows [L, 6N], limit gaps [M, 6N]).

    The rows' twist derivatives at the next pose, chained through the step map
    ``y -> next pose``: a body twist there is ``(dt dv, E(w) dw)`` (``step_quat_jacobian``).
    """
    world = problem.world
    dt = jnp.asarray(world.dt)
    n = y.shape[0]
    pos_next, quat_next = next_pose(problem.pos, problem.quat, y, dt)
    step = step_quat_jacobian(y[:, 3:], dt)  # [N, 3, 3]

    def chain(t):  # [K, N, 6] twists at the next pose -> [K, 6N] velocity derivatives
        ang = small_ops.einsum("knt,ntj->knj", t[..., 3:], step)
        return jnp.concatenate([dt * t[..., :3], ang], -1).reshape(t.shape[0], 6 * n)

    return (chain(joints.constraint_twists(world, pos_next, quat_next)),
            chain(joints.limit_twists(world, pos_next, quat_next)))


def lam(z: Array) -> Array:
    """Impulses (gamma, b1, b2) [C, 3] of contact unknowns ``z`` [C, 8]."""
    return z[:, IMPULSE_COLS]


def kinematics(problem: Problem, y: Array) -> Kinematics:
    """Geometry, tangent bases and relative contact velocities for velocities ``y`` [N, 6]."""
    world = problem.world
    cand = collision.candidates(world)
    pos_next, quat_next = next_pose(problem.pos, problem.quat, y, jnp.asarray(world.dt))
    # Faces, edges and clamp sides are chosen at the current pose: smooth in y.
    geom = collision.geometry(world, pos_next, quat_next, ref=(problem.pos, problem.quat))
    tangents = collision.tangent_basis(geom.normal)
    # Velocities of the body points; the static ground is an extra zero row. The
    # body-frame w is also its own axis over the step, so R_k w = R_{k+1} w.
    rot = quat_to_mat(problem.quat)
    rot_ext = jnp.concatenate([rot, jnp.eye(3, dtype=rot.dtype)[None]])
    w_world = small_ops.einsum("nij,nj->ni", rot, y[:, 3:])
    v_ext = jnp.concatenate([y[:, :3], jnp.zeros((1, 3), y.dtype)])
    w_ext = jnp.concatenate([w_world, jnp.zeros((1, 3), y.dtype)])
    va = small_ops.take(v_ext, cand.a) + jnp.cross(small_ops.take(w_ext, cand.a), geom.r_a)
    vb = small_ops.take(v_ext, cand.b) + jnp.cross(small_ops.take(w_ext, cand.b), geom.r_b)
    return Kinematics(geom, tangents, vb - va, rot_ext, w_ext, quat_next)


def wrench(problem: Problem, kin: Kinematics, impulses: Array) -> Array:
    """Contact impulses [C, 3] = (gamma, b1, b2) summed per body, [N, 6]."""
    n = problem.pos.shape[0]
    cand = collision.candidates(problem.world)
    geom = kin.geom
    imp = impulses[:, :1] * geom.normal + small_ops.einsum("ck,ckj->cj", impulses[:, 1:], kin.tangents)
    ang_b = small_ops.einsum("cji,cj->ci", small_ops.take(kin.rot, cand.b), jnp.cross(geom.r_b, imp))
    ang_a = small_ops.einsum("cji,cj->ci", small_ops.take(kin.rot, cand.a), jnp.cross(geom.r_a, -imp))
    return (small_ops.segment_sum(jnp.concatenate([imp, ang_b], -1), cand.b, n)
            + small_ops.segment_sum(jnp.concatenate([-imp, ang_a], -1), cand.a, n))


def local_rows(z: Array, mu: Array, kappa: Array) -> Array:
    """Per-contact rows that involve only that contact's unknowns, [C, 5]."""
    gamma, s = z[:, 0], z[:, 1]
    beta, eta = z[:, 2:5], z[:, 5:8]
    cone0 = jnp.sum(beta * eta, -1) - kappa
    cone1 = beta[:, :1] * eta[:, 1:] + eta[:, :1] * beta[:, 1:]
    return jnp.concatenate(
        [(beta[:, 0] - mu * gamma)[:, None], (gamma * s - kappa)[:, None], cone0[:, None], cone1], -1
    )


def residual(problem: Problem, w: Array, kappa: Array, maps: JointMaps | None = None) -> Array:
    """Full residual [6N + 8C (+ L + 2M)] at target complementarity ``kappa``.

    ``maps``: ``joint_maps(problem)`` if precomputed (the solver loop does; they
    depend on the problem only). Differentiate with it ``None`` so gradients
    reach the joint geometry through the maps too.
    """
    p = problem
    y, z = split(p, w)
    kin = kinematics(p, y)
    impulse = wrench(p, kin, lam(z))
    if has_joints(p):
        lam_j, lim = split_joint(p, w)
        maps = joint_maps(p) if maps is None else maps
        impulse = impulse + joint_wrench(p, maps, y, lam_j, lim[:, 0])
    r_y = dynamics_residual(p.world, p.pos, p.quat, p.vel, p.ang_vel, p.force, p.torque, y, impulse)
    vt = small_ops.einsum("ckj,cj->ck", kin.tangents, kin.vrel)
    kin_rows = jnp.concatenate([(z[:, 1] - kin.geom.phi)[:, None], z[:, 6:8] - vt], -1)
    r_z = jnp.concatenate([kin_rows, local_rows(z, jnp.asarray(p.world.friction), kappa)], -1)
    if not has_joints(p):
        return join(r_y, r_z)
    rows, gaps = joint_rows(p, y)
    r_l = jnp.stack([lim[:, 1] - gaps, lim[:, 0] * lim[:, 1] - kappa], -1)
    return join(r_y, r_z, rows, r_l)
