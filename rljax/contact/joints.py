"""Joints between bodies in maximal coordinates (Dojo-style equality constraints).

A joint ties a ``child`` body to a ``parent`` body (or to the world: parent
``None`` or ``-1``) at an anchor point, ``parent_anchor`` in the parent's frame
(world frame for the world) and ``child_anchor`` in the child's frame, with the
rest relative orientation ``rest_quat`` (parent -> child, default identity).
With ``e = conj(q_a) q_b conj(q_0)`` the relative rotation beyond rest (in the
parent frame) and ``d`` the anchor mismatch, the constraint rows are

- ``Fixed``: ``d = 0`` (world frame, 3), ``vec(e) = 0`` (3); no DOF;
- ``Revolute``: ``d = 0`` (3), ``t_i . vec(e) = 0`` for the two directions ``t_i``
  orthogonal to ``axis`` (2); DOF: angle ``2 atan2(axis . vec(e), e_w)``;
- ``Prismatic``: ``vec(e) = 0`` (3), ``t_i . R_a^T d = 0`` (2); DOF: displacement
  ``axis . R_a^T d``;
- ``Spherical``: ``d = 0`` (3); DOFs: the rotation vector of ``e`` (parent frame);
- ``Planar``: ``axis . R_a^T d = 0`` (1), ``t_i . vec(e) = 0`` (2): the child moves in
  the plane of normal ``axis`` (parent frame) and turns only about it; DOFs: the
  in-plane displacements ``t_i . R_a^T d`` (2) and the angle about ``axis`` (1).

The step imposes them at the next pose (as the contact gap); their impulses
``lambda`` act through the constraint Jacobian at the current pose, which is
the SHAKE form of a constrained variational integrator: with the solver's
discrete Euler-Lagrange rows it keeps a bounded energy error and exact momentum
maps. Revolute angle and prismatic displacement limits are orthant pairs
(impulse >= 0, slack >= 0, ``gamma s = kappa``) like the contact normal.
Actuation (one number per DOF: torque about the axis, force along it, a
parent-frame torque for a spherical joint; a planar joint's two in-plane forces
along ``t_i`` and its torque about ``axis``) and viscous damping act along each
DOF's relative twist, equal and opposite on the two bodies. ``armature``
(rotor inertia, as MuJoCo's: kg m^2 for angular DOFs, kg for translational ones)
adds ``armature * nu^2 / 2`` of kinetic energy along each DOF of relative
velocity ``nu``: its impulse ``-armature (nu_k - nu_{k-1})`` on the DOF makes
fast, light links behave as geared ones do, and conditions the step's Newton
matrix as their inertia would.

Every number is a pytree leaf (gradients reach anchors, axes, damping, limits, armature);
the joint kind, ``parent`` and ``child`` are static.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Optional

import jax.numpy as jnp
import numpy as np
from jax import Array

from rljax.contact.collision import tangent_basis
from rljax.contact.rotation import normalize, quat_mul, quat_to_mat, skew, step_quat
from rljax.contact.shapes import _check_shape, as_leaf, concrete, register_pytree


def _conj(q: Array) -> Array:
    return q * jnp.asarray([1.0, -1.0, -1.0, -1.0], q.dtype)


def _unit(v: Array) -> Array:
    return v / jnp.linalg.norm(v)


class _Joint:
    """Common construction checks; subclasses list their leaves in ``_LEAVES``."""

    parent: Any
    child: Any
    _LEAVES: tuple = ()
    NUM_ROWS: int = 0
    NUM_DOFS: int = 0

    def __post_init__(self) -> None:
        self._init_common()

    def _init_common(self) -> None:
        name = type(self).__name__
        parent = self.parent
        if parent is not None and not isinstance(parent, (int, np.integer)):
            raise ValueError(f"{name}.parent must be a body index, -1 or None (the world), got {parent!r}")
        if parent is not None and int(parent) == -1:
            parent = None
        if parent is not None and int(parent) < 0:
            raise ValueError(f"{name}.parent must be a body index >= 0, -1 or None (the world), got {parent}")
        object.__setattr__(self, "parent", None if parent is None else int(parent))
        if isinstance(self.child, bool) or not isinstance(self.child, (int, np.integer)) or int(self.child) < 0:
            raise ValueError(f"{name}.child must be a body index >= 0, got {self.child!r}")
        object.__setattr__(self, "child", int(self.child))
        if self.parent == self.child:
            raise ValueError(f"{name}: parent and child are the same body ({self.child})")
        for f in self._LEAVES:
            object.__setattr__(self, f, as_leaf(getattr(self, f)))
        for f in ("parent_anchor", "child_anchor"):
            _check_shape(f"{name}.{f}", getattr(self, f), (3,))
            v = concrete(getattr(self, f))
            if v is not None and not np.all(np.isfinite(v)):
                raise ValueError(f"{name}.{f} must be finite, got {v}")
        _check_shape(f"{name}.rest_quat", self.rest_quat, (4,))
        q = concrete(self.rest_quat)
        if q is not None and (not np.all(np.isfinite(q)) or np.any(np.linalg.norm(q, axis=-1) == 0)):
            raise ValueError(f"{name}.rest_quat must be a finite non-zero quaternion, got {q}")
        if "axis" in self._LEAVES:
            _check_shape(f"{name}.axis", self.axis, (3,))
            a = concrete(self.axis)
            if a is not None and (not np.all(np.isfinite(a)) or np.any(np.linalg.norm(a, axis=-1) < 1e-9)):
                raise ValueError(f"{name}.axis must be a finite non-zero vector, got {a}")
        for f in ("damping", "armature"):
            d = concrete(getattr(self, f)) if f in self._LEAVES else None
            if d is not None and (not np.all(np.isfinite(d)) or np.any(d < 0)):
                raise ValueError(f"{name}.{f} must be finite and >= 0, got {d}")
        if "limits" in self._LEAVES and self.limits is not None:
            _check_shape(f"{name}.limits", self.limits, (2,))
            lim = concrete(self.limits)
            if lim is not None:
                if not np.all(np.isfinite(lim)):
                    raise ValueError(f"{name}.limits must be finite (lower, upper), got {lim}")
                if np.any(lim[..., 0] >= lim[..., 1]):
                    raise ValueError(f"{name}.limits must have lower < upper, got {lim}")
                if isinstance(self, Revolute) and np.any(np.abs(lim) > np.pi):
                    raise ValueError(f"Revolute.limits must lie in [-pi, pi] (the angle's range), got {lim}")

    @property
    def num_limits(self) -> int:
        return 2 if getattr(self, "limits", None) is not None else 0


def _joint_class(leaves: tuple, rows: int, dofs: int):
    def deco(cls):
        cls._LEAVES = leaves
        cls.NUM_ROWS = rows
        cls.NUM_DOFS = dofs
        return register_pytree(cls, leaves, ("parent", "child"))

    return deco


_ORIGIN = (0.0, 0.0, 0.0)
_IDENTITY = (1.0, 0.0, 0.0, 0.0)


@_joint_class(("parent_anchor", "child_anchor", "rest_quat"), rows=6, dofs=0)
@dataclasses.dataclass(frozen=True)
class Fixed(_Joint):
    """Weld ``child`` to ``parent`` (``None``/-1: the world). Anchors [3], rest_quat [4]."""

    parent: Optional[int]
    child: int
    parent_anchor: Any = _ORIGIN
    child_anchor: Any = _ORIGIN
    rest_quat: Any = _IDENTITY


@dataclasses.dataclass(frozen=True)
class _AxisJoint(_Joint):
    """The fields of the joints with an axis (revolute, prismatic; planar, which takes no limits)."""

    parent: Optional[int]
    child: int
    parent_anchor: Any = _ORIGIN
    child_anchor: Any = _ORIGIN
    axis: Any = (0.0, 0.0, 1.0)
    damping: Any = 0.0
    limits: Any = None
    rest_quat: Any = _IDENTITY
    armature: Any = 0.0


_AXIS_LEAVES = ("parent_anchor", "child_anchor", "axis", "damping", "limits", "rest_quat", "armature")


@_joint_class(_AXIS_LEAVES, rows=5, dofs=1)
@dataclasses.dataclass(frozen=True)
class Revolute(_AxisJoint):
    """Hinge about ``axis`` [3] (parent frame). ``limits``: optional (lower, upper) angle in [-pi, pi]."""


@_joint_class(_AXIS_LEAVES, rows=5, dofs=1)
@dataclasses.dataclass(frozen=True)
class Prismatic(_AxisJoint):
    """Slider along ``axis`` [3] (parent frame). ``limits``: optional (lower, upper) displacement."""


@_joint_class(("parent_anchor", "child_anchor", "damping", "rest_quat", "armature"), rows=3, dofs=3)
@dataclasses.dataclass(frozen=True)
class Spherical(_Joint):
    """Ball joint at the anchors; its 3 DOFs are the parent-frame rotation vector."""

    parent: Optional[int]
    child: int
    parent_anchor: Any = _ORIGIN
    child_anchor: Any = _ORIGIN
    damping: Any = 0.0
    rest_quat: Any = _IDENTITY
    armature: Any = 0.0


@_joint_class(_AXIS_LEAVES, rows=3, dofs=3)
@dataclasses.dataclass(frozen=True)
class Planar(_AxisJoint):
    """Keeps ``child`` in the plane of normal ``axis`` [3] (parent frame) through the parent anchor.

    Its DOFs, in order: the in-plane displacements along the two tangents
    ``t_1, t_2 = tangent_basis(axis)`` (parent frame) and the angle about
    ``axis``; ``damping`` applies to all three. It takes the revolute's fields
    (so a ``WorldSpec`` entry reads the same) but no ``limits``: three limited
    DOFs would need a limit per coordinate, which nothing uses yet.
    """

    def __post_init__(self) -> None:
        if self.limits is not None:
            raise ValueError(f"Planar.limits must be None (planar joints take no limits), got {self.limits!r}")
        self._init_common()


JOINT_TYPES = (Fixed, Revolute, Prismatic, Spherical, Planar)


def check_joints(joints: tuple, num_bodies: int) -> None:
    """Validate joint kinds, body indices and that the joints form a forest (no loops).

    A loop (two joints between the same bodies, or a closed chain) makes the
    constraint rows redundant and the bordered Newton matrix singular.
    """
    root = list(range(num_bodies + 1))  # union-find; index num_bodies is the world

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for k, j in enumerate(joints):
        if not isinstance(j, JOINT_TYPES):
            raise ValueError(f"World.joints[{k}] must be Fixed, Revolute, Prismatic, Spherical or Planar, "
                             f"got {type(j)}")
        for role, idx in (("parent", j.parent), ("child", j.child)):
            if idx is not None and not 0 <= idx < num_bodies:
                raise ValueError(f"World.joints[{k}].{role} = {idx} is not a body index < {num_bodies}")
        a = find(num_bodies if j.parent is None else j.parent)
        b = find(j.child)
        if a == b:
            raise ValueError(f"World.joints[{k}] closes a loop of joints (not supported: redundant constraints)")
        root[a] = b


def joined_pairs(joints: tuple) -> frozenset:
    """Static set of body pairs ``(min, max)`` joined directly by a joint."""
    return frozenset((min(j.parent, j.child), max(j.parent, j.child)) for j in joints if j.parent is not None)


def num_rows(world) -> int:
    """Equality rows L of all joints (static)."""
    return sum(j.NUM_ROWS for j in world.joints)


def num_dofs(world) -> int:
    """Joint DOFs (actuation inputs, ``joint_positions`` entries) of all joints (static)."""
    return sum(j.NUM_DOFS for j in world.joints)


def num_limits(world) -> int:
    """Limit rows M (two per limited joint: lower, upper; static)."""
    return sum(j.num_limits for j in world.joints)


# ---- kinematics --------------------------------------------------------------------


def _pose(pos: Array, quat: Array, i: Optional[int]):
    if i is None:
        return jnp.zeros((3,), pos.dtype), jnp.asarray(_IDENTITY, pos.dtype)
    return pos[i], quat[i]


def _relative(j, pos: Array, quat: Array):
    """(anchor mismatch d [3] world, relative rotation e [4] parent frame, parent rotation [3, 3])."""
    pa, qa = _pose(pos, quat, j.parent)
    pb, qb = _pose(pos, quat, j.child)
    ra, rb = quat_to_mat(qa), quat_to_mat(qb)
    d = pb + rb @ jnp.asarray(j.child_anchor, pos.dtype) - pa - ra @ jnp.asarray(j.parent_anchor, pos.dtype)
    e = quat_mul(quat_mul(_conj(qa), qb), _conj(normalize(jnp.asarray(j.rest_quat, pos.dtype))))
    return d, e, ra


def _rows(j, pos: Array, quat: Array) -> Array:
    d, e, ra = _relative(j, pos, quat)
    if isinstance(j, Fixed):
        return jnp.concatenate([d, e[1:]])
    if isinstance(j, Spherical):
        return d
    t = tangent_basis(_unit(jnp.asarray(j.axis, pos.dtype)))  # [2, 3]
    if isinstance(j, Revolute):
        return jnp.concatenate([d, t @ e[1:]])
    if isinstance(j, Planar):
        return jnp.concatenate([jnp.dot(_unit(jnp.asarray(j.axis, pos.dtype)), ra.T @ d)[None], t @ e[1:]])
    return jnp.concatenate([e[1:], t @ (ra.T @ d)])  # Prismatic


def _coords(j, pos: Array, quat: Array) -> Array:
    d, e, ra = _relative(j, pos, quat)
    if isinstance(j, Fixed):
        return jnp.zeros((0,), pos.dtype)
    # q and -q are one rotation: take the half with e_w >= 0 so angles lie in [-pi, pi].
    e = jnp.where(e[0] < 0, -e, e)
    if isinstance(j, Revolute):
        return (2.0 * jnp.arctan2(jnp.dot(_unit(jnp.asarray(j.axis, pos.dtype)), e[1:]), e[0]))[None]
    if isinstance(j, Prismatic):
        return jnp.dot(_unit(jnp.asarray(j.axis, pos.dtype)), ra.T @ d)[None]
    if isinstance(j, Planar):
        axis = _unit(jnp.asarray(j.axis, pos.dtype))
        angle = 2.0 * jnp.arctan2(jnp.dot(axis, e[1:]), e[0])
        return jnp.concatenate([tangent_basis(axis) @ (ra.T @ d), angle[None]])
    # Spherical: rotation vector; the series 2/e_w branch keeps it smooth at rest.
    v = e[1:]
    s2 = jnp.sum(v * v)
    small = s2 < 1e-16
    s = jnp.sqrt(jnp.where(small, 1.0, s2))
    scale = jnp.where(small, 2.0 / e[0], 2.0 * jnp.arctan2(s, e[0]) / s)
    return scale * v


def constraint_rows(world, pos: Array, quat: Array) -> Array:
    """All joints' equality rows at pose ``pos`` [N, 3], ``quat`` [N, 4]: [L]."""
    if not world.joints:
        return jnp.zeros((0,), pos.dtype)
    return jnp.concatenate([_rows(j, pos, quat) for j in world.joints])


