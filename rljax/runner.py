"""Run an agent for several seeds as one program, in compiled chunks.

Between chunks the runner shows progress (env steps, return, steps/s),
appends to ``metrics.csv`` and TensorBoard, checks for NaN/Inf, and saves an
orbax checkpoint of the full training state so a run can resume. Any agent
module with the contract in DESIGN.md works (``Config.num_updates``,
``init``, ``update``, ``make_policy``, ``policy_params``).

    summary = run(agents.ppo, env, cfg, RunOptions(seeds=4, name="ppo"))
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
import sys
import time
import warnings
from types import ModuleType
from typing import Annotated, Any, Callable, Optional

import jax
import numpy as np
from brax.envs.base import Env
from rich.console import Console

from rljax import checkpoint
from rljax.evaluate import evaluate
from rljax.training import check_finite, run_updates

# Wide enough that progress lines don't wrap when output goes to a file.
console = Console(width=None if os.isatty(1) else 140)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How to run (not what to learn)."""

    seeds: int = 4
    """Seeds trained together as one vmapped program."""
    seed: int = 0
    """Base seed; seed i uses split(key(seed), seeds)[i]."""
    chunks: int = 20
    """Compiled chunks the run is split into (progress, logs and checkpoints between them)."""
    eval_episodes: int = 16
    """Deterministic evaluation episodes per seed at the end."""
    run_root: str = "runs"
    name: str = "run"
    checkpoints: bool = True
    keep_checkpoints: int = 2
    """Newest checkpoints kept (off-policy ones include the replay buffer)."""
    resume: str | None = None
    """A run folder (or checkpoint path) to resume from."""


def env_from_argv(argv: list[str], default: str) -> str:
    """The ``--env`` value of a command line, read before full parsing (an
    experiment's default Config depends on the env)."""
    for i, arg in enumerate(argv):
        if arg == "--env" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--env="):
            return arg.split("=", 1)[1]
    return default


