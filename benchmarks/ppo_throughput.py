"""PPO throughput: rljax vs brax's own trainer on the same work, in one process.

Both train on the same brax env and backend with the same number of envs,
unroll length, minibatches, epochs, network sizes, hyperparameters and step
budget. brax is set to ``batch_size * num_minibatches = num_envs`` so one of
its training steps is one unroll of every env, exactly one rljax ``update``.

Throughput is env steps per second of training only: the median over compiled
chunks (ours) or over training epochs after the first (brax's, whose first
epoch includes compilation); compile times are reported separately.

    python benchmarks/ppo_throughput.py --env inverted_pendulum --backend spring

Prints one JSON line.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import statistics
import time

import flax.linen as nn
import jax
import numpy as np
import tyro
from brax import envs as brax_envs
from brax.training.agents.ppo import networks as brax_ppo_networks
from brax.training.agents.ppo import train as brax_ppo

import envs
from rljax import agents, evaluate
from rljax.training import run_updates


@dataclasses.dataclass
class Args:
    env: str = "inverted_pendulum"
    """brax env name (without the ``brax/`` prefix)."""
    backend: str = "spring"
    num_envs: int = 128
    unroll_length: int = 16
    num_minibatches: int = 8
    num_epochs: int = 4
    total_steps: int = 2**20
    """Env steps per trainer; split into ``chunks`` equal compiled chunks."""
    chunks: int = 8
    hidden_sizes: tuple[int, ...] = (64, 64)
    # Learning settings: rljax's inverted_pendulum preset, given to both trainers.
    learning_rate: float = 1e-3
    gamma: float = 0.99
    entropy_coef: float = 0.0
    reward_scale: float = 0.1
    clip_epsilon: float = 0.2
    max_grad_norm: float = 0.5
    eval_episodes: int = 128
    seed: int = 0
    repeats: int = 1
    """Run the pair this many times, alternating which goes first; report medians."""
    skip_brax: bool = False


def run_ours(args: Args) -> dict:
    env = envs.make(f"brax/{args.env}", backend=args.backend)
    cfg = agents.ppo.Config(
        total_steps=args.total_steps, num_envs=args.num_envs, unroll_length=args.unroll_length,
        num_minibatches=args.num_minibatches, num_epochs=args.num_epochs,
        policy_hidden_sizes=args.hidden_sizes, value_hidden_sizes=args.hidden_sizes, activation="tanh",
        learning_rate=args.learning_rate, gamma=args.gamma, entropy_coef=args.entropy_coef,
        reward_scale=args.reward_scale, clip_epsilon=args.clip_epsilon, max_grad_norm=args.max_grad_norm,
        anneal_learning_rate=False, init_log_std=-1.0, normalize_observations=False)
    updates_per_chunk = cfg.num_updates // args.chunks
    steps_per_chunk = updates_per_chunk * cfg.batch_size

    t0 = time.perf_counter()
    init = jax.jit(agents.ppo.init, static_argnums=(0,))
    chunk = jax.jit(lambda s: run_updates(lambda x: agents.ppo.update(env, cfg, x), s, updates_per_chunk))
    state = init(env, cfg, jax.random.key(args.seed))
    chunk = chunk.lower(state).compile()
    compile_s = time.perf_counter() - t0

    rates = []
    for _ in range(args.chunks):
        t = time.perf_counter()
        state, metrics = chunk(state)
        jax.block_until_ready(metrics)
        rates.append(steps_per_chunk / (time.perf_counter() - t))

    policy = agents.ppo.make_policy(env, cfg, agents.ppo.policy_params(state), deterministic=True)
    returns = jax.jit(lambda k: evaluate(env, policy, k, num_episodes=args.eval_episodes))(jax.random.key(1))
    return {"steps_per_s": statistics.median(rates), "steps_per_s_all": rates, "compile_s": compile_s,
            "env_steps": steps_per_chunk * args.chunks, "eval_return": float(np.mean(returns))}


def run_brax(args: Args) -> dict:
    env = brax_envs.get_environment(args.env, backend=args.backend)
    network_factory = functools.partial(
        brax_ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=args.hidden_sizes,
        value_hidden_layer_sizes=args.hidden_sizes, activation=nn.tanh, init_noise_std=float(np.exp(-1.0)))
    reports: list[dict] = []
    times: list[float] = [time.perf_counter()]

    def progress(step: int, metrics: dict) -> None:
        times.append(time.perf_counter())
        reports.append({"step": step, **{k: float(v) for k, v in metrics.items()}})

    brax_ppo.train(
        environment=env, num_timesteps=args.total_steps, num_envs=args.num_envs, episode_length=1000,
        unroll_length=args.unroll_length, batch_size=args.num_envs // args.num_minibatches,
        num_minibatches=args.num_minibatches, num_updates_per_batch=args.num_epochs,
        learning_rate=args.learning_rate, discounting=args.gamma, entropy_cost=args.entropy_coef,
        reward_scaling=args.reward_scale, clipping_epsilon=args.clip_epsilon, max_grad_norm=args.max_grad_norm,
        normalize_observations=False, gae_lambda=0.95, network_factory=network_factory, seed=args.seed,
        num_evals=args.chunks + 1, num_eval_envs=args.eval_episodes, deterministic_eval=True,
        progress_fn=progress)
    # reports[0] is the initial eval; reports[i] follows training epoch i.
    epoch_rates = [r["training/sps"] for r in reports[1:]]
    # brax's first two epochs can both compile (its first call's inputs come
    # from init); the median over epochs after the first skips them.
    steady = statistics.median(epoch_rates[1:]) if len(epoch_rates) > 1 else epoch_rates[0]
    total_walltime = reports[-1]["training/walltime"]
    return {"steps_per_s": steady, "steps_per_s_all": epoch_rates,
            "compile_s": max(total_walltime - reports[-1]["step"] / steady, 0.0),
            "env_steps": int(reports[-1]["step"]), "eval_return": reports[-1]["eval/episode_reward"]}


def _median_run(runs: list[dict]) -> dict:
    out = dict(runs[len(runs) // 2])
    for key in ("steps_per_s", "compile_s", "eval_return"):
        out[key] = statistics.median(r[key] for r in runs)
    out["steps_per_s_repeats"] = [r["steps_per_s"] for r in runs]
    return out


def main(args: Args) -> None:
    ours_runs, brax_runs, ratios = [], [], []
    for repeat in range(args.repeats):
        order = (run_ours, run_brax) if repeat % 2 == 0 else (run_brax, run_ours)
        results = {fn.__name__: fn(args) for fn in order if not (args.skip_brax and fn is run_brax)}
        ours_runs.append(results["run_ours"])
        if not args.skip_brax:
            brax_runs.append(results["run_brax"])
            ratios.append(results["run_ours"]["steps_per_s"] / results["run_brax"]["steps_per_s"])
    ours = _median_run(ours_runs)
    theirs = _median_run(brax_runs) if brax_runs else None
    out = {"benchmark": "ppo_throughput", "env": args.env, "backend": args.backend,
           "num_envs": args.num_envs, "unroll_length": args.unroll_length, "num_minibatches": args.num_minibatches,
           "num_epochs": args.num_epochs, "hidden_sizes": list(args.hidden_sizes), "device": jax.devices()[0].platform,
           "rljax": ours, "brax": theirs,
           "repeats": args.repeats,
           "ratio_steps_per_s": statistics.median(ratios) if ratios else None, "ratios": ratios}
    print(json.dumps(out))


if __name__ == "__main__":
    main(tyro.cli(Args))