def coordinates(world, pos: Array, quat: Array) -> Array:
    """Joint coordinates [J_dof] at a pose (angles, displacements, rotation vectors)."""
    parts = [_coords(j, pos, quat) for j in world.joints]
    return jnp.concatenate(parts) if parts else jnp.zeros((0,), pos.dtype)


def limit_gaps(world, pos: Array, quat: Array) -> Array:
    """Distances to the limits [M], per limited joint (coord - lower, upper - coord); >= 0 inside."""
    bounds = [b for j in world.joints if j.num_limits
              for b in (-jnp.asarray(j.limits, pos.dtype)[0], jnp.asarray(j.limits, pos.dtype)[1])]
    return limit_coordinates(world, pos, quat) + (jnp.stack(bounds) if bounds else jnp.zeros((0,), pos.dtype))


def limit_coordinates(world, pos: Array, quat: Array) -> Array:
    """The coordinate of each limit row [M] with the sign that opens its gap (+x lower, -x upper)."""
    out = []
    for j in world.joints:
        if j.num_limits:
            x = _coords(j, pos, quat)[0]
            out += [x, -x]
    return jnp.stack(out) if out else jnp.zeros((0,), pos.dtype)


def _quat_rate(e: Array) -> Array:
    """``M(e)`` [4, 3] with ``(0, v) e = M(e) v``: the change of ``e`` under a turn ``v`` applied before it."""
    ew, ev = e[0], e[1:]
    return jnp.concatenate([-ev[None], ew * jnp.eye(3, dtype=e.dtype) - skew(ev)], 0)


