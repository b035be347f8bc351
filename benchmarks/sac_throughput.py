"""SAC throughput: rljax's SAC against brax's own SAC trainer, same work, one process.

    python benchmarks/sac_throughput.py                       # inverted_pendulum (spring), 3 rounds
    python benchmarks/sac_throughput.py --num-envs 64 --grad-updates-per-step 8

Both train on the same brax env with the same num_envs, batch size, gradient
updates per vector-env step (ours: ``utd_ratio = grad_updates_per_step /
num_envs``), warm-up (brax: ``min_replay_size``), replay size, 2x256 ReLU
networks, learning rate and step budget. Each run's budget is split into
``--chunks`` equal training chunks (brax: ``num_evals = chunks + 1``
epochs); a run's throughput is the median over chunks after the first, whose
time includes compilation (reported separately as compile_s = first - median).

The machines this runs on are shared and noisy, so the whole comparison is
repeated ``--rounds`` times with the order alternating (ours first, then brax
first, ...); the reported ratio is the median of the per-round ratios, each
from two runs made back to back. Prints one JSON line: env steps/s and
gradient steps/s for each (medians over rounds), the final deterministic
evaluation return of each, and the ratio ours / brax.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time

import jax
import numpy as np
import tyro

import envs
from rljax import agents, evaluate
from rljax.training import run_updates


@dataclasses.dataclass
class Args:
    env: str = "inverted_pendulum"
    backend: str = "spring"
    num_envs: int = 32
    grad_updates_per_step: int = 4
    batch_size: int = 256
    warmup: int = 2048
    replay_size: int = 100_000
    steps_per_chunk: int = 6400
    """env steps per timed chunk"""
    chunks: int = 4
    """timed chunks per run (the first includes compilation)"""
    rounds: int = 3
    """repeats of the whole comparison, order alternating"""
    episode_length: int = 1000
    learning_rate: float = 3e-4
    gamma: float = 0.99
    seed: int = 0


def run_ours(env, args: Args) -> dict:
    cfg = agents.sac.Config(
        total_steps=args.warmup + args.chunks * args.steps_per_chunk, num_envs=args.num_envs,
        utd_ratio=args.grad_updates_per_step / args.num_envs, warmup_steps=args.warmup,
        buffer_size=args.replay_size, batch_size=args.batch_size, episode_length=args.episode_length,
        actor_learning_rate=args.learning_rate, critic_learning_rate=args.learning_rate, gamma=args.gamma)
    updates_per_chunk = cfg.num_updates // args.chunks
    t = time.perf_counter()
    state = jax.jit(lambda k: agents.sac.init(env, cfg, k))(jax.random.key(args.seed))
    jax.block_until_ready(state)
    init_s = time.perf_counter() - t
    chunk = jax.jit(lambda s: run_updates(lambda x: agents.sac.update(env, cfg, x), s, updates_per_chunk),
                    donate_argnums=0)
    times = []
    for _ in range(args.chunks):
        t = time.perf_counter()
        state, metrics = chunk(state)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t)
    policy = agents.sac.make_policy(env, cfg, agents.sac.policy_params(state), deterministic=True)
    returns = jax.jit(lambda k: evaluate(env, policy, k, num_episodes=16, episode_length=args.episode_length))(
        jax.random.key(args.seed + 1))
    median = float(np.median(times[1:]))
    return {"env_steps_per_s": updates_per_chunk * cfg.env_steps_per_update / median,
            "grad_steps_per_s": updates_per_chunk * cfg.grad_steps_per_update / median,
            "compile_s": times[0] - median, "init_s": init_s, "chunk_s": times,
            "eval_return": float(np.mean(returns))}


def run_brax(env, args: Args) -> dict:
    from brax.training.agents.sac import train as brax_sac

    epochs: list[tuple[float, dict]] = []

    def progress(step, metrics):
        epochs.append((time.perf_counter(), dict(metrics)))

    brax_sac.train(environment=env, num_timesteps=args.warmup + args.chunks * args.steps_per_chunk,
                   episode_length=args.episode_length, num_envs=args.num_envs, num_eval_envs=16,
                   learning_rate=args.learning_rate, discounting=args.gamma, seed=args.seed,
                   batch_size=args.batch_size, num_evals=args.chunks + 1, min_replay_size=args.warmup,
                   max_replay_size=args.replay_size, grad_updates_per_step=args.grad_updates_per_step,
                   deterministic_eval=True, progress_fn=progress)
    # progress is called once before training (eval at step 0) and after each epoch.
    times = [m["training/walltime"] for _, m in epochs[1:]]
    times = np.diff([0.0] + times)  # walltime is cumulative (the first also holds the prefill)
    median = float(np.median(times[1:]))
    vector_steps = args.steps_per_chunk / args.num_envs
    return {"env_steps_per_s": args.steps_per_chunk / median,
            "grad_steps_per_s": vector_steps * args.grad_updates_per_step / median,
            "compile_s": float(times[0] - median), "chunk_s": times.tolist(),
            "eval_return": float(epochs[-1][1]["eval/episode_reward"])}


def _medians(runs: list[dict]) -> dict:
    keys = ("env_steps_per_s", "grad_steps_per_s", "compile_s", "eval_return")
    return {**{k: statistics.median(r[k] for r in runs) for k in keys}, "runs": runs}


def main(args: Args) -> None:
    if args.steps_per_chunk % args.num_envs or args.warmup % args.num_envs:
        raise ValueError(f"--steps-per-chunk ({args.steps_per_chunk}) and --warmup ({args.warmup}) must be "
                         f"multiples of --num-envs ({args.num_envs})")
    if args.chunks < 2 or args.rounds < 1:
        raise ValueError(f"--chunks must be >= 2 (the first holds compilation) and --rounds >= 1, got "
                         f"{args.chunks}, {args.rounds}")
    env = envs.make(f"brax/{args.env}", backend=args.backend)
    ours, theirs, ratios = [], [], []
    for round_index in range(args.rounds):
        order = (run_ours, run_brax) if round_index % 2 == 0 else (run_brax, run_ours)
        results = {fn.__name__: fn(env, args) for fn in order}
        ours.append(results["run_ours"])
        theirs.append(results["run_brax"])
        ratios.append(ours[-1]["env_steps_per_s"] / theirs[-1]["env_steps_per_s"])
    print(json.dumps({
        "benchmark": "sac_throughput", "env": f"brax/{args.env}", "backend": args.backend,
        "num_envs": args.num_envs, "batch_size": args.batch_size,
        "grad_updates_per_step": args.grad_updates_per_step, "networks": "2x256 relu",
        "env_steps": args.warmup + args.chunks * args.steps_per_chunk, "device": jax.devices()[0].device_kind,
        "rounds": args.rounds, "ours": _medians(ours), "brax": _medians(theirs),
        "ratio_env_steps_per_s": statistics.median(ratios), "ratios": ratios,
    }))


if __name__ == "__main__":
    main(tyro.cli(Args))
