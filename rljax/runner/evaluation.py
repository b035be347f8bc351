"""Deterministic evaluation of every run, in one compiled program (compiled once per run)."""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from rljax.distributed import to_host
from rljax.env import Env
from rljax.evaluate import evaluate
from rljax.runner.chunks import over_runs
from rljax.training import Agent


def evaluation_program(agent: Agent, env: Env, cfg: Any, runs: int, episodes: int
                       ) -> Callable[[Any, Any, jax.Array], np.ndarray]:
    """``(cfg, state, keys [runs]) -> [runs]``: the mean return over ``episodes`` deterministic
    episodes of each run's policy. Compiles on its first call; later calls reuse the program."""

    def one_run(c: Any, p: Any, k: jax.Array) -> jax.Array:
        return evaluate(env, agent.make_policy(env, c, p, deterministic=True), k, episodes).mean()

    program = jax.jit(over_runs(lambda c, xs: one_run(c, *xs), cfg, runs))

    def run(cfg: Any, state: Any, keys: jax.Array) -> np.ndarray:
        return np.asarray(to_host(program(cfg, (agent.policy_params(state), keys))))

    return run


def evaluate_runs(agent: Agent, env: Env, cfg: Any, state: Any, keys: jax.Array, episodes: int) -> np.ndarray:
    """Mean return over ``episodes`` deterministic episodes of each run's policy (``keys [runs]``): ``[runs]``."""
    return evaluation_program(agent, env, cfg, keys.shape[0], episodes)(cfg, state, keys)
