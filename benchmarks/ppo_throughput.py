"""PPO throughput: rljax vs brax's own PPO trainer on the same work, in one process.

Both train on the same brax env and backend with the same number of envs,
unroll length, minibatches, epochs, network sizes, hyperparameters and step
budget. brax is set to ``batch_size * num_minibatches = num_envs`` so one of
its training steps is one unroll of every env, exactly one rljax ``update``.
Each run is split into ``--chunks`` equal chunks (brax: training epochs); the
harness (benchmarks/harness.py) turns chunk times into steady steps/s and
compile seconds the same way for both, and repeats the pair in alternating
order over ``--rounds``.

    python benchmarks/ppo_throughput.py --env inverted_pendulum --backend spring

brax's trainer needs jax < 0.10 (it calls jax.device_put_replicated): on a
newer jax the script says so and exits 2; run it in the environment of
benchmarks/requirements-anchors.txt. Prints one JSON line.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import numpy as np
import tyro
from harness import compare, emit, summarize, time_ours

import envs
from rljax import agents, compat
from rljax.policies import GaussianSettings


@dataclasses.dataclass
class Args:
    """Every setting is given to both trainers; the learning settings are rljax's inverted_pendulum preset."""

    env: str = "inverted_pendulum"
    """brax env name (without the ``brax/`` prefix)."""
    backend: str = "spring"
    """brax physics backend: generalized, positional, spring or mjx."""
    num_envs: int = 128
    """Envs stepped in parallel."""
    unroll_length: int = 16
    """Steps per env per update."""
    num_minibatches: int = 8
    """Minibatches per pass over each update's batch."""
    num_epochs: int = 4
    """Passes over each update's batch."""
    total_steps: int = 2**20
    """Env steps per trainer; split into ``chunks`` equal compiled chunks."""
    chunks: int = 8
    """Timed chunks per run (brax: training epochs); the first holds compilation."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy and value networks."""
    learning_rate: float = 1e-3
    """Adam learning rate (constant)."""
    gamma: float = 0.99
    """Discount."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus."""
    reward_scale: float = 0.1
    """Rewards are multiplied by this for learning."""
    clip_epsilon: float = 0.2
    """Ratio clip of PPO's surrogate."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    eval_episodes: int = 128
    """Deterministic evaluation episodes at the end of each run."""
    seed: int = 0
    """Seed of both trainers."""
    rounds: int = 3
    """Run the pair this many times, alternating which goes first; report medians."""


def run_ours(args: Args) -> dict:
    env = envs.make(f"brax/{args.env}", backend=args.backend)
    cfg = agents.ppo.Config(
        total_steps=args.total_steps, num_envs=args.num_envs, unroll_length=args.unroll_length,
        num_minibatches=args.num_minibatches, num_epochs=args.num_epochs,
        policy_hidden_sizes=args.hidden_sizes, value_hidden_sizes=args.hidden_sizes, activation="tanh",
        learning_rate=args.learning_rate, gamma=args.gamma, entropy_coef=args.entropy_coef,
        reward_scale=args.reward_scale, clip_epsilon=args.clip_epsilon, max_grad_norm=args.max_grad_norm,
        anneal_learning_rate=False, normalize_observations=False, gaussian=GaussianSettings(init_log_std=-1.0))
    return time_ours(agents.ppo, env, cfg, args.chunks, args.seed, args.eval_episodes)


def run_brax(args: Args) -> dict:
    from brax import envs as brax_envs
    from brax.training.agents.ppo import networks as brax_ppo_networks
    from brax.training.agents.ppo import train as brax_ppo

    env = brax_envs.get_environment(args.env, backend=args.backend)
    network_factory = functools.partial(
        brax_ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=args.hidden_sizes,
        value_hidden_layer_sizes=args.hidden_sizes, activation=nn.tanh, init_noise_std=float(np.exp(-1.0)))
    reports: list[dict] = []
    brax_ppo.train(
        environment=env, num_timesteps=args.total_steps, num_envs=args.num_envs, episode_length=1000,
        unroll_length=args.unroll_length, batch_size=args.num_envs // args.num_minibatches,
        num_minibatches=args.num_minibatches, num_updates_per_batch=args.num_epochs,
        learning_rate=args.learning_rate, discounting=args.gamma, entropy_cost=args.entropy_coef,
        reward_scaling=args.reward_scale, clipping_epsilon=args.clip_epsilon, max_grad_norm=args.max_grad_norm,
        normalize_observations=False, gae_lambda=0.95, network_factory=network_factory, seed=args.seed,
        num_evals=args.chunks + 1, num_eval_envs=args.eval_episodes, deterministic_eval=True,
        progress_fn=lambda step, metrics: reports.append({"step": step, **{k: float(v) for k, v in metrics.items()}}))
    # reports[0] is the initial eval; reports[i] follows training epoch i (walltime is cumulative).
    walltime = [r["training/walltime"] for r in reports[1:]]
    return summarize(np.diff([0.0] + walltime).tolist(), reports[-1]["step"] / args.chunks,
                     eval_return=reports[-1]["eval/episode_reward"])


def main(args: Args) -> dict:
    if args.chunks < 2:
        raise ValueError(f"--chunks must be >= 2 (the first holds compilation), got {args.chunks}")
    result = compare(lambda: run_ours(args), lambda: run_brax(args), args.rounds)
    return emit("ppo_throughput", "brax.training.agents.ppo", dataclasses.asdict(args), result)


if __name__ == "__main__":
    compat.require_brax_trainers("benchmarks/ppo_throughput.py")  # brax's trainer needs jax < 0.10: exits 2 otherwise
    main(tyro.cli(Args, description=__doc__))
