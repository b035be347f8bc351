"""Resuming a run in its own folder: what the folder says the run was, and what a resume may change.

A resumed run must be the run that never stopped, so only fields that do not
change what is learned up to the checkpoint may differ from the saved
``config.json``: ``total_steps`` (to extend the run) and how it is run
(:data:`SAFE_OPTIONS`). Anything else is refused with the fields named.

    saved = load_run("runs/ppo/cartpole-20261130-120000")
    check_resumable(saved, agent_name="rljax.agents.ppo", env_name="cartpole", backend=None, env_kwargs={},
                    config=cfg.to_dict(), sweep={}, options=dataclasses.asdict(options))
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Mapping

from rljax import checkpoint

SAFE_CONFIG_FIELDS = ("total_steps",)
"""Config fields a resume may change (a longer or shorter run)."""
SAFE_OPTIONS = ("chunks", "eval_episodes", "eval_every", "checkpoints", "keep_checkpoints", "render", "wandb",
                "resume", "run_root", "name")
"""Run options a resume may change: logging, evaluation, checkpointing (``run_root`` and ``name``
only place new runs; a resumed run stays in its folder)."""
FIXED_OPTIONS = ("seeds", "seed", "devices", "mesh")  # the mesh shapes the saved state


@dataclasses.dataclass(frozen=True)
class SavedRun:
    """What a run folder's ``config.json`` records."""

    run_dir: str
    agent: str
    env: str
    backend: str | None
    config: dict[str, Any]
    sweep: dict[str, list[float]]
    options: dict[str, Any]
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Keyword arguments ``envs.make`` got besides ``backend`` (a preset's, e.g. reward shaping)."""
    env_parameters: dict[str, Any] | None = None
    """Every keyword the env was built with, defaults included (None: not recorded, or not a named env)."""
    env_parameters_at_start: dict[str, Any] | None = None
    """``env_parameters`` when the run started, recorded once a resume found a default changed since."""

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.run_dir, "checkpoints")


def load_run(run_dir: str, option: str = "--resume") -> SavedRun:
    """Read ``run_dir/config.json``; ``ValueError`` naming the problem, and the command-line ``option``
    that gave the folder, when it is not a run folder."""
    if not os.path.isdir(run_dir):
        raise ValueError(f"{option} {run_dir}: no such folder")
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise ValueError(f"{option} {run_dir}: not a run folder (it has no config.json); give the folder a run "
                         f"wrote, e.g. runs/ppo/cartpole-<time>")
    try:
        with open(path) as f:
            saved = json.load(f)
        return SavedRun(run_dir=os.path.normpath(run_dir), agent=saved["agent"], env=saved["env"],
                        backend=saved.get("backend"), config=saved["config"], sweep=saved.get("sweep") or {},
                        options=saved.get("options") or {}, env_kwargs=dict(saved.get("env_kwargs") or {}),
                        env_parameters=saved.get("env_parameters"),
                        env_parameters_at_start=saved.get("env_parameters_at_start"))
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{option} {run_dir}: {path} is damaged ({type(e).__name__}: {e})") from None


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples -> lists, as config.json has them


def differences(saved: SavedRun, *, agent_name: str, env_name: str, backend: str | None, config: Mapping[str, Any],
                sweep: Mapping[str, Any], options: Mapping[str, Any],
                env_kwargs: Mapping[str, Any] | None = None) -> list[str]:
    """``"field: saved -> now"`` for everything a resume may not change."""
    out = []
    for name, was, now in (("agent", saved.agent, agent_name), ("env", saved.env, env_name),
                           ("backend", saved.backend, backend),
                           ("env_kwargs", _plain(saved.env_kwargs), _plain(dict(env_kwargs or {}))),
                           ("sweep", _plain(saved.sweep), _plain(dict(sweep)))):
        if was != now:
            out.append(f"{name}: {was!r} -> {now!r}")
    before, after = _flat(saved.config), _flat(_plain(dict(config)))
    for name in sorted(set(before) | set(after)):
        if name not in SAFE_CONFIG_FIELDS and before.get(name) != after.get(name):
            out.append(f"{name}: {before.get(name)!r} -> {after.get(name)!r}")
    for name in FIXED_OPTIONS:
        if name in saved.options and saved.options[name] != options.get(name):
            out.append(f"{name}: {saved.options[name]!r} -> {options.get(name)!r}")
    return out


def changed_env_parameters(saved: SavedRun, now: Mapping[str, Any]) -> list[str]:
    """``"env parameter NAME: saved -> now"`` for each keyword the env is built with differently
    than when the run started: the same command, so only a default changed (the code was updated).
    A resume warns rather than refuses: no command line can restore an old default."""
    was, current = saved.env_parameters or {}, _plain(dict(now))
    return [f"env parameter {k}: {was.get(k, '(absent)')!r} -> {current.get(k, '(absent)')!r}; the run continues "
            f"with the new value" for k in sorted(set(was) | set(current)) if was.get(k) != current.get(k)]


def check_checkpoint_config(path: str, config: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` when the Config recorded in a checkpoint's manifest differs from ``config``
    beyond :data:`SAFE_CONFIG_FIELDS` (config.json edited after the checkpoint, say)."""
    recorded = _flat(checkpoint.read_manifest(path)["meta"].get("config", {}))
    current = _flat(_plain(dict(config)))
    changed = [f"{k}: {recorded.get(k)!r} -> {current.get(k)!r}" for k in sorted(set(recorded) | set(current))
               if recorded and k not in SAFE_CONFIG_FIELDS and recorded.get(k) != current.get(k)]
    if changed:
        raise ValueError(f"checkpoint {path} was saved by another Config than this run's: {'; '.join(changed)}")


def check_resumable(saved: SavedRun, **now: Any) -> None:
    """Raise ``ValueError`` naming every field that differs from the saved run and may not change."""
    changed = differences(saved, **now)
    if changed:
        raise ValueError(f"--resume {saved.run_dir}: these differ from the run's config.json, and a resumed run "
                         f"must be the run that never stopped: {'; '.join(changed)}. A resume may change only "
                         f"{', '.join(SAFE_CONFIG_FIELDS)} and the run options {', '.join(SAFE_OPTIONS[:-3])}; "
                         f"start a new run for anything else")


def newest_good_checkpoint(saved: SavedRun, report: Callable[[str], None] = print) -> str:
    """The newest checkpoint of the run whose files verify; each one skipped is reported through
    ``report(line)``. ``ValueError`` when there is none. Runs before anything compiles."""
    try:
        path = checkpoint.newest_good(saved.checkpoint_dir, on_skip=lambda m: report(f"{m}; trying the previous one"))
    except checkpoint.CheckpointError as e:
        raise ValueError(f"--resume {saved.run_dir}: {e}") from None
    if path is None:
        raise ValueError(f"--resume {saved.run_dir}: no checkpoint to resume from (the run stopped before its "
                         f"first checkpoint, or ran with --no-checkpoints)")
    return path
