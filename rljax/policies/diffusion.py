"""Diffusion policy head: a denoising chain of exact Gaussian steps, for DPPO.

An epsilon-prediction denoiser ``eps_theta(x_k, k; obs)`` on a
variance-preserving cosine schedule (Nichol & Dhariwal) of ``K = num_steps``
steps: ``x_k = sqrt(abar_k) a + sqrt(1 - abar_k) eps``. Sampling runs the DDPM
chain from ``x_K ~ N(0, I)``; each step ``x_k -> x_{k-1}`` is Gaussian,

    x0_hat = clip((x_k - sqrt(1 - abar_k) eps_theta) / sqrt(abar_k), +-denoised_clip)
    mu_k   = beta_k sqrt(abar_{k-1}) / (1 - abar_k) x0_hat + (1 - abar_{k-1}) sqrt(alpha_k) / (1 - abar_k) x_k
    x_{k-1} ~ N(mu_k, std_k^2 I),   std_k = max(sqrt(beta_k (1 - abar_{k-1}) / (1 - abar_k)), min_std)

and the same clipped std is used to sample and to score, so every step's
log-probability is exact (DPPO, Ren et al.: both clipped below at 0.1). The
action is ``x_0``.

DPPO fine-tunes the last ``K' = finetune_steps`` steps: ``sample`` stores the
inputs of those steps, ``aux["chain"] = [x_K', ..., x_1]`` (``[..., K', A]``;
the last step's output is the action), and ``log_likelihood`` returns one
term per fine-tuned step, ``[..., K']`` (noisiest first). When ``K' < K``
the earlier steps run a frozen copy of the denoiser (``params["base"]``,
under ``stop_gradient``, as DPPO's reference keeps the pre-trained network
for them), so the chain's distribution up to ``x_K'`` does not move with the
fine-tuned params and the K' terms are the whole importance ratio.
Params: ``{"denoiser": ...}`` plus ``"base"`` when ``K' < K``.

``sample`` is differentiable in ``params["denoiser"]`` through the whole
chain (``reparameterized``), for off-policy actors; the clip of ``x0_hat``
passes no gradient where it binds (the exact derivative, which DPPO's scores
need) unless ``clip_gradient="inward"`` (:func:`clip_passing_inward_gradient`).
``mode`` is DDIM's deterministic chain from ``x_K = 0`` (or, with ``mode="mean"``, the
sampler's own steps without their noise).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np

from rljax.config import ConfigBase, config_dataclass, leaf, one_of, positive, static
from rljax.policies.base import Aux, HeadBase, Params
from rljax.policies.flow import ConditionalMLP, positive_even


def _finetune_steps(value) -> str | None:
    ok = value is None or (isinstance(value, int) and value > 0)
    return None if ok else "must be None (all num_steps steps) or a positive int"


@config_dataclass
class DiffusionSettings(ConfigBase):
    """Settings of the diffusion policy head (``policy="diffusion"``)."""

    num_steps: int = static(10, check=positive)
    """Denoising steps K (DPPO's reference: 20)."""
    finetune_steps: int | None = static(None, check=_finetune_steps)
    """K': only the last K' steps are scored and fine-tuned, earlier ones use a frozen copy; None: all K."""
    time_embed_dim: int = static(16, check=positive_even)
    """Width of the Fourier embedding of the step's time k / K; even."""
    min_std: float = leaf(0.1, check=positive)
    """Lower clip of every step's std, for sampling and scoring alike (DPPO: 0.1)."""
    denoised_clip: float = leaf(1.0, check=positive)
    """The predicted clean action x0_hat is clipped to +-this inside each step (DPPO: 1, the action range)."""
    mode: str = static("ddim", check=one_of("ddim", "mean"))
    """Deterministic action from x_K = 0: 'ddim' (DDIM's eta = 0 chain) or 'mean' (x_{k-1} = mu_k(x_k))."""
    clip_gradient: str = static("exact", check=one_of("exact", "inward"))
    """Gradient of the x0_hat clip where it binds: 'exact' (zero) or 'inward' (passed if it points back inside)."""

    def _check_consistency(self) -> None:
        if self.finetune_steps is not None and self.finetune_steps > self.num_steps:
            raise ValueError(f"{type(self).__module__}.{type(self).__qualname__}.finetune_steps="
                             f"{self.finetune_steps}: must be <= num_steps = {self.num_steps}")


@functools.cache
def cosine_schedule(num_steps: int, s: float = 0.008) -> dict[str, np.ndarray]:
    """The VP cosine schedule, float64 numpy arrays indexed by step ``k = 0..K`` (entry 0 is the clean end).

    ``abar[k] = f(k) / f(0)``, ``f(k) = cos(((k / K) + s) / (1 + s) * pi / 2)^2``; ``beta_k = 1 -
    abar[k] / abar[k-1]`` clipped to ``<= 0.999`` and ``abar`` recomputed from the clipped betas.
    Also the posterior's std ``sqrt(beta_k (1 - abar_{k-1}) / (1 - abar_k))`` and mean coefficients.
    """
    k = np.arange(num_steps + 1, dtype=np.float64)
    f = np.cos((k / num_steps + s) / (1 + s) * math.pi / 2) ** 2
    beta = np.concatenate([[0.0], np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)])
    abar = np.cumprod(1.0 - beta)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        posterior_var = np.where(k > 0, beta * (1.0 - abar_prev) / (1.0 - abar), 0.0)
        coef_x0 = np.where(k > 0, beta * np.sqrt(abar_prev) / (1.0 - abar), 1.0)
        coef_xk = np.where(k > 0, (1.0 - abar_prev) * np.sqrt(1.0 - beta) / (1.0 - abar), 0.0)
    return {"beta": beta, "abar": abar, "abar_prev": abar_prev, "posterior_std": np.sqrt(posterior_var),
            "coef_x0": coef_x0, "coef_xk": coef_xk}


