"""Train DSAC-T on a continuous-action rljax env, several seeds as one program.

    python experiments/dsac_t.py                               # pendulum, 4 seeds
    python experiments/dsac_t.py --env pendulum --seeds 8 --gaussian.huber-ratio
    python experiments/dsac_t.py --help                        # every Config field

Same command line and outputs as experiments/sac.py (runs/dsac_t/<env>-<time>/);
the presets (rljax/agents/dsac_t/presets.py) set only environment-interaction
fields, learning fields keep DSAC-T's reference defaults.
"""

from __future__ import annotations

from rljax import agents
from rljax.agents.dsac_t.presets import preset
from rljax.runner import cli


def main(argv: list[str] | None = None) -> dict:
    return cli(agents.dsac_t, "dsac_t", preset, __doc__, default_env="pendulum", argv=argv)


if __name__ == "__main__":
    main()
