"""Public stepping functions: ``step`` (one time step) and ``rollout`` (``lax.scan``)."""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from rljax.contact import gradients, joints
from rljax.contact.dynamics import next_pose
from rljax.contact.shapes import concrete
from rljax.contact.solver import Options, Problem
from rljax.contact.world import SolverInfo, State, World, empty_info, require_x64


def _check_positive_scalar(name: str, x: Any) -> None:
    v = concrete(x)
    if v is not None and (v.shape != () or not np.isfinite(v) or v <= 0):
        raise ValueError(f"{name} must be a finite scalar > 0, got {v}")


def _vec(name: str, x: Any, n: int) -> Array:
    if x is None:
        return jnp.zeros((n, 3), jnp.float64)
    a = jnp.asarray(x, jnp.float64)
    if a.shape != (n, 3):
        raise ValueError(f"{name} must have shape ({n}, 3), got {a.shape}")
    return a


def step(
    world: World,
    state: State,
    force: Optional[Array] = None,
    torque: Optional[Array] = None,
    actuation: Optional[Array] = None,
    *,
    kappa: Any = 1e-6,
    grad_kappa: Any = None,
    max_iter: int = 50,
    tol: float = 1e-10,
    comp_rtol: float = 1e-3,
    debug: bool = False,
) -> State:
    """Advance ``state`` by ``world.dt``; differentiable in state, forces and world numbers.

    Args:
      world: the ``World``.
      state: current ``State`` (pos/vel/ang_vel [N, 3], quat [N, 4]).
      force: [N, 3] world-frame force on each centre of mass, held over the step.
      torque: [N, 3] world-frame torque on each body.
      actuation: [J_dof] joint torques / forces in ``world.joints`` DOF order
        (``joints.num_dofs``; ``None`` = zeros), held over the step and applied
        equal and opposite to each joint's two bodies.
      kappa: central-path target ``gamma s = kappa`` (> 0): small is hard contact, large
        is smooth. A resting body hovers at gap ~ kappa / (m g dt).
      grad_kappa: if given, the trajectory solves at ``kappa`` but gradients are
        taken at the relaxed point ``grad_kappa`` (qpax-style); may differ from kappa.
      max_iter: interior-point iteration cap (static).
      tol: inf-norm tolerance of the equality rows (static).
      comp_rtol: tolerance on |complementarity - kappa| relative to kappa (static).
      debug: print each interior-point iteration (``jax.debug.print``; static).

    Returns:
      The next ``State``; ``state.solver`` reports iterations, residual,
      complementarity violation and whether the solve converged.
    """
    require_x64()
    if not isinstance(world, World):
        raise ValueError(f"world must be a contact.World, got {type(world)}")
    n = world.num_bodies
    _check_positive_scalar("kappa", kappa)
    if grad_kappa is not None:
        _check_positive_scalar("grad_kappa", grad_kappa)
    if not (isinstance(max_iter, int) and max_iter > 0):
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    for name, v in (("tol", tol), ("comp_rtol", comp_rtol)):
        if not (isinstance(v, (int, float)) and v > 0):
            raise ValueError(f"{name} must be a positive Python float, got {v!r}")
    for name, width in (("pos", 3), ("quat", 4), ("vel", 3), ("ang_vel", 3)):
        shape = jnp.shape(getattr(state, name))
        if shape != (n, width):
            raise ValueError(f"state.{name} must have shape ({n}, {width}), got {shape}")
    n_dof = joints.num_dofs(world)
    if actuation is None:
        act = jnp.zeros((n_dof,), jnp.float64)
    else:
        act = jnp.asarray(actuation, jnp.float64)
        if act.shape != (n_dof,):
            raise ValueError(f"actuation must have shape ({n_dof},) (one entry per joint DOF), got {act.shape}")
    opts = Options(max_iter=max_iter, tol=float(tol), comp_rtol=float(comp_rtol),
                   relaxed_grad=grad_kappa is not None, debug=bool(debug))
    problem = Problem(
        world=world,
        pos=jnp.asarray(state.pos, jnp.float64),
        quat=jnp.asarray(state.quat, jnp.float64),
        vel=jnp.asarray(state.vel, jnp.float64),
        ang_vel=jnp.asarray(state.ang_vel, jnp.float64),
        force=_vec("force", force, n),
        torque=_vec("torque", torque, n),
        actuation=act if world.joints else None,
    )
    kappa = jnp.asarray(kappa, jnp.float64)
    grad_kappa = kappa if grad_kappa is None else jnp.asarray(grad_kappa, jnp.float64)
    w, (it, eq, comp, ok) = gradients.solve(opts, problem, kappa, grad_kappa)
    y = w[: 6 * n].reshape(n, 6)
    pos, quat = next_pose(problem.pos, problem.quat, y, jnp.asarray(world.dt))
    info = SolverInfo(iterations=it, residual=eq, complementarity=comp, converged=ok)
    return State(pos=pos, quat=quat, vel=y[:, :3], ang_vel=y[:, 3:], solver=info)


def rollout(
    world: World,
    state: State,
    forces: Optional[Array] = None,
    torques: Optional[Array] = None,
    actuations: Optional[Array] = None,
    *,
    steps: Optional[int] = None,
    **step_kwargs: Any,
) -> State:
    """Scan ``step`` over time. forces/torques: [T, N, 3]; actuations: [T, J_dof]
    (``None`` = zeros; with all three ``None``, ``steps`` gives T). Returns the
    states after each step, every leaf with a leading [T] axis. ``step_kwargs``
    are passed to ``step`` (kappa, ...).
    """
    require_x64()
    n = world.num_bodies
    n_dof = joints.num_dofs(world)
    given = [a for a in (forces, torques, actuations) if a is not None]
    if not given:
        if steps is None:
            raise ValueError("rollout needs forces, torques, actuations or steps")
        horizon = int(steps)
    else:
        horizon = jnp.shape(given[0])[0]
    forces = jnp.zeros((horizon, n, 3)) if forces is None else jnp.asarray(forces, jnp.float64)
    torques = jnp.zeros((horizon, n, 3)) if torques is None else jnp.asarray(torques, jnp.float64)
    acts = jnp.zeros((horizon, n_dof)) if actuations is None else jnp.asarray(actuations, jnp.float64)
    for name, a in (("forces", forces), ("torques", torques)):
        if a.shape != (horizon, n, 3):
            raise ValueError(f"{name} must have shape ({horizon}, {n}, 3), got {a.shape}")
    if acts.shape != (horizon, n_dof):
        raise ValueError(f"actuations must have shape ({horizon}, {n_dof}), got {acts.shape}")

    def body(s, fta):
        s = step(world, s, fta[0], fta[1], fta[2], **step_kwargs)
        return s, s

    # The carry must have the structure step returns, whatever the caller built.
    info = empty_info() if state.solver is None else state.solver
    state = State(state.pos, state.quat, state.vel, state.ang_vel, info)
    _, states = jax.lax.scan(body, state, (forces, torques, acts))
    return states
