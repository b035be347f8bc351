"""SHAC vs APG vs PPO on a differentiable contact task (``contact/push`` by default, or
``--task contact/arm_push``): return against env steps, one figure; or SHAC alone on any
differentiable env.

    python experiments/shac.py                          # the three agents on contact/push, 4 seeds each
    python experiments/shac.py --task contact/arm_push  # on the jointed arm (each agent's arm_push preset)
    python experiments/shac.py --seeds 2 --shac.total-steps 65536
    python experiments/shac.py --reuse-ppo runs/apg_vs_ppo/<time>/ppo-...   # PPO from an earlier run
    python experiments/shac.py --ppo-target -12.2       # no PPO: reach this return (README's PPO eval)
    python experiments/shac.py --env pendulum --seeds 4  # SHAC alone (its preset; --help after --env)
    python experiments/shac.py --env contact/hopper      # SHAC alone on the hopper (posture reward, see below)

Trains SHAC (short-horizon actor-critic: APG's differentiable windows
bootstrapped by a learned value), APG and PPO on the same task with
``rljax.runner`` (metrics.csv, TensorBoard per run), each from its preset for
the task, plots the three learning curves on one figure
(``runs/shac_vs_apg_vs_ppo/<time>/shac_vs_apg_vs_ppo.png``) and prints a JSON
summary: final returns, and the env steps SHAC and APG needed to reach PPO's
final return (the better of PPO's last training return and its final
deterministic evaluation; SHAC's and APG's training returns are their
deterministic policies'). ``--reuse-ppo``, ``--reuse-shac`` and ``--reuse-apg``
take an earlier run folder of that agent on the task (its config must match)
instead of training it again.

With ``--env``, the script trains SHAC alone on that env from its preset
(rljax/agents/shac/presets.py) through ``rljax.runner``: every Config field
and run option is a flag, and the run folder gets metrics.csv, curves and a
summary with the final deterministic evaluation. A preset's env keyword
arguments (``ENV_KWARGS`` in the presets: ``contact/hopper`` gets
``posture_reward=0.5``, a smooth term the analytic gradient can climb) are
passed to ``envs.make`` and recorded in config.json, so ``--resume`` and
``experiments/render.py`` rebuild the same env; returns then include that term.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
from typing import Literal

import numpy as np
import tyro

import envs
from rljax import agents
from rljax.agents.apg.presets import preset as apg_preset
from rljax.agents.ppo.presets import preset as ppo_preset
from rljax.agents.shac.presets import ENV_KWARGS, preset
from rljax.runner import RunOptions, cli, run
from rljax.runner.cli import command_line, option_from_argv
from rljax.runner.report import write_report

ENV = "contact/push"
TASKS = ("contact/push", "contact/arm_push")
Task = Literal["contact/push", "contact/arm_push"]


def make_args(task_name: str) -> type:
    """The comparison's flags, with each agent's Config defaulting to its preset for ``task_name``."""

    @dataclasses.dataclass
    class Args:
        task: Task = task_name
        """The differentiable task the three agents are compared on (each agent's preset for it)."""
        shac: agents.shac.Config = preset(task_name)
        """The SHAC agent's Config (its preset for the task)."""
        apg: agents.apg.Config = apg_preset(task_name)
        """The APG agent's Config (its preset for the task)."""
        ppo: agents.ppo.Config = ppo_preset(task_name)
        """The PPO baseline's Config (PPO's preset for the task)."""
        seeds: int = 4
        """Seeds per agent, trained together as one vmapped program each."""
        run_root: str = "runs"
        """Folder under which the comparison's folder is made (<run-root>/shac_vs_apg_vs_ppo/<time>)."""
        reuse_ppo: str | None = None
        """A PPO run folder on the task (its config must match --ppo): reuse it, don't train PPO."""
        reuse_shac: str | None = None
        """A SHAC run folder on the task (its config must match --shac): reuse it, don't train SHAC."""
        reuse_apg: str | None = None
        """An APG run folder on the task (its config must match --apg): reuse it, don't train APG."""
        ppo_target: float | None = None
        """Don't train PPO: the return to reach is this one (PPO's final from an earlier run, e.g. the README's)."""

    return Args


def _curve(run_dir: str) -> tuple[np.ndarray, np.ndarray]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    return (np.array([float(r["env_steps"]) for r in rows]), np.array([float(r["episode_return"]) for r in rows]))


def _final(ret: np.ndarray, window: int = 3) -> float:
    finite = ret[np.isfinite(ret)]
    return float(np.mean(finite[-window:]))


def _reuse(name: str, run_dir: str, task: str, cfg) -> dict:
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    if saved["env"] != task or saved["config"] != json.loads(json.dumps(cfg.to_dict())):
        raise ValueError(f"reuse_{name}={run_dir!r}: its env/config differ from this run's {task} and --{name} config")
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def steps_to_reach(steps: np.ndarray, ret: np.ndarray, target: float) -> float | None:
    """First env-step count at which ``ret``, smoothed over 3 consecutive logged points (as the
    target, PPO's final, is), reaches ``target``; None if it never does."""
    smooth = np.convolve(ret, np.ones(3) / 3, mode="full")[: len(ret)]
    smooth[:2] = np.nan
    reached = np.flatnonzero(np.isfinite(smooth) & (smooth >= target))
    return float(steps[reached[0]]) if reached.size else None


def main(argv: list[str] | None = None) -> dict:
    """Run the command line ``argv`` (default ``sys.argv[1:]``; from there, mistakes print as one line)."""
    return command_line(_main, argv)


def _main(argv: list[str]) -> dict:
    if "--env" in argv:
        return cli(agents.shac, "shac", preset, __doc__, default_env=ENV, argv=argv,
                   env_kwargs_for_env=lambda name: ENV_KWARGS.get(name, {}))
    task = option_from_argv(argv, "--task", ENV) or ENV
    if task not in TASKS:
        raise SystemExit(f"error: --task {task!r}: expected one of {', '.join(TASKS)}")
    args = tyro.cli(make_args(task), args=argv, description=__doc__)
    env = envs.make(task)  # before the run folder, so a bad task leaves nothing behind
    out_dir = os.path.join(args.run_root, "shac_vs_apg_vs_ppo", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=False)
    common = dict(seeds=args.seeds, run_root=out_dir, checkpoints=False, eval_episodes=32, chunks=8)
    agents_to_run = {"shac": (agents.shac, args.shac, args.reuse_shac), "apg": (agents.apg, args.apg, args.reuse_apg)}
    if args.ppo_target is None:
        agents_to_run["ppo"] = (agents.ppo, args.ppo, args.reuse_ppo)
    summaries = {name: _reuse(name, reuse, task, cfg) if reuse else
                 run(agent, env, cfg, RunOptions(name=name, **common), env_name=task,
                     env_parameters=envs.parameters(task))
                 for name, (agent, cfg, reuse) in agents_to_run.items()}
    curves = {name: _curve(s["run_dir"]) for name, s in summaries.items()}
    # PPO's training return is its stochastic policy's; its deterministic evaluation is better.
    target = args.ppo_target if args.ppo_target is not None else \
        max(_final(curves["ppo"][1]), summaries["ppo"]["eval_return_mean"])
    summary: dict = {"env": task, "seeds": args.seeds, "ppo_target_return": target}
    for name, s in summaries.items():
        summary[f"{name}_final_train_return"] = _final(curves[name][1])
        summary[f"{name}_eval_return"] = s["eval_return_mean"]
        summary[f"{name}_env_steps"] = s["env_steps_per_seed"]
        summary[f"{name}_train_seconds"] = s["train_seconds"]
    for name in ("shac", "apg"):
        summary[f"{name}_env_steps_to_reach_ppo_final"] = steps_to_reach(*curves[name], target)
    summary["run_dir"] = out_dir

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    labels = {"shac": "SHAC (windows + learned value)", "apg": "APG (windows only)", "ppo": "PPO"}
    for i, (name, (steps, ret)) in enumerate(curves.items()):
        ax.plot(steps, ret, color=f"C{i}", label=f"{labels[name]}, {args.seeds} seeds mean")
        reached = summary.get(f"{name}_env_steps_to_reach_ppo_final")
        if reached:
            ax.axvline(reached, color=f"C{i}", ls=":", lw=1)
    ax.axhline(target, color="gray", ls=":", lw=1,
               label="PPO final (max of train, eval)" if args.ppo_target is None else "PPO final (given)")
    ax.set_xscale("log")
    ax.set_xlabel("env steps (log)")
    ax.set_ylabel("training episode return")
    ax.set_title(f"{task}: SHAC vs APG" + (" vs PPO" if "ppo" in curves else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return write_report(fig, summary, out_dir, "shac_vs_apg_vs_ppo.png")


if __name__ == "__main__":
    main()