def _gaussian_log_prob(z: jax.Array, std: jax.Array) -> jax.Array:
    """``log N(mu + std z; mu, std^2 I)`` from the standardised draw ``z [..., A]`` and a per-step std ``[...]``."""
    a = z.shape[-1]
    return -0.5 * jnp.sum(jnp.square(z), axis=-1) - a * jnp.log(std) - 0.5 * a * math.log(2 * math.pi)


@jax.custom_vjp
def clip_passing_inward_gradient(x: jax.Array, bound: jax.Array) -> jax.Array:
    """``clip(x, -bound, bound)`` whose gradient, where the clip binds, is passed on when gradient descent
    would move ``x`` back inside (and is zero, as the exact one, when it would push ``x`` further out).

    With the exact gradient, an actor trained through the chain whose ``x0_hat`` all lie outside the clip
    gets a gradient of exactly zero and keeps its constant action for good (one DACER seed on
    ``brax/inverted_pendulum`` did); passing the gradient straight through instead lets ``x0_hat`` drift
    ever further out wherever the critic's slope at the box's edge points outwards.
    """
    return jnp.clip(x, -bound, bound)


def _clip_forward(x: jax.Array, bound: jax.Array):
    return jnp.clip(x, -bound, bound), (x, bound)


def _clip_backward(residuals, g: jax.Array):
    x, bound = residuals
    # Descent moves x by -g: inward where x > bound needs g > 0, where x < -bound g < 0.
    passes = (jnp.abs(x) <= bound) | ((x > bound) & (g > 0)) | ((x < -bound) & (g < 0))
    return jnp.where(passes, g, 0.0), jnp.zeros_like(bound)


clip_passing_inward_gradient.defvjp(_clip_forward, _clip_backward)


