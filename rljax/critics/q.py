"""Twin scalar Q critic (SAC's): ``num_critics`` Q networks, min-of-targets TD loss."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rljax.config import ConfigBase, config_dataclass
from rljax.critics.base import TD, EnsembleCritic, Params, soft_td_target


@config_dataclass
class TwinQSettings(ConfigBase):
    """The twin-Q critic has no settings beyond the shared torso and ``num_critics``."""


@dataclasses.dataclass(frozen=True)
class TwinQCritic(EnsembleCritic):
    """``num_critics`` (default 2) scalar Q networks; targets use the min of the target nets."""

    out_size = 1

    def q_values(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
        """Every member's Q: ``[num_critics, B]``."""
        return self.outputs(params, obs, action)[..., 0]

    def q_value(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
        """``min_i Q_i(obs, action)``: ``[B]``."""
        return jnp.min(self.q_values(params, obs, action), axis=0)

    def loss(self, params: Params, target_params: Params, td: TD, state: dict, key: jax.Array):
        """``sum_i 0.5 * mean_B (Q_i - y)^2`` with ``y = r + discount (min_i Q'_i(s', a') - alpha log pi)``."""
        del key
        next_q = self.q_value(target_params, td["next_obs"], td["next_action"])
        target = jax.lax.stop_gradient(soft_td_target(td, next_q))
        q = self.q_values(params, td["obs"], td["action"])
        loss = 0.5 * jnp.sum(jnp.mean(jnp.square(q - target), axis=-1))
        return loss, ({"q": jnp.mean(q), "target_q": jnp.mean(target)}, state)
