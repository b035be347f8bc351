"""FPO (flow policy optimisation): train it on any continuous rljax env, or compare it with Gaussian PPO.

    python experiments/fpo.py --env pendulum                 # FPO alone: the runner's flags (--help)
    python experiments/fpo.py compare --env pendulum         # FPO vs Gaussian PPO, same budget, one figure
    python experiments/fpo.py compare --env brax/inverted_pendulum --seeds 4

FPO alone runs through the experiment runner from the env's preset
(rljax/agents/fpo/presets.py: PPO's tuned schedule with the flow head and
FPO's clip). ``compare`` trains FPO and Gaussian PPO (PPO's preset) for the
same env steps, several seeds each as one program, evaluates a uniformly
random policy as the floor, and writes runs/fpo_vs_ppo/<env>-<time>/ with
both run folders, the learning curves on one figure and a summary: each
agent's final deterministic return and FPO's improvement over random as a
share of PPO's.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import os

import jax
import numpy as np
import tyro

import envs
from rljax import agents, evaluate
from rljax.runner import RunOptions, cli, run
from rljax.runner.cli import command_line
from rljax.runner.report import write_report

BRAX_BACKEND = "spring"  # brax envs are compared on the backend the presets were tuned on


@dataclasses.dataclass
class CompareArgs:
    env: str = "pendulum"
    """A continuous-action env with presets of both agents (e.g. pendulum, brax/inverted_pendulum)."""
    seeds: int = 4
    """Seeds per agent, trained together as one vmapped program each."""
    total_steps: int | None = None
    """Env steps per run (default: the presets')."""
    chunks: int = 8
    """Compiled chunks each run is split into (progress and logs between them)."""
    run_root: str = "runs"
    """Folder under which the comparison's folder is made (<run-root>/fpo_vs_ppo/<env>-<time>)."""


def _curve(run_dir: str) -> tuple[np.ndarray, np.ndarray]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r["env_steps"]) for r in rows]), np.array([float(r["episode_return"]) for r in rows])


def random_return(env, key: jax.Array, episodes: int = 64) -> float:
    """Mean return of uniformly random actions in [-1, 1]."""
    def policy(obs, k):
        return jax.random.uniform(k, obs.shape[:1] + (env.action_size,), minval=-1.0, maxval=1.0)

    return float(jax.jit(lambda k: evaluate(env, policy, k, num_episodes=episodes))(key).mean())


def compare(args: CompareArgs) -> dict:
    if args.env not in agents.fpo.presets.PRESETS or args.env not in agents.ppo.presets.PRESETS:
        raise ValueError(f"--env {args.env!r}: compare needs presets of both agents; "
                         f"envs with both: {sorted(set(agents.fpo.presets.PRESETS) & set(agents.ppo.presets.PRESETS))}")
    env = envs.make(args.env, **({"backend": BRAX_BACKEND} if args.env.startswith("brax/") else {}))
    fpo_cfg, ppo_cfg = agents.fpo.presets.preset(args.env), agents.ppo.presets.preset(args.env)
    if args.total_steps:
        fpo_cfg, ppo_cfg = fpo_cfg.replace(total_steps=args.total_steps), ppo_cfg.replace(total_steps=args.total_steps)
    if args.seeds < 1 or args.chunks < 1:
        raise ValueError(f"--seeds={args.seeds}, --chunks={args.chunks}: must be >= 1")
    out_dir = os.path.join(args.run_root, "fpo_vs_ppo",
                           f"{args.env.replace('/', '_')}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(out_dir, exist_ok=False)
    options = dict(seeds=args.seeds, chunks=args.chunks, run_root=out_dir, checkpoints=False)
    recorded = dict(env_name=args.env, env_parameters=envs.parameters(args.env))
    summaries = {"fpo": run(agents.fpo, env, fpo_cfg, RunOptions(name="fpo", **options), **recorded),
                 "ppo": run(agents.ppo, env, ppo_cfg, RunOptions(name="ppo", **options), **recorded)}
    floor = random_return(env, jax.random.key(1))
    gain = {name: s["eval_return_mean"] - floor for name, s in summaries.items()}
    summary = {
        "env": args.env, "seeds": args.seeds, "env_steps": summaries["fpo"]["env_steps_per_seed"],
        "random_return": floor,
        **{f"{name}_eval_return": s["eval_return_mean"] for name, s in summaries.items()},
        **{f"{name}_eval_return_per_seed": s["eval_return_per_seed"] for name, s in summaries.items()},
        **{f"{name}_train_seconds": s["train_seconds"] for name, s in summaries.items()},
        "fpo_share_of_ppo_improvement": gain["fpo"] / gain["ppo"] if gain["ppo"] > 0 else None,
        "run_dir": out_dir,
    }

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, label in (("ppo", "Gaussian PPO"), ("fpo", "FPO (flow policy)")):
        steps, returns = _curve(summaries[name]["run_dir"])
        ax.plot(steps, returns, label=f"{label}: final eval {summaries[name]['eval_return_mean']:.0f}")
    ax.axhline(floor, color="gray", ls=":", lw=1, label=f"random policy {floor:.0f}")
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"training episode return (mean of {args.seeds} seeds)")
    ax.set_title(f"{args.env}: FPO vs Gaussian PPO, same budget")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return write_report(fig, summary, out_dir, "fpo_vs_ppo.png")


def main(argv: list[str] | None = None) -> dict:
    """Run the command line ``argv`` (default ``sys.argv[1:]``; from there, mistakes print as one line)."""
    return command_line(_main, argv)


def _main(argv: list[str]) -> dict:
    if argv[:1] == ["compare"]:
        return compare(tyro.cli(CompareArgs, args=argv[1:], description=__doc__))
    return cli(agents.fpo, "fpo", agents.fpo.presets.preset, __doc__, default_env="pendulum", argv=argv)


if __name__ == "__main__":
    main()
