"""Observation normalisation by running mean and variance.

A thin layer over brax's ``running_statistics`` (Welford-style, float32,
pmap/shard-aware); kept here so agents depend on one small interface.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from brax.training import acme
from brax.training.acme import running_statistics

RunningStats = running_statistics.RunningStatisticsState


def init(obs_size: int) -> RunningStats:
    """Zero-count statistics for observations of shape ``[obs_size]``."""
    return running_statistics.init_state(acme.specs.Array((obs_size,), jnp.dtype("float32")))


def update(stats: RunningStats, obs: jax.Array, axis_name: str | None = None) -> RunningStats:
    """Fold a batch ``[..., obs_size]`` into the statistics; with ``axis_name``, the batch is this device's share
    and every device folds in all of them (counts and sums reduced over the axis)."""
    return running_statistics.update(stats, obs, pmap_axis_name=axis_name)


def normalize(stats: RunningStats, obs: jax.Array, clip: float = 10.0) -> jax.Array:
    """``clip((obs - mean) / std)``; identity-like before any update (std starts at 1)."""
    return running_statistics.normalize(obs, stats, max_abs_value=clip)


def normalizer(stats: RunningStats, enabled: bool) -> Callable[[jax.Array], jax.Array]:
    """``obs -> normalize(stats, obs)``, or the identity when ``enabled`` is false."""
    if enabled:
        return lambda obs: normalize(stats, obs)
    return lambda obs: obs
