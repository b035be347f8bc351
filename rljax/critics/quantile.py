"""Quantile-regression distributional Q critic, with optional TQC truncation.

Each of ``num_critics`` networks outputs ``num_quantiles`` return quantiles at
the fixed midpoints ``tau_i = (i + 0.5) / N`` (QR-DQN). Targets pool the
target networks' quantiles, sort them and, TQC-style (Kuznetsov et al.),
drop the ``drop_per_critic * num_critics`` largest to control
overestimation; every network regresses on the remaining atoms with the
quantile Huber loss.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rljax.config import ConfigBase, config_dataclass, leaf, non_negative_int, positive, static
from rljax.critics.base import TD, EnsembleCritic, Params, soft_td_target


@config_dataclass
class QuantileCriticSettings(ConfigBase):
    """Settings of the quantile critic (``critic="quantile"``; QR, TQC truncation)."""

    num_quantiles: int = static(25, check=positive)
    """Quantiles per member, at the midpoints (i + 0.5) / N."""
    drop_per_critic: int = static(2, check=non_negative_int)
    """TQC: the largest drop_per_critic * num_critics pooled target atoms are dropped."""
    kappa: float = leaf(1.0, check=positive)
    """Threshold of the quantile Huber loss."""

    def _check_consistency(self) -> None:
        if self.drop_per_critic >= self.num_quantiles:
            raise ValueError(f"{type(self).__qualname__}.drop_per_critic={self.drop_per_critic}: must be < "
                             f"num_quantiles ({self.num_quantiles})")


def quantile_midpoints(num_quantiles: int) -> jax.Array:
    """``tau_i = (i + 0.5) / N``: ``[N]``."""
    return (jnp.arange(num_quantiles, dtype=jnp.float32) + 0.5) / num_quantiles


def quantile_huber_loss(pred: jax.Array, target: jax.Array, taus: jax.Array,
                        kappa: float | jax.Array = 1.0) -> jax.Array:
    """``mean_B sum_i mean_j |tau_i - 1{d_ij < 0}| Huber_k(d_ij) / k``, ``d_ij = target_j - pred_i``.

    ``pred [B, N]`` (quantiles at ``taus [N]``), ``target [B, M]`` (target
    atoms, treated as constants). Returns a scalar.
    """
    delta = jax.lax.stop_gradient(target)[:, None, :] - pred[:, :, None]  # [B, N, M]
    abs_delta = jnp.abs(delta)
    huber = jnp.where(abs_delta <= kappa, 0.5 * jnp.square(delta), kappa * (abs_delta - 0.5 * kappa))
    weight = jnp.abs(taus[None, :, None] - (delta < 0).astype(pred.dtype))
    return jnp.mean(jnp.sum(jnp.mean(weight * huber / kappa, axis=-1), axis=-1))


@dataclasses.dataclass(frozen=True)
class QuantileCritic(EnsembleCritic):
    """``num_critics x num_quantiles`` return quantiles; the actor maximises their mean (TQC)."""

    num_quantiles: int = 25
    drop_per_critic: int = 2
    kappa: float | jax.Array = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.drop_per_critic < self.num_quantiles:
            raise ValueError(f"QuantileCritic.drop_per_critic={self.drop_per_critic}: must be in "
                             f"[0, num_quantiles={self.num_quantiles})")

    @property
    def out_size(self) -> int:
        return self.num_quantiles

    def quantiles(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
        """``[num_critics, B, num_quantiles]``."""
        return self.outputs(params, obs, action)

    def q_value(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
        """Mean of all quantiles of all members: ``[B]``."""
        return jnp.mean(self.quantiles(params, obs, action), axis=(0, 2))

    def target_atoms(self, target_params: Params, td: TD) -> jax.Array:
        """Pooled, sorted, truncated soft-TD target atoms: ``[B, num_critics * (N - drop)]``."""
        next_q = self.quantiles(target_params, td["next_obs"], td["next_action"])  # [C, B, N]
        pooled = jnp.sort(jnp.moveaxis(next_q, 0, 1).reshape(next_q.shape[1], -1), axis=-1)
        keep = self.num_critics * (self.num_quantiles - self.drop_per_critic)
        return soft_td_target(td, pooled[:, :keep])

    def loss(self, params: Params, target_params: Params, td: TD, state: dict, key: jax.Array):
        del key
        target = jax.lax.stop_gradient(self.target_atoms(target_params, td))
        pred = self.quantiles(params, td["obs"], td["action"])
        taus = quantile_midpoints(self.num_quantiles)
        loss = jnp.sum(jax.vmap(lambda p: quantile_huber_loss(p, target, taus, self.kappa))(pred))
        return loss, ({"q": jnp.mean(pred), "target_q": jnp.mean(target)}, state)
