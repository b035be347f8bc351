"""The float32 bridge: call the float64 solver from float32 programs (jit, vmap, grad).

This is how agents and envs use ``rljax.contact``: their programs run with
``jax_enable_x64`` off; the solver needs float64. ``float32_step(world,
opts, bodies, force, torque)`` takes and returns float32 only; inside, it
opens ``jax.enable_x64(True)``, builds the ``World`` from a hashable
:class:`WorldSpec`, casts to float64, runs ``contact.step`` and casts the
results back to float32.

    spec = WorldSpec(bodies=(("box", (0.1, 0.1, 0.1), 1.0),), friction=0.5, dt=0.05)
    bodies = resting_bodies(jnp.array([[0.0, 0.0, 0.1]]))
    bodies, report = float32_step(spec, StepOptions(kappa=1e-4), bodies, force, torque)

Joints: ``WorldSpec(..., joints=(("revolute", None, 0, (0, 0, 1), (0, 0, 0.5), (0, 1, 0)),))``
and ``float32_step(..., actuation=u)`` with ``u`` float32 [J_dof] (``spec.num_dofs``).

A plain ``with jax.enable_x64(True):`` around ``contact.step`` is enough for a
jitted forward pass, but not for transformations that re-interpret an
already-traced jaxpr later, when the scope has exited (x64 off):

- ``jax.grad`` traces the solver's own ``custom_vjp`` rules lazily, so its
  forward rule comes out float32 and no longer matches the float64 primal;
- ``jax.vmap`` of a ``lax.scan`` re-batches the scan body's jaxpr, and
  re-binding float64 ``dot_general`` there canonicalises its accumulation
  type to float32 ("lax.add requires arguments to have the same dtypes").

So the boundary is opaque to both: a ``jax.custom_vjp`` whose forward and
backward rules, and a ``jax.custom_batching.custom_vmap`` (around the primal
and around the backward computation) whose batching rule, re-trace the
Python function in their own x64 scope. Only float32 crosses the boundary:
the residual saved for the backward pass is the float32 input; the backward
rule recomputes the step in float64 (the same computation on the same inputs,
so the same point) and applies the solver's implicit-function VJP there.
Cost: one extra forward solve per step in the backward pass. The state is
carried in float32 between steps (quaternions renormalised after each step),
with the previous solution in ``Bodies.warm`` (``cold_warm(spec)`` to start;
the backward recomputation starts from the same warm point, so it lands on
the same solution).
"""

from __future__ import annotations

import dataclasses
import functools
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

from rljax.contact import solver
from rljax.contact.joints import Fixed, Planar, Prismatic, Revolute, Spherical, check_joints
from rljax.contact.shapes import Box, Capsule, Plane, Sphere
from rljax.contact.simulate import step as contact_step
from rljax.contact.world import State, World

f32 = jnp.float32
f64 = jnp.float64


class Bodies(NamedTuple):
    """float32 maximal-coordinate state of N bodies: pos/vel/ang_vel [N, 3], quat [N, 4].

    warm: the previous step's solver solution, float32 [K] (``K = warm_size(spec)``),
    which seeds the next solve (``StepOptions.warm_start``); zeros start cold.
    ``None`` (the default, e.g. from ``resting_bodies``) means no warm start and
    stays ``None``, so the pytree structure is the same after a step.
    """

    pos: jax.Array
    quat: jax.Array
    vel: jax.Array
    ang_vel: jax.Array
    warm: jax.Array | None = None


class Solve(NamedTuple):
    """float32 / int32 / bool per-step solver report (see ``SolverInfo``)."""

    iterations: jax.Array
    residual: jax.Array
    complementarity: jax.Array
    converged: jax.Array


