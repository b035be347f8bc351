"""Train DSAC-T on a continuous-action rljax env, several seeds as one program.

    python experiments/dsac_t.py                               # pendulum, 4 seeds
    python experiments/dsac_t.py --env pendulum --seeds 8 --huber-ratio-loss
    python experiments/dsac_t.py --help                        # every Config field

Same CLI and outputs as experiments/sac.py (runs/dsac_t/<env>-<time>/); the
presets set only environment-interaction fields, learning fields keep
DSAC-T's reference defaults.
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sac import cli  # noqa: E402  (the shared CLI of the off-policy scripts)

from rljax import agents  # noqa: E402

PRESETS: dict[str, dict[str, Any]] = {
    "pendulum": dict(total_steps=30_000, num_envs=4, unroll_length=1, utd_ratio=0.5, warmup_steps=2_000,
                     buffer_size=100_000),
}


def main(argv: list[str] | None = None) -> dict:
    return cli(agents.dsac_t, "dsac_t", lambda env: agents.dsac_t.Config(**PRESETS.get(env, {})), __doc__,
               default_env="pendulum", argv=argv)


if __name__ == "__main__":
    main()
