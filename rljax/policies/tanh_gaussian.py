"""Tanh-squashed Gaussian policy head (distrax), the reparameterised actor of
SAC and DSAC-T.

``a = tanh(u)``, ``u ~ N(mu(obs), diag(sigma(obs)^2))``, with
``log pi(a) = log N(u) - sum_i log(1 - tanh(u_i)^2)``, the log-det in the
stable form ``2 * (log 2 - u - softplus(-2 u))`` (no ``log(1 - a^2)`` that
underflows at saturated actions), which is the form SAC's paper recommends.
``aux`` keeps the pre-squash ``u``, so re-scoring a sampled action never
inverts ``tanh`` (``atanh`` of a saturated action is inexact in float32).
"""

from __future__ import annotations

import dataclasses

import chex
import distrax
import jax
import jax.numpy as jnp

from rljax.config import ConfigBase, config_dataclass, leaf
from rljax.nets import MLP
from rljax.policies.base import Aux, HeadBase, Params


@config_dataclass
class TanhGaussianSettings(ConfigBase):
    """Settings of the tanh-Gaussian policy head (``policy="tanh_gaussian"``)."""

    log_std_min: float = leaf(-20.0)
    """Lower clamp of the pre-squash log-std (SAC: -20)."""
    log_std_max: float = leaf(2.0)
    """Upper clamp of the pre-squash log-std (SAC: 2; DSAC-T: 0.5)."""


def tanh_log_det_jacobian(u: jax.Array) -> jax.Array:
    """``log(1 - tanh(u)^2)`` per dimension, computed stably as ``2 (log 2 - u - softplus(-2u))``."""
    return 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))


@dataclasses.dataclass(frozen=True)
class TanhGaussianHead(HeadBase):
    """``obs [..., obs_size] -> action [..., action_size]`` in ``(-1, 1)``.

    The network outputs the pre-squash mean and log-std; the log-std is
    clamped to ``[log_std_min, log_std_max]`` so the policy can neither
    collapse numerically nor explode. The bounds may be traced values
    (sweepable config leaves).
    """

    action_size: int
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    log_std_min: float | jax.Array = -20.0
    log_std_max: float | jax.Array = 2.0
    discrete = False
    reparameterized = True
    entropy_kind = "estimate"

    @property
    def _net(self) -> MLP:
        return MLP(self.hidden_sizes, 2 * self.action_size, self.activation, out_scale=0.01)

    def init(self, key: jax.Array, obs_size: int) -> Params:
        return self._net.init(key, jnp.zeros((1, obs_size), jnp.float32))

    def _base(self, params: Params, obs: jax.Array) -> distrax.MultivariateNormalDiag:
        mean, log_std = self.mean_and_log_std(params, obs)
        return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))

    def mean_and_log_std(self, params: Params, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Pre-squash mean and clamped log-std, each ``[..., action_size]``."""
        mean, log_std = jnp.split(self._net.apply(params, obs), 2, axis=-1)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)

    @staticmethod
    def _squashed_log_prob(base: distrax.MultivariateNormalDiag, u: jax.Array) -> jax.Array:
        return base.log_prob(u) - jnp.sum(tanh_log_det_jacobian(u), axis=-1)

    @staticmethod
    def _pre_tanh(action: jax.Array, aux: Aux) -> jax.Array:
        # From aux when the action came from ``sample``; else tanh inverted inside (-1, 1).
        if "pre_tanh" in aux:
            return aux["pre_tanh"]
        return jnp.arctanh(jnp.clip(action, -1.0 + 1e-6, 1.0 - 1e-6))

    def sample(self, params: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, Aux]:
        """Reparameterised ``action [..., A]`` and ``{"pre_tanh": u [..., A]}``; differentiable in ``params``."""
        u = self._base(params, obs).sample(seed=key)
        return jnp.tanh(u), {"pre_tanh": u}

    def sample_and_log_likelihood(self, params: Params, obs: jax.Array,
                                  key: jax.Array) -> tuple[jax.Array, Aux, jax.Array]:
        """``sample`` and the ``log_likelihood`` of its action (``[...]``) from one network pass."""
        base = self._base(params, obs)
        u = base.sample(seed=key)
        return jnp.tanh(u), {"pre_tanh": u}, self._squashed_log_prob(base, u)

    def log_likelihood(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux) -> jax.Array:
        """Exact ``log pi(action | obs)``: ``[...]``. Uses ``aux["pre_tanh"]`` when the action came from
        ``sample``; otherwise inverts ``tanh`` on the action pulled inside ``(-1, 1)``."""
        chex.assert_axis_dimension(action, -1, self.action_size)
        return self._squashed_log_prob(self._base(params, obs), self._pre_tanh(action, aux))

    def entropy(self, params: Params, obs: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """Single-sample Monte-Carlo estimate ``-log pi(a)``, ``a ~ pi`` (no closed form): ``[...]``."""
        if key is None:
            raise ValueError("TanhGaussianHead.entropy is a Monte-Carlo estimate: pass a key")
        return -self.sample_and_log_likelihood(params, obs, key)[2]

    def log_likelihood_and_entropy(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux,
                                   key: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """``log_likelihood`` and the entropy estimate, from one network pass."""
        if key is None:
            raise ValueError("TanhGaussianHead's entropy is a Monte-Carlo estimate: pass a key")
        chex.assert_axis_dimension(action, -1, self.action_size)
        base = self._base(params, obs)
        return (self._squashed_log_prob(base, self._pre_tanh(action, aux)),
                -self._squashed_log_prob(base, base.sample(seed=key)))

    def mode(self, params: Params, obs: jax.Array) -> jax.Array:
        """The deterministic action ``tanh(mean)``."""
        return jnp.tanh(self.mean_and_log_std(params, obs)[0])
