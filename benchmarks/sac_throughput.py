"""SAC throughput: rljax's SAC against brax's own SAC trainer, same work, one process.

    python benchmarks/sac_throughput.py                       # inverted_pendulum (spring)
    python benchmarks/sac_throughput.py --num-envs 64 --grad-updates-per-step 8

Both train on the same brax env with the same num_envs, batch size, gradient
updates per vector-env step (ours: ``utd_ratio = grad_updates_per_step /
num_envs``), warm-up (brax: ``min_replay_size``), replay size, 2x256 ReLU
networks, learning rate and step budget. The budget is split into
``--repeats`` equal training chunks (brax: ``num_evals = repeats + 1``
epochs); throughput is the median over chunks after the first, whose time
includes compilation (reported separately as compile_s = first - median).
Prints one JSON line: env steps/s and gradient steps/s for each, the final
deterministic evaluation return of each, and the ratio ours / brax.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

import envs
from rljax import agents, evaluate
from rljax.training import run_updates


def ours(env, args) -> dict:
    cfg = agents.sac.Config(
        total_steps=args.warmup + args.repeats * args.steps_per_chunk, num_envs=args.num_envs,
        utd_ratio=args.grad_updates_per_step / args.num_envs, warmup_steps=args.warmup,
        buffer_size=args.replay_size, batch_size=args.batch_size, episode_length=args.episode_length,
        actor_learning_rate=args.learning_rate, critic_learning_rate=args.learning_rate, gamma=args.gamma)
    updates_per_chunk = cfg.num_updates // args.repeats
    t = time.perf_counter()
    state = jax.jit(lambda k: agents.sac.init(env, cfg, k))(jax.random.key(args.seed))
    jax.block_until_ready(state)
    init_s = time.perf_counter() - t
    chunk = jax.jit(lambda s: run_updates(lambda x: agents.sac.update(env, cfg, x), s, updates_per_chunk),
                    donate_argnums=0)
    times = []
    for _ in range(args.repeats):
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


def brax(env, args) -> dict:
    from brax.training.agents.sac import train as brax_sac

    epochs: list[tuple[float, dict]] = []

    def progress(step, metrics):
        epochs.append((time.perf_counter(), dict(metrics)))

    brax_sac.train(environment=env, num_timesteps=args.warmup + args.repeats * args.steps_per_chunk,
                   episode_length=args.episode_length, num_envs=args.num_envs, num_eval_envs=16,
                   learning_rate=args.learning_rate, discounting=args.gamma, seed=args.seed,
                   batch_size=args.batch_size, num_evals=args.repeats + 1, min_replay_size=args.warmup,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="inverted_pendulum")
    parser.add_argument("--backend", default="spring")
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--grad-updates-per-step", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=2048)
    parser.add_argument("--replay-size", type=int, default=100_000)
    parser.add_argument("--steps-per-chunk", type=int, default=6400, help="env steps per timed chunk")
    parser.add_argument("--repeats", type=int, default=4, help="timed chunks (the first includes compilation)")
    parser.add_argument("--episode-length", type=int, default=1000)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps_per_chunk % (args.num_envs) or args.warmup % args.num_envs:
        parser.error("--steps-per-chunk and --warmup must be multiples of --num-envs")

    env = envs.make(f"brax/{args.env}", backend=args.backend)
    result_brax = brax(env, args)
    result_ours = ours(env, args)
    print(json.dumps({
        "benchmark": "sac_throughput", "env": f"brax/{args.env}", "backend": args.backend,
        "num_envs": args.num_envs, "batch_size": args.batch_size,
        "grad_updates_per_step": args.grad_updates_per_step, "networks": "2x256 relu",
        "env_steps": args.warmup + args.repeats * args.steps_per_chunk, "device": jax.devices()[0].device_kind,
        "ours": result_ours, "brax": result_brax,
        "ratio_env_steps_per_s": result_ours["env_steps_per_s"] / result_brax["env_steps_per_s"],
        "ratio_grad_steps_per_s": result_ours["grad_steps_per_s"] / result_brax["grad_steps_per_s"],
    }))


if __name__ == "__main__":
    main()
