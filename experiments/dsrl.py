"""DSRL's pipeline on one figure: a mediocre PPO expert, its dataset, a cloned flow (or diffusion) policy,
and DSRL steering the frozen clone through its noise.

    python experiments/dsrl.py                          # pendulum, flow clone, 4 seeds
    python experiments/dsrl.py --policy diffusion --dsrl-steps 40000

1. PPO (pendulum preset) trains for ``--expert-steps`` (a mediocre expert: 40k of the preset's 1M steps).
2. ``rljax.data.collect`` records ``--dataset-steps`` of its sampled actions (the Gaussian's spread is
   what the clone's noise can later choose from; deterministic actions would give a clone whose noise
   changes nothing).
3. ``agents.bc`` clones them into a flow (default) or diffusion head.
4. ``agents.dsrl`` (the env's preset) steers each frozen clone for ``--dsrl-steps`` env steps: SAC over the
   clone's noise.

BC and DSRL run ``--seeds`` seeds as one vmapped program. Deterministic evaluations, 16 episodes per seed
(64 for the single expert and the uniform random policy): the expert's mean action, the clone from zero
noise, the DSRL policy (the clone at the actor's ``tanh(mean)`` noise). Writes runs/dsrl/<time>/:
dataset.npz, dsrl_pipeline.png, summary.json (with the share of the gap between the clone and the expert
that steering closed, and wall times).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time

import jax
import numpy as np
import tyro

import envs
from rljax import agents, data, evaluate
from rljax.runner.cli import command_line
from rljax.runner.report import write_report

DATASET_ENVS = 16  # data.collect's parallel envs: --dataset-steps must be a multiple


@dataclasses.dataclass
class Args:
    env: str = "pendulum"
    """An env with a DSRL preset (agents.dsrl.presets)."""
    policy: str = "flow"
    """The cloned (then frozen) head: flow or diffusion."""
    expert_steps: int = 40_960
    """PPO env steps for the (mediocre) expert."""
    dataset_steps: int = 16_384
    """(obs, action) pairs recorded from the expert's sampled actions (a multiple of 16)."""
    bc_steps: int = 5_000
    """Behaviour-cloning gradient steps."""
    dsrl_steps: int = 20_000
    """DSRL env steps per seed (warm-up included)."""
    utd_ratio: float | None = None
    """Gradient steps per env step of DSRL; None: the preset's."""
    noise_bound: float | None = None
    """DSRL's noise bound b (w in [-b, b]); None: the preset's."""
    seeds: int = 4
    """BC and DSRL seeds (one vmapped program); one expert."""
    run_root: str = "runs"
    """Folder under which the pipeline's folder is made (<run-root>/dsrl/<time>)."""


def build_configs(args: Args):
    """The PPO, BC and DSRL Configs (checked: a bad value raises ``ValueError`` here, before anything runs)."""
    if args.env not in agents.dsrl.presets.PRESETS:
        raise ValueError(f"--env {args.env!r}: DSRL presets exist for {sorted(agents.dsrl.presets.PRESETS)}")
    if args.policy not in agents.dsrl.BASE_HEADS:
        raise ValueError(f"--policy {args.policy!r}: must be one of {list(agents.dsrl.BASE_HEADS)}")
    for name in ("seeds", "expert_steps", "bc_steps", "dsrl_steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(args, name)}: must be >= 1")
    if args.dataset_steps < DATASET_ENVS or args.dataset_steps % DATASET_ENVS:
        raise ValueError(f"--dataset-steps={args.dataset_steps}: must be a positive multiple of {DATASET_ENVS}")
    ppo_cfg = agents.ppo.presets.preset(args.env).replace(total_steps=args.expert_steps)
    dsrl_cfg = agents.dsrl.presets.preset(args.env)
    bc_cfg = dsrl_cfg.base.replace(policy=args.policy, total_steps=args.bc_steps,
                                   steps_per_update=min(500, args.bc_steps))
    overrides = {name: getattr(args, name) for name in ("utd_ratio", "noise_bound") if getattr(args, name) is not None}
    dsrl_cfg = dsrl_cfg.replace(total_steps=args.dsrl_steps, base=bc_cfg, **overrides)
    if bc_cfg.batch_size > args.dataset_steps:
        raise ValueError(f"--dataset-steps={args.dataset_steps}: fewer than BC's batch of {bc_cfg.batch_size}")
    return ppo_cfg, bc_cfg, dsrl_cfg