class _SideTwists(NamedTuple):
    """Derivatives of a joint's ``d`` [3, 6], ``e`` [4, 6] and ``u = R_a^T d`` [3, 6] w.r.t. one body's twist."""

    body: int
    d: Array
    e: Array
    u: Array


def _side_twists(j, pos: Array, quat: Array) -> tuple[Array, list[_SideTwists]]:
    """(``e`` [4], the twist derivatives of the child and, unless it is the world, the parent).

    A body twist is ``(dx, dtheta)``: ``pos + dx`` (world) and ``quat * (1, dtheta / 2)``
    (body frame), the variation the dynamics rows are written in. With
    ``d = p_b + R_b c_b - p_a - R_a c_a``, ``e = conj(q_a) q_b conj(q_0)`` and ``u = R_a^T d``:
    a child turn moves ``e`` by ``(0, R_a^T R_b dtheta / 2) e``, a parent turn by
    ``-(0, dtheta / 2) e``, and turns ``u`` by ``u x dtheta`` besides moving ``d``.
    """
    d, e, ra = _relative(j, pos, quat)
    eye = jnp.eye(3, dtype=pos.dtype)
    zero = jnp.zeros((4, 3), pos.dtype)
    rb = quat_to_mat(quat[j.child])
    rate = _quat_rate(e)
    d_child = jnp.concatenate([eye, -rb @ skew(jnp.asarray(j.child_anchor, pos.dtype))], 1)
    sides = [_SideTwists(j.child, d_child, jnp.concatenate([zero, 0.5 * rate @ (ra.T @ rb)], 1), ra.T @ d_child)]
    if j.parent is not None:
        d_parent = jnp.concatenate([-eye, ra @ skew(jnp.asarray(j.parent_anchor, pos.dtype))], 1)
        u_turn = jnp.concatenate([jnp.zeros((3, 3), pos.dtype), skew(ra.T @ d)], 1)
        sides.append(_SideTwists(j.parent, d_parent, jnp.concatenate([zero, -0.5 * rate], 1),
                                 ra.T @ d_parent + u_turn))
    return e, sides


