"""Advantage and return estimators over time-major rollouts."""

from __future__ import annotations

import chex
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


def td_lambda(rewards: jax.Array, next_values: jax.Array, dones: jax.Array, truncations: jax.Array,
              gamma: float | jax.Array, lam: float | jax.Array) -> jax.Array:
    """TD(lambda) returns of a window, bootstrapped at its end and at time limits (SHAC's critic targets).

    All inputs are time-major ``[T, ...]``; ``next_values[t]`` is ``V`` of the
    observation step ``t`` reached, before any auto-reset. An episode that
    terminated (``dones`` without ``truncations``) is worth nothing after its
    last reward; one cut by the time limit, or by the window's end, is
    bootstrapped with ``next_values``:

        G_t = r_t + gamma (1 - terminated_t) [(1 - lam_t) V(s'_t) + lam_t G_{t+1}],
        lam_t = lam (1 - done_t),  G_T = V(s'_{T-1})

    so at an episode's end (``lam_t = 0``) and at the window's last step the
    return is the one-step target ``r + gamma V(s')``. Returns ``[T, ...]``.
    """
    chex.assert_equal_shape([rewards, next_values, dones, truncations])
    terminated = dones * (1.0 - truncations)

    def backward(next_return, x):
        reward, next_value, done, term = x
        lam_t = lam * (1.0 - done)
        ret = reward + gamma * (1.0 - term) * ((1.0 - lam_t) * next_value + lam_t * next_return)
        return ret, ret

    _, returns = jax.lax.scan(backward, next_values[-1], (rewards, next_values, dones, terminated), reverse=True)
    return returns
