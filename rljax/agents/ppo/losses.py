"""PPO's clipped-surrogate, value and entropy losses over one minibatch."""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp

from rljax import parallel
from rljax.critics.base import ValueHead
from rljax.policies.base import PolicyHead


def clipped_surrogate(log_ratio: jax.Array, advantages: jax.Array, clip_epsilon: float | jax.Array,
                      advantage_weights: float | jax.Array = 1.0, trust_region: str = "clip") -> jax.Array:
    """``-mean(min(r A, clip(r, 1-eps, 1+eps) A))`` with ``r = exp(log_ratio)``.

    ``trust_region="aspo"``: terms with ``A < 0`` use SPO's penalised objective
    ``r A - |A| (r - 1)^2 / (2 eps)`` instead (FPO++'s asymmetric trust region,
    Yi et al., "Flow Policy Gradients for Robot Control"): its gradient pulls
    a ratio that left ``[1 - eps, 1 + eps]`` back, where the clip only stops
    pushing it, so a surrogate likelihood that is easy to lower (a flow's CFM
    loss is easy to raise) is not driven further down.

    ``log_ratio [B]`` or ``[B, K]`` (one term per step of a generative chain);
    ``advantages [B]`` are broadcast over ``K`` so each term is clipped on its
    own; ``clip_epsilon`` is a scalar or ``[K]`` (a schedule over steps);
    ``advantage_weights`` a scalar or ``[K]`` multiplying the advantage of
    each term (DPPO's denoising discount).
    """
    chex.assert_rank(advantages, 1)
    chex.assert_equal_shape_prefix([log_ratio, advantages], 1)
    _check_per_term(log_ratio, clip_epsilon, "clip_epsilon")
    _check_per_term(log_ratio, advantage_weights, "advantage_weights")
    advantages = advantages.reshape(advantages.shape + (1,) * (log_ratio.ndim - 1)) * advantage_weights
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon) * advantages
    objective = jnp.minimum(unclipped, clipped)
    if trust_region == "aspo":
        spo = unclipped - jnp.abs(advantages) * jnp.square(ratio - 1.0) / (2.0 * clip_epsilon)
        objective = jnp.where(advantages < 0, spo, objective)
    elif trust_region != "clip":
        raise ValueError(f"trust_region={trust_region!r}: must be 'clip' or 'aspo'")
    return -jnp.mean(objective)


def _check_per_term(log_ratio: jax.Array, value: float | jax.Array, name: str) -> None:
    """A per-term value is a scalar or has exactly the terms' shape ``log_ratio.shape[1:]``."""
    shape = jnp.shape(value)
    if shape and shape != log_ratio.shape[1:]:
        raise ValueError(f"{name} has shape {shape}, but the log-likelihood has terms of shape "
                         f"{log_ratio.shape[1:]}: give a scalar or one value per term")


def normalize_advantages(advantages: jax.Array, axis_name: str | None = None) -> jax.Array:
    """``(A - mean) / (std + 1e-8)`` over the minibatch; with ``axis_name``, over every device's share of it."""
    if axis_name is None:
        return (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    mean = parallel.reduce_mean(advantages.mean(), axis_name)
    std = jnp.sqrt(parallel.reduce_mean(jnp.mean(jnp.square(advantages - mean)), axis_name))
    return (advantages - mean) / (std + 1e-8)


def ppo_loss(params: dict[str, Any], batch: dict[str, Any], cfg: Any, head: PolicyHead, critic: ValueHead,
             key: jax.Array | None = None, axis_name: str | None = None
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Total PPO loss on a minibatch (flat ``[B, ...]`` arrays in ``batch``).

    ``batch["log_likelihood"]`` is the behaviour policy's, ``[B]`` or
    ``[B, K]``. ``key`` is needed only by heads whose entropy is an estimate.
    ``axis_name``: ``batch`` is this device's share of a minibatch split over
    that axis; advantages are normalised by the whole minibatch's statistics
    (the loss and metrics stay this share's means, for the caller to average).
    """
    obs = batch["obs"]
    # One policy pass for both: the gradient then runs one backward pass through it.
    log_likelihood, entropy = head.log_likelihood_and_entropy(params["policy"], obs, batch["action"], batch["aux"],
                                                              key)
    log_ratio = log_likelihood - batch["log_likelihood"]
    advantages = normalize_advantages(batch["advantages"], axis_name)
    term_clip, term_weights = cfg.term_clip_and_weights()
    policy_loss = clipped_surrogate(log_ratio, advantages, term_clip, term_weights, cfg.trust_region)

    values = critic.value(params["value"], obs)
    value_error = jnp.square(values - batch["returns"])
    if cfg.clip_value_loss:
        clipped_values = batch["values"] + jnp.clip(values - batch["values"], -cfg.clip_epsilon, cfg.clip_epsilon)
        value_error = jnp.maximum(value_error, jnp.square(clipped_values - batch["returns"]))
    value_loss = 0.5 * jnp.mean(value_error)

    total = policy_loss + cfg.value_coef * value_loss
    ratio = jnp.exp(log_ratio)
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        # The low-variance KL estimator (r - 1) - log r, over every term.
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > term_clip),
    }
    if entropy is not None:
        entropy = jnp.mean(entropy)
        total = total - cfg.entropy_coef * entropy
        metrics["entropy" if head.entropy_kind == "exact" else "entropy_estimate"] = entropy
    return total, metrics