def _row_twists(j, e: Array, t: _SideTwists) -> Array:
    """d(the joint's equality rows, ``_rows``' order)/d(one side's twist): [rows, 6]."""
    if isinstance(j, Fixed):
        return jnp.concatenate([t.d, t.e[1:]])
    if isinstance(j, Spherical):
        return t.d
    axis = _unit(jnp.asarray(j.axis, e.dtype))
    basis = tangent_basis(axis)
    if isinstance(j, Revolute):
        return jnp.concatenate([t.d, basis @ t.e[1:]])
    if isinstance(j, Planar):
        return jnp.concatenate([(axis @ t.u)[None], basis @ t.e[1:]])
    return jnp.concatenate([t.e[1:], basis @ t.u])  # Prismatic


def _limit_twists(j, e: Array, t: _SideTwists) -> Array:
    """d(the limit pair's coordinates (x, -x))/d(one side's twist): [2, 6]."""
    axis = _unit(jnp.asarray(j.axis, e.dtype))
    if isinstance(j, Prismatic):
        g = axis @ t.u
    else:
        # Revolute: x = 2 atan2(s, c), s = axis . vec(e), c = e_w (the same derivative for -e).
        s, c = jnp.dot(axis, e[1:]), e[0]
        g = 2.0 * (c * (axis @ t.e[1:]) - s * t.e[0]) / (s * s + c * c)
    return jnp.stack([g, -g])


