"""Contact candidates: a static list, each with a smooth signed gap.

Each candidate joins body ``a`` and body ``b`` (``a == N`` is the static ground).
For a configuration it yields the gap ``phi`` (>= 0 when separated), the unit
normal ``n`` pointing from ``a`` to ``b``, and the contact point's offsets
``r_a``, ``r_b`` from each body's centre of mass (world frame). An impulse
``lam`` acts on ``b`` at ``r_b`` and ``-lam`` on ``a`` at ``r_a``.

Candidates are fixed per shape pair (``pair_count``), which keeps every shape
static for jit and vmap:

- box-plane: 8 corners; capsule-plane: 2 ends; anything-sphere: 1.
- box-box: 52. 8 corners of b against a's faces and 8 corners of a against
  b's, by the face (Chebyshev) distance ``max_i |x_i| - h_i``: 0 on the surface,
  the exact signed distance inside and over a face, and its normal is always a
  face normal. A corner resting on a face therefore pushes straight along the
  face normal even at the face's border (equal boxes stacked corner on corner,
  where a Euclidean normal would tilt by drift / gap and push the box off), and
  a face resting on a face is held by the corners of whichever box is smaller.
  Plus 36 edge pairs: for each axis pair (i of a, j of b), the common normal
  ``n = e_i x f_j`` (towards b) and the two edges of each box on its face
  towards the other (``_support_edges``: two, because a ridge lying across a
  face touches both of its edges), 3 x 3 x 2 x 2. An edge pair whose lines
  cross inside both edges has the signed line distance along ``n`` as gap (it
  turns negative exactly when the edges pass through each other); otherwise
  the closest points are a corner (held by the corner candidates) and the
  candidate is switched off (gap + 1 m), as are nearly parallel pairs (no
  common normal; faded in smoothly below 0.1 rad).
- capsule-box: 2. From each end of the axis, alternating projections (axis ->
  box -> axis, 6 rounds) reach the axis point nearest the box on that side; a
  sphere of the capsule's radius there against the box (Euclidean outside,
  face distance inside). A capsule lying on a face keeps its two ends; one
  lying across a box is held where its axis leaves the box's top.
- capsule-capsule: 3. The same alternation from each end of a (parallel
  capsules: the two ends of their overlap) and the regularised closest pair
  of the axes (crossing capsules).

For box and capsule pairs, the discrete choices (which face, which edges, which
side each clamp is on, whether edges cross) are made at a reference pose, the
start of the step (``ref`` of ``geometry``), and held while the step is solved:
within a step every gap is a smooth function of the velocities (planes, lines,
fixed clamps), so Newton's model is exact however the iterates move (chosen
from the iterates instead, a corner on a corner flips faces between iterates
and the solve stalls). The next step chooses again.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

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


def _basis_frame() -> np.ndarray:
    """Rotation whose third row ``m`` is a direction no common contact normal is near."""
    m = np.array([1.0, 2.0, 4.0]) / np.sqrt(21.0)
    e1 = np.cross(m, [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(m, e1), m])


_BASIS_FRAME = _basis_frame()


def tangent_basis(n: Array) -> Array:
    """Orthonormal tangents [..., 2, 3] of unit normals [..., 3] (Duff et al. 2017).

    Built in a fixed frame (``_BASIS_FRAME``) with the branch for normals along
    its +z, so the basis is smooth everywhere except at the single normal
    ``-m``, ``m = (1, 2, 4) / sqrt(21)``. Duff's sign switch at n_z = 0 would put a
    jump on every horizontal normal (box side faces, edge contacts), and a
    Newton iterate crossing it flips the meaning of the slip unknowns. The
    friction cone is isotropic, so the choice of basis does not change the physics.
    """
    q = jnp.asarray(_BASIS_FRAME, n.dtype)
    m = jnp.sum(n[..., None, :] * q, -1)  # n in the basis frame
    a = -1.0 / (1.0 + m[..., 2])
    b = m[..., 0] * m[..., 1] * a
    t1 = jnp.stack([1.0 + m[..., 0] ** 2 * a, b, -m[..., 0]], axis=-1)
    t2 = jnp.stack([b, 1.0 + m[..., 1] ** 2 * a, -m[..., 1]], axis=-1)
    t = jnp.stack([t1, t2], axis=-2)
    return jnp.sum(t[..., :, :, None] * q, -2)  # back to the world frame


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


# ---- box-box, capsule-box, capsule-capsule ---------------------------------------
#
# Each routine takes a ``_Frozen`` and returns (phi [k], normal [k, 3] from a to b,
# r_a [k, 3], r_b [k, 3]) for a fixed k per shape pair (``pair_count``).

# Alternating projections (segment -> box / segment -> segment -> ...) per capsule
# candidate. Each round shrinks the distance to the true closest point by cos^2 of
# the crossing angle (exact in one round at 90 degrees, a factor 2 at 45); six
# rounds leave a 45-degree crossing 1/64 of the way off (~1e-6 m of gap error).
_ALTERNATIONS = 6
# Edge pairs closer to parallel than this (sin of the angle) fade out: their
# common normal is ill-defined and the vertex candidates already hold such contacts.
_PARALLEL_SIN = 0.1
# [m] added to the gap of a switched-off edge candidate (parallel edges, or a
# closest pair at an edge's end, which is a vertex contact): its impulse is kappa / _FAR.
_FAR = 1.0
# Regularisation of the line-line solve of capsule-capsule (relative to the
# 1 - cos^2 of the axes): nearly parallel axes get a smooth, central pair of
# points instead of an ill-conditioned one; below 1e-6 m of gap error at 10 degrees.
_CAPSULE_REG = 1e-4
_DIST_EPS = 1e-20  # smooth floor of squared distances that can reach 0 [m^2]

# Box-box edge candidates: for each axis i of a, axis j of b and slot (sa, sb) in
# {+1, -1}^2, one segment pair. Static index lists [36].
_EE_I = np.repeat(np.arange(3), 12)
_EE_J = np.tile(np.repeat(np.arange(3), 4), 3)
_EE_SA = np.tile(np.array([1.0, 1.0, -1.0, -1.0]), 9)
_EE_SB = np.tile(np.array([1.0, -1.0, 1.0, -1.0]), 9)
BOX_BOX_VERTEX = 16
BOX_BOX_EDGE = int(_EE_I.shape[0])


def pair_count(body_a, body_b) -> int:
    """Static number of candidates between two bodies (``World`` checks the pair is supported)."""
    kinds = {type(body_a), type(body_b)}
    if Sphere in kinds:
        return 1
    if kinds == {Box}:
        return BOX_BOX_VERTEX + BOX_BOX_EDGE
    if kinds == {Box, Capsule}:
        return 2
    if kinds == {Capsule}:
        return 3
    raise ValueError(f"no collision routine for {type(body_a).__name__}-{type(body_b).__name__}")  # pragma: no cover


class _Frozen:
    """The discrete choices of a pair routine (faces, edges, clamp sides), fixed per step.

    Run a routine with ``_Frozen()`` at the reference pose (the start of the step):
    every choice is recorded. Run it again with ``_Frozen(recorded)`` at the pose
    being solved for: the same choices are replayed, so within a step the gap is
    a smooth function of the Newton unknowns (planes, lines and fixed clamp
    sides), and Newton sees no kinks however the iterates move.
    """

    def __init__(self, frozen: list | None = None) -> None:
        self.frozen = frozen
        self.record: list = []
        self.i = 0

    def choose(self, value: Array) -> Array:
        if self.frozen is None:
            value = jax.lax.stop_gradient(value)
            self.record.append(value)
            return value
        self.i += 1
        return self.frozen[self.i - 1]

    def clip(self, x: Array, lo: Array, hi: Array) -> tuple[Array, Array]:
        """``clip(x, lo, hi)`` with the side (-1, 0, +1) chosen at the reference pose."""
        side = self.choose(jnp.where(x > hi, 1, jnp.where(x < lo, -1, 0)))
        return jnp.where(side > 0, hi, jnp.where(side < 0, lo, x)), side


def _to_world(rot: Array, v: Array) -> Array:
    return small_ops.einsum("ij,kj->ki", rot, v)


def _to_body(rot: Array, v: Array) -> Array:
    return small_ops.einsum("ji,kj->ki", rot, v)


def _sign(x: Array) -> Array:
    # Ties (x == 0) take +1; callers make sure a tie never swaps a near-contact feature.
    return jnp.where(x >= 0.0, 1.0, -1.0)


def _face_distance(h: Array, pos: Array, rot: Array, p: Array, fr: _Frozen):
    """Chebyshev (face) signed distance of world points ``p`` [k, 3] to a box.

    ``phi = max_i (|x_i| - h_i)`` in the box frame: the exact signed distance inside
    the box and over a face, 0 exactly on the surface, and never larger than the
    Euclidean distance outside. Its normal is always the outward normal of the
    face that attains the maximum (chosen at the reference pose, then the plane
    of that face), so a corner resting on a face pushes along the face normal
    even where it sits over (or slightly past) the face's border.
    Returns (phi [k], outward normal [k, 3], face point [k, 3]).
    """
    local = _to_body(rot, p - pos)
    q = jnp.abs(local) - h
    q0, q1, q2 = q[:, 0], q[:, 1], q[:, 2]
    pick0 = (q0 >= q1) & (q0 >= q2)
    pick1 = ~pick0 & (q1 >= q2)
    onehot = fr.choose(jnp.stack([pick0, pick1, ~pick0 & ~pick1], -1).astype(p.dtype))
    n_local = onehot * fr.choose(_sign(local))
    phi = jnp.sum(n_local * local - onehot * h, -1)
    normal = _to_world(rot, n_local)
    return phi, normal, p - phi[:, None] * normal


def _box_distance(h: Array, pos: Array, rot: Array, p: Array, fr: _Frozen):
    """Signed distance of world points ``p`` [k, 3] to a box: Euclidean outside, face inside.

    Returns (phi [k], outward unit normal [k, 3], closest surface point [k, 3]).
    Outside, the normal is ``(p - clamp(p)) / |p - clamp(p)|``; inside (where that
    vanishes) it is the least-penetrated face's normal, which agrees with it on a face.
    """
    local = _to_body(rot, p - pos)
    clamped, _ = fr.clip(local, -h, h)
    d = local - clamped
    dist = jnp.sqrt(jnp.sum(d * d, -1) + _DIST_EPS)
    inside = fr.choose(jnp.all(jnp.abs(local) < h, -1))
    phi_in, n_in, _ = _face_distance(h, pos, rot, p, fr)
    n_out = _to_world(rot, d / dist[:, None])
    phi = jnp.where(inside, phi_in, dist)
    normal = jnp.where(inside[:, None], n_in, n_out)
    return phi, normal, p - phi[:, None] * normal


def _segment_params(u: Array, v: Array, r: Array, half_u: Array, half_v: Array, fr: _Frozen,
                    reg: Array | float = 0.0):
    """Closest points of segments ``P + s u``, ``Q + t v`` (unit ``u``, ``v``; ``r = P - Q``).

    ``s`` in [-half_u, half_u], ``t`` in [-half_v, half_v]: Ericson's clamped
    solution of the 2x2 least-squares problem, all arrays [k]. Also returns the
    unclamped line parameters and ``1 - (u.v)^2``.
    """
    b = jnp.sum(u * v, -1)
    c = jnp.sum(u * r, -1)
    f = jnp.sum(v * r, -1)
    den = jnp.sum(jnp.cross(u, v) ** 2, -1)  # 1 - b^2 without cancellation
    s_line = (b * f - c) / jnp.maximum(den + reg, 1e-24)
    t_line = b * s_line + f
    s, _ = fr.clip(s_line, -half_u, half_u)
    t, side = fr.clip(b * s + f, -half_v, half_v)
    s_back, _ = fr.clip(b * t - c, -half_u, half_u)
    s = jnp.where(side != 0, s_back, s)
    return s, t, s_line, t_line, den


def _support_edges(h: Array, rot: Array, axis: np.ndarray, slot: np.ndarray, n: Array, fr: _Frozen):
    """Centres (body frame, [E, 3]) of the edges along ``axis`` [E] facing direction ``n`` [E, 3].

    Of the 4 edges parallel to ``axis``, slot +1/-1 take the two on the face whose
    normal dominates ``n`` (largest ``h_k |n_k|`` of the other two axes): the
    dominant sign follows the support, the other sign is ``slot * dominant sign``.
    This labelling keeps an edge in its slot when ``n`` crosses a face normal
    (both edges of that face may touch, e.g. a ridge lying across it) and when
    the dominant axis changes (there the swapped edges are >= sqrt(2) min(h) deep).
    """
    local = _to_body(rot, n)
    p1 = np.eye(3)[(axis + 1) % 3]
    p2 = np.eye(3)[(axis + 2) % 3]
    c1 = jnp.sum(p1 * h * jnp.abs(local), -1)
    c2 = jnp.sum(p2 * h * jnp.abs(local), -1)
    g1 = fr.choose(_sign(jnp.sum(p1 * local, -1)))
    g2 = fr.choose(_sign(jnp.sum(p2 * local, -1)))
    first = fr.choose(c1 >= c2)
    s1 = jnp.where(first, g1, slot * g2)
    s2 = jnp.where(first, slot * g1, g2)
    return (s1[:, None] * p1 + s2[:, None] * p2) * h


def _box_box_edges(ha: Array, hb: Array, pos_a, rot_a, pos_b, rot_b, fr: _Frozen):
    """The 36 edge-edge candidates of a box pair (see the module docstring)."""
    u = small_ops.take(rot_a.T, _EE_I)
    v = small_ops.take(rot_b.T, _EE_J)
    n0 = jnp.cross(u, v)
    den0 = jnp.sum(n0 * n0, -1)
    # (Nearly) parallel edges have no common normal: another axis of a stands in
    # (the candidate is switched off there), so no derivative blows up like 1 / |n0|.
    parallel = fr.choose(den0 < (0.1 * _PARALLEL_SIN) ** 2)
    n = jnp.where(parallel[:, None], small_ops.take(rot_a.T, (_EE_I + 1) % 3),
                  n0 / jnp.sqrt(jnp.maximum(den0, (0.1 * _PARALLEL_SIN) ** 2))[:, None])
    n = n * fr.choose(_sign(jnp.sum(n * (pos_b - pos_a), -1)))[:, None]
    ca = pos_a + _to_world(rot_a, _support_edges(ha, rot_a, _EE_I, _EE_SA, n, fr))
    cb = pos_b + _to_world(rot_b, _support_edges(hb, rot_b, _EE_J, _EE_SB, -n, fr))
    half_a = jnp.sum(np.eye(3)[_EE_I] * ha, -1)
    half_b = jnp.sum(np.eye(3)[_EE_J] * hb, -1)
    # Parallel pairs get a regularised (bounded, central) line solution.
    s, t, s_line, t_line, den = _segment_params(u, v, ca - cb, half_a, half_b, fr, reg=jnp.where(parallel, 1.0, 0.0))
    sep = jnp.sum(n * (cb - ca), -1)  # the lines' signed distance along their common normal
    # A crossing inside both edges with sep < 0 means the edges passed through each
    # other; past -2 min(h) that cannot be (each edge would be inside the other box).
    h_min = jnp.minimum(jnp.min(ha), jnp.min(hb))
    crossing = fr.choose((jnp.abs(s_line) <= half_a) & (jnp.abs(t_line) <= half_b) & (sep > -2.0 * h_min))
    s = jnp.where(crossing, s_line, s)
    t = jnp.where(crossing, t_line, t)
    pa = ca + s[:, None] * u
    pb = cb + t[:, None] * v
    d = pb - pa
    dist = jnp.sqrt(jnp.sum(d * d, -1) + _DIST_EPS)
    fade = jnp.maximum(1.0 - den / _PARALLEL_SIN**2, 0.0) ** 2
    phi = jnp.where(crossing, sep, _FAR + dist) + _FAR * fade
    return phi, n, pa - pos_a, pb - pos_b


def _box_box(box_a: Box, box_b: Box, pos_a, rot_a, pos_b, rot_b, fr: _Frozen):
    ha, hb = jnp.asarray(box_a.half_extents), jnp.asarray(box_b.half_extents)
    corners_b = pos_b + _to_world(rot_b, box_b.corners())
    phi_b, n_b, on_a = _face_distance(ha, pos_a, rot_a, corners_b, fr)
    corners_a = pos_a + _to_world(rot_a, box_a.corners())
    phi_a, n_a, on_b = _face_distance(hb, pos_b, rot_b, corners_a, fr)
    phi_e, n_e, ra_e, rb_e = _box_box_edges(ha, hb, pos_a, rot_a, pos_b, rot_b, fr)
    return (
        jnp.concatenate([phi_b, phi_a, phi_e]),
        jnp.concatenate([n_b, -n_a, n_e]),
        jnp.concatenate([on_a - pos_a, corners_a - pos_a, ra_e]),
        jnp.concatenate([corners_b - pos_b, on_b - pos_b, rb_e]),
    )


def _capsule_box(cap: Capsule, box: Box, pos_c, rot_c, pos_b, rot_b, fr: _Frozen):
    """Two candidates, capsule first: a point of the axis reached from each end, vs the box."""
    h = jnp.asarray(box.half_extents)
    half = jnp.asarray(cap.half_length)
    axis = rot_c[:, 2]
    t = jnp.asarray([1.0, -1.0]) * half
    for _ in range(_ALTERNATIONS):
        q = pos_c + t[:, None] * axis
        clamped, _ = fr.clip(_to_body(rot_b, q - pos_b), -h, h)
        y = pos_b + _to_world(rot_b, clamped)
        t, _ = fr.clip(jnp.sum((y - pos_c) * axis, -1), -half, half)
    q = pos_c + t[:, None] * axis
    dist, out, y = _box_distance(h, pos_b, rot_b, q, fr)
    r = jnp.asarray(cap.radius)
    n = -out  # from the capsule to the box
    return dist - r, n, q + r * n - pos_c, y - pos_b


def _capsule_capsule(cap_a: Capsule, cap_b: Capsule, pos_a, rot_a, pos_b, rot_b, fr: _Frozen):
    """Three candidates: from each end of a by alternating projections, and the closest pair."""
    ua, ub = rot_a[:, 2], rot_b[:, 2]
    la, lb = jnp.asarray(cap_a.half_length), jnp.asarray(cap_b.half_length)
    s = jnp.asarray([1.0, -1.0]) * la
    t, _ = fr.clip(jnp.sum((pos_a + s[:, None] * ua - pos_b) * ub, -1), -lb, lb)
    for _ in range(_ALTERNATIONS - 1):
        s, _ = fr.clip(jnp.sum((pos_b + t[:, None] * ub - pos_a) * ua, -1), -la, la)
        t, _ = fr.clip(jnp.sum((pos_a + s[:, None] * ua - pos_b) * ub, -1), -lb, lb)
    s_x, t_x, *_ = _segment_params(ua[None], ub[None], (pos_a - pos_b)[None], la, lb, fr, reg=_CAPSULE_REG)
    s = jnp.concatenate([s, s_x])
    t = jnp.concatenate([t, t_x])
    pa = pos_a + s[:, None] * ua
    pb = pos_b + t[:, None] * ub
    d = pb - pa
    dist = _safe_norm(d)
    n = d / dist[:, None]
    ra, rb = jnp.asarray(cap_a.radius), jnp.asarray(cap_b.radius)
    return dist - ra - rb, n, pa + ra * n - pos_a, pb - rb * n - pos_b


def _pair_fn(body_a, body_b):
    """The routine of a non-sphere pair as ``f(pos_a, rot_a, pos_b, rot_b, frozen)``."""
    if isinstance(body_a, Box) and isinstance(body_b, Box):
        return lambda *args: _box_box(body_a, body_b, *args)
    if isinstance(body_a, Capsule) and isinstance(body_b, Capsule):
        return lambda *args: _capsule_capsule(body_a, body_b, *args)
    if isinstance(body_a, Capsule):
        return lambda *args: _capsule_box(body_a, body_b, *args)

    def box_first(pos_a, rot_a, pos_b, rot_b, fr):
        phi, n, r_b, r_a = _capsule_box(body_b, body_a, pos_b, rot_b, pos_a, rot_a, fr)
        return phi, -n, r_a, r_b

    return box_first


def _pair_choices(body_a, body_b, ref_a: tuple, ref_b: tuple) -> list | None:
    """The discrete choices of a pair at the reference poses ((pos, rot) each); None for sphere pairs."""
    if isinstance(body_a, Sphere) or isinstance(body_b, Sphere):
        return None
    fr = _Frozen()
    _pair_fn(body_a, body_b)(*ref_a, *ref_b, fr)
    return fr.record


def _pair_k(body_a, body_b, pos_a, rot_a, pos_b, rot_b, choices):
    """All candidates of one body pair: (phi [k], normal [k, 3], r_a [k, 3], r_b [k, 3])."""
    if choices is None:
        return tuple(x[None] for x in _pair(body_a, body_b, pos_a, rot_a, pos_b, rot_b))
    return _pair_fn(body_a, body_b)(pos_a, rot_a, pos_b, rot_b, _Frozen(choices))


def candidates(world) -> Candidates:
    """Static candidate list of a ``World`` (plane candidates first, then body pairs)."""
    n_bodies = world.num_bodies
    a, b = [], []
    if world.ground is not None:
        for i in world.ground_bodies:
            body = world.bodies[i]
            k = 8 if isinstance(body, Box) else 2 if isinstance(body, Capsule) else 1
            a += [n_bodies] * k
            b += [i] * k
    for i, j in world.body_pairs:
        k = pair_count(world.bodies[i], world.bodies[j])
        a += [i] * k
        b += [j] * k
    return Candidates(a=np.asarray(a, dtype=np.int32), b=np.asarray(b, dtype=np.int32))


def _ref_rot(world, pos: Array, rot: Array, ref) -> tuple:
    """Reference poses (pos [N, 3], rot [N, 3, 3]) for the discrete choices: ``ref`` or the pose itself."""
    if ref is None:
        return pos, rot
    return jnp.asarray(ref[0]), quat_to_mat(jnp.asarray(ref[1]))


def geometry(world, pos: Array, quat: Array, ref: Optional[tuple] = None) -> Geometry:
    """Gap, normal and lever arms of every candidate at pose ``pos`` [N, 3], ``quat`` [N, 4].

    ``ref``: optional reference pose ``(pos [N, 3], quat [N, 4])`` (the start of the
    step) at which the box and capsule pairs make their discrete choices (faces,
    edges, clamp sides); by default the pose itself.
    """
    rot = quat_to_mat(quat)
    ref_pos, ref_rot = _ref_rot(world, pos, rot, ref)
    phis, normals, ras, rbs = [], [], [], []
    if world.ground is not None:
        n = world.ground.unit_normal()
        off = jnp.asarray(world.ground.offset)
        for i in world.ground_bodies:
            phi, r_b, _ = _plane_points(world.bodies[i], pos[i], rot[i], n, off)
            k = phi.shape[0]
            phis.append(phi)
            normals.append(jnp.broadcast_to(n, (k, 3)))
            ras.append(jnp.zeros((k, 3), pos.dtype))
            rbs.append(r_b)
    for i, j in world.body_pairs:
        bi, bj = world.bodies[i], world.bodies[j]
        choices = _pair_choices(bi, bj, (ref_pos[i], ref_rot[i]), (ref_pos[j], ref_rot[j]))
        phi, nrm, r_a, r_b = _pair_k(bi, bj, pos[i], rot[i], pos[j], rot[j], choices)
        phis.append(phi)
        normals.append(nrm)
        ras.append(r_a)
        rbs.append(r_b)
    if not phis:
        z = jnp.zeros((0, 3), pos.dtype)
        return Geometry(jnp.zeros((0,), pos.dtype), z, z, z)
    return Geometry(
        phi=jnp.concatenate(phis),
        normal=jnp.concatenate(normals),
        r_a=jnp.concatenate(ras),
        r_b=jnp.concatenate(rbs),
    )


def _pair_jacobian(body_a, body_b, pos_a, rot_a, pos_b, rot_b, choices):
    """Twist derivatives of one pair's k candidates: phi [k, 2, 6], normal/r_a/r_b [k, 3, 2, 6].

    Forward mode over the 12 twist coordinates of this pair only: the clamped
    closest-point maps have no tidy closed form, and there are few pairs. With
    the discrete ``choices`` fixed, every routine is smooth, so this is exact.
    """

    def moved(tw):
        ra = rot_a + small_ops.einsum("ij,jk->ik", skew(tw[3:6]), rot_a)
        rb = rot_b + small_ops.einsum("ij,jk->ik", skew(tw[9:12]), rot_b)
        return _pair_k(body_a, body_b, pos_a + tw[0:3], ra, pos_b + tw[6:9], rb, choices)

    jac = jax.jacfwd(moved)(jnp.zeros((12,), pos_a.dtype))
    return tuple(j.reshape(j.shape[:-1] + (2, 6)) for j in jac)


def geometry_jacobian(world, pos: Array, quat: Array, sides: tuple = (0, 1),
                      ref: Optional[tuple] = None) -> GeometryJacobian:
    """``GeometryJacobian`` of every candidate at pose ``pos`` [N, 3], ``quat`` [N, 4].

    ``sides`` (static) picks the bodies whose twist columns are returned (0 = a,
    1 = b); the side axis then has length ``len(sides)`` instead of 2. ``ref`` as
    in ``geometry`` (the discrete choices are constants here).

    Against the plane the normal is fixed and the contact point moves with the
    body: ``d phi = n . dx + (lever x n) . dtheta``, ``d r_b = dtheta x lever``.
    """
    rot = quat_to_mat(quat)
    ref_pos, ref_rot = _ref_rot(world, pos, rot, ref)
    dtype = pos.dtype
    phis, normals, ras, rbs = [], [], [], []
    if world.ground is not None:
        n = world.ground.unit_normal()
        off = jnp.asarray(world.ground.offset)
        for i in world.ground_bodies:
            _, _, lever = _plane_points(world.bodies[i], pos[i], rot[i], n, off)
            k = lever.shape[0]
            d_phi = (jnp.zeros((k, 6), dtype), jnp.concatenate([jnp.broadcast_to(n, (k, 3)), jnp.cross(lever, n)], -1))
            d_rb = (jnp.zeros((k, 3, 6), dtype), jnp.concatenate([jnp.zeros((k, 3, 3), dtype), -skew(lever)], -1))
            phis.append(jnp.stack([d_phi[side] for side in sides], -2))
            normals.append(jnp.zeros((k, 3, len(sides), 6), dtype))
            ras.append(jnp.zeros((k, 3, len(sides), 6), dtype))
            rbs.append(jnp.stack([d_rb[side] for side in sides], -2))
    for i, j in world.body_pairs:
        bi, bj = world.bodies[i], world.bodies[j]
        choices = _pair_choices(bi, bj, (ref_pos[i], ref_rot[i]), (ref_pos[j], ref_rot[j]))
        jac = _pair_jacobian(bi, bj, pos[i], rot[i], pos[j], rot[j], choices)
        for out, d in zip((phis, normals, ras, rbs), jac):
            out.append(d[..., sides, :])
    if not phis:
        k = len(sides)
        return GeometryJacobian(jnp.zeros((0, k, 6), dtype), *(jnp.zeros((0, 3, k, 6), dtype),) * 3)
    return GeometryJacobian(*(jnp.concatenate(x) for x in (phis, normals, ras, rbs)))
