"""Train PPO on any rljax env, several seeds as one compiled program.

    python experiments/ppo.py                         # cartpole, 4 seeds
    python experiments/ppo.py --env pendulum --seeds 8
    python experiments/ppo.py --env brax/inverted_pendulum --backend spring --learning-rate 1e-3
    python experiments/ppo.py --sweep learning-rate=1e-4,3e-4,1e-3   # one curve per value, one program
    python experiments/ppo.py --help                  # every Config field

Each env starts from its tuned preset (rljax/agents/ppo/presets.py); any
Config field can be overridden on the command line. A preset's env keyword
arguments (``ENV_KWARGS`` there; none at present) are passed to ``envs.make``
and recorded in config.json. Writes
runs/ppo/<env>-<time>/: config.json, metrics.csv, TensorBoard events,
curves.png, summary.json and checkpoints.
"""

from __future__ import annotations

from rljax import agents
from rljax.agents.ppo.presets import ENV_KWARGS, preset
from rljax.runner import cli


def main(argv: list[str] | None = None) -> dict:
    return cli(agents.ppo, "ppo", preset, __doc__, default_env="cartpole", argv=argv,
               env_kwargs_for_env=lambda name: ENV_KWARGS.get(name, {}))


if __name__ == "__main__":
    main()