def _stack_twists(joints_used, pos: Array, quat: Array, per_side) -> Array:
    """``per_side(joint, e, side twists) -> [K, 6]`` of each of ``joints_used``, placed per body: [sum K, N, 6]."""
    n = pos.shape[0]
    blocks = []
    for j in joints_used:
        e, sides = _side_twists(j, pos, quat)
        rows = [per_side(j, e, t) for t in sides]
        out = jnp.zeros(rows[0].shape[:1] + (n, 6), pos.dtype)
        for t, r in zip(sides, rows):
            out = out.at[:, t.body].set(r)
        blocks.append(out)
    return jnp.concatenate(blocks) if blocks else jnp.zeros((0, n, 6), pos.dtype)


def constraint_twists(world, pos: Array, quat: Array) -> Array:
    """d(constraint_rows)/d(body twists) at a pose ``pos`` [N, 3], ``quat`` [N, 4] (unit): [L, N, 6].

    In closed form (the Newton matrix needs it at the next pose on every
    iteration; a forward-mode pass would push 6N tangents through the rows). A
    row of it is the generalised impulse of a unit multiplier of that row.
    """
    return _stack_twists(world.joints, pos, quat, _row_twists)


def limit_twists(world, pos: Array, quat: Array) -> Array:
    """d(limit_coordinates)/d(body twists) at a pose: [M, N, 6], in closed form (``constraint_twists``)."""
    return _stack_twists([j for j in world.joints if j.num_limits], pos, quat, _limit_twists)


