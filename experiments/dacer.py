"""Train DACER (a diffusion actor over DSAC-T's critic) on a continuous-action rljax env, several seeds
as one program.

    python experiments/dacer.py                                  # pendulum, 4 seeds
    python experiments/dacer.py --env bandit/bimodal --diffusion.num-steps 10
    python experiments/dacer.py --help                           # every Config field

Same command line and outputs as experiments/dsac_t.py (runs/dacer/<env>-<time>/);
the presets (rljax/agents/dacer/presets.py) set only environment-interaction
fields. DACER's defaults are its reference's (3x256 networks, a 20-step
denoising chain backpropagated on every actor step): on a 2-core CPU the
pendulum preset's 4 seeds took 103 min; it is meant for an accelerator.
"""

from __future__ import annotations

from rljax import agents
from rljax.agents.dacer.presets import preset
from rljax.runner import cli


def main(argv: list[str] | None = None) -> dict:
    return cli(agents.dacer, "dacer", preset, __doc__, default_env="pendulum", argv=argv)


if __name__ == "__main__":
    main()
