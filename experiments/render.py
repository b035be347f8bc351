"""Watch a trained run: one deterministic episode of its newest checkpoint as a self-contained HTML replay.

    python experiments/render.py runs/ppo/cartpole-20260101-120000           # -> <run>/replay.html
    python experiments/render.py RUN_DIR --out /tmp/ep.html --episode-steps 200
    python experiments/render.py RUN_DIR --backend spring                    # brax env, if config.json lacks it

Rebuilds the run from its folder (``config.json``: agent module, env name,
Config, run options, sweep; ``checkpoints/step_*``), restores the newest
checkpoint and renders run 0 (seed 0; in a sweep, the first value) with
:func:`rljax.render.write_replay`. The page opens offline; ``replay.html#frame=40``
shows frame 40. For brax envs brax's own viewer is written next to it
(``replay.brax.html``, which needs internet).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Annotated, Any, Optional

import jax
import tyro

from rljax import checkpoint
from rljax.config import ConfigBase
from rljax.runner.cli import command_line


@dataclasses.dataclass
class Args:
    run_dir: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """A finished (or checkpointed) run folder: it holds config.json and checkpoints/step_*."""
    out: Optional[str] = None
    """Where to write the replay (default: RUN_DIR/replay.html)."""
    episode_steps: Optional[int] = None
    """Steps to show (default: the run's episode_length, else the env's time limit); fewer if the episode ends."""
    backend: Annotated[Optional[str], tyro.conf.arg(
        help="brax backend for brax/* envs (default: the one config.json records, else the env's default)")] = None
    seed: int = 0
    """Seed of the episode (its initial state)."""


@dataclasses.dataclass(frozen=True)
class _Run:
    agent: Any
    env: Any
    env_name: str
    cfg: ConfigBase
    """Run 0's Config (unstacked)."""
    init_cfg: ConfigBase
    """The Config init_runs takes: stacked over runs for a sweep, else ``cfg``."""
    keys: jax.Array
    checkpoint: str


def _read_run(run_dir: str, backend: str | None) -> _Run:
    """Everything a replay needs from a run folder, checked before anything compiles."""
    import envs
    from rljax.runner.resume import load_run
    from rljax.runner.sweep import expand

    saved = load_run(run_dir, option="RUN_DIR")
    ckpt = checkpoint.newest_good(saved.checkpoint_dir, on_skip=lambda m: print(f"{m}; trying the previous one"))
    if ckpt is None:
        raise ValueError(f"{run_dir!r} has no checkpoint under checkpoints/ (was it run with --no-checkpoints?)")
    try:
        agent = importlib.import_module(saved.agent)
    except ImportError as e:
        raise ValueError(f"{run_dir}/config.json: agent module {saved.agent!r} cannot be imported: {e}") from e
    backend = backend or saved.backend
    env = envs.make(saved.env, **({"backend": backend} if backend else {}), **saved.env_kwargs)
    seeds, seed = int(saved.options.get("seeds", 1)), int(saved.options.get("seed", 0))
    base = agent.Config.from_dict(saved.config)
    configs, _ = expand(base, saved.sweep)
    for c in configs:
        type(c).check_args(env, c)
    # The run's own layout: seed s of every swept value, values in order (as rljax.runner.run builds it).
    keys = jax.numpy.tile(jax.random.split(jax.random.key(seed), seeds), len(configs))
    init_cfg = type(base).stack([c for c in configs for _ in range(seeds)]) if saved.sweep else base
    return _Run(agent, env, saved.env, configs[0], init_cfg, keys, ckpt)


def main(args: Args) -> str:
    """Write the replay of run 0 of ``args.run_dir``; returns its path."""
    from rljax.render import renderer_for, write_replay
    from rljax.runner import init_runs

    if args.episode_steps is not None and args.episode_steps <= 0:
        raise ValueError(f"--episode-steps {args.episode_steps}: must be > 0")
    run = _read_run(args.run_dir, args.backend)
    renderer_for(run.env)  # "nothing to render" before compiling init
    state = init_runs(run.agent, run.env, run.init_cfg, run.keys)
    state = checkpoint.restore(run.checkpoint, state)
    first = jax.tree.map(lambda x: x[0], state)
    policy = run.agent.make_policy(run.env, run.cfg, run.agent.policy_params(first), deterministic=True)
    steps = args.episode_steps if args.episode_steps is not None else getattr(run.cfg, "episode_length", None)
    out = args.out or os.path.join(args.run_dir, "replay.html")
    title = f"{run.agent.__name__.split('.')[-1]} on {run.env_name}, {os.path.basename(run.checkpoint)}, run 0"
    path = write_replay(run.env, policy, jax.random.key(args.seed), out, max_steps=steps, title=title)
    print(f"replay: {path}")
    return path


def parse_args(argv: list[str] | None = None) -> Args:
    """The command line (default ``sys.argv[1:]``) as :class:`Args`; ``--help`` describes every flag."""
    return tyro.cli(Args, args=argv, description=__doc__)


if __name__ == "__main__":
    command_line(lambda argv: main(parse_args(argv)))
