"""Run an agent for several seeds (and swept values) as one program, in compiled chunks.

Between chunks: progress (env steps, return, steps/s), ``metrics.csv`` and
TensorBoard (:mod:`rljax.runner.sink`), a NaN/Inf check, and an orbax
checkpoint of the full training state (:mod:`rljax.checkpoint`); at the end,
a deterministic evaluation (:mod:`rljax.runner.evaluation`), ``curves.png``
and ``summary.json``. Any module with the :class:`rljax.training.Agent`
contract works.

    summary = run(agents.ppo, env, cfg, RunOptions(seeds=4, name="ppo"))
    summary = run(agents.ppo, env, cfg, RunOptions(), sweep={"learning_rate": [1e-4, 3e-4]})
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import time
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from rich.console import Console

from rljax import checkpoint
from rljax.env import Env
from rljax.runner import sweep as sweeps
from rljax.runner.chunks import chunk_sizes, init_runs, train_in_chunks
from rljax.runner.evaluation import evaluate_runs
from rljax.runner.sink import MetricsSink
from rljax.training import Agent, check_agent, check_finite

# Wide enough that progress lines don't wrap when output goes to a file.
console = Console(width=None if os.isatty(1) else 140)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How to run (not what to learn)."""

    seeds: int = 4
    """Seeds trained together as one vmapped program (per swept value)."""
    seed: int = 0
    """Base seed; seed i uses split(key(seed), seeds)[i] (the same seeds for every swept value)."""
    chunks: int = 20
    """Compiled chunks the run is split into (progress, logs and checkpoints between them)."""
    eval_episodes: int = 16
    """Deterministic evaluation episodes per seed at the end."""
    run_root: str = "runs"
    """Folder under which run folders are made (<run-root>/<name>/<env>-<time>)."""
    name: str = "run"
    """The run's name (its folder under run-root)."""
    checkpoints: bool = True
    """Save a checkpoint of the full training state after every chunk."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept (off-policy ones include the replay buffer)."""
    resume: str | None = None
    """A run folder (or checkpoint path) to resume from."""


