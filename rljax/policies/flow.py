"""Flow-matching policy head: a velocity field integrated from noise, for FPO.

The policy is a velocity field ``v(x_t, t; obs)`` over actions. On the
straight path between an action ``a`` (``t = 0``) and a noise draw ``eps``
(``t = 1``), ``x_t = t * eps + (1 - t) * a``, whose velocity ``dx_t/dt`` is
``eps - a``. Actions come from integrating ``dx/dt = v`` from ``x_1 ~ N(0, I)``
back to ``t = 0`` in ``num_steps`` Euler (or midpoint) steps; ``mode`` starts
from ``x_1 = 0``. The source is ``N(0, noise_std^2 I)`` (``eps`` below has that
std), so ``noise_std`` is the untrained policy's action noise.

No closed-form likelihood exists. The head's ``log_likelihood`` is FPO's
surrogate (McAllister et al., "Flow Matching Policy Gradients"): minus the
conditional flow-matching (CFM) loss of the action, averaged over ``num_mc``
pairs ``(t_i, eps_i)`` that ``sample`` draws and stores in ``aux``:

    l_i = mean_d (v(x_{t_i}, t_i) - (eps_i - a))_d^2        (target="velocity")
    l_i = mean_d (eps_i - (x_{t_i} + (1 - t_i) v))_d^2      (target="epsilon")
        = (1 - t_i)^2 * the velocity form                  (the FPO reference's default)
    log_likelihood = -(1 / num_mc) sum_i l_i                 [...]

so ``exp(new - old)`` is FPO's ratio ``exp(L_old - L_new)``: exactly 1 at the
rollout's params, with gradient ``-grad L`` there. The per-pair loss averages
over action dimensions, as the reference code does (its clip 0.05 was tuned
with that scale); ``||.||^2`` would be ``action_size`` times larger.
``ratio="pair"`` keeps the ``num_mc`` terms apart (``[..., num_mc]``), so PPO
clips each pair's ratio ``exp(l_i_old - l_i_new)`` on its own (the
reference's ``average_losses_before_exp=False``).

``squash="tanh"`` acts with ``tanh`` of the flow's sample, inside the
``[-1, 1]`` bounds the envs clip to, as the reference's rollouts do (they
step the env with ``tanh(action)``). Unsquashed, a flow puts mass outside the
bounds, where every action is the same to the env but not to the CFM loss.
``sample`` stores the pre-squash sample in ``aux["pre_tanh"]`` and the
surrogate scores it: tanh's log-det depends on it alone, so it cancels in
the ratio.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rljax.config import ConfigBase, config_dataclass, one_of, positive, static
from rljax.nets import MLP
from rljax.policies.base import Aux, HeadBase, Params

Velocity = Callable[[jax.Array, jax.Array], jax.Array]


def positive_even(value) -> str | None:
    return None if isinstance(value, int) and value > 0 and value % 2 == 0 else "must be a positive even int"


@config_dataclass
class FlowSettings(ConfigBase):
    """Settings of the flow-matching policy head (``policy="flow"``)."""

    num_steps: int = static(10, check=positive)
    """Integration steps from noise to action (FPO: 10 Euler steps)."""
    integrator: str = static("euler", check=one_of("euler", "midpoint"))
    """'euler', or 'midpoint' (two velocity evaluations per step, second-order accurate)."""
    num_mc: int = static(8, check=positive)
    """(t, eps) pairs drawn per action for the CFM surrogate log-likelihood (FPO's N_mc: 8)."""
    target: str = static("velocity", check=one_of("velocity", "epsilon"))
    """CFM loss: 'velocity' (||v - (eps - a)||^2) or 'epsilon' (on eps recovered from v: (1 - t)^2 x that; FPO's)."""
    time_embed_dim: int = static(8, check=positive_even)
    """Width of the Fourier time embedding (cos, sin of t * 2^k); even."""
    noise_std: float = static(1.0, check=positive)
    """Std of the source noise x_1 and of the CFM pairs' eps (the untrained flow's action spread)."""
    ratio: str = static("action", check=one_of("action", "pair"))
    """'action': one ratio per action from the pairs' mean CFM loss (FPO's default); 'pair': one ratio per (t, eps) pair."""
    squash: str = static("none", check=one_of("none", "tanh"))
    """'tanh': the action is tanh of the flow's sample, in (-1, 1) (the FPO reference's rollouts); 'none': as is."""


def time_embedding(t: jax.Array, dim: int) -> jax.Array:
    """``t [...] -> [..., dim]``: ``cos`` and ``sin`` of ``t * 2^k``, ``k < dim / 2`` (FPO's embedding)."""
    freqs = 2.0 ** jnp.arange(dim // 2, dtype=jnp.float32)
    scaled = t[..., None] * freqs
    return jnp.concatenate([jnp.cos(scaled), jnp.sin(scaled)], axis=-1)


class ConditionalMLP(nn.Module):
    """``(obs [..., O], x [..., A], t [...]) -> [..., out_size]``: an MLP over ``[obs, x, embed(t)]``.

    The velocity field of :class:`FlowHead` and the noise predictor of
    :class:`rljax.policies.diffusion.DiffusionHead`. The output layer starts
    near zero (scale 0.01), as the other policy heads' do.
    """

    hidden_sizes: Sequence[int]
    out_size: int
    activation: str
    time_embed_dim: int

    @nn.compact
    def __call__(self, obs: jax.Array, x: jax.Array, t: jax.Array) -> jax.Array:
        inputs = jnp.concatenate([obs, x, time_embedding(t, self.time_embed_dim)], axis=-1)
        return MLP(self.hidden_sizes, self.out_size, self.activation, out_scale=0.01)(inputs)


@dataclasses.dataclass(frozen=True)
class FlowHead(HeadBase):
    """``obs [..., obs_size] -> action [..., action_size]`` by integrating a learned velocity field.

    ``aux``: ``{"t": [..., num_mc], "eps": [..., num_mc, action_size]}``, the
    pairs at which ``log_likelihood`` evaluates the CFM loss. ``sample`` is a
    deterministic function of the params given its noise, so it is
    differentiable in ``params`` (``reparameterized``); there is no entropy.
    """

    action_size: int
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    num_steps: int = 10
    integrator: str = "euler"
    num_mc: int = 8
    target: str = "velocity"
    time_embed_dim: int = 8
    noise_std: float = 1.0
    squash: str = "none"
    ratio: str = "action"
    discrete = False
    reparameterized = True
    entropy_kind = "none"

    @property
    def _net(self) -> ConditionalMLP:
        return ConditionalMLP(self.hidden_sizes, self.action_size, self.activation, self.time_embed_dim)

    def init(self, key: jax.Array, obs_size: int) -> Params:
        return self._net.init(key, jnp.zeros((1, obs_size), jnp.float32), jnp.zeros((1, self.action_size)),
                              jnp.zeros((1,)))

    def velocity(self, params: Params, obs: jax.Array, x: jax.Array, t: jax.Array | float) -> jax.Array:
        """``v(x, t; obs)``: ``obs [..., O]``, ``x [..., A]``, ``t`` broadcast to ``[...]`` -> ``[..., A]``."""
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), x.shape[:-1])
        return self._net.apply(params, jnp.broadcast_to(obs, x.shape[:-1] + obs.shape[-1:]), x, t)

    def integrate(self, velocity: Velocity, x1: jax.Array) -> jax.Array:
        """Integrate ``dx/dt = velocity(x, t)`` from ``x1`` at ``t = 1`` to ``t = 0`` in ``num_steps`` steps."""
        dt = 1.0 / self.num_steps
        times = jnp.asarray(np.linspace(1.0, 0.0, self.num_steps + 1)[:-1], jnp.float32)

        def step(x, t):
            if self.integrator == "midpoint":
                x_mid = x - 0.5 * dt * velocity(x, t)
                return x - dt * velocity(x_mid, t - 0.5 * dt), None
            return x - dt * velocity(x, t), None

        return jax.lax.scan(step, x1, times)[0]

    def cfm_losses(self, params: Params, obs: jax.Array, action: jax.Array, t: jax.Array,
                   eps: jax.Array) -> jax.Array:
        """The per-pair CFM losses ``l_i``: ``obs [..., O]``, ``action [..., A]``, ``t [..., N]``,
        ``eps [..., N, A]`` -> ``[..., N]``."""
        chex.assert_axis_dimension(action, -1, self.action_size)
        chex.assert_equal_shape_prefix((obs, action), obs.ndim - 1)
        chex.assert_shape(eps, action.shape[:-1] + (t.shape[-1], self.action_size))
        chex.assert_shape(t, action.shape[:-1] + t.shape[-1:])
        action = action[..., None, :]
        x_t = t[..., None] * eps + (1.0 - t[..., None]) * action
        error = self.velocity(params, obs[..., None, :], x_t, t) - (eps - action)
        if self.target == "epsilon":
            error = (1.0 - t[..., None]) * error  # eps - (x_t + (1 - t) v), up to sign
        return jnp.mean(jnp.square(error), axis=-1)

    def _draw_pairs(self, key: jax.Array, batch_shape: tuple[int, ...]) -> Aux:
        t_key, eps_key = jax.random.split(key)
        return {"t": jax.random.uniform(t_key, batch_shape + (self.num_mc,)),
                "eps": self.noise_std * jax.random.normal(eps_key, batch_shape + (self.num_mc, self.action_size))}

    def sample(self, params: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, Aux]:
        """``action [..., A]`` integrated from ``x_1 ~ N(0, noise_std^2 I)`` (then squashed, with ``squash="tanh"``:
        ``aux["pre_tanh"]`` keeps the flow's sample), and ``num_mc`` fresh ``(t, eps)`` pairs."""
        noise_key, pairs_key = jax.random.split(key)
        batch_shape = obs.shape[:-1]
        x0 = self._flow(params, obs, jax.random.normal(noise_key, batch_shape + (self.action_size,)))
        aux = self._draw_pairs(pairs_key, batch_shape)
        if self.squash == "tanh":
            aux["pre_tanh"] = x0
        return self._squash(x0), aux

    def log_likelihood(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux) -> jax.Array:
        """FPO's surrogate: minus the CFM loss at ``aux``'s pairs, averaged over them: ``[...]``
        (``ratio="pair"``: one term per pair, ``[..., num_mc]``)."""
        if "t" not in aux or "eps" not in aux:
            raise ValueError("FlowHead.log_likelihood scores an action at the (t, eps) pairs that sample stored "
                             "in aux; it has no likelihood without them (imitation_loss draws its own pairs)")
        losses = self.cfm_losses(params, obs, self._unsquash(action, aux), aux["t"], aux["eps"])
        return -losses if self.ratio == "pair" else -jnp.mean(losses, axis=-1)

    def imitation_loss(self, params: Params, obs: jax.Array, action: jax.Array, key: jax.Array) -> jax.Array:
        """The CFM loss of ``action`` at ``num_mc`` fresh pairs, averaged: ``[...]``."""
        pairs = self._draw_pairs(key, action.shape[:-1])
        return jnp.mean(self.cfm_losses(params, obs, self._unsquash(action, {}), pairs["t"], pairs["eps"]), axis=-1)

    def entropy(self, params: Params, obs: jax.Array, key: jax.Array | None = None) -> jax.Array:
        raise NotImplementedError("FlowHead has no entropy (entropy_kind='none')")

    def mode(self, params: Params, obs: jax.Array) -> jax.Array:
        """The deterministic action: the flow of ``x_1 = 0`` (squashed with ``squash="tanh"``)."""
        return self.from_noise(params, obs, jnp.zeros(obs.shape[:-1] + (self.action_size,), jnp.float32))

    def from_noise(self, params: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
        """The action ``[..., A]`` the flow carries ``x_1 = noise_std * noise`` to (``noise [..., A]`` in units
        of the source's std; ``sample`` draws it from ``N(0, I)``). Differentiable in ``params`` and ``noise``."""
        return self._squash(self._flow(params, obs, noise))

    def _flow(self, params: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
        """The flow's own sample (before any squash): ``x_1 = noise_std * noise`` integrated to ``t = 0``."""
        chex.assert_axis_dimension(noise, -1, self.action_size)
        return self.integrate(lambda x, t: self.velocity(params, obs, x, t), self.noise_std * noise)

    def _squash(self, x0: jax.Array) -> jax.Array:
        return jnp.tanh(x0) if self.squash == "tanh" else x0

    def _unsquash(self, action: jax.Array, aux: Aux) -> jax.Array:
        """The flow's sample behind ``action``: ``aux["pre_tanh"]`` when ``sample`` stored it (exact), else
        ``atanh`` of the action pulled inside (-1, 1) (``atanh`` of a saturated float32 action is inexact)."""
        if self.squash != "tanh":
            return action
        if "pre_tanh" in aux:
            return aux["pre_tanh"]
        return jnp.arctanh(jnp.clip(action, -1.0 + 1e-6, 1.0 - 1e-6))
