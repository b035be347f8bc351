"""Categorical policy head (distrax), for discrete actions."""

from __future__ import annotations

import dataclasses

import chex
import distrax
import jax
import jax.numpy as jnp

from rljax.config import ConfigBase, config_dataclass
from rljax.nets import MLP
from rljax.policies.base import Aux, HeadBase, Params


@config_dataclass
class CategoricalSettings(ConfigBase):
    """The categorical head has no settings of its own (its torso is the agent's)."""


@dataclasses.dataclass(frozen=True)
class CategoricalHead(HeadBase):
    """Softmax over ``action_size`` logits; actions are int32 indices ``[...]``; ``aux`` is empty."""

    action_size: int
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    discrete = True
    reparameterized = False
    entropy_kind = "exact"

    @property
    def _net(self) -> MLP:
        return MLP(self.hidden_sizes, self.action_size, self.activation, out_scale=0.01)

    def init(self, key: jax.Array, obs_size: int) -> Params:
        return self._net.init(key, jnp.zeros((1, obs_size), jnp.float32))

    def distribution(self, params: Params, obs: jax.Array) -> distrax.Categorical:
        return distrax.Categorical(logits=self._net.apply(params, obs))

    def sample(self, params: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, Aux]:
        return self.distribution(params, obs).sample(seed=key).astype(jnp.int32), {}

    def sample_and_log_likelihood(self, params: Params, obs: jax.Array,
                                  key: jax.Array) -> tuple[jax.Array, Aux, jax.Array]:
        """``sample`` and the ``log_likelihood`` of its action, from one network pass."""
        action, log_prob = self.distribution(params, obs).sample_and_log_prob(seed=key)
        return action.astype(jnp.int32), {}, log_prob

    def log_likelihood(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux) -> jax.Array:
        """``log pi(action | obs)``: ``[...]``."""
        del aux
        chex.assert_rank(action, obs.ndim - 1)
        return self.distribution(params, obs).log_prob(action)

    def entropy(self, params: Params, obs: jax.Array, key: jax.Array | None = None) -> jax.Array:
        del key
        return self.distribution(params, obs).entropy()

    def log_likelihood_and_entropy(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux,
                                   key: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """Both from one network pass."""
        del aux, key
        distribution = self.distribution(params, obs)
        return distribution.log_prob(action), distribution.entropy()

    def mode(self, params: Params, obs: jax.Array) -> jax.Array:
        return jnp.argmax(self._net.apply(params, obs), axis=-1).astype(jnp.int32)