def _chunk_sizes(num_updates: int, chunks: int) -> list[int]:
    """Equal chunks where a divisor of ``num_updates`` is near the asked size
    (one compile); otherwise equal chunks plus a remainder (two compiles)."""
    target = max(1, num_updates // max(1, chunks))
    divisors = [d for d in range(1, target + 1) if num_updates % d == 0]
    size = divisors[-1] if divisors[-1] * 4 >= target else target
    sizes = [size] * (num_updates // size)
    if num_updates % size:
        sizes.append(num_updates % size)
    return sizes


def _run_dir(options: RunOptions, env_name: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(options.run_root, options.name, f"{env_name.replace('/', '_')}-{stamp}")
    os.makedirs(path, exist_ok=False)
    return path


def plot_curves(rows: list[dict[str, float]], seeds: int, path: str, title: str) -> None:
    """Episode return (mean and min-max over seeds) against env steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([r["env_steps"] for r in rows])
    per_seed = np.array([[r[f"episode_return/seed{i}"] for i in range(seeds)] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 4))
    with warnings.catch_warnings():  # early updates can have no finished episode yet
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(per_seed, axis=1)
        ax.fill_between(steps, np.nanmin(per_seed, axis=1), np.nanmax(per_seed, axis=1), alpha=0.25,
                        label=f"min-max over {seeds} seeds")
    ax.plot(steps, mean, label="mean")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(agent: ModuleType, env: Env, cfg: Any, options: RunOptions, env_name: str = "env") -> dict[str, Any]:
    """Train ``options.seeds`` seeds of ``agent`` on ``env``; returns a summary dict."""
    from tensorboardX import SummaryWriter

    if options.seeds <= 0:
        raise ValueError(f"seeds={options.seeds}: must be > 0")
    run_dir = _run_dir(options, env_name)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({"agent": agent.__name__, "env": env_name, "config": cfg.to_dict(),
                   "options": dataclasses.asdict(options)}, f, indent=2)
    console.print(f"[bold]{agent.__name__.split('.')[-1]}[/bold] on [bold]{env_name}[/bold], "
                  f"{options.seeds} seeds as one program -> {run_dir}")

    keys = jax.random.split(jax.random.key(options.seed), options.seeds)
    init = jax.jit(jax.vmap(lambda k: agent.init(env, cfg, k)))
    with console.status("compiling and running init ..."):
        t = time.perf_counter()
        state = init(keys)
        jax.block_until_ready(state)
    console.print(f"init: {time.perf_counter() - t:.1f}s")

    done_updates = 0
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    if options.resume:
        path = options.resume
        if os.path.isdir(os.path.join(path, "checkpoints")):
            path = checkpoint.latest(os.path.join(path, "checkpoints"))
        if path is None:
            raise ValueError(f"resume={options.resume!r}: no checkpoint found there")
        state = checkpoint.restore(path, state)
        done_updates = int(np.asarray(state.update_index).reshape(-1)[0])
        console.print(f"resumed from {path} at update {done_updates}")

    compiled: dict[int, Any] = {}
    rows: list[dict[str, float]] = []
    writer = SummaryWriter(run_dir)
    csv_path = os.path.join(run_dir, "metrics.csv")
    csv_file = None
    csv_writer = None
    remaining = cfg.num_updates - done_updates
    sizes = _chunk_sizes(remaining, max(1, round(options.chunks * remaining / cfg.num_updates))) if remaining else []
    train_time = 0.0
    try:
        for size in sizes:
            if size not in compiled:
                with console.status(f"compiling a chunk of {size} updates ..."):
                    t = time.perf_counter()
                    fn = jax.jit(jax.vmap(lambda s, n=size: run_updates(lambda x: agent.update(env, cfg, x), s, n)))
                    compiled[size] = fn.lower(state).compile()
                console.print(f"compiled a chunk of {size} updates in {time.perf_counter() - t:.1f}s")
            t = time.perf_counter()
            state, metrics = compiled[size](state)
            metrics = jax.device_get(metrics)
            elapsed = time.perf_counter() - t
            train_time += elapsed
            check_finite(metrics, first_update=done_updates)
            for i in range(size):
                row = {"update": done_updates + i + 1}
                for name, value in metrics.items():
                    with np.errstate(all="ignore"):
                        row[name] = float(np.nanmean(value[:, i])) if np.isfinite(value[:, i]).any() else float("nan")
                for s in range(options.seeds):
                    row[f"episode_return/seed{s}"] = float(metrics["episode_return"][s, i])
                rows.append(row)
                for name, value in row.items():
                    if name != "update" and np.isfinite(value):
                        writer.add_scalar(name, value, int(row["env_steps"]))
                if csv_writer is None:
                    csv_file = open(csv_path, "w", newline="")
                    csv_writer = csv.DictWriter(csv_file, fieldnames=list(row))
                    csv_writer.writeheader()
                csv_writer.writerow(row)
            csv_file.flush()
            done_updates += size
            steps_before = rows[-size - 1]["env_steps"] if len(rows) > size else 0.0
            rate = options.seeds * (rows[-1]["env_steps"] - steps_before) / elapsed
            console.print(f"update {done_updates:5d}/{cfg.num_updates}  env steps {rows[-1]['env_steps']:>10,.0f}  "
                          f"return {rows[-1]['episode_return']:9.2f}  steps/s {rate:>10,.0f} ({options.seeds} seeds)")
            if options.checkpoints:
                checkpoint.save(ckpt_dir, done_updates, state)
                checkpoint.prune(ckpt_dir, keep=options.keep_checkpoints)
    finally:
        writer.close()
        if csv_file is not None:
            csv_file.close()

    params = agent.policy_params(state)

    def evaluate_seed(p, k):
        return evaluate(env, agent.make_policy(env, cfg, p, deterministic=True), k, options.eval_episodes)

    returns = np.asarray(jax.jit(jax.vmap(evaluate_seed))(params, jax.random.split(jax.random.key(options.seed + 1),
                                                                                      options.seeds)))
    per_seed = returns.mean(axis=1)
    summary = {"agent": agent.__name__, "env": env_name, "seeds": options.seeds,
               "eval_return_mean": float(per_seed.mean()), "eval_return_per_seed": per_seed.tolist(),
               "env_steps_per_seed": rows[-1]["env_steps"] if rows else 0.0,
               "train_seconds": train_time,
               "steps_per_s": options.seeds * (rows[-1]["env_steps"] if rows else 0.0) / max(train_time, 1e-9),
               "run_dir": run_dir}
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if rows:
        plot_curves(rows, options.seeds, os.path.join(run_dir, "curves.png"),
                    f"{agent.__name__.split('.')[-1]} on {env_name}")
    console.print(f"[bold green]final deterministic evaluation[/bold green]: mean return "
                  f"{summary['eval_return_mean']:.1f} (per seed {np.round(per_seed, 1).tolist()}); "
                  f"curves: {os.path.join(run_dir, 'curves.png')}")
    return summary


def cli(agent: ModuleType, name: str, config_for_env: Callable[[str], Any], doc: str | None,
        default_env: str, argv: list[str] | None = None) -> dict[str, Any]:
    """An experiment script's whole command line: ``--env``, ``--backend``, every
    field of ``agent.Config`` (``--learning-rate``, ...) and of :class:`RunOptions`
    (``--seeds``, ``--resume``, ...); then :func:`run`. The Config defaults are
    ``config_for_env(env)`` (an env's tuned preset)."""
    import tyro

    import envs

    argv = sys.argv[1:] if argv is None else argv
    env_name = env_from_argv(argv, default_env)
    # Built per call: the Config type is the agent's own.
    Args = dataclasses.make_dataclass("Args", [
        ("config", agent.Config),
        ("env", Annotated[str, tyro.conf.arg(help="env name (see envs.names()); brax envs as brax/<name>")],
         dataclasses.field(default=default_env)),
        ("backend", Annotated[Optional[str], tyro.conf.arg(
            help="brax backend for brax/* envs: generalized, positional, spring or mjx")],
         dataclasses.field(default=None)),
        ("run", RunOptions, dataclasses.field(default=RunOptions(name=name))),
    ])
    default = Args(config=config_for_env(env_name), env=env_name)
    args = tyro.cli(tyro.conf.OmitArgPrefixes[Args], args=argv, default=default, description=doc)
    env = envs.make(args.env, **({"backend": args.backend} if args.backend else {}))
    return run(agent, env, args.config, args.run, env_name=args.env)