@dataclasses.dataclass(frozen=True)
class DiffusionHead(HeadBase):
    """``obs [..., obs_size] -> action [..., action_size]`` by a K-step Gaussian denoising chain.

    ``aux``: ``{"chain": [..., K', action_size]}``, the inputs of the fine-tuned steps.
    ``log_likelihood -> [..., K']``. No entropy.
    """

    action_size: int
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    num_steps: int = 10
    finetune_steps: int | None = None
    min_std: float | jax.Array = 0.1
    denoised_clip: float | jax.Array = 1.0
    time_embed_dim: int = 16
    mode_kind: str = "ddim"
    clip_gradient: str = "exact"
    discrete = False
    reparameterized = True
    entropy_kind = "none"

    @property
    def num_terms(self) -> int:
        """K': fine-tuned steps, one log-likelihood term each."""
        return self.num_steps if self.finetune_steps is None else self.finetune_steps

    @property
    def frozen_base(self) -> bool:
        """The first ``K - K'`` steps run the frozen ``params["base"]``."""
        return self.num_terms < self.num_steps

    @property
    def _net(self) -> ConditionalMLP:
        return ConditionalMLP(self.hidden_sizes, self.action_size, self.activation, self.time_embed_dim)

    def _table(self, name: str) -> jax.Array:
        return jnp.asarray(cosine_schedule(self.num_steps)[name], jnp.float32)

    def init(self, key: jax.Array, obs_size: int) -> Params:
        denoiser = self._net.init(key, jnp.zeros((1, obs_size), jnp.float32), jnp.zeros((1, self.action_size)),
                                  jnp.zeros((1,)))
        return {"denoiser": denoiser, "base": denoiser} if self.frozen_base else {"denoiser": denoiser}

    def epsilon(self, net_params: Params, obs: jax.Array, x: jax.Array, k: jax.Array | int) -> jax.Array:
        """The predicted noise ``eps_theta(x_k, k; obs)``: ``x [..., A]``, step ``k`` (int, broadcast to
        ``[...]``) -> ``[..., A]``. ``net_params``: one denoiser's (``params["denoiser"]`` or ``["base"]``)."""
        k = jnp.broadcast_to(jnp.asarray(k), x.shape[:-1])
        obs = jnp.broadcast_to(obs, x.shape[:-1] + obs.shape[-1:])
        return self._net.apply(net_params, obs, x, k.astype(jnp.float32) / self.num_steps)

    def _denoised(self, net_params: Params, obs: jax.Array, x: jax.Array, k: jax.Array) -> jax.Array:
        abar = self._table("abar")[k][..., None]
        eps = self.epsilon(net_params, obs, x, k)
        x0 = (x - jnp.sqrt(1.0 - abar) * eps) / jnp.sqrt(abar)
        if self.clip_gradient == "inward":
            return clip_passing_inward_gradient(x0, jnp.asarray(self.denoised_clip, x0.dtype))
        return jnp.clip(x0, -self.denoised_clip, self.denoised_clip)

    def step_mean(self, net_params: Params, obs: jax.Array, x: jax.Array, k: jax.Array | int) -> jax.Array:
        """``mu_k(x_k)``, the mean of ``x_{k-1}``: ``[..., A]``; ``k`` broadcast to ``x.shape[:-1]``."""
        k = jnp.broadcast_to(jnp.asarray(k), x.shape[:-1])
        x0 = self._denoised(net_params, obs, x, k)
        return self._table("coef_x0")[k][..., None] * x0 + self._table("coef_xk")[k][..., None] * x

    def step_std(self, k: jax.Array | int) -> jax.Array:
        """``std_k``: the posterior std clipped below at ``min_std`` (the same for sampling and scoring)."""
        return jnp.maximum(self._table("posterior_std")[k], self.min_std)

    def _chain(self, params: Params, obs: jax.Array, x: jax.Array, noise: jax.Array):
        """Run steps ``K..1`` from ``x = x_K`` with standard-normal ``noise [K, ..., A]``. Returns ``x_0``,
        the fine-tuned steps' inputs ``[K', ..., A]`` and their log-probs ``[K', ...]``."""
        def step(net_params):
            def body(x, inputs):
                k, z = inputs
                y = self.step_mean(net_params, obs, x, k) + self.step_std(k) * z
                return y, (x, _gaussian_log_prob(z, jnp.broadcast_to(self.step_std(k), x.shape[:-1])))
            return body

        steps = jnp.arange(self.num_steps, 0, -1)
        n_base = self.num_steps - self.num_terms
        if n_base:
            base = jax.lax.stop_gradient(params["base"])
            x, _ = jax.lax.scan(step(base), x, (steps[:n_base], noise[:n_base]))
        x, (inputs, log_probs) = jax.lax.scan(step(params["denoiser"]), x, (steps[n_base:], noise[n_base:]))
        return x, inputs, log_probs

    def sample(self, params: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, Aux]:
        """``action [..., A]`` from the stochastic chain and ``{"chain": [..., K', A]}``."""
        action, aux, _ = self.sample_and_log_likelihood(params, obs, key)
        return action, aux

    def sample_and_log_likelihood(self, params: Params, obs: jax.Array,
                                  key: jax.Array) -> tuple[jax.Array, Aux, jax.Array]:
        """``sample`` and its per-step log-probs ``[..., K']``, from the draws themselves (one chain pass)."""
        start_key, noise_key = jax.random.split(key)
        batch_shape = obs.shape[:-1]
        x = jax.random.normal(start_key, batch_shape + (self.action_size,))
        noise = jax.random.normal(noise_key, (self.num_steps,) + batch_shape + (self.action_size,))
        action, inputs, log_probs = self._chain(params, obs, x, noise)
        return action, {"chain": jnp.moveaxis(inputs, 0, -2)}, jnp.moveaxis(log_probs, 0, -1)

    def log_likelihood(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux) -> jax.Array:
        """``log N(x_{k-1}; mu_k(x_k), std_k^2)`` of each fine-tuned step, noisiest first: ``[..., K']``."""
        if "chain" not in aux:
            raise ValueError("DiffusionHead.log_likelihood scores the denoising chain that sample stored in aux; "
                             "it has no likelihood without it (imitation_loss needs none)")
        chain = aux["chain"]
        chex.assert_axis_dimension(action, -1, self.action_size)
        chex.assert_equal_shape_prefix((obs, action), obs.ndim - 1)
        chex.assert_shape(chain, action.shape[:-1] + (self.num_terms, self.action_size))
        outputs = jnp.concatenate([chain[..., 1:, :], action[..., None, :]], axis=-2)
        k = jnp.arange(self.num_terms, 0, -1)
        mean = self.step_mean(params["denoiser"], obs[..., None, :], chain, k)
        std = self.step_std(k)
        return _gaussian_log_prob((outputs - mean) / std[:, None], jnp.broadcast_to(std, chain.shape[:-1]))

    def imitation_loss(self, params: Params, obs: jax.Array, action: jax.Array, key: jax.Array) -> jax.Array:
        """DDPM's epsilon-MSE at one uniformly drawn step per action: ``[...]``. Steps the frozen base
        runs train ``params["base"]``, the others ``params["denoiser"]``."""
        chex.assert_axis_dimension(action, -1, self.action_size)
        chex.assert_equal_shape_prefix((obs, action), obs.ndim - 1)
        k_key, eps_key = jax.random.split(key)
        k = jax.random.randint(k_key, action.shape[:-1], 1, self.num_steps + 1)
        eps = jax.random.normal(eps_key, action.shape)
        abar = self._table("abar")[k][..., None]
        x = jnp.sqrt(abar) * action + jnp.sqrt(1.0 - abar) * eps
        predicted = self.epsilon(params["denoiser"], obs, x, k)
        if self.frozen_base:
            by_base = self.epsilon(params["base"], obs, x, k)
            predicted = jnp.where((k > self.num_terms)[..., None], by_base, predicted)
        return jnp.mean(jnp.square(predicted - eps), axis=-1)

    def entropy(self, params: Params, obs: jax.Array, key: jax.Array | None = None) -> jax.Array:
        raise NotImplementedError("DiffusionHead has no entropy (entropy_kind='none')")

    def mode(self, params: Params, obs: jax.Array) -> jax.Array:
        """The deterministic action: :meth:`from_noise` at ``x_K = 0``."""
        return self.from_noise(params, obs, jnp.zeros(obs.shape[:-1] + (self.action_size,), jnp.float32))

    def from_noise(self, params: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
        """The action ``[..., A]`` of the deterministic chain from ``x_K = noise [..., A]`` (the sampler's
        source is ``N(0, I)``): DDIM's (eta = 0, the clipped ``x0_hat`` of each step; ``mode_kind="ddim"``)
        or the sampler's step means (``"mean"``). Differentiable in ``params`` and ``noise``."""
        chex.assert_axis_dimension(noise, -1, self.action_size)
        x = noise.astype(jnp.float32)
        if self.mode_kind == "mean":
            return self._chain(params, obs, x, jnp.zeros((self.num_steps,) + x.shape))[0]
        abar, abar_prev = self._table("abar"), self._table("abar_prev")

        def step(net_params):
            def body(x, k):
                x0 = self._denoised(net_params, obs, x, jnp.broadcast_to(k, x.shape[:-1]))
                eps = (x - jnp.sqrt(abar[k]) * x0) / jnp.sqrt(1.0 - abar[k])
                return jnp.sqrt(abar_prev[k]) * x0 + jnp.sqrt(1.0 - abar_prev[k]) * eps, None
            return body

        steps = jnp.arange(self.num_steps, 0, -1)
        n_base = self.num_steps - self.num_terms
        if n_base:
            x, _ = jax.lax.scan(step(params["base"]), x, steps[:n_base])
        return jax.lax.scan(step(params["denoiser"]), x, steps[n_base:])[0]
