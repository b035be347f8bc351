"""An experiment script's whole command line, for any agent.

``--env``, ``--backend``, every field of the agent's Config (``--learning-rate``;
settings groups with their prefix: ``--gaussian.init-log-std``), every run
option (``--seeds``, ``--resume``, ...) and ``--sweep FIELD=v1,v2,...``; then
:func:`rljax.runner.run`. ``--resume RUN_DIR`` takes its defaults from the
run's ``config.json``. This is the one place in ``rljax`` that imports the
env suite (``envs``), to turn a name into an env.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated, Any, Callable, Optional, TypeVar

from rljax import distributed
from rljax.runner.resume import load_run
from rljax.runner.run import RunOptions, console, run
from rljax.runner.stop import RunInterrupted
from rljax.runner.sweep import parse_sweep
from rljax.training import Agent

T = TypeVar("T")


def option_from_argv(argv: list[str], flag: str, default: str | None = None) -> str | None:
    """The value of ``flag`` (``--env``) in a command line, read before full parsing (an
    experiment's defaults depend on the env, or on the run being resumed)."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return default


def env_from_argv(argv: list[str], default: str) -> str:
    """The ``--env`` value of a command line, read before full parsing."""
    return option_from_argv(argv, "--env", default) or default


def _sweep_items(sweep: dict[str, list[float]]) -> tuple[str, ...]:
    return tuple(f"{field}={','.join(repr(v) for v in values)}" for field, values in sweep.items())


def command_line(main: Callable[[list[str]], T], argv: list[str] | None = None) -> T:
    """``main(argv)``; with ``argv`` None, ``main(sys.argv[1:])`` as a command line: its mistakes
    (``ValueError``) print as one ``error:`` line, not a traceback, and exit with code 2."""
    if argv is not None:
        return main(argv)
    try:
        return main(sys.argv[1:])
    except ValueError as e:
        console.print(f"[bold red]error:[/bold red] {e}", highlight=False)
        sys.exit(2)


def cli(agent: Agent, name: str, config_for_env: Callable[[str], Any], doc: str | None,
        default_env: str, argv: list[str] | None = None,
        env_kwargs_for_env: Callable[[str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run. The Config defaults are
    ``config_for_env(env)`` (an env's tuned preset); with ``--resume RUN_DIR``, every default is
    the resumed run's own (its config.json), so flags name only what changes.

    ``env_kwargs_for_env(env)``: keyword arguments for ``envs.make`` that the preset was tuned with,
    recorded in config.json (a resume uses the run's own); a ``backend`` among them is ``--backend``'s
    default.

    A run stopped by SIGTERM/SIGINT exits with code 128 + the signal's number after its message.
    Errors in the command line raise ``ValueError`` (given ``argv``) or, from a shell, print as one
    line and exit with code 2.
    """
    import tyro

    import envs

    if argv is None:
        return command_line(lambda args: cli(agent, name, config_for_env, doc, default_env, args,
                                             env_kwargs_for_env))
    if sum(a == "--sweep" or a.startswith("--sweep=") for a in argv) > 1:
        # argparse keeps only the last occurrence, which would silently drop a field.
        raise ValueError("--sweep is given more than once; name every field after one --sweep "
                         "(--sweep learning-rate=1e-4,1e-3 gamma=0.9,0.99)")
    resume_dir = option_from_argv(argv, "--resume")
    saved = load_run(resume_dir) if resume_dir and "--help" not in argv and "-h" not in argv else None
    if saved and saved.agent != agent.__name__:
        raise ValueError(f"--resume {resume_dir}: that run trained {saved.agent}, not {agent.__name__}; resume it "
                         f"with its own script")
    env_name = env_from_argv(argv, saved.env if saved else default_env)
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
    if saved:
        known = {f.name for f in dataclasses.fields(RunOptions)}
        options = RunOptions(**{k: v for k, v in saved.options.items() if k in known})
        default = Args(config=agent.Config.from_dict(saved.config), run=options, env=saved.env,
                       backend=saved.backend, sweep=_sweep_items(saved.sweep))
    else:
        preset_kwargs = dict(env_kwargs_for_env(env_name)) if env_kwargs_for_env else {}
        default = Args(config=config_for_env(env_name), env=env_name, backend=preset_kwargs.pop("backend", None))
    args = tyro.cli(Args, args=argv, default=default, description=doc)
    sweep = parse_sweep(args.sweep, args.config)
    # Joining the other hosts must come before any JAX computation, and making an env may compute.
    distributed.initialize(args.run.coordinator, args.run.num_processes, args.run.process_id,
                           announce=lambda line: console.print(line, highlight=False))
    env_kwargs = dict(saved.env_kwargs) if saved else preset_kwargs
    if env_kwargs:
        console.print(f"env {args.env!r} with {env_kwargs}", highlight=False)
    make_kwargs = {**({"backend": args.backend} if args.backend else {}), **env_kwargs}
    env = envs.make(args.env, **make_kwargs)
    try:
        return run(agent, env, args.config, args.run, env_name=args.env, sweep=sweep, backend=args.backend,
                   env_kwargs=env_kwargs, env_parameters=envs.parameters(args.env, **make_kwargs))
    except RunInterrupted as stopped:
        console.print(f"[bold yellow]{stopped}")
        sys.exit(stopped.exit_code)