def main(args: Args) -> dict:
    ppo_cfg, bc_cfg, dsrl_cfg = build_configs(args)
    out_dir = os.path.join(args.run_root, "dsrl", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=False)
    env = envs.make(args.env)
    key = jax.random.key(0)
    wall = {}

    start = time.time()
    expert = jax.jit(agents.ppo.train, static_argnums=0)(env, ppo_cfg, jax.random.fold_in(key, 0))
    expert_policy = agents.ppo.make_policy(env, ppo_cfg, expert.params, deterministic=True)
    expert_return = float(jax.jit(lambda k: evaluate(env, expert_policy, k, 64))(jax.random.fold_in(key, 1)).mean())

    def uniform(obs, k):
        return jax.random.uniform(k, obs.shape[:-1] + (env.action_size,), minval=-1.0, maxval=1.0)

    random_return = float(jax.jit(lambda k: evaluate(env, uniform, k, 64))(jax.random.fold_in(key, 4)).mean())
    sampling_policy = agents.ppo.make_policy(env, ppo_cfg, expert.params, deterministic=False)
    dataset, _ = data.collect(env, sampling_policy, jax.random.fold_in(key, 2), args.dataset_steps,
                              num_envs=DATASET_ENVS, env_name=args.env)
    data.save(dataset, os.path.join(out_dir, "dataset.npz"))
    wall["expert_and_dataset_s"] = time.time() - start

    def pipeline(k):
        def returns(policy):
            return evaluate(env, policy, jax.random.fold_in(k, 9), 16).mean()

        cloned = agents.bc.train(dataset, bc_cfg, jax.random.fold_in(k, 0))
        steered = agents.dsrl.train(env, dsrl_cfg, jax.random.fold_in(k, 1), cloned.params)
        return {"bc": returns(agents.bc.make_policy(env, bc_cfg, cloned.params, deterministic=True)),
                "bc_sampled": returns(agents.bc.make_policy(env, bc_cfg, cloned.params, deterministic=False)),
                "dsrl": returns(agents.dsrl.make_policy(env, dsrl_cfg, steered.params, deterministic=True)),
                "bc_loss": cloned.metrics["loss"], "dsrl_curve": steered.metrics["episode_return"],
                "dsrl_env_steps": steered.metrics["env_steps"], "nonfinite": steered.metrics["nonfinite"]}

    start = time.time()
    out = jax.device_get(jax.jit(jax.vmap(pipeline))(jax.random.split(jax.random.fold_in(key, 3), args.seeds)))
    wall["bc_and_dsrl_s"] = time.time() - start
    if np.asarray(out["nonfinite"]).any():
        raise FloatingPointError("DSRL: non-finite loss or parameters (see metrics['nonfinite'])")
    bc, steered = float(np.mean(out["bc"])), float(np.mean(out["dsrl"]))
    gap = expert_return - bc
    summary = {
        "env": args.env, "policy": args.policy, "seeds": args.seeds, "expert_env_steps": args.expert_steps,
        "dataset_pairs": dataset.size, "bc_steps": args.bc_steps, "dsrl_env_steps": args.dsrl_steps,
        "dsrl_config": {name: dsrl_cfg.to_dict()[name] for name in (
            "num_envs", "unroll_length", "utd_ratio", "warmup_steps", "batch_size", "actor_learning_rate",
            "critic_learning_rate", "policy_hidden_sizes", "critic_hidden_sizes", "noise_bound")},
        "random_return": random_return, "expert_return": expert_return,
        **{name: np.asarray(out[name]).round(1).tolist() for name in ("bc", "bc_sampled", "dsrl")},
        "bc_mean": bc, "dsrl_mean": steered, "dsrl_minus_bc": steered - bc,
        "share_of_gap_closed": (steered - bc) / gap if gap > 0 else None,
        "wall_s": {name: round(value, 1) for name, value in wall.items()},
    }

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, bars) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    expert_steps = np.asarray(expert.metrics["env_steps"])
    curves.plot(expert_steps, np.asarray(expert.metrics["episode_return"]), color="C0",
                label="1. PPO expert (training)")
    steps = expert_steps[-1] + np.asarray(out["dsrl_env_steps"][0])
    curve = np.asarray(out["dsrl_curve"])
    curves.plot(steps, np.nanmean(curve, axis=0), color="C2", label=f"4. DSRL steering, training episodes "
                                                                     f"({args.seeds} seeds)")
    curves.fill_between(steps, np.nanmin(curve, axis=0), np.nanmax(curve, axis=0), color="C2", alpha=0.2)
    for value, color, label in ((expert_return, "C0", "expert, deterministic"),
                                (bc, "C1", f"3. BC {args.policy} clone, deterministic"),
                                (steered, "C2", "DSRL, deterministic"), (random_return, "gray", "uniform random")):
        curves.axhline(value, color=color, ls=":", lw=1, label=f"{label}: {value:.0f}")
    curves.set_xlabel("env steps (expert, then steering)")
    curves.set_ylabel("episode return")
    curves.grid(alpha=0.3)
    curves.legend(fontsize=7)
    names = ["random", "expert", "BC", "DSRL"]
    means = [random_return, expert_return, bc, steered]
    bars.bar(names, means, color=["gray", "C0", "C1", "C2"], alpha=0.7)
    for i, name in ((2, "bc"), (3, "dsrl")):
        bars.scatter(np.full(args.seeds, i), np.asarray(out[name]), color="k", s=10, zorder=3)
    bars.set_ylabel("deterministic return (dots: seeds)")
    bars.grid(alpha=0.3, axis="y")
    fig.suptitle(f"{args.env}: PPO expert -> dataset ({dataset.size} pairs) -> BC {args.policy} -> DSRL "
                 f"({args.dsrl_steps} env steps)", fontsize=10)
    summary["run_dir"] = out_dir
    return write_report(fig, summary, out_dir, "dsrl_pipeline.png")


def parse_args(argv: list[str] | None = None) -> Args:
    """The command line (default ``sys.argv[1:]``) as :class:`Args`; ``--help`` describes every flag."""
    return tyro.cli(Args, args=argv, description=__doc__)


if __name__ == "__main__":
    command_line(lambda argv: main(parse_args(argv)))
