"""SAC throughput: rljax's SAC against brax's own SAC trainer, same work, one process.

    python benchmarks/sac_throughput.py                       # inverted_pendulum (spring), 3 rounds
    python benchmarks/sac_throughput.py --num-envs 64 --grad-updates-per-step 8

Both train on the same brax env with the same num_envs, batch size, gradient
updates per vector-env step (ours: ``utd_ratio = grad_updates_per_step /
num_envs``), warm-up (brax: ``min_replay_size``), replay size, 2x256 ReLU
networks, learning rate and step budget. Each run's budget after the warm-up
is split into ``--chunks`` equal training chunks (brax: ``num_evals = chunks
+ 1`` epochs); the harness (benchmarks/harness.py) turns chunk times into
steady steps/s and compile seconds the same way for both (the first chunk
holds compilation and the warm-up prefill in both), and repeats the pair in
alternating order over ``--rounds``. Prints one JSON line: env steps/s and
gradient steps/s of each (medians over rounds), the final deterministic
evaluation return of each, and the median ratio ours / brax.

brax's trainer needs jax < 0.10 (it calls jax.device_put_replicated): on a
newer jax the script says so and exits 2; run it in the environment of
benchmarks/requirements-anchors.txt.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tyro
from harness import compare, emit, summarize, time_ours

import envs
from rljax import agents, compat


@dataclasses.dataclass
class Args:
    env: str = "inverted_pendulum"
    """brax env name (without the ``brax/`` prefix)."""
    backend: str = "spring"
    """brax physics backend: generalized, positional, spring or mjx."""
    num_envs: int = 32
    """Envs stepped in parallel."""
    grad_updates_per_step: int = 4
    """Gradient steps per vector-env step (ours: utd_ratio = this / num_envs)."""
    batch_size: int = 256
    """Transitions per gradient step."""
    warmup: int = 2048
    """Env steps that prefill the replay before learning (brax: min_replay_size)."""
    replay_size: int = 100_000
    """Replay capacity in transitions."""
    steps_per_chunk: int = 6400
    """Env steps per timed chunk."""
    chunks: int = 4
    """Timed chunks per run (the first includes compilation)."""
    rounds: int = 3
    """Repeats of the whole comparison, order alternating."""
    episode_length: int = 1000
    """Time limit of an episode (env steps)."""
    learning_rate: float = 3e-4
    """Adam rate of actor and critics."""
    gamma: float = 0.99
    """Discount."""
    seed: int = 0
    """Seed of both trainers."""


def _with_grad_steps(result: dict, args: Args) -> dict:
    grad_steps_per_env_step = args.grad_updates_per_step / args.num_envs
    return {**result, "grad_steps_per_s": result["steps_per_s"] * grad_steps_per_env_step}


def run_ours(env, args: Args) -> dict:
    cfg = agents.sac.Config(
        total_steps=args.warmup + args.chunks * args.steps_per_chunk, num_envs=args.num_envs,
        utd_ratio=args.grad_updates_per_step / args.num_envs, warmup_steps=args.warmup,
        buffer_size=args.replay_size, batch_size=args.batch_size, episode_length=args.episode_length,
        actor_learning_rate=args.learning_rate, critic_learning_rate=args.learning_rate, gamma=args.gamma)
    return _with_grad_steps(time_ours(agents.sac, env, cfg, args.chunks, args.seed), args)


def run_brax(env, args: Args) -> dict:
    from brax.training.agents.sac import train as brax_sac

    epochs: list[dict] = []
    brax_sac.train(environment=env, num_timesteps=args.warmup + args.chunks * args.steps_per_chunk,
                   episode_length=args.episode_length, num_envs=args.num_envs, num_eval_envs=16,
                   learning_rate=args.learning_rate, discounting=args.gamma, seed=args.seed,
                   batch_size=args.batch_size, num_evals=args.chunks + 1, min_replay_size=args.warmup,
                   max_replay_size=args.replay_size, grad_updates_per_step=args.grad_updates_per_step,
                   deterministic_eval=True, progress_fn=lambda step, metrics: epochs.append(dict(metrics)))
    # progress is called once before training (eval at step 0) and after each epoch; walltime is
    # cumulative and its first epoch also holds the prefill.
    walltime = [m["training/walltime"] for m in epochs[1:]]
    result = summarize(np.diff([0.0] + walltime).tolist(), args.steps_per_chunk,
                       eval_return=float(epochs[-1]["eval/episode_reward"]))
    return _with_grad_steps(result, args)


def main(args: Args) -> dict:
    if args.steps_per_chunk % args.num_envs or args.warmup % args.num_envs:
        raise ValueError(f"--steps-per-chunk ({args.steps_per_chunk}) and --warmup ({args.warmup}) must be "
                         f"multiples of --num-envs ({args.num_envs})")
    if args.chunks < 2:
        raise ValueError(f"--chunks must be >= 2 (the first holds compilation), got {args.chunks}")
    env = envs.make(f"brax/{args.env}", backend=args.backend)
    result = compare(lambda: run_ours(env, args), lambda: run_brax(env, args), args.rounds)
    return emit("sac_throughput", "brax.training.agents.sac", dataclasses.asdict(args), result)


if __name__ == "__main__":
    compat.require_brax_trainers("benchmarks/sac_throughput.py")  # brax's trainer needs jax < 0.10: exits 2 otherwise
    main(tyro.cli(Args, description=__doc__))
