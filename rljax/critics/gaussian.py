"""Twin Gaussian distributional Q critic with DSAC-T's loss.

Each member ``i`` models the soft return ``Z_i(s, a) ~ N(Q_i, sigma_i^2)``
(``sigma = softplus(raw) + std_floor``). The loss is DSAC-T's (Duan et al.,
"Distributional Soft Actor-Critic with Three Refinements"):

1. expected value substitution: the mean is regressed on the *mean* target
   ``y_q = r + discount (min_i Q'_i(s', a') - alpha log pi)``, only the std
   sees the sampled target ``y_z``, so the mean's gradient has no sampling noise;
2. twin value distributions: ``y_z`` is built from the return sample
   ``Q'_j + clip(z, -3, 3) sigma'_j`` of the target member ``j`` with the
   lower mean (per transition), curbing overestimation;
3. variance-based gradient adjustment: each member keeps a running std
   ``sigma_bar`` (EMA with rate ``tau_b``), bounds the sampled target to
   ``Q +- bound_sigmas * sigma_bar`` and scales its loss by
   ``(sigma_bar^2 + eps) / (sigma^2 + eps)`` so the step size does not depend
   on the reward scale.

``huber_ratio=True`` selects the reference repository's newer variant:
``mean[clip(sigma_bar^2 / (sg sigma^2 + eps), 0.1, 10) * (huber(Q - y_q)
+ sigma (sg sigma^2 - huber(sg Q - y_z_b)) / (sg sigma + eps))]`` with
Huber threshold ``huber_delta``. (With Huber's ``0.5 e^2`` quadratic part,
its std settles at ``sqrt(E[e^2] / 2)``, not at the return std.)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from rljax import parallel
from rljax.config import ConfigBase, config_dataclass, leaf, non_negative, one_of, positive, static, unit_interval
from rljax.critics.base import TD, EnsembleCritic, Params, soft_td_target

sg = jax.lax.stop_gradient


@config_dataclass
class GaussianCriticSettings(ConfigBase):
    """Settings of the twin Gaussian distributional critic (``critic="gaussian"``, DSAC-T's)."""

    huber_ratio: bool = static(False, check=one_of(True, False))
    """Use the reference repository's newer Huber-ratio loss instead of the paper's."""
    std_floor: float = leaf(1e-4, check=non_negative)
    """sigma = softplus(raw) + std_floor."""
    eps: float = leaf(0.1, check=positive)
    """The "+ eps" of DSAC-T's loss (keeps the gradient scaling finite as sigma -> 0)."""
    bound_sigmas: float = leaf(3.0, check=positive)
    """The sampled target is bounded to Q +- bound_sigmas * running std."""
    sample_clip: float = leaf(3.0, check=positive)
    """Return samples use z ~ N(0, 1) clipped to +- sample_clip."""
    tau_b: float = leaf(0.005, check=unit_interval)
    """Rate of each member's running std (EMA)."""
    huber_delta: float = leaf(50.0, check=positive)
    """Huber threshold of the Huber-ratio loss."""


def lower_mean_sample(means: jax.Array, samples: jax.Array) -> jax.Array:
    """Per transition, the sample of the member with the lowest mean.

    ``means, samples: [num_critics, B] -> [B]``.
    """
    index = jnp.argmin(means, axis=0)
    return jnp.take_along_axis(samples, index[None], axis=0)[0]


def running_std(sigma_bar: jax.Array, initialized: jax.Array, batch_std: jax.Array, tau_b: jax.Array) -> jax.Array:
    """``sigma_bar <- (1 - tau_b) sigma_bar + tau_b * batch_std``; the first call takes ``batch_std``."""
    return jnp.where(initialized > 0, (1.0 - tau_b) * sigma_bar + tau_b * batch_std, batch_std)


def dsac_t_loss(q: jax.Array, std: jax.Array, y_q: jax.Array, y_z: jax.Array, sigma_bar: jax.Array,
                eps: float | jax.Array = 0.1, bound_sigmas: float | jax.Array = 3.0) -> jax.Array:
    """DSAC-T's critic loss for one member (the paper's Eq. with variance-based scaling), a scalar.

    ``q, std, y_q, y_z: [B]``; ``sigma_bar``: scalar running std. Its gradient
    moves ``q`` toward ``y_q`` and ``std`` toward ``|q - y_z_b|`` in RMS, with
    the step scaled by ``(sigma_bar^2 + eps) / (std^2 + eps)``.
    """
    y_q, y_z, sigma_bar = sg(y_q), sg(y_z), sg(sigma_bar)
    q_sg, std_sg = sg(q), sg(std)
    bound = bound_sigmas * sigma_bar
    y_z_bounded = q_sg + jnp.clip(y_z - q_sg, -bound, bound)
    mean_term = q * (y_q - q_sg) / (jnp.square(std_sg) + eps)
    std_term = std * (jnp.square(q_sg - y_z_bounded) - jnp.square(std_sg)) / (std_sg ** 3 + eps)
    return -(jnp.square(sigma_bar) + eps) * jnp.mean(mean_term + std_term)


def dsac_t_huber_ratio_loss(q: jax.Array, std: jax.Array, y_q: jax.Array, y_z: jax.Array, sigma_bar: jax.Array,
                            eps: float | jax.Array = 0.1, bound_sigmas: float | jax.Array = 3.0,
                            delta: float | jax.Array = 50.0) -> jax.Array:
    """The reference repository's newer critic loss (module docstring), a scalar; shapes as :func:`dsac_t_loss`."""
    y_q, y_z, sigma_bar = sg(y_q), sg(y_z), sg(sigma_bar)
    q_sg, std_sg = sg(q), sg(std)
    bound = bound_sigmas * sigma_bar
    y_z_bounded = q_sg + jnp.clip(y_z - q_sg, -bound, bound)
    ratio = jnp.clip(jnp.square(sigma_bar) / (jnp.square(std_sg) + eps), 0.1, 10.0)
    mean_term = optax.huber_loss(q, y_q, delta=delta)
    std_term = std * (jnp.square(std_sg) - optax.huber_loss(q_sg, y_z_bounded, delta=delta)) / (std_sg + eps)
    return jnp.mean(ratio * (mean_term + std_term))


@dataclasses.dataclass(frozen=True)
class GaussianCritic(EnsembleCritic):
    """``num_critics`` Gaussian return distributions ``N(Q_i, sigma_i^2)`` trained with DSAC-T's loss.

    Float fields may be traced config leaves.
    """

    hidden_sizes: tuple[int, ...] = (256, 256, 256)
    activation: str = "gelu"
    std_floor: float | jax.Array = 1e-4
    eps: float | jax.Array = 0.1
    bound_sigmas: float | jax.Array = 3.0
    sample_clip: float | jax.Array = 3.0
    tau_b: float | jax.Array = 0.005
    huber_ratio: bool = False
    huber_delta: float | jax.Array = 50.0
    axis_name: str | None = None  # the data axis the running std's batch mean is taken over (rljax.parallel)

    out_size = 2

    def init_state(self) -> dict[str, jax.Array]:
        return {"sigma_bar": jnp.zeros((self.num_critics,), jnp.float32),
                "initialized": jnp.zeros((), jnp.float32)}

    def mean_and_std(self, params: Params, obs: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Each member's mean and std: two ``[num_critics, B]`` arrays."""
        out = self.outputs(params, obs, action)
        return out[..., 0], jax.nn.softplus(out[..., 1]) + self.std_floor

    def q_value(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
        """``min_i Q_i(obs, action)`` over the members' means: ``[B]``."""
        return jnp.min(self.mean_and_std(params, obs, action)[0], axis=0)

    def targets(self, target_params: Params, td: TD, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The mean target ``y_q [B]`` and the sampled target ``y_z [B]`` (refinements 1 and 2)."""
        next_mean, next_std = self.mean_and_std(target_params, td["next_obs"], td["next_action"])
        z = jnp.clip(jax.random.normal(key, next_mean.shape), -self.sample_clip, self.sample_clip)
        next_sample = lower_mean_sample(next_mean, next_mean + z * next_std)
        return soft_td_target(td, jnp.min(next_mean, axis=0)), soft_td_target(td, next_sample)

    def loss(self, params: Params, target_params: Params, td: TD, state: dict, key: jax.Array):
        """Sum over members of DSAC-T's loss; updates each member's running std first (as the reference)."""
        y_q, y_z = self.targets(target_params, td, key)
        q, std = self.mean_and_std(params, td["obs"], td["action"])
        batch_std = parallel.reduce_mean(jnp.mean(sg(std), axis=-1), self.axis_name)  # of every device's share
        sigma_bar = running_std(state["sigma_bar"], state["initialized"], batch_std, self.tau_b)
        if self.huber_ratio:
            member_loss = lambda q_i, s_i, b_i: dsac_t_huber_ratio_loss(  # noqa: E731
                q_i, s_i, y_q, y_z, b_i, self.eps, self.bound_sigmas, self.huber_delta)
        else:
            member_loss = lambda q_i, s_i, b_i: dsac_t_loss(q_i, s_i, y_q, y_z, b_i, self.eps,  # noqa: E731
                                                             self.bound_sigmas)
        loss = jnp.sum(jax.vmap(member_loss)(q, std, sigma_bar))
        new_state = {"sigma_bar": sigma_bar, "initialized": jnp.ones((), jnp.float32)}
        metrics = {"q": jnp.mean(q), "target_q": jnp.mean(y_q), "q_std": jnp.mean(std),
                   "sigma_bar": jnp.mean(sigma_bar)}
        return loss, (metrics, new_state)
