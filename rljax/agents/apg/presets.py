"""Tuned APG configs per env (measured in tests/test_apg.py and README)."""

from __future__ import annotations

from typing import Any

from rljax.agents.apg.config import Config

PRESETS: dict[str, Config] = {
    # Gradients through the contact solver (experiments/apg.py). Episodes start
    # in step: every window then sees the same phase of the task, which kept
    # late training stable where desynchronised starts let the return drift.
    "contact/push": Config(total_steps=131_072, num_envs=8, horizon=32, learning_rate=3e-3, init_scale=1.0,
                           max_grad_norm=1.0, desync_episodes=False),
    # The same on the jointed arm (experiments/shac.py --task contact/arm_push) but from a small
    # initial policy: with push's init_scale 1.0 the closed loop through the arm made gradient
    # norms of 1e5-1e7 (open-loop action gradients over 32 steps: 2-14).
    "contact/arm_push": Config(total_steps=131_072, num_envs=8, horizon=32, learning_rate=3e-3, init_scale=0.1,
                               max_grad_norm=1.0, desync_episodes=False),
    # Gradients through brax's spring pipeline (backend="spring", see ENV_KWARGS).
    # A 64-step window (1.28 s of physics) sees the arm arrive (the tip needs
    # ~20 steps at full torque to cross the target disk); longer windows make
    # gradients explode through the chaotic arm dynamics. lr 3e-4 keeps the
    # curves steady.
    "brax/reacher": Config(total_steps=262_144, num_envs=16, horizon=64, learning_rate=3e-4),
}

# Keyword arguments for ``envs.make`` that a preset was tuned with.
ENV_KWARGS: dict[str, dict[str, Any]] = {
    "brax/reacher": {"backend": "spring"},
}


def preset(env_name: str) -> Config:
    """The tuned config for ``env_name``, or the defaults."""
    return PRESETS.get(env_name, Config())