@dataclasses.dataclass(frozen=True)
class WorldSpec:
    """Hashable recipe for a ``World`` (built inside the float64 scope, so it is a static argument).

    bodies: tuple of ``("box", (hx, hy, hz), mass)``, ``("sphere", radius, mass)`` or
    ``("capsule", (radius, half_length), mass)``; a ground plane ``z = 0``
    with the given Coulomb ``friction``; gravity ``-gravity`` along z.

    joints: tuple of ``(kind, parent, child, *rest)`` with kind ``"fixed"``,
    ``"revolute"``, ``"prismatic"``, ``"spherical"`` or ``"planar"`` and ``rest`` the joint
    class's remaining fields in order (``rljax.contact.joints``):
    fixed ``(parent_anchor, child_anchor, rest_quat)``; revolute / prismatic / planar
    ``(parent_anchor, child_anchor, axis, damping, limits, rest_quat, armature)`` (planar: limits None);
    spherical ``(parent_anchor, child_anchor, damping, rest_quat, armature)``, trailing
    ones optional. E.g. ``("revolute", None, 0, (0, 0, 0), (0, 0, 0.5), (0, 1, 0), 0.1, (-1, 1))``.
    Lists are frozen to tuples; each entry is validated here (``ValueError``).
    Their DOFs, in this order, are ``float32_step``'s ``actuation``.

    body_pairs: the body index pairs that may touch (``World.body_pairs``); None:
    every pair no joint joins. A relaxed contact (kappa > 0) pushes with
    impulse ``kappa / gap`` even when apart, so leave out pairs that never meet.

    ground_bodies: the bodies that may touch the ground (``World.ground_bodies``);
    None: every body. Leave out bodies joints hold above it, for the same reason.
    """

    bodies: tuple
    friction: float
    dt: float
    gravity: float = 9.81
    joints: tuple = ()
    body_pairs: tuple | None = None
    ground_bodies: tuple | None = None

    def __post_init__(self) -> None:
        if self.body_pairs is not None:
            object.__setattr__(self, "body_pairs", _freeze(tuple(self.body_pairs)))
        if self.ground_bodies is not None:
            object.__setattr__(self, "ground_bodies",
                               World._resolve_ground_bodies(len(self.bodies), _freeze(tuple(self.ground_bodies))))
        if self.joints is None:
            object.__setattr__(self, "joints", ())
        if not isinstance(self.joints, (tuple, list)):
            raise ValueError(f"WorldSpec.joints must be a tuple of joint tuples, got {type(self.joints)}")
        joints = _freeze(tuple(self.joints))
        object.__setattr__(self, "joints", joints)
        # Validate now (numpy only, no tracing) so bad joints fail before compilation.
        check_joints(tuple(_build_joint(k, j) for k, j in enumerate(joints)), len(self.bodies))

    @property
    def num_dofs(self) -> int:
        """Joint DOFs: the length of ``float32_step``'s ``actuation`` (static)."""
        return sum(_JOINT_KINDS[j[0]].NUM_DOFS for j in self.joints)

    def __call__(self) -> World:
        shapes = []
        for kind, size, mass in self.bodies:
            if kind == "box":
                shapes.append(Box(half_extents=tuple(size), mass=mass))
            elif kind == "sphere":
                shapes.append(Sphere(radius=size, mass=mass))
            elif kind == "capsule":
                radius, half_length = size
                shapes.append(Capsule(radius=radius, half_length=half_length, mass=mass))
            else:
                raise ValueError(f"WorldSpec: unknown body kind {kind!r}; use 'box', 'sphere' or 'capsule'")
        return World(bodies=tuple(shapes), ground=Plane(), friction=self.friction,
                     gravity=(0.0, 0.0, -self.gravity), dt=self.dt,
                     joints=tuple(_build_joint(k, j) for k, j in enumerate(self.joints)),
                     body_pairs=self.body_pairs, ground_bodies=self.ground_bodies)


_JOINT_KINDS = {"fixed": Fixed, "revolute": Revolute, "prismatic": Prismatic, "spherical": Spherical,
                "planar": Planar}


