"""Data-parallel scaling: PPO and SAC training steps/s on 1, 2, 4 ... devices (``rljax.parallel``).

    python benchmarks/scaling.py                                  # ppo + sac on 1, 2, 4 fake CPU devices
    python benchmarks/scaling.py --agents ppo --devices 1 2 --updates 5 --repeats 2
    python benchmarks/scaling.py --devices all                    # this machine's real devices: 1 vs all

For each agent (PPO on ``cartpole``, SAC on ``pendulum``: their presets with a
total batch that splits over 4 devices, PPO 64 envs, SAC 8 envs and batches
of 256) and each device count N, the runs' envs (and SAC's replay) are split
over N devices on the ``data`` axis of a ``Layout(seeds=1, data=N)`` mesh;
N = 1 is the runner's own one-device program (``rljax.runner.chunks``). The
chunk program of ``--updates`` updates is compiled once (``compile_s``; the
init program's compile and run is ``init_s``), then ``--repeats`` chunks are
timed to completion. Prints one JSON line per (agent, devices): the median
chunk's env steps/s, gradient steps/s and updates/s, the speedup over N = 1
in the same invocation, and whether every update's losses and parameters
stayed finite; then one summary line with the table.

Device counts given as numbers run on *fake* CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=N``, ``JAX_PLATFORMS=cpu``),
which must be set before jax initialises: each count runs in a fresh
subprocess of this script (``--worker N``) and the parent collects its JSON.
Fake devices share the same CPU cores, so their figures measure the overhead
and the correctness of the sharded program, not a speedup (a speedup below 1
is expected). ``--devices all`` runs in this process on the machine's own
devices (a GPU machine: 1 GPU vs all of them), where the speedup is real.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import tyro

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # ``import envs`` from the repository root when run as a script
    sys.path.insert(0, ROOT)

AGENTS = ("ppo", "sac")
FAKE_NOTE = ("fake CPU devices share the same cores: these figures measure the overhead and correctness of the "
             "sharded program, not a speedup")
REAL_NOTE = "the machine's own devices: the speedup is real"


@dataclasses.dataclass
class Args:
    """Each agent's preset on its env, with a total batch that splits over the data devices."""

    agents: tuple[str, ...] = AGENTS
    """Agents to measure: ppo and/or sac."""
    devices: tuple[str, ...] = ("1", "2", "4")
    """Device counts (each in its own subprocess on that many fake CPU devices), or 'all': this machine's devices."""
    updates: int = 0
    """Updates per timed chunk; 0: each agent's default (ppo 32 = 65536 env steps, sac 200 = 1600 env steps)."""
    repeats: int = 3
    """Timed chunks after compilation; the median chunk is reported."""
    runs: int = 1
    """Independent runs (seeds) trained together; each run's envs are split over the devices."""
    ppo_env: str = "cartpole"
    """Env of PPO (its preset is the starting config)."""
    ppo_num_envs: int = 64
    """PPO's envs per run; must divide by every device count."""
    sac_env: str = "pendulum"
    """Env of SAC (its preset is the starting config)."""
    sac_num_envs: int = 8
    """SAC's envs per run; must divide by every device count."""
    sac_batch_size: int = 256
    """SAC's transitions per gradient step; must divide by every device count."""
    seed: int = 0
    """Seed of the runs."""
    worker: int = 0
    """Internal: measure this one device count in this process (the parent sets it); 0: the parent."""


DEFAULT_UPDATES = {"ppo": 32, "sac": 200}


def updates_of(args: Args, agent: str) -> int:
    return args.updates or DEFAULT_UPDATES[agent]


def device_counts(args: Args) -> list[int] | None:
    """The device counts asked for, ascending (1 first: the baseline), or None for ``all``."""
    items = [item.strip() for text in args.devices for item in str(text).split(",") if item.strip()]
    if not items:
        raise ValueError("--devices: give device counts (e.g. 1 2 4) or 'all'")
    if "all" in items:
        if len(items) > 1:
            raise ValueError(f"--devices {' '.join(items)}: 'all' cannot be combined with counts")
        return None
    counts = []
    for item in items:
        if not item.lstrip("-").isdigit() or int(item) < 1:
            raise ValueError(f"--devices: {item!r} is not a positive number of devices (or 'all')")
        counts.append(int(item))
    return sorted(set(counts))


