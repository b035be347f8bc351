"""Run an agent for several seeds (and swept values) as one program, in compiled chunks.

Between chunks: progress (env steps, return, steps/s), ``metrics.csv`` and
TensorBoard (:mod:`rljax.runner.sink`), a NaN/Inf check, an orbax checkpoint
of the full training state (:mod:`rljax.checkpoint`), optionally a
deterministic evaluation, and a stop on SIGTERM/SIGINT
(:mod:`rljax.runner.stop`); at the end, a deterministic evaluation
(:mod:`rljax.runner.evaluation`), ``curves.png`` and ``summary.json``.
``RunOptions(resume=RUN_DIR)`` continues a run in its folder
(:mod:`rljax.runner.resume`). Everything that can be checked is checked
before the run folder is made or anything compiles. Any module with the
:class:`rljax.training.Agent` contract works.

    summary = run(agents.ppo, env, cfg, RunOptions(seeds=4, name="ppo"))
    summary = run(agents.ppo, env, cfg, RunOptions(), sweep={"learning_rate": [1e-4, 3e-4]})
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import signal
import time
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from rich.console import Console

from rljax import checkpoint, distributed, parallel
from rljax.env import Env
from rljax.runner import resume, wandb_log
from rljax.runner import sweep as sweeps
from rljax.runner.chunks import chunk_sizes, init_runs, remaining_chunk_sizes, train_in_chunks
from rljax.runner.evaluation import evaluation_program
from rljax.runner.sink import MetricsSink
from rljax.runner.stop import RunInterrupted, StopRequest
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
    """Save a checkpoint of the full training state after every chunk (a SIGTERM/SIGINT stop saves one anyway)."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept (off-policy ones include the replay buffer)."""
    eval_every: int = 0
    """Evaluate deterministically (eval-episodes per seed) after every N chunks; 0: only at the end."""
    resume: str | None = None
    """A run folder to continue in place, from its newest good checkpoint, with its saved Config."""
    render: bool = False
    """Write replay.html, a replay of one deterministic episode of the first run, at the end."""
    wandb: str | None = None
    """Also log to this Weights & Biases project (WANDB_MODE=offline works without a network)."""
    devices: str | None = None
    """Train on N devices (or 'all'): as many as divide the runs take runs each, the rest split every run's envs."""
    mesh: str | None = None
    """SEEDSxDATA devices (e.g. 2x4): runs split over SEEDS, each run's envs and replay over DATA (rljax.parallel)."""
    coordinator: str | None = None
    """Multi-host: HOST:PORT of process 0 (same on every host), or 'auto' on SLURM/MPI/TPU pods (env JAX_COORDINATOR_ADDRESS)."""
    num_processes: int | None = None
    """Multi-host: how many processes (one per host) run this run (env JAX_NUM_PROCESSES)."""
    process_id: int | None = None
    """Multi-host: this process's index, 0 for the one that writes the run folder (env JAX_PROCESS_ID)."""


# How this process joins a run, not what the run is: never recorded in config.json, so a resume
# (on another set of hosts, or on one) gives its own.
LAUNCH_OPTIONS = ("coordinator", "num_processes", "process_id")


