"""Train PPO on any rljax env, several seeds as one compiled program.

    python experiments/ppo.py                         # cartpole, 4 seeds
    python experiments/ppo.py --env pendulum --seeds 8
    python experiments/ppo.py --env brax/inverted_pendulum --config.learning-rate 1e-3
    python experiments/ppo.py --help                  # every Config field

Each env starts from its tuned preset (rljax/agents/ppo/presets.py); any Config field can be
overridden on the command line. Writes runs/ppo/<env>-<time>/: config.json,
metrics.csv, TensorBoard events, curves.png, summary.json and checkpoints.
"""

from __future__ import annotations

import dataclasses
import sys

import tyro

import envs
from rljax import agents
from rljax.agents.ppo.presets import preset
from rljax.runner import RunOptions, run

@dataclasses.dataclass
class Args:
    config: agents.ppo.Config
    env: str = "cartpole"
    """Env name (see envs.names()); brax envs as brax/<name>."""
    backend: str | None = None
    """brax backend for brax/* envs: generalized, positional, spring or mjx."""
    run: RunOptions = RunOptions(name="ppo")


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    env_name = _peek_env(argv)  # the preset depends on the env, so read it first
    args = tyro.cli(Args, args=argv, default=Args(config=preset(env_name), env=env_name), description=__doc__)
    env_kwargs = {"backend": args.backend} if args.backend else {}
    env = envs.make(args.env, **env_kwargs)
    return run(agents.ppo, env, args.config, args.run, env_name=args.env)


def _peek_env(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--env" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--env="):
            return arg.split("=", 1)[1]
    return "cartpole"


if __name__ == "__main__":
    main()
