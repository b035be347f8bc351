"""PPO's clipped-surrogate, value and entropy losses over one minibatch."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rljax.critics.value import ValueCritic
from rljax.policies.base import PolicyHead


def clipped_surrogate(log_ratio: jax.Array, advantages: jax.Array, clip_epsilon: float | jax.Array) -> jax.Array:
    """``-mean(min(r A, clip(r, 1-eps, 1+eps) A))`` with ``r = exp(log_ratio)``."""
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon) * advantages
    return -jnp.mean(jnp.minimum(unclipped, clipped))


def normalize_advantages(advantages: jax.Array) -> jax.Array:
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def ppo_loss(params: dict[str, Any], batch: dict[str, Any], cfg: Any, head: PolicyHead,
             critic: ValueCritic) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Total PPO loss on a minibatch (flat ``[B, ...]`` arrays in ``batch``)."""
    obs = batch["obs"]
    log_likelihood = head.log_likelihood(params["policy"], obs, batch["action"], batch["aux"])
    log_ratio = log_likelihood - batch["aux"]["log_prob"]
    advantages = normalize_advantages(batch["advantages"])
    policy_loss = clipped_surrogate(log_ratio, advantages, cfg.clip_epsilon)

    values = critic.value(params["value"], obs)
    value_error = jnp.square(values - batch["returns"])
    if cfg.clip_value_loss:
        clipped_values = batch["values"] + jnp.clip(values - batch["values"], -cfg.clip_epsilon, cfg.clip_epsilon)
        value_error = jnp.maximum(value_error, jnp.square(clipped_values - batch["returns"]))
    value_loss = 0.5 * jnp.mean(value_error)

    entropy = jnp.mean(head.entropy(params["policy"], obs))
    total = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
    ratio = jnp.exp(log_ratio)
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        # The low-variance KL estimator (r - 1) - log r.
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > cfg.clip_epsilon),
    }
    return total, metrics
