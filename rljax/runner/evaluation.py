"""The final deterministic evaluation of every run, in one compiled program."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from rljax.env import Env
from rljax.evaluate import evaluate
from rljax.runner.chunks import over_runs
from rljax.training import Agent


def evaluate_runs(agent: Agent, env: Env, cfg: Any, state: Any, keys: jax.Array, episodes: int) -> np.ndarray:
    """Mean return over ``episodes`` deterministic episodes of each run's policy (``keys [runs]``): ``[runs]``."""
    params = agent.policy_params(state)
    runs = keys.shape[0]

    def one_run(c: Any, p: Any, k: jax.Array) -> jax.Array:
        return evaluate(env, agent.make_policy(env, c, p, deterministic=True), k, episodes).mean()

    program = jax.jit(over_runs(lambda c, xs: one_run(c, *xs), cfg, runs))
    return np.asarray(program(cfg, (params, keys)))
