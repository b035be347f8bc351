"""Facts about an env's spaces, without running it eagerly."""

from __future__ import annotations

import jax
from brax.envs.base import Env


def is_discrete(env: Env) -> bool:
    """True for envs whose actions are integer indices in ``[0, action_size)``."""
    return bool(getattr(env, "discrete_actions", False))


def observation_size(env: Env) -> int:
    """Flat observation size, via ``jax.eval_shape`` (brax's property runs reset eagerly)."""
    shape = jax.eval_shape(env.reset, jax.random.key(0)).obs.shape
    if len(shape) != 1:
        raise ValueError(f"expected a flat observation vector, got shape {shape}")
    return int(shape[0])


def action_size(env: Env) -> int:
    """Number of actions (discrete) or action dimensions (continuous)."""
    return int(env.action_size)