def _freeze(x: Any) -> Any:
    """Nested lists / tuples / numpy arrays as nested tuples (hashable)."""
    if isinstance(x, (list, tuple)):
        return tuple(_freeze(e) for e in x)
    if hasattr(x, "tolist") and not isinstance(x, (int, float)):
        return _freeze(x.tolist())
    return x


def _build_joint(k: int, entry: Any):
    """``WorldSpec.joints[k]`` as a joint object (fields by position after the kind)."""
    name = f"WorldSpec.joints[{k}]"
    if not isinstance(entry, tuple) or len(entry) < 3:
        raise ValueError(f"{name} must be a tuple (kind, parent, child, ...), got {entry!r}")
    kind, *fields = entry
    cls = _JOINT_KINDS.get(kind)
    if cls is None:
        raise ValueError(f"{name}: unknown joint kind {kind!r}; use one of {sorted(_JOINT_KINDS)}")
    allowed = len(dataclasses.fields(cls))
    if len(fields) > allowed:
        names = [f.name for f in dataclasses.fields(cls)]
        raise ValueError(f"{name}: a {kind} joint takes at most {allowed} fields {names}, got {len(fields)}")
    try:
        return cls(*fields)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


class StepOptions(NamedTuple):
    """Static solver settings for a task (hashable). ``warm_start``: seed each solve
    with ``Bodies.warm`` (when it is not ``None``); same solution to tolerance,
    fewer iterations under smooth forces (see ``contact.step``)."""

    kappa: float = 1e-4
    grad_kappa: float | None = None
    max_iter: int = 50
    warm_start: bool = False


def _cast(tree: Any, dtype) -> Any:
    return jax.tree.map(lambda x: jnp.asarray(x).astype(dtype), tree)


def _step64(world_fn, opts: StepOptions, bodies: Bodies, force, torque, actuation=None):
    """float64 step; must run with x64 on. Returns (Bodies f64, SolverInfo)."""
    world = world_fn()
    state = State(pos=bodies.pos, quat=bodies.quat, vel=bodies.vel, ang_vel=bodies.ang_vel, warm=bodies.warm)
    nxt = contact_step(world, state, force=force, torque=torque, actuation=actuation, kappa=opts.kappa,
                       grad_kappa=opts.grad_kappa, max_iter=opts.max_iter, warm_start=opts.warm_start)
    # Keep quaternions unit length despite the float32 round trip of the state.
    quat = nxt.quat / jnp.linalg.norm(nxt.quat, axis=-1, keepdims=True)
    warm = None if bodies.warm is None else nxt.warm
    return Bodies(nxt.pos, quat, nxt.vel, nxt.ang_vel, warm), nxt.solver


def _opaque(fn: Callable) -> Callable:
    """``fn`` behind a ``custom_vmap`` whose batching rule re-traces ``fn`` itself.

    vmap of a ``scan`` re-interprets the scan body's already-traced jaxpr, and
    re-binding float64 solver ops there with x64 off fails (``dot_general``
    canonicalises its float64 accumulation type to float32). Behind this
    wrapper, batching never sees the float64 ops: it calls the rule, which
    traces ``jax.vmap(fn)`` in Python (``fn`` opens its own x64 scope) and
    wraps the result the same way, so nested vmaps (seeds x envs) work too.
    """
    wrapped = custom_vmap(fn)

    @wrapped.def_vmap
    def rule(axis_size, in_batched, *args):
        args = jax.tree.map(
            lambda x, b: x if b else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x)), args, tuple(in_batched))
        out = _opaque(jax.vmap(fn))(*args)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def _primal_core(world_fn, opts, bodies, force, torque, actuation=None):
    with jax.enable_x64(True):
        act = None if actuation is None else _cast(actuation, f64)
        out, info = _step64(world_fn, opts, _cast(bodies, f64), _cast(force, f64), _cast(torque, f64), act)
        out = _cast(out, f32)
        info = Solve(iterations=info.iterations.astype(jnp.int32), residual=info.residual.astype(f32),
                     complementarity=info.complementarity.astype(f32),
                     converged=info.converged.astype(bool))
    return out, info


