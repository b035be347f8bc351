"""Shared machinery of the contact tasks: float32 State in, float32 State out.

A task subclasses ``ContactEnv`` and defines ``_world()`` (a hashable
``WorldSpec``), ``_reset_state(key)``, ``_forces(bodies, action)``,
``_obs``, ``_reward`` and ``_terminated``; tasks with joints also define
``_actuation(bodies, action)`` (float32 [J_dof], default ``None``: none). ``step`` runs one float64 solver
step through :func:`rljax.contact.float32_step`, so the env can be
called from float32 programs (x64 off) under jit, vmap and grad, and only
float32 reaches the agent. ``state.metrics`` carries the solver's report
(``solver_iterations``, ``solver_converged``, ``solver_residual``).
With ``warm_start=True`` (``ContactEnv.__init__``; or replace
``solver_options``), ``pipeline_state["bodies"].warm`` carries the previous
solve's solution so each step warm-starts the next: same physics, fewer
iterations under smooth actions (contact/push with a fixed action: mean 2.4
vs 8.4) but more under white-noise actions (push: 7.8 vs 6.1), which flip
the slip every step, so it is off by default.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from rljax.contact import StepOptions, WorldSpec, float32_step
from rljax.contact.bridge import cold_warm
from rljax.env import Env, State


def check_positive(env: str, **values: Any) -> None:
    for name, v in values.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"env {env!r}: {name}={v!r} must be a finite number > 0")


class ContactEnv(Env):
    """brax ``Env`` over the contact solver; see the module docstring."""

    discrete_actions = False
    fresh_reset = True
    name = "contact"

    def __init__(self, kappa: float, grad_kappa: float | None, max_iter: int, warm_start: bool = False):
        check_positive(self.name, kappa=kappa)
        if grad_kappa is not None:
            check_positive(self.name, grad_kappa=grad_kappa)
        if not (isinstance(max_iter, int) and max_iter > 0):
            raise ValueError(f"env {self.name!r}: max_iter={max_iter!r} must be a positive int")
        if not isinstance(warm_start, bool):
            raise ValueError(f"env {self.name!r}: warm_start={warm_start!r} must be a bool")
        self.solver_options = StepOptions(kappa=float(kappa),
                                          grad_kappa=None if grad_kappa is None else float(grad_kappa),
                                          max_iter=max_iter, warm_start=warm_start)

    # -- to define in tasks ---------------------------------------------------
    world: WorldSpec

    def _reset_state(self, key: jax.Array) -> dict[str, Any]:
        raise NotImplementedError

    def _forces(self, pipeline: dict[str, Any], action: jax.Array) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def _obs(self, pipeline: dict[str, Any]) -> jax.Array:
        raise NotImplementedError

    def _reward(self, before: dict, after: dict, action: jax.Array) -> jax.Array:
        raise NotImplementedError

    def _terminated(self, pipeline: dict[str, Any]) -> jax.Array:
        return jnp.zeros((), jnp.float32)

    def _actuation(self, pipeline: dict[str, Any], action: jax.Array) -> jax.Array | None:
        return None

    # -- protocol ---------------------------------------------------------------
    @property
    def backend(self) -> str:
        return "rljax.contact"

    @property
    def dt(self) -> float:
        return self.world.dt

    def reset(self, rng: jax.Array) -> State:
        pipeline = self._reset_state(rng)
        if self.solver_options.warm_start and pipeline["bodies"].warm is None:
            # Room for the solver's previous solution: each step warm-starts the next
            # (zeros: the first step after a reset starts cold).
            pipeline = dict(pipeline, bodies=pipeline["bodies"]._replace(warm=cold_warm(self.world)))
        zero = jnp.zeros((), jnp.float32)
        metrics = {"solver_iterations": zero, "solver_converged": jnp.ones((), jnp.float32),
                   "solver_residual": zero}
        return State(pipeline_state=pipeline, obs=self._obs(pipeline), reward=zero, done=zero,
                     metrics=metrics, info={})

    def step(self, state: State, action: jax.Array) -> State:
        action = jnp.clip(jnp.asarray(action, jnp.float32).reshape(self.action_size), -1.0, 1.0)
        pipeline = state.pipeline_state
        force, torque = self._forces(pipeline, action)
        bodies, info = float32_step(self.world, self.solver_options, pipeline["bodies"], force, torque,
                                    self._actuation(pipeline, action))
        after = dict(pipeline, bodies=bodies)
        reward = self._reward(pipeline, after, action).astype(jnp.float32)
        metrics = dict(state.metrics)
        metrics.update(solver_iterations=info.iterations.astype(jnp.float32),
                       solver_converged=info.converged.astype(jnp.float32),
                       solver_residual=info.residual)
        return state.replace(pipeline_state=after, obs=self._obs(after), reward=reward,
                             done=self._terminated(after).astype(jnp.float32), metrics=metrics)

