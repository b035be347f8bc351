"""Diagonal Gaussian policy head (distrax), for on-policy continuous control."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import chex
import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from rljax.config import ConfigBase, config_dataclass, leaf
from rljax.nets import MLP
from rljax.policies.base import Aux, HeadBase, Params


@config_dataclass
class GaussianSettings(ConfigBase):
    """Settings of the Gaussian policy head (``policy="gaussian"``)."""

    init_log_std: float = leaf(0.0)
    """Initial log of the state-independent action std (-1 for a gentle start, e.g. for balancing)."""


class _MeanAndLogStd(nn.Module):
    hidden_sizes: Sequence[int]
    action_size: int
    activation: str
    init_log_std: float

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = MLP(self.hidden_sizes, self.action_size, self.activation, out_scale=0.01)(obs)
        # State-independent log-std, as in PPO's reference implementation.
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_size,))
        return mean, jnp.broadcast_to(log_std, mean.shape)


@dataclasses.dataclass(frozen=True)
class GaussianHead(HeadBase):
    """``N(mu(obs), diag(exp(log_std)^2))`` with a learned state-independent log-std.

    Actions ``[..., action_size]`` are unbounded; environments clip them to their
    own range. ``aux`` is empty: the log-likelihood is a function of (obs, action).
    """

    action_size: int
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    init_log_std: float | jax.Array = 0.0
    discrete = False
    reparameterized = True
    entropy_kind = "exact"

    @property
    def _net(self) -> _MeanAndLogStd:
        return _MeanAndLogStd(self.hidden_sizes, self.action_size, self.activation, self.init_log_std)

    def init(self, key: jax.Array, obs_size: int) -> Params:
        return self._net.init(key, jnp.zeros((1, obs_size), jnp.float32))

    def distribution(self, params: Params, obs: jax.Array) -> distrax.MultivariateNormalDiag:
        mean, log_std = self._net.apply(params, obs)
        return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))

    def sample(self, params: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, Aux]:
        return self.distribution(params, obs).sample(seed=key), {}

    def sample_and_log_likelihood(self, params: Params, obs: jax.Array,
                                  key: jax.Array) -> tuple[jax.Array, Aux, jax.Array]:
        """``sample`` and the ``log_likelihood`` of its action, from one network pass."""
        action, log_prob = self.distribution(params, obs).sample_and_log_prob(seed=key)
        return action, {}, log_prob

    def log_likelihood(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux) -> jax.Array:
        """``log pi(action | obs)``: ``[...]``."""
        del aux
        chex.assert_axis_dimension(action, -1, self.action_size)
        chex.assert_equal_shape_prefix((obs, action), obs.ndim - 1)
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
        return self._net.apply(params, obs)[0]
