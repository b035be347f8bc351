"""DSRL configs per env: environment-interaction settings; learning fields keep DSRL's defaults.

Measured with experiments/dsrl.py (tests/test_dsrl.py's slow test).
"""

from __future__ import annotations

from rljax.agents.dsrl.config import Config

PRESETS: dict[str, Config] = {
    # SAC's pendulum interaction settings (4 envs, half a gradient step per env step) with 1k warm-up
    # steps; the reference's 20 gradient steps per env step would cost 40x the compute on CPU. From a
    # flow clone of a mediocre PPO expert (-700) this reaches about -170 in 2e4 steps (experiments/dsrl.py).
    "pendulum": Config(total_steps=20_000, num_envs=4, unroll_length=1, utd_ratio=0.5, warmup_steps=1_000,
                       buffer_size=100_000),
}


def preset(env_name: str) -> Config:
    """The config for ``env_name``, or DSRL's defaults."""
    return PRESETS.get(env_name, Config())