def dof_directions(world, pos: Array, quat: Array) -> Array:
    """Relative twist of each joint DOF in velocity coordinates ``y``: [J_dof, N, 6].

    ``S . y`` is the DOF's velocity and ``dt * u * S`` the impulse of actuation
    ``u`` on it, so actuation and damping do work ``u * S . y`` and nothing else.
    Revolute/spherical: the world axis ``R_a a`` as angular velocity of the child
    minus the parent's. Prismatic: linear velocity along ``R_a a`` of the child
    minus the parent's, plus the parent's rotation carrying the axis, so that the
    force and its reaction share one line of action (through the child's centre).
    Planar: its angle as a revolute's; its displacements as the velocity along
    ``R_a t_i`` of the child's anchor point relative to the parent's material
    point there (the child turns relative to the parent, so the force acts at the
    anchor, where its coordinate is measured: ``S . y`` is that coordinate's rate).
    """
    n = pos.shape[0]
    rot = quat_to_mat(quat)
    out = []

    def angular(j, ra, a):
        s = jnp.zeros((n, 6), pos.dtype).at[j.child, 3:].set(rot[j.child].T @ (ra @ a))
        return s if j.parent is None else s.at[j.parent, 3:].set(-a)

    for j in world.joints:
        if isinstance(j, Fixed):
            continue
        ra = jnp.eye(3, dtype=pos.dtype) if j.parent is None else rot[j.parent]
        if isinstance(j, Spherical):
            out += [angular(j, ra, a) for a in jnp.eye(3, dtype=pos.dtype)]
            continue
        axis = _unit(jnp.asarray(j.axis, pos.dtype))
        if isinstance(j, Revolute):
            out.append(angular(j, ra, axis))
        elif isinstance(j, Prismatic):
            u = ra @ axis
            s = jnp.zeros((n, 6), pos.dtype).at[j.child, :3].set(u)
            if j.parent is not None:
                lever = jnp.cross(pos[j.child] - pos[j.parent], u)
                s = s.at[j.parent].set(jnp.concatenate([-u, -(ra.T @ lever)]))
            out.append(s)
        else:  # Planar
            arm = rot[j.child] @ jnp.asarray(j.child_anchor, pos.dtype)  # child centre -> anchor, world
            base = jnp.zeros((3,), pos.dtype) if j.parent is None else pos[j.parent]
            for t in tangent_basis(axis):
                u = ra @ t
                s = jnp.zeros((n, 6), pos.dtype).at[j.child].set(
                    jnp.concatenate([u, rot[j.child].T @ jnp.cross(arm, u)]))
                if j.parent is not None:
                    lever = jnp.cross(pos[j.child] + arm - base, u)
                    s = s.at[j.parent].set(jnp.concatenate([-u, -(ra.T @ lever)]))
                out.append(s)
            out.append(angular(j, ra, axis))
    return jnp.stack(out) if out else jnp.zeros((0, n, 6), pos.dtype)


