"""The timing harness every side-by-side benchmark shares.

A trainer is timed in chunks of equal work: ``chunk_seconds[0]`` includes
compilation (and, for ours, ``init``), the later ones are steady. Every
trainer, ours and the anchors, is summarised the same way:

- ``steps_per_s``: env steps per chunk / the median of the steady chunks;
- ``compile_s``: the first chunk's time minus that median.

Ours runs through the runner's chunk iterator (:mod:`rljax.runner.chunks`),
so the benchmark measures the program a user's run executes. An anchor
reports its own chunk times (brax's per-epoch walltimes, or repeated whole
calls of a trainer that compiles once). :func:`compare` repeats the pair over
rounds in alternating order (these machines are shared and noisy) and
reports medians and the median of the per-round ratios. Every benchmark
prints one JSON line with the same keys: ``benchmark``, ``settings``,
``ours``, ``anchor`` (its name in ``anchor_name``), ``ratio``, ``ratios``,
``rounds``, ``device``, ``jax``.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any, Callable

import jax
import numpy as np

from rljax.env import Env
from rljax.runner import chunk_sizes, init_runs, train_in_chunks
from rljax.runner.evaluation import evaluate_runs
from rljax.training import Agent


def summarize(chunk_seconds: list[float], steps_per_chunk: float, **extra: Any) -> dict[str, Any]:
    """Steady env steps/s and compile seconds from chunk times (at least two chunks)."""
    if len(chunk_seconds) < 2:
        raise ValueError(f"need at least two timed chunks (the first holds compilation), got {len(chunk_seconds)}")
    steady = statistics.median(chunk_seconds[1:])
    return {"steps_per_s": steps_per_chunk / steady, "compile_s": chunk_seconds[0] - steady,
            "chunk_s": [round(s, 4) for s in chunk_seconds], "steps_per_chunk": steps_per_chunk, **extra}


def time_ours(agent: Agent, env: Env, cfg: Any, chunks: int, seed: int = 0, eval_episodes: int = 16,
              eval_env: Env | None = None) -> dict[str, Any]:
    """One run of ``agent`` in ``chunks`` equal compiled chunks, timed; then its deterministic evaluation."""
    if cfg.num_updates % chunks:
        raise ValueError(f"{cfg.num_updates} updates do not split into {chunks} equal chunks")
    keys = jax.random.split(jax.random.key(seed), 1)
    t = time.perf_counter()
    state = init_runs(agent, env, cfg, keys)
    jax.block_until_ready(state)
    init_s = time.perf_counter() - t
    seconds, steps = [], []
    for chunk in train_in_chunks(agent, env, cfg, state, chunk_sizes(cfg.num_updates, chunks)):
        seconds.append(chunk.compile_seconds + chunk.seconds)
        steps.append(float(chunk.metrics["env_steps"][0, -1]))
        state = chunk.state
    seconds[0] += init_s
    returns = evaluate_runs(agent, eval_env or env, cfg, state, jax.random.split(jax.random.key(seed + 1), 1),
                            eval_episodes)
    return summarize(seconds, steps[-1] - steps[-2], init_s=init_s, eval_return=float(returns[0]))


def compare(ours: Callable[[], dict], anchor: Callable[[], dict], rounds: int) -> dict[str, Any]:
    """Run the pair ``rounds`` times, alternating which goes first; medians and the median ratio."""
    if rounds < 1:
        raise ValueError(f"rounds={rounds}: must be >= 1")
    ours_runs, anchor_runs, ratios = [], [], []
    for r in range(rounds):
        order = (("ours", ours), ("anchor", anchor)) if r % 2 == 0 else (("anchor", anchor), ("ours", ours))
        results = {name: fn() for name, fn in order}
        ours_runs.append(results["ours"])
        anchor_runs.append(results["anchor"])
        ratios.append(results["ours"]["steps_per_s"] / results["anchor"]["steps_per_s"])

    def medians(runs: list[dict]) -> dict[str, Any]:
        keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return {**{k: statistics.median(r[k] for r in runs) for k in keys}, "runs": runs}

    return {"ours": medians(ours_runs), "anchor": medians(anchor_runs), "ratio": statistics.median(ratios),
            "ratios": ratios, "rounds": rounds}


def emit(benchmark: str, anchor_name: str, settings: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Print (and return) the benchmark's one JSON line."""
    device = jax.devices()[0]
    line = {"benchmark": benchmark, "anchor_name": anchor_name, "settings": settings, **result,
            "device": getattr(device, "device_kind", device.platform), "jax": jax.__version__}
    print(json.dumps(line, default=lambda x: np.asarray(x).tolist()))
    return line
