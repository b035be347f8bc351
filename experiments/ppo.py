"""Train PPO on any rljax env, several seeds as one compiled program.

    python experiments/ppo.py                         # cartpole, 4 seeds
    python experiments/ppo.py --env pendulum --seeds 8
    python experiments/ppo.py --env brax/inverted_pendulum --backend spring --learning-rate 1e-3
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
from rljax.runner import RunOptions, env_from_argv, run


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
    env_name = env_from_argv(argv, default="cartpole")  # the preset depends on the env
    args = tyro.cli(tyro.conf.OmitArgPrefixes[Args], args=argv,
                    default=Args(config=preset(env_name), env=env_name), description=__doc__)
    env_kwargs = {"backend": args.backend} if args.backend else {}
    env = envs.make(args.env, **env_kwargs)
    return run(agents.ppo, env, args.config, args.run, env_name=args.env)


if __name__ == "__main__":
    main()