def _per_dof(world, field: str, dtype) -> Array:
    """A joint field per DOF [J_dof] (each joint's value repeated over its DOFs)."""
    out = [jnp.broadcast_to(jnp.asarray(getattr(j, field), dtype), (j.NUM_DOFS,)) for j in world.joints if j.NUM_DOFS]
    return jnp.concatenate(out) if out else jnp.zeros((0,), dtype)


def damping(world, dtype=jnp.float64) -> Array:
    """Damping coefficient per DOF [J_dof] (a joint's coefficient repeated over its DOFs)."""
    return _per_dof(world, "damping", dtype)


def armature(world, dtype=jnp.float64) -> Array:
    """Armature (rotor inertia) per DOF [J_dof] (a joint's value repeated over its DOFs)."""
    return _per_dof(world, "armature", dtype)


def previous_pose(world, state):
    """The pose one step before ``state`` from its velocities over that step."""
    dt = jnp.asarray(world.dt)
    inv = step_quat(state.ang_vel, dt) * jnp.asarray([1.0, -1.0, -1.0, -1.0])
    return state.pos - dt * state.vel, normalize(quat_mul(state.quat, inv))


def joint_positions(world, state) -> Array:
    """Joint coordinates [J_dof] of a state, in ``world.joints`` order.

    Revolute: angle in [-pi, pi] (rad) about the axis, 0 at ``rest_quat``;
    prismatic: displacement (m) along the axis; spherical: rotation vector (3)
    of the child relative to rest, parent frame; planar: the anchor's in-plane
    displacements (m) along ``tangent_basis(axis)`` and the angle about the axis
    (3); fixed joints contribute none.
    """
    return coordinates(world, jnp.asarray(state.pos), jnp.asarray(state.quat))


def joint_velocities(world, state) -> Array:
    """Joint velocities [J_dof] over the step that produced ``state`` (like ``State.vel``).

    ``dof_directions . (vel, ang_vel)`` at the state's pose: the rate of the
    revolute angle / prismatic displacement / planar coordinates, the relative
    angular velocity (parent frame) of a spherical joint. Agrees with differences of
    ``joint_positions`` to O(dt) while the constraints hold.
    """
    s = dof_directions(world, jnp.asarray(state.pos), jnp.asarray(state.quat))
    y = jnp.concatenate([jnp.asarray(state.vel), jnp.asarray(state.ang_vel)], -1)
    return jnp.einsum("jnk,nk->j", s, y)
