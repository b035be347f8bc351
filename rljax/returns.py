"""Advantage and return estimators over time-major rollouts."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(rewards: jax.Array, values: jax.Array, next_values: jax.Array, dones: jax.Array,
        truncations: jax.Array, gamma: float | jax.Array, lam: float | jax.Array) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation with bootstrapping at time-limit truncation.

    All inputs are time-major ``[T, ...]``. ``next_values[t]`` is ``V`` of the
    observation reached by step ``t`` *before* any auto-reset (so it is the
    value of the final observation when an episode ends). ``dones`` marks the
    end of an episode (terminated or truncated); ``truncations`` marks ends by
    time limit, where the value of the final observation is bootstrapped:

        delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t)
        A_t     = delta_t + gamma lam (1 - done_t) A_{t+1}

    Returns ``(advantages, returns)`` with ``returns = advantages + values``.
    """
    terminated = dones * (1.0 - truncations)
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values

    def backward(next_advantage, x):
        delta, done = x
        advantage = delta + gamma * lam * (1.0 - done) * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(values[0]), (deltas, dones), reverse=True)
    return advantages, advantages + values
