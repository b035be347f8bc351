"""An experiment script's whole command line, for any agent.

``--env``, ``--backend``, every field of the agent's Config (``--learning-rate``;
settings groups with their prefix: ``--gaussian.init-log-std``), every run
option (``--seeds``, ``--resume``, ...) and ``--sweep FIELD=v1,v2,...``; then
:func:`rljax.runner.run`. This is the one place in ``rljax`` that imports the
env suite (``envs``), to turn a name into an env.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated, Any, Callable, Optional

from rljax.runner.run import RunOptions, run
from rljax.runner.sweep import parse_sweep
from rljax.training import Agent


def env_from_argv(argv: list[str], default: str) -> str:
    """The ``--env`` value of a command line, read before full parsing (an
    experiment's default Config depends on the env)."""
    for i, arg in enumerate(argv):
        if arg == "--env" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--env="):
            return arg.split("=", 1)[1]
    return default


def cli(agent: Agent, name: str, config_for_env: Callable[[str], Any], doc: str | None,
        default_env: str, argv: list[str] | None = None) -> dict[str, Any]:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run. The Config defaults are
    ``config_for_env(env)`` (an env's tuned preset)."""
    import tyro

    import envs

    argv = sys.argv[1:] if argv is None else argv
    env_name = env_from_argv(argv, default_env)
    flat = tyro.conf.arg(name="")  # the Config's and RunOptions' fields without a prefix
    # Built per call: the Config type is the agent's own.
    Args = dataclasses.make_dataclass("Args", [
        ("config", Annotated[agent.Config, flat]),
        ("run", Annotated[RunOptions, flat], dataclasses.field(default_factory=lambda: RunOptions(name=name))),
        ("env", Annotated[str, tyro.conf.arg(help="env name (see envs.names()); brax envs as brax/<name>")],
         dataclasses.field(default=default_env)),
        ("backend", Annotated[Optional[str], tyro.conf.arg(
            help="brax backend for brax/* envs: generalized, positional, spring or mjx")],
         dataclasses.field(default=None)),
        ("sweep", Annotated[tuple[str, ...], tyro.conf.arg(
            help="FIELD=v1,v2,... : train every value of a float Config field (several fields: every "
                 "combination) with the seeds, as one program; one curve per value")],
         dataclasses.field(default=())),
    ])
    default = Args(config=config_for_env(env_name), env=env_name)
    args = tyro.cli(Args, args=argv, default=default, description=doc)
    sweep = parse_sweep(args.sweep, args.config)
    env = envs.make(args.env, **({"backend": args.backend} if args.backend else {}))
    return run(agent, env, args.config, args.run, env_name=args.env, sweep=sweep)
