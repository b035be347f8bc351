"""Train SAC (any critic head) on a continuous-action rljax env, several seeds as one program.

    python experiments/sac.py                                  # pendulum, 4 seeds
    python experiments/sac.py --env pendulum --seeds 8 --critic quantile
    python experiments/sac.py --env brax/inverted_pendulum --backend spring
    python experiments/sac.py --help                           # every Config field

Each env starts from the interaction settings below (``PRESETS``; learning
fields stay at the defaults); any Config field can be overridden on the command
line. Writes runs/sac/<env>-<time>/: config.json, metrics.csv, TensorBoard
events, curves.png, summary.json and checkpoints (which include the replay).
"""

from typing import Any

from rljax import agents
from rljax.runner import cli

# Environment-interaction settings per env (the ones the Pendulum tests use);
# learning fields keep the agent's defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "pendulum": dict(total_steps=30_000, num_envs=4, utd_ratio=0.25, warmup_steps=2_000, buffer_size=100_000),
    "brax/inverted_pendulum": dict(total_steps=100_000, num_envs=8, utd_ratio=0.125, warmup_steps=2_048,
                                   buffer_size=100_000),
}


def main(argv: list[str] | None = None) -> dict:
    return cli(agents.sac, "sac", lambda env: agents.sac.Config(**PRESETS.get(env, {})), __doc__,
               default_env="pendulum", argv=argv)


if __name__ == "__main__":
    main()
