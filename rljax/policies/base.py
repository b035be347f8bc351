"""The policy-head interface shared by every agent.

A head is a frozen dataclass of pure functions over flax params:

- ``init(key, obs_size) -> params``
- ``sample(params, obs, key) -> (action, aux)``: ``obs [..., obs_size]``,
  ``action [..., action_size]`` (``[...]`` int32 for discrete heads); ``aux``
  is a dict of arrays stored with the rollout (e.g. the behaviour log-prob).
- ``log_likelihood(params, obs, action, aux) -> [...]``: the (surrogate)
  log-likelihood, so PPO's ratio is ``exp(new - old)`` whatever the head.
- ``entropy(params, obs) -> [...]`` (heads without a closed form return an
  estimate or zeros and say so).
- ``mode(params, obs) -> action``: the deterministic action.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax

Params = Any
Aux = dict[str, jax.Array]


class PolicyHead(Protocol):
    action_size: int
    discrete: bool

    def init(self, key: jax.Array, obs_size: int) -> Params: ...

    def sample(self, params: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, Aux]: ...

    def log_likelihood(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux) -> jax.Array: ...

    def entropy(self, params: Params, obs: jax.Array) -> jax.Array: ...

    def mode(self, params: Params, obs: jax.Array) -> jax.Array: ...
