"""DPPO's pipeline on one figure: a Gaussian PPO expert, its dataset, a cloned diffusion policy, DPPO fine-tuning.

    python experiments/dppo.py                      # pendulum, 4 BC + DPPO seeds
    python experiments/dppo.py --expert-steps 49152 --dppo-steps 1048576

1. PPO (pendulum preset) trains for ``--expert-steps`` (a partly trained expert: 32k of the
   preset's 1M steps).
2. ``rljax.data.collect`` records ``--dataset-steps`` of its deterministic actions.
3. ``agents.bc`` clones them into DPPO's diffusion head (20 denoising steps).
4. ``agents.dppo`` fine-tunes each clone for ``--dppo-steps`` (the last 10 steps),
   from the clone's parameters and observation statistics.

BC and DPPO run ``--seeds`` seeds as one program each. Evaluations are 16
episodes per seed: the expert's deterministic policy; the diffusion policies
sampled as DPPO trains them (stochastic chain) and by DDIM from zero noise.
Writes runs/dppo/<time>/: dataset.npz, dppo_pipeline.png, summary.json (with
the share of the gap between the clone and the expert that fine-tuning closed).
"""

from __future__ import annotations

import dataclasses
import datetime
import os

import jax
import numpy as np
import tyro

import envs
from rljax import agents, data, evaluate
from rljax.runner.cli import command_line
from rljax.runner.report import write_report


@dataclasses.dataclass
class Args:
    env: str = "pendulum"
    """An env with a DPPO preset (agents.dppo.presets)."""
    expert_steps: int = 32_768
    """PPO env steps for the (partly trained) expert."""
    dataset_steps: int = 16_384
    """(obs, action) pairs recorded from the expert."""
    bc_steps: int = 5_000
    """Behaviour-cloning gradient steps."""
    dppo_steps: int = 2**19
    """DPPO fine-tuning env steps per seed."""
    seeds: int = 4
    """BC and DPPO seeds (one vmapped program each); one expert."""
    run_root: str = "runs"
    """Folder under which the pipeline's folder is made (<run-root>/dppo/<time>)."""


def main(args: Args) -> dict:
    if args.env not in agents.dppo.presets.PRESETS:
        raise ValueError(f"--env {args.env!r}: DPPO presets exist for {sorted(agents.dppo.presets.PRESETS)}")
    # Every config is built (and checked) before anything trains.
    ppo_cfg = agents.ppo.presets.preset(args.env).replace(total_steps=args.expert_steps)
    dppo_cfg = agents.dppo.presets.preset(args.env).replace(total_steps=args.dppo_steps)
    bc_cfg = agents.bc.Config(policy="diffusion", total_steps=args.bc_steps,
                              steps_per_update=min(500, max(args.bc_steps, 1)),
                              policy_hidden_sizes=dppo_cfg.policy_hidden_sizes, activation=dppo_cfg.activation,
                              diffusion=dppo_cfg.diffusion)
    if args.dataset_steps < 1 or args.seeds < 1:
        raise ValueError(f"--dataset-steps={args.dataset_steps}, --seeds={args.seeds}: must be >= 1")
    out_dir = os.path.join(args.run_root, "dppo", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=False)
    env = envs.make(args.env)
    key = jax.random.key(0)

    expert = jax.jit(agents.ppo.train, static_argnums=0)(env, ppo_cfg, jax.random.fold_in(key, 0))
    expert_policy = agents.ppo.make_policy(env, ppo_cfg, expert.params, deterministic=True)
    expert_return = float(jax.jit(lambda k: evaluate(env, expert_policy, k, 16))(jax.random.fold_in(key, 1)).mean())
    dataset, _ = data.collect(env, expert_policy, jax.random.fold_in(key, 2), args.dataset_steps, env_name=args.env)
    data.save(dataset, os.path.join(out_dir, "dataset.npz"))

    def pipeline(k):
        def returns(params, deterministic):
            policy = agents.dppo.make_policy(env, dppo_cfg, params, deterministic=deterministic)
            return evaluate(env, policy, jax.random.fold_in(k, 9), 16).mean()

        cloned = agents.bc.train(dataset, bc_cfg, jax.random.fold_in(k, 0))
        tuned = agents.dppo.train(env, dppo_cfg, jax.random.fold_in(k, 1), cloned.params)
        return {"bc_sampled": returns(cloned.params, False), "bc_ddim": returns(cloned.params, True),
                "dppo_sampled": returns(tuned.params, False), "dppo_ddim": returns(tuned.params, True),
                "bc_loss": cloned.metrics["loss"], "dppo_curve": tuned.metrics["episode_return"],
                "dppo_env_steps": tuned.metrics["env_steps"]}

    out = jax.device_get(jax.jit(jax.vmap(pipeline))(jax.random.split(jax.random.fold_in(key, 3), args.seeds)))
    bc, tuned = float(np.mean(out["bc_sampled"])), float(np.mean(out["dppo_sampled"]))
    gap = expert_return - bc
    summary = {
        "env": args.env, "seeds": args.seeds, "expert_env_steps": args.expert_steps, "dataset_pairs": dataset.size,
        "expert_return": expert_return,
        **{name: np.asarray(out[name]).round(1).tolist() for name in ("bc_sampled", "bc_ddim", "dppo_sampled",
                                                                     "dppo_ddim")},
        "bc_mean": bc, "dppo_mean": tuned, "dppo_env_steps": args.dppo_steps,
        "share_of_gap_closed": (tuned - bc) / gap if gap > 0 else None,
    }

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    expert_steps = np.asarray(expert.metrics["env_steps"])
    ax.plot(expert_steps, np.asarray(expert.metrics["episode_return"]), label="1. PPO expert (training)")
    ax.axhline(expert_return, color="C0", ls=":", lw=1, label=f"expert, deterministic: {expert_return:.0f}")
    ax.axhline(bc, color="C1", ls="--", lw=1, label=f"3. BC diffusion clone: {bc:.0f}")
    steps = expert_steps[-1] + np.asarray(out["dppo_env_steps"][0])
    ax.plot(steps, np.nanmean(np.asarray(out["dppo_curve"]), axis=0), color="C2",
            label=f"4. DPPO fine-tuning ({args.seeds} seeds): final {tuned:.0f}")
    ax.set_xlabel("env steps (expert, then fine-tuning)")
    ax.set_ylabel("episode return")
    ax.set_title(f"{args.env}: PPO expert -> dataset ({dataset.size} pairs) -> BC -> DPPO", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return write_report(fig, summary, out_dir, "dppo_pipeline.png")


def parse_args(argv: list[str] | None = None) -> Args:
    """The command line (default ``sys.argv[1:]``) as :class:`Args`; ``--help`` describes every flag."""
    return tyro.cli(Args, args=argv, description=__doc__)


if __name__ == "__main__":
    command_line(lambda argv: main(parse_args(argv)))
