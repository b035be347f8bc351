"""Train SAC (any critic head) on a continuous-action rljax env, several seeds as one program.

    python experiments/sac.py                                  # pendulum, 4 seeds
    python experiments/sac.py --env pendulum --seeds 8 --critic quantile --quantile.num-quantiles 25
    python experiments/sac.py --env brax/inverted_pendulum --backend spring
    python experiments/sac.py --sweep critic-learning-rate=1e-4,3e-4     # one curve per value, one program
    python experiments/sac.py --help                           # every Config field

Each env starts from its preset (rljax/agents/sac/presets.py: environment
interaction only, learning fields at the defaults); any Config field can be
overridden on the command line. Writes runs/sac/<env>-<time>/: config.json,
metrics.csv, TensorBoard events, curves.png, summary.json and checkpoints
(which include the replay).
"""

from __future__ import annotations

from rljax import agents
from rljax.agents.sac.presets import preset
from rljax.runner import cli


def main(argv: list[str] | None = None) -> dict:
    return cli(agents.sac, "sac", preset, __doc__, default_env="pendulum", argv=argv)


if __name__ == "__main__":
    main()
