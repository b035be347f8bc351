"""World description and simulation state.

``World`` holds the bodies, the optional ground plane and the global numbers
(friction, gravity, time step). Its numbers are pytree leaves; the body kinds,
the number of bodies and the list of body pairs that may touch are static
(they fix the contact candidates and therefore every array shape).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from rljax.contact import joints as joints_lib
from rljax.contact import solver
from rljax.contact.shapes import Box, Capsule, Plane, Sphere, _check_shape, as_leaf, concrete, register_pytree

# Body-body shape pairs with a collision routine (order-insensitive): every pair of
# Sphere, Box and Capsule. ``collision.pair_count`` gives each pair's candidate count.
SUPPORTED_PAIRS = frozenset((a, b) for a in (Sphere, Box, Capsule) for b in (Sphere, Box, Capsule))


def require_x64() -> None:
    """Raise unless float64 is enabled (the solver's tolerances need it)."""
    if not jax.config.jax_enable_x64:
        raise RuntimeError(
            "rljax.contact needs float64 but jax_enable_x64 is off. Call it inside "
            "`with jax.enable_x64(True):` (scoped, recommended) or set "
            "jax.config.update('jax_enable_x64', True) for the whole program."
        )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SolverInfo:
    """Interior-point report for one step (scalars; batched under vmap/scan).

    iterations: Newton iterations taken. residual: inf-norm of the equality rows
    (dynamics, gap, tangential velocity, cone radius) at the returned point.
    complementarity: max |gamma s - kappa|, |beta o eta - kappa e| at that point.
    converged: both below tolerance within the iteration cap and all finite.
    """

    iterations: Any
    residual: Any
    complementarity: Any
    converged: Any


def empty_info() -> SolverInfo:
    """The ``SolverInfo`` of a state no step has produced yet (0 iterations, converged)."""
    return SolverInfo(
        iterations=jnp.zeros((), jnp.int32),
        residual=jnp.zeros((), jnp.float64),
        complementarity=jnp.zeros((), jnp.float64),
        converged=jnp.ones((), bool),
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class State:
    """Maximal-coordinate state of ``N`` bodies.

    pos: [N, 3] centre of mass (world). quat: [N, 4] orientation, scalar-first,
    body -> world. vel: [N, 3] world linear velocity over the last step
    (``pos_k = pos_{k-1} + dt * vel``). ang_vel: [N, 3] angular velocity over the
    last step, in the body frame (as MuJoCo's free joint). solver: the
    ``SolverInfo`` of the step that produced this state. warm: the flat
    interior-point solution ``w`` of that step ([6N + 8C], gradient stopped),
    which seeds the next solve (``step(..., warm_start=True)``); zeros (from
    ``init_state``) or ``None`` mean a cold start.
    """

    pos: Any
    quat: Any
    vel: Any
    ang_vel: Any
    solver: Any = None
    warm: Any = None

    def replace(self, **changes: Any) -> "State":
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class World:
    """Bodies, ground and global parameters.

    Args:
      bodies: tuple of ``Sphere`` / ``Box`` / ``Capsule``.
      ground: a ``Plane`` or ``None``.
      friction: Coulomb coefficient mu > 0 shared by all contacts (leaf).
      gravity: [3] acceleration (leaf).
      dt: time step > 0 (leaf).
      body_pairs: body index pairs ``(i, j)`` that may collide. ``None`` means
        every pair (all shape pairs have a collision routine) that no joint joins
        directly. Each pair adds a static number of candidates
        (``collision.pair_count``): 1 with a sphere, 2 capsule-box, 3
        capsule-capsule, 52 box-box; list only the pairs that can meet (e.g.
        neighbours in a stack) to keep the solve small. An entry that is not two
        distinct body indices raises ``ValueError``.
      ground_bodies: the body indices that may touch the ground; ``None`` means
        every body. Leave out bodies that cannot reach it (links held above
        the floor by joints): each costs candidates, and the relaxed contact's
        impulse ``kappa / gap`` acts across any gap, however large.
      joints: tuple of ``Fixed`` / ``Revolute`` / ``Prismatic`` / ``Spherical`` /
        ``Planar`` (``rljax.contact.joints``); parent ``None`` or -1 is the world. Their
        numbers are leaves, their kinds and bodies static; they must form a
        forest (no loops).
    """

    bodies: tuple
    ground: Optional[Plane] = None
    friction: Any = 0.5
    gravity: Any = (0.0, 0.0, -9.81)
    dt: Any = 0.01
    body_pairs: Optional[tuple] = None
    joints: tuple = ()
    ground_bodies: Optional[tuple] = None

    def __post_init__(self) -> None:
        bodies = tuple(self.bodies)
        object.__setattr__(self, "bodies", bodies)
        if len(bodies) == 0:
            raise ValueError("World.bodies must contain at least one body")
        for i, b in enumerate(bodies):
            if not isinstance(b, (Sphere, Box, Capsule)):
                raise ValueError(f"World.bodies[{i}] must be Sphere, Box or Capsule, got {type(b)}")
        if self.ground is not None and not isinstance(self.ground, Plane):
            raise ValueError(f"World.ground must be a Plane or None, got {type(self.ground)}")
        object.__setattr__(self, "friction", as_leaf(self.friction))
        object.__setattr__(self, "gravity", as_leaf(self.gravity))
        object.__setattr__(self, "dt", as_leaf(self.dt))
        mu = concrete(self.friction)
        # The relaxed cone complementarity beta . eta = kappa has no solution when the
        # cone radius mu gamma is identically 0, so frictionless contact is mu -> 0+.
        if mu is not None and (not np.all(np.isfinite(mu)) or np.any(mu <= 0)):
            raise ValueError(
                f"World.friction must be finite and > 0 (use e.g. 1e-4 for nearly frictionless), got {mu}"
            )
        _check_shape("World.gravity", self.gravity, (3,))
        dt = concrete(self.dt)
        if dt is not None and (not np.all(np.isfinite(dt)) or np.any(dt <= 0)):
            raise ValueError(f"World.dt must be a finite scalar > 0, got {dt}")
        joints = tuple(self.joints) if self.joints is not None else ()
        joints_lib.check_joints(joints, len(bodies))
        object.__setattr__(self, "joints", joints)
        object.__setattr__(self, "body_pairs", self._resolve_pairs(bodies, self.body_pairs, joints))
        object.__setattr__(self, "ground_bodies", self._resolve_ground_bodies(len(bodies), self.ground_bodies))

    @staticmethod
    def _resolve_ground_bodies(n: int, ground_bodies: Optional[Sequence]) -> tuple:
        if ground_bodies is None:
            return tuple(range(n))
        out = []
        for i in ground_bodies:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < n:
                raise ValueError(f"World.ground_bodies entry {i!r} is not a body index < {n}")
            out.append(int(i))
        if len(set(out)) != len(out):
            raise ValueError(f"World.ground_bodies lists a body twice: {tuple(out)}")
        return tuple(sorted(out))

    @staticmethod
    def _resolve_pairs(bodies: tuple, pairs: Optional[Sequence], joints: tuple = ()) -> tuple:
        n = len(bodies)
        if pairs is None:
            # Jointed bodies touch at the joint by design: no contact between them by default.
            joined = joints_lib.joined_pairs(joints)
            return tuple(
                (i, j)
                for i in range(n)
                for j in range(i + 1, n)
                if (type(bodies[i]), type(bodies[j])) in SUPPORTED_PAIRS and (i, j) not in joined
            )
        out = []
        for p in pairs:
            i, j = (int(k) for k in p)
            if not (0 <= i < n and 0 <= j < n) or i == j:
                raise ValueError(f"World.body_pairs entry {p} is not a pair of distinct body indices < {n}")
            if (type(bodies[i]), type(bodies[j])) not in SUPPORTED_PAIRS:
                raise ValueError(
                    f"World.body_pairs: no collision routine for {type(bodies[i]).__name__}-"
                    f"{type(bodies[j]).__name__}; supported: every pair of sphere, box and capsule"
                )
            out.append((min(i, j), max(i, j)))
        return tuple(out)

    @property
    def num_bodies(self) -> int:
        return len(self.bodies)

    def masses(self) -> Array:
        """[N] body masses."""
        return jnp.stack([jnp.asarray(b.mass) for b in self.bodies])

    def inertias(self) -> Array:
        """[N, 3] principal moments of inertia (body frame)."""
        return jnp.stack([b.principal_inertia() for b in self.bodies])

    def init_state(
        self,
        pos: Any,
        quat: Any = None,
        vel: Any = None,
        ang_vel: Any = None,
    ) -> State:
        """Build a ``State``. pos/vel/ang_vel: [N, 3]; quat: [N, 4] (normalised here).

        Omitted arguments default to identity orientation and zero velocities.
        ``warm`` is the neutral zeros (the first step starts cold), so the state
        has the structure ``step`` returns and can be a ``scan`` carry.
        """
        require_x64()
        n = self.num_bodies
        f64 = jnp.float64

        def arr(name, x, default, width):
            x = default if x is None else x
            a = jnp.asarray(x, dtype=f64)
            if a.shape != (n, width):
                raise ValueError(f"init_state: {name} must have shape ({n}, {width}), got {a.shape}")
            return a

        pos = arr("pos", pos, None, 3)
        quat = arr("quat", quat, np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)), 4)
        q = concrete(quat)
        if q is not None and np.any(np.linalg.norm(q, axis=-1) == 0):
            raise ValueError("init_state: quat rows must be non-zero")
        quat = quat / jnp.linalg.norm(quat, axis=-1, keepdims=True)
        vel = arr("vel", vel, np.zeros((n, 3)), 3)
        ang_vel = arr("ang_vel", ang_vel, np.zeros((n, 3)), 3)
        zeros = jnp.zeros((n, 3), f64)
        warm = solver.no_warm_start(solver.Problem(self, pos, quat, vel, ang_vel, zeros, zeros))
        return State(pos=pos, quat=quat, vel=vel, ang_vel=ang_vel, solver=empty_info(), warm=warm)


register_pytree(World, ["bodies", "ground", "friction", "gravity", "dt", "joints"], ["body_pairs", "ground_bodies"])
