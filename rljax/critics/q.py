"""Twin scalar Q critic, and the ensemble network and TD pieces every
action-value head shares.

An off-policy critic head (twin Q here; Gaussian, quantile and categorical
distributional heads in their modules) is a frozen dataclass of pure
functions:

- ``init(key, obs_size, action_size) -> params``
- ``init_state() -> dict``: the head's own running state (e.g. DSAC-T's
  running std), ``{}`` when it has none.
- ``q_value(params, obs, action) -> [B]``: the pessimistic scalar value the
  actor maximises (min over the ensemble of means, or the TQC mean).
- ``loss(params, target_params, td, state, key) -> (loss, (metrics, state))``:
  its TD loss on one batch. ``td`` holds ``obs [B, O]``, ``action [B, A]``,
  ``reward [B]``, ``discount [B]`` (``gamma * (1 - terminal)``),
  ``next_obs [B, O]``, ``next_action [B, A]`` and ``next_log_prob [B]``
  (from the policy that targets use) and ``alpha`` (scalar temperature).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from rljax.nets import MLP

Params = Any
TD = dict[str, jax.Array]


class EnsembleMLP(nn.Module):
    """``num`` independent MLPs: ``[..., in] -> [num, ..., out_size]``.

    The members are separate sub-networks whose outputs are stacked. (A
    ``nn.vmap`` over stacked params lowers to batched matmuls, which XLA's CPU
    backend ran at half the speed of separate ones on this project's machines.)
    """

    num: int
    hidden_sizes: tuple[int, ...]
    out_size: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.stack([MLP(self.hidden_sizes, self.out_size, self.activation, out_scale=1.0)(x)
                          for _ in range(self.num)])


def soft_td_target(td: TD, next_value: jax.Array) -> jax.Array:
    """``r + discount * (next_value - alpha * log pi(a'|s'))``; ``next_value [B]`` or ``[B, K]``.

    With ``[B, K]`` (atoms or quantiles) the entropy term shifts every atom.
    """
    entropy_term = td["alpha"] * td["next_log_prob"]
    if next_value.ndim == 2:
        return td["reward"][:, None] + td["discount"][:, None] * (next_value - entropy_term[:, None])
    return td["reward"] + td["discount"] * (next_value - entropy_term)


@dataclasses.dataclass(frozen=True)
class TwinQCritic:
    """``num_critics`` (default 2) scalar Q networks; targets use the min of the target nets."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    num_critics: int = 2

    @property
    def _net(self) -> EnsembleMLP:
        return EnsembleMLP(self.num_critics, self.hidden_sizes, 1, self.activation)

    def init(self, key: jax.Array, obs_size: int, action_size: int) -> Params:
        return self._net.init(key, jnp.zeros((1, obs_size + action_size), jnp.float32))

    def init_state(self) -> dict[str, jax.Array]:
        return {}

    def q_values(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
        """Every member's Q: ``[num_critics, B]``."""
        return self._net.apply(params, jnp.concatenate([obs, action], axis=-1))[..., 0]

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