def build(args: Args, agent_name: str) -> tuple[Any, Any, Any]:
    """``(agent module, env, Config)`` of one agent: its preset, resized for the benchmark."""
    import envs
    from rljax import agents

    agent = getattr(agents, agent_name)
    updates = updates_of(args, agent_name) * args.repeats
    if agent_name == "ppo":
        base = agents.ppo.presets.preset(args.ppo_env)
        batch = args.ppo_num_envs * base.unroll_length
        cfg = base.replace(num_envs=args.ppo_num_envs, total_steps=batch * updates)
        env = envs.make(args.ppo_env)
    else:
        base = agents.sac.presets.preset(args.sac_env)
        cfg = base.replace(num_envs=args.sac_num_envs, batch_size=args.sac_batch_size)
        prefill = cfg.prefill_steps * cfg.num_envs
        cfg = cfg.replace(total_steps=prefill + cfg.env_steps_per_update * updates)
        env = envs.make(args.sac_env)
    type(cfg).check_args(env, cfg)
    return agent, env, cfg


def check_args(args: Args, counts: list[int]) -> None:
    """Raise ``ValueError`` before anything compiles when the settings cannot run on ``counts`` devices."""
    from rljax import parallel

    if not args.agents:
        raise ValueError("--agents: give at least one of " + ", ".join(AGENTS))
    for name in args.agents:
        if name not in AGENTS:
            raise ValueError(f"--agents: unknown agent {name!r}; expected one of {', '.join(AGENTS)}")
    for name, value, least in (("updates", args.updates, 0), ("repeats", args.repeats, 1), ("runs", args.runs, 1),
                               ("worker", args.worker, 0)):
        if value < least:
            raise ValueError(f"--{name}={value}: must be >= {least}")
    sizes = ([("--ppo-num-envs", args.ppo_num_envs)] if "ppo" in args.agents else []) + \
        ([("--sac-num-envs", args.sac_num_envs), ("--sac-batch-size", args.sac_batch_size)] if "sac" in args.agents
         else [])
    for n in counts:
        for name, value in sizes:
            if value % n:
                raise ValueError(f"{name}={value} does not split evenly over {n} devices")
    for name in dict.fromkeys(args.agents):
        agent, _, cfg = build(args, name)
        for n in counts:
            parallel.check(agent, cfg, args.runs, parallel.Layout(1, n))


def measure(args: Args, agent_name: str, n: int) -> dict[str, Any]:
    """Compile and time one agent on the first ``n`` of this process's devices (``data`` axis = ``n``)."""
    import jax
    import numpy as np

    from rljax import parallel
    from rljax.runner.chunks import chunk_program, init_runs

    agent, env, cfg = build(args, agent_name)
    updates = updates_of(args, agent_name)
    keys = jax.random.split(jax.random.key(args.seed), args.runs)
    layout = parallel.Layout(1, n)
    t = time.perf_counter()
    if n == 1:  # the runner's own one-device programs
        state = init_runs(agent, env, cfg, keys)
        program = chunk_program(agent, env, cfg, args.runs, updates)
    else:
        state = parallel.init_program(agent, env, cfg, args.runs, layout)(cfg, keys)
        program = parallel.train_program(agent, env, cfg, args.runs, updates, layout)
    jax.block_until_ready(state)
    init_s = time.perf_counter() - t
    t = time.perf_counter()
    compiled = program.lower(cfg, state).compile()
    compile_s = time.perf_counter() - t

    seconds, nonfinite, returns = [], 0, []
    for _ in range(args.repeats):
        t = time.perf_counter()
        state, metrics = compiled(cfg, state)
        jax.block_until_ready((state, metrics))
        seconds.append(time.perf_counter() - t)
        metrics = jax.device_get(metrics)
        nonfinite += int(np.sum(np.asarray(metrics["nonfinite"]) > 0))
        returns.append(float(np.nanmean(metrics["episode_return"][:, -1])))
    median = statistics.median(seconds)
    env_steps = args.runs * updates * (cfg.batch_size if agent_name == "ppo" else cfg.env_steps_per_update)
    grad_per_update = cfg.num_epochs * cfg.num_minibatches if agent_name == "ppo" else cfg.grad_steps_per_update
    grad_steps = args.runs * updates * grad_per_update
    device = jax.devices()[0]
    return {
        "benchmark": "scaling", "agent": agent_name, "env": args.ppo_env if agent_name == "ppo" else args.sac_env,
        "devices": n, "mesh": str(layout), "runs": args.runs, "updates_per_chunk": updates,
        "env_steps_per_chunk": env_steps, "grad_steps_per_chunk": grad_steps,
        "env_steps_per_s": round(env_steps / median, 1), "grad_steps_per_s": round(grad_steps / median, 1),
        "updates_per_s": round(updates / median, 2), "compile_s": round(compile_s, 2), "init_s": round(init_s, 2),
        "chunk_s": [round(s, 4) for s in seconds], "finite": nonfinite == 0,
        "episode_return": returns[-1] if np.isfinite(returns[-1]) else None,
        "platform": device.platform, "device": getattr(device, "device_kind", device.platform),
        "visible_devices": len(jax.devices()), "jax": jax.__version__,
    }


