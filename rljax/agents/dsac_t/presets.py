"""DSAC-T configs per env: environment-interaction settings; learning fields keep DSAC-T's
reference defaults. Measured in tests/test_dsac_t.py (the reward-scale table in README)."""

from __future__ import annotations

from rljax.agents.dsac_t.config import Config

PRESETS: dict[str, Config] = {
    "pendulum": Config(total_steps=30_000, num_envs=4, unroll_length=1, utd_ratio=0.5, warmup_steps=2_000,
                       buffer_size=100_000),
}


def preset(env_name: str) -> Config:
    """The config for ``env_name``, or DSAC-T's defaults."""
    return PRESETS.get(env_name, Config())