def _bwd_core(world_fn, opts, bodies, force, torque, ct_bodies, actuation=None):
    """Cotangents of (bodies, force, torque), and of actuation when it is given."""
    with jax.enable_x64(True):
        args = (_cast(bodies, f64), _cast(force, f64), _cast(torque, f64))
        if actuation is None:
            _, vjp = jax.vjp(lambda b, f, t: _step64(world_fn, opts, b, f, t)[0], *args)
        else:
            args = args + (_cast(actuation, f64),)
            _, vjp = jax.vjp(lambda b, f, t, a: _step64(world_fn, opts, b, f, t, a)[0], *args)
        grads = _cast(vjp(_cast(ct_bodies, f64)), f32)
    return grads


def _primal(world_fn, opts, bodies, force, torque, actuation=None):
    if actuation is None:  # no None through custom_vmap: it batches array arguments only
        return _opaque(partial(_primal_core, world_fn, opts))(bodies, force, torque)
    return _opaque(partial(_primal_core, world_fn, opts))(bodies, force, torque, actuation)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def float32_step(world_fn, opts: StepOptions, bodies: Bodies, force: jax.Array, torque: jax.Array,
                 actuation: jax.Array | None = None):
    """One solver step from float32 inputs to float32 outputs.

    Args:
      world_fn: a hashable zero-argument callable returning the ``World``, such as a
        :class:`WorldSpec` (called inside the float64 scope; static).
      opts: ``StepOptions`` (static).
      bodies: float32 ``Bodies``. force, torque: float32 [N, 3] world frame.
      actuation: float32 [J_dof] joint torques / forces in the world's joint DOF
        order (``WorldSpec.num_dofs``); ``None``: zeros.
    Returns:
      (next ``Bodies`` float32, ``Solve`` report). Differentiable in bodies,
      force, torque and actuation (implicit-function gradients of the relaxed problem).
    """
    return _primal(world_fn, opts, bodies, force, torque, actuation)


def _fwd(world_fn, opts, bodies, force, torque, actuation=None):
    return _primal(world_fn, opts, bodies, force, torque, actuation), (bodies, force, torque, actuation)


def _bwd(world_fn, opts, res, ct):
    bodies, force, torque, actuation = res
    if actuation is None:
        return _opaque(partial(_bwd_core, world_fn, opts))(bodies, force, torque, ct[0]) + (None,)
    return _opaque(partial(_bwd_core, world_fn, opts))(bodies, force, torque, ct[0], actuation)


float32_step.defvjp(_fwd, _bwd)


@functools.lru_cache(maxsize=None)
def warm_size(world_fn) -> int:
    """Length K of ``Bodies.warm`` for the world ``world_fn()`` builds (static; a Python int)."""
    with jax.enable_x64(True):
        world = world_fn()
        n = world.num_bodies
        zeros = jax.ShapeDtypeStruct((n, 3), f64)
        quat = jax.ShapeDtypeStruct((n, 4), f64)
        shape = jax.eval_shape(lambda p, q, v, w, f, t: solver.no_warm_start(solver.Problem(world, p, q, v, w, f, t)),
                               zeros, quat, zeros, zeros, zeros, zeros)
    return int(shape.shape[0])


def cold_warm(world_fn) -> jax.Array:
    """float32 zeros [K] for ``Bodies.warm``: the first step starts cold, later ones warm."""
    return jnp.zeros((warm_size(world_fn),), f32)


def resting_bodies(pos: jax.Array) -> Bodies:
    """float32 ``Bodies`` at ``pos [N, 3]``, identity orientation, at rest."""
    n = pos.shape[0]
    return Bodies(pos=pos.astype(f32), quat=jnp.tile(jnp.array([[1.0, 0.0, 0.0, 0.0]], f32), (n, 1)),
                  vel=jnp.zeros((n, 3), f32), ang_vel=jnp.zeros((n, 3), f32))
