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
    # Half a gradient step per env step, as on pendulum: all 4 seeds evaluate at 1000 (the maximum)
    # from 23k env steps on (426 s for 50k on 2 CPU cores). At 1/8 (the previous preset) 4 seeds
    # were at 74 after 100k steps, the temperature still 0.055 after 12k gradient steps.
    "brax/inverted_pendulum": Config(total_steps=50_000, num_envs=8, utd_ratio=0.5, warmup_steps=2_048,
                                     buffer_size=100_000),
    # The jointed contact tasks, with inverted_pendulum's interaction settings over 65k steps (4 seeds
    # in one program each, 2 cores shared with other runs): arm_push -26.8 (random -58.9, PPO's
    # 262k-step preset -30.7) in 33 min; hopper 237.7 (random 6.8, standing 100, PPO's 1M-step preset
    # 456.5) in 29 min, every seed hopping 3-6 m in 6 s.
    "contact/arm_push": Config(total_steps=65_536, num_envs=8, utd_ratio=0.5, warmup_steps=2_048,
                               buffer_size=100_000),
    "contact/hopper": Config(total_steps=65_536, num_envs=8, utd_ratio=0.5, warmup_steps=2_048,
                             buffer_size=100_000),
}


def preset(env_name: str) -> Config:
    """The config for ``env_name``, or the defaults."""
    return PRESETS.get(env_name, Config())
