"""State-value critic ``V(obs)`` (a :class:`rljax.critics.base.ValueHead`)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rljax.nets import MLP


@dataclasses.dataclass(frozen=True)
class ValueCritic:
    """``V: [..., obs_size] -> [...]``."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"

    @property
    def _net(self) -> MLP:
        return MLP(self.hidden_sizes, 1, self.activation, out_scale=1.0)

    def init(self, key: jax.Array, obs_size: int):
        return self._net.init(key, jnp.zeros((1, obs_size), jnp.float32))

    def value(self, params, obs: jax.Array) -> jax.Array:
        return self._net.apply(params, obs)[..., 0]
