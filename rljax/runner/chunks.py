"""Train many runs (seeds x swept values) as one program, in compiled chunks.

A run's state has a leading axis over runs; the Config is an argument of the
compiled programs (its float leaves traced, its structure static), either
shared by every run or stacked with one entry per run (a sweep). Between
chunks the caller logs, checkpoints and shows progress.

    state = init_runs(agents.ppo, env, cfg, keys)
    for chunk in train_in_chunks(agents.ppo, env, cfg, state, chunk_sizes(cfg.num_updates, 20)):
        chunk.metrics["episode_return"]     # [runs, chunk.size]
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any, Callable, ContextManager, Iterator, Sequence

import jax
import numpy as np

from rljax.distributed import to_host
from rljax.env import Env
from rljax.parallel import config_axis
from rljax.runner.stop import wait_until_ready
from rljax.training import Agent, run_updates


@dataclasses.dataclass
class Chunk:
    """One compiled chunk of updates, done.

    ``state``: the runs' training state after it. ``metrics``: host arrays
    ``[runs, size]``. ``first_update``: the number of its first update
    (1-based, as logged). ``seconds``: its run time; ``compile_seconds``: the
    time to compile its program (0 when an earlier chunk's was reused).
    """

    state: Any
    metrics: dict[str, np.ndarray]
    first_update: int
    size: int
    seconds: float
    compile_seconds: float


def chunk_sizes(num_updates: int, chunks: int) -> list[int]:
    """Split ``num_updates`` into about ``chunks`` chunks: equal ones where a divisor of
    ``num_updates`` is near the asked size (one compile); else equal ones plus a remainder (two)."""
    if num_updates <= 0:
        return []
    target = max(1, num_updates // max(1, chunks))
    divisors = [d for d in range(1, target + 1) if num_updates % d == 0]
    size = divisors[-1] if divisors[-1] * 4 >= target else target
    sizes = [size] * (num_updates // size)
    if num_updates % size:
        sizes.append(num_updates % size)
    return sizes


def remaining_chunk_sizes(num_updates: int, chunks: int, done: int) -> list[int]:
    """The chunks left after ``done`` updates on the grid of ``chunk_sizes(num_updates, chunks)``, so a
    resumed run stops, logs, checkpoints and evaluates where the run that never stopped would
    (a ``done`` off the grid first runs to its next point)."""
    bounds = np.cumsum(chunk_sizes(num_updates, chunks)).tolist()
    ahead = [b for b in bounds if b > done]
    return [b - a for a, b in zip([done, *ahead[:-1]], ahead)]


def over_runs(fn: Callable[[Any, Any], Any], cfg: Any, runs: int) -> Callable[[Any, Any], Any]:
    """``fn(cfg, x)`` of one run, mapped over the leading run axis of ``x`` (and of ``cfg`` when stacked).

    A single run is computed unbatched and given its run axis back: XLA:CPU
    runs ops with a batch axis of size 1 measurably slower (~10% for PPO).
    """
    axis = config_axis(cfg, runs)
    if runs > 1:
        return jax.vmap(fn, in_axes=(axis, 0))

    def single(c: Any, x: Any) -> Any:
        c = jax.tree.map(lambda v: v[0], c) if axis == 0 else c
        return jax.tree.map(lambda v: jax.numpy.asarray(v)[None], fn(c, jax.tree.map(lambda v: v[0], x)))

    return single


def init_runs(agent: Agent, env: Env, cfg: Any, keys: jax.Array) -> Any:
    """``agent.init`` for every run (``keys [runs]``) in one compiled program."""
    return jax.jit(over_runs(lambda c, k: agent.init(env, c, k), cfg, keys.shape[0]))(cfg, keys)


def chunk_program(agent: Agent, env: Env, cfg: Any, runs: int, size: int) -> Callable[[Any, Any], Any]:
    """``(cfg, state) -> (state, metrics)``: ``size`` updates of every run, jitted (not yet compiled)."""
    return jax.jit(over_runs(lambda c, s: run_updates(lambda x: agent.update(env, c, x), s, size), cfg, runs))


def train_in_chunks(agent: Agent, env: Env, cfg: Any, state: Any, sizes: Sequence[int], *, first_update: int = 1,
                    compiling: Callable[[int], ContextManager] = lambda size: contextlib.nullcontext(),
                    program: Callable[[int], Any] | None = None) -> Iterator[Chunk]:
    """Run ``sizes`` chunks of updates from ``state``, yielding each when done.

    ``first_update``: the number of the next update (``1`` for a new run, more
    after a resume). ``compiling(size)`` wraps each compilation (a progress
    spinner, say). Metrics come back to the host after each chunk. ``program(size)``: the jitted
    chunk program to compile instead of :func:`chunk_program` (``rljax.parallel.train_program`` on a mesh).
    """
    runs = jax.tree.leaves(state)[0].shape[0]
    compiled: dict[int, Any] = {}
    for size in sizes:
        compile_seconds = 0.0
        if size not in compiled:
            with compiling(size):
                t = time.perf_counter()
                make = program or (lambda n: chunk_program(agent, env, cfg, runs, n))
                compiled[size] = make(size).lower(cfg, state).compile()
                compile_seconds = time.perf_counter() - t
        t = time.perf_counter()
        state, metrics = compiled[size](cfg, state)
        wait_until_ready((state, metrics))
        metrics = to_host(metrics)  # every process gets every run's metrics
        seconds = time.perf_counter() - t
        yield Chunk(state=state, metrics=metrics, first_update=first_update, size=size, seconds=seconds,
                    compile_seconds=compile_seconds)
        first_update += size
