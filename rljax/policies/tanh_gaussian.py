"""Tanh-squashed Gaussian policy head (distrax), the reparameterised actor of
SAC and DSAC-T.

``a = tanh(u)``, ``u ~ N(mu(obs), diag(sigma(obs)^2))``, with
``log pi(a) = log N(u) - sum_i log(1 - tanh(u_i)^2)``. distrax's ``Tanh``
bijector computes the log-det in the stable form
``2 * (log 2 - u - softplus(-2 u))`` (no ``log(1 - a^2)`` that underflows
at saturated actions), which is the form SAC's paper recommends.
"""

from __future__ import annotations

import dataclasses

import distrax
import jax
import jax.numpy as jnp

from rljax.nets import MLP
from rljax.policies.base import Aux, Params


def tanh_log_det_jacobian(u: jax.Array) -> jax.Array:
    """``log(1 - tanh(u)^2)`` per dimension, computed stably as ``2 (log 2 - u - softplus(-2u))``."""
    return 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))


@dataclasses.dataclass(frozen=True)
class TanhGaussianHead:
    """``obs [..., obs_size] -> action [..., action_size]`` in ``(-1, 1)``.

    The network outputs the pre-squash mean and log-std; the log-std is
    clamped to ``[log_std_min, log_std_max]`` (SAC: [-20, 2]; DSAC-T:
    [-20, 0.5]) so the policy can neither collapse numerically nor explode.
    The bounds may be traced values (sweepable config leaves).
    """

    action_size: int
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    log_std_min: float | jax.Array = -20.0
    log_std_max: float | jax.Array = 2.0
    discrete: bool = dataclasses.field(default=False, init=False)

    @property
    def _net(self) -> MLP:
        return MLP(self.hidden_sizes, 2 * self.action_size, self.activation, out_scale=0.01)

    def init(self, key: jax.Array, obs_size: int) -> Params:
        return self._net.init(key, jnp.zeros((1, obs_size), jnp.float32))

    def mean_and_log_std(self, params: Params, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Pre-squash mean and clamped log-std, each ``[..., action_size]``."""
        mean, log_std = jnp.split(self._net.apply(params, obs), 2, axis=-1)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)

    def distribution(self, params: Params, obs: jax.Array) -> distrax.Transformed:
        mean, log_std = self.mean_and_log_std(params, obs)
        base = distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))
        # Block makes the elementwise Tanh act on the event axis, so log-dets sum over it.
        return distrax.Transformed(base, distrax.Block(distrax.Tanh(), ndims=1))

    def sample(self, params: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, Aux]:
        """Reparameterised ``(action [..., A], {"log_prob": [...]})``; differentiable in ``params``."""
        action, log_prob = self.distribution(params, obs).sample_and_log_prob(seed=key)
        return action, {"log_prob": log_prob}

    def log_likelihood(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux) -> jax.Array:
        """Exact ``log pi(action | obs)``; actions are pulled inside ``(-1, 1)`` so ``atanh`` stays finite."""
        del aux
        action = jnp.clip(action, -1.0 + 1e-6, 1.0 - 1e-6)
        return self.distribution(params, obs).log_prob(action)

    def entropy(self, params: Params, obs: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """Single-sample Monte-Carlo entropy estimate ``-log pi(a)``, ``a ~ pi`` (no closed form)."""
        key = jax.random.key(0) if key is None else key
        return -self.sample(params, obs, key)[1]["log_prob"]

    def mode(self, params: Params, obs: jax.Array) -> jax.Array:
        """The deterministic action ``tanh(mean)``."""
        return jnp.tanh(self.mean_and_log_std(params, obs)[0])
