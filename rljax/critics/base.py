"""The critic-head contracts, and the ensemble base every action-value head shares.

State-value heads (PPO's ``V``) follow :class:`ValueHead`. Action-value
heads (the off-policy loop's critics: twin Q, Gaussian, quantile, C51)
follow :class:`CriticHead` and are built on :class:`EnsembleCritic`:
``num_critics`` independent MLPs over ``concat(obs, action)``, each with
``out_size`` outputs (1 for a scalar Q, 2 for a Gaussian's mean and raw std,
``N`` for quantiles or atoms).

A critic head owns its TD loss. The loop hands it ``td``, a dict of:
``obs [B, O]``, ``action [B, A]``, ``reward [B]``, ``discount [B]``
(``gamma * (1 - terminal)``), ``next_obs [B, O]``, ``next_action [B, A]``,
``next_log_prob [B]`` (from the policy the targets use) and ``alpha`` (the
entropy coefficient, a scalar; 0 when the actor has no entropy term).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from rljax.nets import MLP

Params = Any
TD = dict[str, jax.Array]
CriticState = dict[str, jax.Array]


@runtime_checkable
class ValueHead(Protocol):
    """``V: obs [..., O] -> [...]``."""

    def init(self, key: jax.Array, obs_size: int) -> Params: ...

    def value(self, params: Params, obs: jax.Array) -> jax.Array: ...


@runtime_checkable
class CriticHead(Protocol):
    """An action-value head with its own TD loss.

    - ``init(key, obs_size, action_size) -> params``
    - ``init_state() -> dict``: the head's running state (DSAC-T's running
      stds); ``{}`` when it has none. It lives in the training state.
    - ``q_value(params, obs [B, O], action [B, A]) -> [B]``: the pessimistic
      scalar value the actor maximises (min over the ensemble of means, or
      the TQC mean).
    - ``loss(params, target_params, td, state, key) -> (loss, (metrics, state))``:
      its TD loss on one batch (scalar), scalar metrics, the updated state.
    """

    num_critics: int

    def init(self, key: jax.Array, obs_size: int, action_size: int) -> Params: ...

    def init_state(self) -> CriticState: ...

    def q_value(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array: ...

    def loss(self, params: Params, target_params: Params, td: TD, state: CriticState,
             key: jax.Array) -> tuple[jax.Array, tuple[dict[str, jax.Array], CriticState]]: ...


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


@dataclasses.dataclass(frozen=True)
class EnsembleCritic:
    """Base of the action-value heads: the ensemble torso, ``init``, an empty running state.

    Subclasses set ``out_size`` (per member) and define ``q_value`` and ``loss``.
    """

    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    num_critics: int = 2

    @property
    def out_size(self) -> int:
        raise NotImplementedError

    @property
    def _net(self) -> EnsembleMLP:
        return EnsembleMLP(self.num_critics, self.hidden_sizes, self.out_size, self.activation)

    def init(self, key: jax.Array, obs_size: int, action_size: int) -> Params:
        return self._net.init(key, jnp.zeros((1, obs_size + action_size), jnp.float32))

    def init_state(self) -> CriticState:
        return {}

    def outputs(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
        """Every member's raw outputs: ``obs [B, O], action [B, A] -> [num_critics, B, out_size]``."""
        chex.assert_rank([obs, action], 2)
        chex.assert_equal_shape_prefix([obs, action], 1)
        return self._net.apply(params, jnp.concatenate([obs, action], axis=-1))


def soft_td_target(td: TD, next_value: jax.Array) -> jax.Array:
    """``r + discount * (next_value - alpha * log pi(a'|s'))``; ``next_value [B]`` or ``[B, K]``.

    With ``[B, K]`` (atoms or quantiles) the entropy term shifts every atom.
    """
    entropy_term = td["alpha"] * td["next_log_prob"]
    if next_value.ndim == 2:
        return td["reward"][:, None] + td["discount"][:, None] * (next_value - entropy_term[:, None])
    return td["reward"] + td["discount"] * (next_value - entropy_term)
