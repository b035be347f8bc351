"""PPO throughput on CartPole: rljax vs rejax 0.1.3 (PPO on gymnax CartPole-v1), same work, one process.

    pip install -e ".[bench]"          # rejax==0.1.3 and gymnax<1.0, for this benchmark only
    python benchmarks/ppo_vs_rejax.py  # rejax's tuned settings: 16 envs x 128 steps, 8 x 8, lr 5e-4, ~500k steps

Both trainers run the same number of envs, unroll length, epochs,
minibatches, networks (tanh 64x64, separate policy and value nets), learning
rate (constant), clip (value loss clipped too, as rejax does), GAE and loss
coefficients, and the same env steps and gradient steps; no observation
normalisation in either. Ours trains on ``cartpole`` (CartPole-v1 dynamics,
500-step limit, bootstrapping at truncation).

rejax's ``train`` interleaves evaluations with training, so its training is
timed as rejax's own loop body between two evaluations: a compiled
``fori_loop`` of ``train_iteration`` over a chunk of updates. Ours runs
through the runner's chunk iterator. Each run is split into ``--chunks``
equal chunks; the harness (benchmarks/harness.py) turns chunk times into
steady steps/s and compile seconds the same way for both, and repeats the
pair in alternating order over ``--rounds``. Final returns: ours, the
deterministic evaluation; rejax, its own evaluation callback (sampled
actions, 128 episodes). Prints one JSON line.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import tyro

import envs
from harness import compare, emit, summarize, time_ours
from rljax import agents


@dataclasses.dataclass
class Args:
    num_envs: int = 16
    """Envs stepped in parallel."""
    num_steps: int = 128
    """Steps per env per update."""
    num_epochs: int = 8
    """Passes over each update's batch."""
    num_minibatches: int = 8
    """Minibatches per pass."""
    learning_rate: float = 5e-4
    """Adam learning rate (constant)."""
    updates: int = 244
    """Updates per run (244 x 2048 = 499,712 env steps, rejax's 500k rounded down to whole updates)."""
    chunks: int = 4
    """Timed chunks per run (the first includes compilation); must divide --updates."""
    rounds: int = 3
    """Repeats of the pair, order alternating."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_epsilon: float = 0.2
    """Ratio clip of the surrogate (and of the value loss)."""
    entropy_coef: float = 0.01
    """Weight of the entropy bonus."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    eval_episodes: int = 128
    """Deterministic evaluation episodes of our final policy (rejax: its own 128-episode callback)."""
    seed: int = 0
    """Seed of both trainers."""


def run_ours(args: Args) -> dict:
    cfg = agents.ppo.Config(
        total_steps=args.num_envs * args.num_steps * args.updates, num_envs=args.num_envs,
        unroll_length=args.num_steps, num_epochs=args.num_epochs, num_minibatches=args.num_minibatches,
        policy_hidden_sizes=(64, 64), value_hidden_sizes=(64, 64), activation="tanh",
        normalize_observations=False, anneal_learning_rate=False, clip_value_loss=True,
        learning_rate=args.learning_rate, gamma=args.gamma, gae_lambda=args.gae_lambda,
        clip_epsilon=args.clip_epsilon, entropy_coef=args.entropy_coef, value_coef=args.value_coef,
        max_grad_norm=args.max_grad_norm)
    return time_ours(agents.ppo, envs.make("cartpole"), cfg, args.chunks, args.seed, args.eval_episodes)


def run_rejax(args: Args) -> dict:
    from rejax import PPO

    per_chunk = args.updates // args.chunks
    algo = PPO.create(
        env="CartPole-v1", agent_kwargs={"activation": "tanh", "hidden_layer_sizes": (64, 64)},
        num_envs=args.num_envs, num_steps=args.num_steps, num_epochs=args.num_epochs,
        num_minibatches=args.num_minibatches, learning_rate=args.learning_rate,
        total_timesteps=args.num_envs * args.num_steps * args.updates, skip_initial_evaluation=True,
        normalize_observations=False, normalize_rewards=False, gamma=args.gamma, gae_lambda=args.gae_lambda,
        clip_eps=args.clip_epsilon, ent_coef=args.entropy_coef, vf_coef=args.value_coef,
        max_grad_norm=args.max_grad_norm)
    chunk = jax.jit(lambda ts: jax.lax.fori_loop(0, per_chunk, lambda _, t: algo.train_iteration(t), ts))
    t = time.perf_counter()
    ts = jax.block_until_ready(jax.jit(algo.init_state)(jax.random.key(args.seed)))
    init_s = time.perf_counter() - t
    seconds = []
    for _ in range(args.chunks):
        t = time.perf_counter()
        ts = jax.block_until_ready(chunk(ts))  # the first call compiles
        seconds.append(time.perf_counter() - t)
    seconds[0] += init_s
    _, returns = algo.eval_callback(algo, ts, jax.random.key(args.seed + 1))
    return summarize(seconds, per_chunk * args.num_envs * args.num_steps, init_s=init_s,
                     eval_return=float(jnp.mean(returns)))


def main(args: Args) -> dict:
    if args.updates % args.chunks or args.chunks < 2:
        raise ValueError(f"--chunks ({args.chunks}) must be >= 2 and divide --updates ({args.updates})")
    result = compare(lambda: run_ours(args), lambda: run_rejax(args), args.rounds)
    return emit("ppo_vs_rejax", "rejax 0.1.3 PPO (gymnax CartPole-v1)", dataclasses.asdict(args), result)


if __name__ == "__main__":
    main(tyro.cli(Args, description=__doc__))
