"""SAC configs per env: environment-interaction settings; learning fields keep the defaults.

Measured in tests/test_sac.py (pendulum: the reward-scale table in README).
"""

from __future__ import annotations

from rljax.agents.sac.config import Config

PRESETS: dict[str, Config] = {
    # DSAC-T's interaction settings (one env step per env per update, half a
    # gradient step per env step). At a quarter step per env step a third of
    # the seeds tried stayed below -300 at 3e4 steps (README).
    "pendulum": Config(total_steps=30_000, num_envs=4, unroll_length=1, utd_ratio=0.5, warmup_steps=2_000,
                       buffer_size=100_000),
    "brax/inverted_pendulum": Config(total_steps=100_000, num_envs=8, utd_ratio=0.125, warmup_steps=2_048,
                                     buffer_size=100_000),
}


def preset(env_name: str) -> Config:
    """The config for ``env_name``, or the defaults."""
    return PRESETS.get(env_name, Config())