def _new_run_dir(options: RunOptions, env_name: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(options.run_root, options.name, f"{env_name.replace('/', '_')}-{stamp}")
    os.makedirs(path, exist_ok=False)
    return path


def _write_json(path: str, content: Any) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(content, f, indent=2)
    os.replace(temporary, path)


def _check_options(options: RunOptions) -> None:
    for name, low in (("seeds", 1), ("chunks", 1), ("eval_episodes", 1), ("keep_checkpoints", 1), ("eval_every", 0)):
        if getattr(options, name) < low:
            raise ValueError(f"{name.replace('_', '-')}={getattr(options, name)}: must be >= {low}")


def _check_env_kwargs(env_kwargs: Mapping[str, Any] | None, env_parameters: Mapping[str, Any] | None) -> None:
    """config.json must be able to hold them, and ``backend`` has its own field."""
    if env_kwargs and "backend" in env_kwargs:
        raise ValueError("env_kwargs: pass the brax backend as run(..., backend=...), not among env_kwargs")
    for name, value in (("env_kwargs", env_kwargs), ("env_parameters", env_parameters)):
        try:
            json.dumps(dict(value or {}))
        except TypeError as e:
            raise ValueError(f"{name}={dict(value)!r}: must be JSON-able to be recorded in config.json "
                             f"({e})") from None


def _first_nonfinite_update(metrics: dict[str, np.ndarray]) -> int | None:
    """Index within the chunk of the first update any run flagged non-finite, or None."""
    flags = np.asarray(metrics.get("nonfinite", np.zeros((1, 1))))
    bad = np.flatnonzero(flags.reshape(-1, flags.shape[-1]).any(axis=0))
    return int(bad[0]) if bad.size else None


def _steps_per_second(rows: list[dict[str, float]], new: list[dict[str, float]], runs: int, seconds: float
                      ) -> str:
    """Env steps of this chunk only, per second. The steps before it are the previous row's; without
    one (a run's first chunk), extrapolated from its first two updates, so a warm-up prefill done in
    init is not counted as this chunk's; a first chunk of one update shows "-"."""
    if len(rows) > len(new):
        before = rows[-len(new) - 1]["env_steps"]
    elif len(new) > 1:
        before = 2 * new[0]["env_steps"] - new[1]["env_steps"]
    else:
        return f"{'-':>10}"
    return f"{runs * (new[-1]['env_steps'] - before) / seconds:>10,.0f}"


def _value(x: float, spec: str) -> str:
    return format(x, spec) if np.isfinite(x) else format("-", f">{spec.split('.')[0] or 1}")


def run(agent: Agent, env: Env, cfg: Any, options: RunOptions, env_name: str = "env",
        sweep: Mapping[str, Sequence[float]] | None = None, backend: str | None = None,
        env_kwargs: Mapping[str, Any] | None = None, env_parameters: Mapping[str, Any] | None = None
        ) -> dict[str, Any]:
    """Train ``options.seeds`` seeds of ``agent`` on ``env`` (for every combination of ``sweep``
    values) as one program; returns a summary dict (also written to ``summary.json``).

    ``env_name``, ``backend`` and ``env_kwargs`` (the other keyword arguments
    ``env`` was made with, JSON-able) are recorded in ``config.json`` (what
    ``--resume`` and ``experiments/render.py`` rebuild the env from), with
    ``env_parameters`` when given: every keyword the env was built with, its
    defaults included (``envs.parameters(env_name, ...)``, which the
    experiment scripts pass), so that a resume can name any default that
    changed since. Raises
    :class:`rljax.runner.stop.RunInterrupted` after checkpointing when a
    SIGTERM or SIGINT arrives.
    """
    check_agent(agent)
    _check_options(options)
    _check_env_kwargs(env_kwargs, env_parameters)
    distributed.initialize(options.coordinator, options.num_processes, options.process_id)
    primary = distributed.is_primary()
    out = console if primary else Console(quiet=True)  # process 0 speaks and writes for the run
    sweep = dict(sweep or {})
    configs, groups = sweeps.expand(cfg, sweep)
    for c in configs:
        type(c).check_args(env, c)
    runs = len(configs) * options.seeds
    run_cfg = type(cfg).stack([c for c in configs for _ in range(options.seeds)]) if sweep else cfg
    layout = parallel.layout_for(options.devices, options.mesh, runs)
    if layout is None and jax.process_count() > 1:  # several hosts: all their devices
        layout = parallel.layout_for("all", None, runs)
    if layout:
        parallel.check(agent, run_cfg, runs, layout)
    saved, resume_from = None, None
    if options.resume:
        saved = resume.load_run(options.resume)
        resume.check_resumable(saved, agent_name=agent.__name__, env_name=env_name, backend=backend,
                               env_kwargs=env_kwargs, config=cfg.to_dict(), sweep=sweep,
                               options=dataclasses.asdict(options))
        if not primary:  # process 0 first: it renames damaged checkpoints
            distributed.barrier("rljax_resume_checked")
        resume_from = resume.newest_good_checkpoint(saved, report=lambda line: out.print(f"[yellow]{line}"))
        if primary:
            distributed.barrier("rljax_resume_checked")
        resume.check_checkpoint_config(resume_from, cfg.to_dict())
    if options.wandb:
        wandb_log.check_available()
    if options.render:
        from rljax.render import renderer_for

        renderer_for(env)  # "nothing to render" now, not after training

    if saved:
        run_dir = saved.run_dir
    else:
        run_dir = distributed.broadcast_text(_new_run_dir(options, env_name) if primary else None)
    agent_name = agent.__name__.split(".")[-1]
    recorded_options = {k: v for k, v in dataclasses.asdict(options).items() if k not in LAUNCH_OPTIONS}
    started_with = saved.env_parameters_at_start if saved else None
    if env_parameters is None:  # not given: a resume keeps what the run recorded
        env_parameters = saved.env_parameters if saved else None
    elif saved and saved.env_parameters is not None:
        changed = resume.changed_env_parameters(saved, env_parameters)
        for line in changed:
            out.print(f"[yellow]--resume: {line}")
        if changed and started_with is None:  # what the run started with stays on record
            started_with = saved.env_parameters
    record = {"agent": agent.__name__, "env": env_name, "backend": backend, "env_kwargs": dict(env_kwargs or {}),
              "env_parameters": None if env_parameters is None else dict(env_parameters), "config": cfg.to_dict(),
              "sweep": sweep, "options": recorded_options}
    if started_with is not None:
        record["env_parameters_at_start"] = started_with
    if primary:
        _write_json(os.path.join(run_dir, "config.json"), record)
    what = f"{options.seeds} seeds" + (f" x {len(groups)} values of {', '.join(sweep)}" if sweep else "")
    out.print(f"[bold]{agent_name}[/bold] on [bold]{env_name}[/bold], {what} as one program -> {run_dir}")
    summary_path = os.path.join(run_dir, "summary.json")
    if resume_from and checkpoint.step_of(resume_from) >= cfg.num_updates and os.path.exists(summary_path):
        out.print(f"[bold green]{run_dir} finished all {cfg.num_updates} updates already[/bold green]; nothing to "
                  f"do (give a larger --total-steps to extend it)")
        with open(summary_path) as f:
            return json.load(f)
    devices = jax.devices()
    hosts = f" over {jax.process_count()} processes" if jax.process_count() > 1 else ""
    out.print(f"jax {jax.__version__} on {jax.default_backend()}: {len(devices)} device(s){hosts}, "
              f"{devices[0].device_kind}" + (f"; mesh {layout} (seeds x data)" if layout else ""))

    def per_run(key: jax.Array) -> jax.Array:  # seed s of every swept value gets the same key
        return jax.numpy.tile(jax.random.split(key, options.seeds), len(configs))

    keys = per_run(jax.random.key(options.seed))
    with out.status("compiling and running init ..."):
        t = time.perf_counter()
        state = parallel.init_program(agent, env, run_cfg, runs, layout)(run_cfg, keys) if layout \
            else init_runs(agent, env, run_cfg, keys)
        jax.block_until_ready(state)
    out.print(f"init: {time.perf_counter() - t:.1f}s")

    done_updates, steps_before = 0, 0.0
    if resume_from:
        if jax.process_count() > 1:  # every process reads the whole state and keeps its own shards
            state = distributed.from_host(checkpoint.restore(resume_from, distributed.to_host(state)), state)
        else:
            state = checkpoint.restore(resume_from, state)
            if layout:
                state = parallel.shard_runs(state, layout)
        done_updates = checkpoint.step_of(resume_from)
        steps_before = checkpoint.read_manifest(resume_from)["meta"].get("env_steps", 0.0)
        out.print(f"resumed from {resume_from} at update {done_updates}")

    grid = chunk_sizes(cfg.num_updates, options.chunks)
    chunk_ends = np.cumsum(grid).tolist()
    sizes = remaining_chunk_sizes(cfg.num_updates, options.chunks, done_updates)
    evaluate = evaluation_program(agent, env, run_cfg, runs, options.eval_episodes)
    sink = MetricsSink(run_dir, groups, options.seeds, resume_update=done_updates if saved else None,
                       wandb=wandb_log.WandbLog(options.wandb, run_dir, record) if options.wandb and primary else None,
                       write=primary)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    train_seconds, compile_seconds, programs = 0.0, 0.0, 0
    try:
        with StopRequest(announce=lambda line: out.print(f"[yellow]{line}")) as stop:
            chunks = train_in_chunks(agent, env, run_cfg, state, sizes, first_update=done_updates + 1,
                                     compiling=lambda n: out.status(f"compiling a chunk of {n} updates ..."),
                                     program=(lambda n: parallel.train_program(agent, env, run_cfg, runs, n, layout))
                                     if layout else None)
            for chunk in chunks:
                if chunk.compile_seconds:
                    programs += 1
                    compile_seconds += chunk.compile_seconds
                    out.print(f"compiled a chunk of {chunk.size} updates in {chunk.compile_seconds:.1f}s")
                bad = _first_nonfinite_update(chunk.metrics)
                if bad is not None:  # its rows up to the bad update go to the CSV, which names it as the error does
                    sink.add(chunk, updates=bad + 1)
                    check_finite(chunk.metrics, first_update=chunk.first_update)
                state = chunk.state
                train_seconds += chunk.seconds
                done_updates = chunk.first_update + chunk.size - 1
                chunk_number = chunk_ends.index(done_updates) + 1 if done_updates in chunk_ends else 0
                evaluated = None
                if options.eval_every and chunk_number and chunk_number % options.eval_every == 0:
                    eval_keys = per_run(jax.random.fold_in(jax.random.key(options.seed + 1), done_updates))
                    evaluated = evaluate(run_cfg, state, eval_keys)
                new = sink.add(chunk, eval_returns=evaluated)
                rate = _steps_per_second(sink.rows, new, runs, chunk.seconds)
                returns = "  ".join(f"{g}: {_value(new[-1][f'episode_return[{g}]'], '.2f')}" for g in groups) \
                    if sweep else _value(new[-1]["episode_return"], "9.2f")
                line = (f"update {done_updates:5d}/{cfg.num_updates}  env steps {new[-1]['env_steps']:>10,.0f}  "
                        f"return {returns}  steps/s {rate} ({runs} runs)")
                if evaluated is not None:
                    line += f"  eval {float(np.mean(evaluated)):.2f}"
                out.print(line)
                stopping = distributed.any_process(stop.signal_number is not None)  # a signal to any host stops all
                path = os.path.join(ckpt_dir, f"step_{done_updates:012d}")
                if options.checkpoints or stopping:
                    whole = distributed.to_host(state) if jax.process_count() > 1 else state
                    if primary:
                        path = checkpoint.save(ckpt_dir, done_updates, whole, meta={
                            "config": cfg.to_dict(), "env_steps": new[-1]["env_steps"]})
                        checkpoint.prune(ckpt_dir, keep=options.keep_checkpoints)
                if stopping and done_updates < cfg.num_updates:
                    number = stop.signal_number or signal.SIGTERM
                    cause = stop.signal_name if stop.signal_number else "a signal to another process"
                    raise RunInterrupted(f"stopped by {cause} after update {done_updates}/{cfg.num_updates}; "
                                         f"checkpoint {path}. Continue with: --resume {run_dir}", number)
    finally:
        sink.close()

    returns = evaluate(run_cfg, state, per_run(jax.random.key(options.seed + 1)))
    steps = sink.rows[-1]["env_steps"] if sink.rows else 0.0
    summary: dict[str, Any] = {
        "agent": agent.__name__, "env": env_name, "seeds": options.seeds,
        "eval_return_mean": float(returns.mean()), "eval_return_per_seed": returns.tolist(),
        "env_steps_per_seed": steps, "train_seconds": train_seconds, "compile_seconds": compile_seconds,
        "chunk_programs_compiled": programs,
        "steps_per_s": runs * steps / max(train_seconds, 1e-9), "run_dir": run_dir}
    if resume_from:  # this session's steps only
        summary["resumed_at_update"] = checkpoint.step_of(resume_from)
        summary["steps_per_s"] = runs * (steps - steps_before) / max(train_seconds, 1e-9)
    if sweep:
        summary["sweep"] = sweep
        summary["eval_return_per_value"] = {
            g: float(returns[i * options.seeds:(i + 1) * options.seeds].mean()) for i, g in enumerate(groups)}
    if options.render:  # run 0: seed 0 of the first swept value
        from rljax.render import write_replay

        params = jax.tree.map(lambda x: x[0], distributed.to_host(agent.policy_params(state)))
        summary["replay"] = os.path.join(run_dir, "replay.html")
        if primary:
            policy = agent.make_policy(env, configs[0], params, deterministic=True)
            summary["replay"] = write_replay(env, policy, jax.random.key(options.seed + 1), summary["replay"],
                                             max_steps=getattr(configs[0], "episode_length", None),
                                             title=f"{agent_name} on {env_name}, run 0")
    curves = os.path.join(run_dir, "curves.png")
    if primary:
        _write_json(summary_path, summary)
        sink.plot(curves, f"{agent_name} on {env_name}")
    per_value = (" " + json.dumps(summary["eval_return_per_value"])) if sweep else ""
    out.print(f"[bold green]final deterministic evaluation[/bold green]: mean return "
              f"{summary['eval_return_mean']:.1f} (per run {[round(float(x), 1) for x in returns]}){per_value}; "
              f"curves: {curves}" + (f"; replay: {summary['replay']}" if options.render else ""))
    return summary
