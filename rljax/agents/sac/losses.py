"""SAC's actor and temperature losses and the Polyak target update.

The critic's TD loss belongs to the critic head (``rljax.critics``); these
are the pieces every maximum-entropy actor-critic here shares.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax


def actor_loss(log_prob: jax.Array | None, q: jax.Array, alpha: jax.Array) -> jax.Array:
    """``mean(alpha log pi(a~|s) - Q(s, a~))`` over ``[B]`` reparameterised samples ``a~``;
    ``mean(-Q)`` without log-probabilities (no entropy term)."""
    if log_prob is None:
        return -jnp.mean(q)
    return jnp.mean(alpha * log_prob - q)


def temperature_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: jax.Array) -> jax.Array:
    """``-log_alpha * mean(sg(log pi + target_entropy))``: raises alpha while the entropy is below target."""
    return -log_alpha * jnp.mean(jax.lax.stop_gradient(log_prob + target_entropy))


def polyak(target: Any, online: Any, tau: jax.Array) -> Any:
    """``target <- (1 - tau) target + tau online``, leafwise."""
    return optax.incremental_update(online, target, tau)