def _run_dir(options: RunOptions, env_name: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(options.run_root, options.name, f"{env_name.replace('/', '_')}-{stamp}")
    os.makedirs(path, exist_ok=False)
    return path


def _resume_path(resume: str) -> str:
    path = resume
    if os.path.isdir(os.path.join(path, "checkpoints")):
        path = checkpoint.latest(os.path.join(path, "checkpoints"))
    if path is None or not os.path.isdir(path):
        raise ValueError(f"resume={resume!r}: no checkpoint found there")
    return path


def _steps_before(rows: list[dict[str, float]], new: list[dict[str, float]]) -> float:
    """Env steps per run before a chunk's first update (exact after an earlier chunk; else
    extrapolated from its first two updates, so a warm-up prefill is not counted as training)."""
    if len(rows) > len(new):
        return rows[-len(new) - 1]["env_steps"]
    if len(new) > 1:
        return 2 * new[0]["env_steps"] - new[1]["env_steps"]
    return 0.0


def run(agent: Agent, env: Env, cfg: Any, options: RunOptions, env_name: str = "env",
        sweep: Mapping[str, Sequence[float]] | None = None) -> dict[str, Any]:
    """Train ``options.seeds`` seeds of ``agent`` on ``env`` (for every combination of ``sweep``
    values) as one program; returns a summary dict (also written to ``summary.json``)."""
    check_agent(agent)
    if options.seeds <= 0:
        raise ValueError(f"seeds={options.seeds}: must be > 0")
    if options.chunks <= 0:
        raise ValueError(f"chunks={options.chunks}: must be > 0")
    sweep = dict(sweep or {})
    configs, groups = sweeps.expand(cfg, sweep)
    for c in configs:
        type(c).check_args(env, c)
    runs = len(configs) * options.seeds
    run_cfg = type(cfg).stack([c for c in configs for _ in range(options.seeds)]) if sweep else cfg
    resume_path = _resume_path(options.resume) if options.resume else None

    run_dir = _run_dir(options, env_name)
    agent_name = agent.__name__.split(".")[-1]
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({"agent": agent.__name__, "env": env_name, "config": cfg.to_dict(), "sweep": sweep,
                   "options": dataclasses.asdict(options)}, f, indent=2)
    what = f"{options.seeds} seeds" + (f" x {len(groups)} values of {', '.join(sweep)}" if sweep else "")
    console.print(f"[bold]{agent_name}[/bold] on [bold]{env_name}[/bold], {what} as one program -> {run_dir}")

    def per_run(key: jax.Array) -> jax.Array:  # seed s of every swept value gets the same key
        return jax.numpy.tile(jax.random.split(key, options.seeds), len(configs))

    keys = per_run(jax.random.key(options.seed))
    with console.status("compiling and running init ..."):
        t = time.perf_counter()
        state = init_runs(agent, env, run_cfg, keys)
        jax.block_until_ready(state)
    console.print(f"init: {time.perf_counter() - t:.1f}s")

    done_updates = 0
    if resume_path:
        state = checkpoint.restore(resume_path, state)
        done_updates = int(np.asarray(state.update_index).reshape(-1)[0])
        console.print(f"resumed from {resume_path} at update {done_updates}")

    remaining = cfg.num_updates - done_updates
    sizes = chunk_sizes(remaining, max(1, round(options.chunks * remaining / cfg.num_updates)))
    sink = MetricsSink(run_dir, groups, options.seeds)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    train_seconds, compile_seconds, programs = 0.0, 0.0, 0
    try:
        chunks = train_in_chunks(agent, env, run_cfg, state, sizes, first_update=done_updates + 1,
                                 compiling=lambda n: console.status(f"compiling a chunk of {n} updates ..."))
        for chunk in chunks:
            if chunk.compile_seconds:
                programs += 1
                compile_seconds += chunk.compile_seconds
                console.print(f"compiled a chunk of {chunk.size} updates in {chunk.compile_seconds:.1f}s")
            state = chunk.state
            train_seconds += chunk.seconds
            check_finite(chunk.metrics, first_update=chunk.first_update)
            new = sink.add(chunk)
            done_updates = chunk.first_update + chunk.size - 1
            rate = runs * (new[-1]["env_steps"] - _steps_before(sink.rows, new)) / chunk.seconds
            returns = "  ".join(f"{g}: {new[-1][f'episode_return[{g}]']:.2f}" for g in groups) if sweep else \
                f"{new[-1]['episode_return']:9.2f}"
            console.print(f"update {done_updates:5d}/{cfg.num_updates}  env steps {new[-1]['env_steps']:>10,.0f}  "
                          f"return {returns}  steps/s {rate:>10,.0f} ({runs} runs)")
            if options.checkpoints:
                checkpoint.save(ckpt_dir, done_updates, state)
                checkpoint.prune(ckpt_dir, keep=options.keep_checkpoints)
    finally:
        sink.close()

    returns = evaluate_runs(agent, env, run_cfg, state, per_run(jax.random.key(options.seed + 1)),
                            options.eval_episodes)
    steps = sink.rows[-1]["env_steps"] if sink.rows else 0.0
    summary: dict[str, Any] = {
        "agent": agent.__name__, "env": env_name, "seeds": options.seeds,
        "eval_return_mean": float(returns.mean()), "eval_return_per_seed": returns.tolist(),
        "env_steps_per_seed": steps, "train_seconds": train_seconds, "compile_seconds": compile_seconds,
        "chunk_programs_compiled": programs,
        "steps_per_s": runs * steps / max(train_seconds, 1e-9), "run_dir": run_dir}
    if sweep:
        summary["sweep"] = sweep
        summary["eval_return_per_value"] = {
            g: float(returns[i * options.seeds:(i + 1) * options.seeds].mean()) for i, g in enumerate(groups)}
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    curves = os.path.join(run_dir, "curves.png")
    sink.plot(curves, f"{agent_name} on {env_name}")
    per_value = (" " + json.dumps(summary["eval_return_per_value"])) if sweep else ""
    console.print(f"[bold green]final deterministic evaluation[/bold green]: mean return "
                  f"{summary['eval_return_mean']:.1f} (per run {[round(float(x), 1) for x in returns]}){per_value}; "
                  f"curves: {curves}")
    return summary