def worker(args: Args) -> None:
    """One device count in this process (its XLA_FLAGS set by the parent): a JSON line per agent."""
    import jax

    if len(jax.devices()) < args.worker:
        raise RuntimeError(f"worker for {args.worker} devices sees {len(jax.devices())}: XLA_FLAGS was not applied")
    for name in dict.fromkeys(args.agents):
        print(json.dumps(measure(args, name, args.worker)), flush=True)


def run_worker(args: Args, n: int) -> list[dict[str, Any]]:
    """Measure ``n`` fake CPU devices in a fresh subprocess; its JSON lines."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={n}"])
    argv = [sys.executable, os.path.abspath(__file__), "--worker", str(n), "--agents", *args.agents,
            "--updates", str(args.updates), "--repeats", str(args.repeats), "--runs", str(args.runs),
            "--ppo-env", args.ppo_env, "--ppo-num-envs", str(args.ppo_num_envs), "--sac-env", args.sac_env,
            "--sac-num-envs", str(args.sac_num_envs), "--sac-batch-size", str(args.sac_batch_size),
            "--seed", str(args.seed)]
    done = subprocess.run(argv, check=False, env=env, stdout=subprocess.PIPE, text=True)  # stderr passes on
    if done.returncode:
        raise RuntimeError(f"the worker for {n} devices exited {done.returncode}: {' '.join(argv)}")
    lines = []
    for text in done.stdout.splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict) and line.get("benchmark") == "scaling":
            lines.append(line)
    return lines


def main(args: Args) -> list[dict[str, Any]]:
    counts = device_counts(args)
    if args.worker:
        check_args(args, [args.worker])
        worker(args)
        return []
    in_process = counts is None  # --devices all: this process's own devices
    fake = not in_process
    if in_process:
        import jax

        counts = sorted({1, len(jax.devices())})
        fake = jax.default_backend() == "cpu" and len(jax.devices()) > 1  # several CPU devices are forced ones
    check_args(args, counts)
    note = FAKE_NOTE if fake else REAL_NOTE
    results: list[dict[str, Any]] = []
    base: dict[str, float] = {}
    for n in counts:
        measured = [measure(args, name, n) for name in dict.fromkeys(args.agents)] if in_process \
            else run_worker(args, n)
        for line in measured:
            if n == 1:
                base[line["agent"]] = line["env_steps_per_s"]
            speedup = round(line["env_steps_per_s"] / base[line["agent"]], 3) if line["agent"] in base else None
            line = {**line, "speedup": speedup, "fake_devices": fake, "note": note}
            print(json.dumps(line), flush=True)
            results.append(line)
    table = {name: {str(r["devices"]): {k: r[k] for k in ("env_steps_per_s", "grad_steps_per_s", "speedup",
                                                           "compile_s", "finite")}
                    for r in results if r["agent"] == name} for name in dict.fromkeys(args.agents)}
    summary = {"benchmark": "scaling", "summary": True, "fake_devices": fake, "note": note, "device_counts": counts,
               "table": table, "all_finite": all(r["finite"] for r in results),
               "device": results[0]["device"] if results else None, "jax": results[0]["jax"] if results else None,
               "settings": dataclasses.asdict(args)}
    print(json.dumps(summary), flush=True)
    return results


if __name__ == "__main__":
    main(tyro.cli(Args, description=__doc__))
