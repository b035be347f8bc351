"""APG vs PPO on ``contact/push``: return against env steps, one figure; or
APG alone on any differentiable env.

    python experiments/apg.py                          # defaults below, 2 seeds each
    python experiments/apg.py --apg.total-steps 65536 --ppo.total-steps 524288
    python experiments/apg.py --docs-copy              # also update docs/apg_vs_ppo.png
    python experiments/apg.py --env brax/reacher --seeds 4   # APG alone (spring backend, its preset)

Trains an analytic-policy-gradient agent (gradients through the contact
solver) and PPO (model-free) on the same task with ``rljax.runner`` (metrics.csv,
TensorBoard, checkpoints per run), then plots both learning curves on one
figure (``runs/apg_vs_ppo/<time>/apg_vs_ppo.png``; ``--docs-copy`` also
copies it to the repository's ``docs/apg_vs_ppo.png``, the README's figure)
and prints a JSON summary: final returns, env steps each used, and the env
steps APG needed to reach PPO's final return (the better of PPO's last
training return and its final deterministic evaluation; APG's training
return is its deterministic policy's).

With ``--env``, the script trains APG alone on that env from its preset
(rljax/agents/apg/presets.py, with the brax backend it was tuned on unless
``--backend`` is given)
through ``rljax.runner``: every Config field and run option is a flag
(``--help`` after ``--env``), and the run folder gets metrics.csv, curves and
a summary with the final deterministic evaluation.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os

import numpy as np
import tyro

import envs
from rljax import agents
from rljax.agents.apg.presets import ENV_KWARGS, preset
from rljax.agents.ppo.presets import preset as ppo_preset
from rljax.runner import RunOptions, cli, run
from rljax.runner.cli import command_line
from rljax.runner.report import write_report

ENV = "contact/push"
# The README's figure: written only with --docs-copy.
DOCS_FIGURE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs",
                                            "apg_vs_ppo.png"))


@dataclasses.dataclass
class Args:
    apg: agents.apg.Config = preset(ENV)
    """The APG agent's Config (contact/push preset)."""
    ppo: agents.ppo.Config = ppo_preset(ENV)
    """The PPO baseline's Config (PPO's contact/push preset)."""
    seeds: int = 2
    """Seeds per agent, trained together as one vmapped program each."""
    run_root: str = "runs"
    """Folder under which the comparison's folder is made (<run-root>/apg_vs_ppo/<time>)."""
    docs_copy: bool = False
    """Also copy the figure to the repository's docs/apg_vs_ppo.png (the README's figure)."""
    reuse_ppo: str | None = None
    """A PPO run folder of an earlier run of this script (its config must match --ppo): reuse it, don't train PPO."""


def _curve(run_dir: str) -> tuple[np.ndarray, np.ndarray]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    steps = np.array([float(r["env_steps"]) for r in rows])
    ret = np.array([float(r["episode_return"]) for r in rows])
    return steps, ret


def _reuse(run_dir: str, cfg: agents.ppo.Config) -> dict:
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    if saved["env"] != ENV or saved["config"] != json.loads(json.dumps(cfg.to_dict())):
        raise ValueError(f"reuse_ppo={run_dir!r}: its env/config differ from this run's --ppo config")
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def figure_paths(out_dir: str, docs_copy: bool) -> list[str]:
    """Where the figure goes: the run folder's ``apg_vs_ppo.png``, then (``--docs-copy``) docs/apg_vs_ppo.png."""
    return [os.path.join(out_dir, "apg_vs_ppo.png"), *([DOCS_FIGURE] if docs_copy else [])]


def _final(ret: np.ndarray, window: int = 3) -> float:
    finite = ret[np.isfinite(ret)]
    return float(np.mean(finite[-window:]))


def main(argv: list[str] | None = None) -> dict:
    """Run the command line ``argv`` (default ``sys.argv[1:]``; from there, mistakes print as one line)."""
    return command_line(_main, argv)


def _main(argv: list[str]) -> dict:
    if "--env" in argv:
        # A preset tuned on one brax backend gets it unless --backend says otherwise.
        return cli(agents.apg, "apg", preset, __doc__, default_env=ENV, argv=argv,
                   env_kwargs_for_env=lambda name: ENV_KWARGS.get(name, {}))
    args = tyro.cli(Args, args=argv, description=__doc__)
    out_dir = os.path.join(args.run_root, "apg_vs_ppo", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=False)
    env = envs.make(ENV)
    common = dict(seeds=args.seeds, run_root=out_dir, checkpoints=False, eval_episodes=32)
    apg_summary = run(agents.apg, env, args.apg, RunOptions(name="apg", chunks=8, **common), env_name=ENV,
                      env_parameters=envs.parameters(ENV))
    if args.reuse_ppo:
        ppo_summary = _reuse(args.reuse_ppo, args.ppo)
    else:
        ppo_summary = run(agents.ppo, env, args.ppo, RunOptions(name="ppo", chunks=8, **common), env_name=ENV,
                          env_parameters=envs.parameters(ENV))

    apg_steps, apg_ret = _curve(apg_summary["run_dir"])
    ppo_steps, ppo_ret = _curve(ppo_summary["run_dir"])
    # PPO's training return is that of its stochastic policy; its deterministic
    # evaluation at the end is better. The target for APG is the better of the two.
    ppo_final = max(_final(ppo_ret), ppo_summary["eval_return_mean"])
    # First env-step count at which APG's return, smoothed over 3 consecutive logged
    # points (as PPO's final is), reaches the target.
    smooth = np.convolve(apg_ret, np.ones(3) / 3, mode="full")[: len(apg_ret)]
    smooth[:2] = np.nan
    reached = np.flatnonzero(np.isfinite(smooth) & (smooth >= ppo_final))
    apg_steps_to_ppo = float(apg_steps[reached[0]]) if reached.size else None
    summary = {
        "env": ENV,
        "seeds": args.seeds,
        "apg_final_train_return": _final(apg_ret),
        "ppo_final_train_return": _final(ppo_ret),
        "ppo_target_return": ppo_final,
        "apg_eval_return": apg_summary["eval_return_mean"],
        "ppo_eval_return": ppo_summary["eval_return_mean"],
        "apg_env_steps": apg_summary["env_steps_per_seed"],
        "ppo_env_steps": ppo_summary["env_steps_per_seed"],
        "apg_env_steps_to_reach_ppo_final": apg_steps_to_ppo,
        "ppo_over_apg_steps_ratio": (ppo_summary["env_steps_per_seed"] / apg_steps_to_ppo
                                     if apg_steps_to_ppo else None),
        "apg_train_seconds": apg_summary["train_seconds"],
        "ppo_train_seconds": ppo_summary["train_seconds"],
        "run_dir": out_dir,
    }

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(apg_steps, apg_ret, label=f"APG (gradients through the solver), {args.seeds} seeds mean")
    ax.plot(ppo_steps, ppo_ret, label=f"PPO, {args.seeds} seeds mean")
    ax.axhline(ppo_final, color="gray", ls=":", lw=1, label="PPO final (max of train, eval)")
    if apg_steps_to_ppo:
        ax.axvline(apg_steps_to_ppo, color="C0", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("env steps (log)")
    ax.set_ylabel("training episode return")
    ax.set_title(f"{ENV}: APG vs PPO")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path, *copies = figure_paths(out_dir, args.docs_copy)
    return write_report(fig, summary, out_dir, os.path.basename(path), copy_to=copies)


if __name__ == "__main__":
    main()
