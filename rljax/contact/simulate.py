"""Public stepping functions: ``step`` (one time step) and ``rollout`` (``lax.scan``)."""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from rljax.contact import gradients, joints, solver
from rljax.contact.dynamics import next_pose
from rljax.contact.shapes import concrete
from rljax.contact.solver import Options, Problem
from rljax.contact.world import SolverInfo, State, World, empty_info, require_x64


# A warm start not converged after this many iterations restarts from the cold point:
# a good one converges in 1-8 (measured on the contact scenes); a bad one (the
# force or the contact set changed under it) can stall near the cone boundary.
WARM_MAX_ITER = 10


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
    warm_start: bool = False,
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
      max_iter: interior-point iteration cap (static). A warm start that stalls is
        restarted cold after ``WARM_MAX_ITER`` iterations with a fresh cap.
      tol: inf-norm tolerance of the equality rows (static).
      comp_rtol: tolerance on |complementarity - kappa| relative to kappa (static).
      warm_start: start the interior point from ``state.warm`` (the previous step's
        solution, re-centred by ``solver.warm_point``) instead of the cold
        ``solver.initial_point`` (static). Same solution to tolerance, fewer
        iterations on smooth motion; ``state.warm = None`` or zeros also start
        cold. Off by default: the trajectory then differs from the cold one at
        the tolerance level, and one step of the Dojo box toss (dt 0.05) that
        takes 36 iterations cold stalls from a state 1e-10 away.
      debug: print each interior-point iteration (``jax.debug.print``; static).

    Returns:
      The next ``State``; ``state.solver`` reports iterations, residual,
      complementarity violation and whether the solve converged; ``state.warm``
      holds this step's solution ``w`` (gradient stopped) for the next one.
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
    if not isinstance(warm_start, bool):
        raise ValueError(f"warm_start must be a bool, got {warm_start!r}")
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
                   relaxed_grad=grad_kappa is not None, debug=bool(debug),
                   warm_max_iter=WARM_MAX_ITER if (warm_start and state.warm is not None) else 0)
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
    # The start point never carries gradient: the IFT differentiates the solution.
    stopped = jax.lax.stop_gradient(problem)
    if warm_start and state.warm is not None:
        w_size = jax.eval_shape(solver.initial_point, problem).shape
        if jnp.shape(state.warm) != w_size:
            raise ValueError(f"state.warm must have shape {w_size} (this world's unknowns), "
                             f"got {jnp.shape(state.warm)}")
        w_prev = jax.lax.stop_gradient(jnp.asarray(state.warm, jnp.float64))
        w0, warm = solver.warm_point(stopped, w_prev, jax.lax.stop_gradient(kappa))
    else:
        w0, warm = solver.initial_point(stopped), jnp.zeros((), bool)
    w, (it, eq, comp, ok) = gradients.solve(opts, problem, kappa, grad_kappa, w0, warm)
    y, _ = solver.split(problem, w)
    pos, quat = next_pose(problem.pos, problem.quat, y, jnp.asarray(world.dt))
    info = SolverInfo(iterations=it, residual=eq, complementarity=comp, converged=ok)
    return State(pos=pos, quat=quat, vel=y[:, :3], ang_vel=y[:, 3:], solver=info,
                 warm=jax.lax.stop_gradient(w))


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
    are passed to ``step`` (kappa, ``warm_start``, ...); with ``warm_start=True``
    each step is warm-started from the previous one's solution.
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
    warm = state.warm
    if warm is None:
        problem = Problem(world, *(jnp.asarray(a, jnp.float64) for a in (state.pos, state.quat, state.vel,
                                                                          state.ang_vel)),
                          force=jnp.zeros((n, 3)), torque=jnp.zeros((n, 3)),
                          actuation=jnp.zeros((n_dof,)) if world.joints else None)
        warm = solver.no_warm_start(problem)
    state = State(state.pos, state.quat, state.vel, state.ang_vel, info, warm)
    _, states = jax.lax.scan(body, state, (forces, torques, acts))
    return states
