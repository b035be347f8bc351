"""DACER's entropy regulator: exploration noise scaled by an ``alpha`` that follows an entropy estimate.

A diffusion actor has no log-likelihood to put in SAC's loss, so DACER (Wang
et al.) regulates exploration outside it: actions sent to the env are the
chain's sample plus ``N(0, (noise_scale * alpha)^2)``, clipped to the action
box, and ``alpha`` follows Adam on ``-log_alpha * (H_target - H_est)``, with
``H_target = target_entropy_per_dim * |A|`` and ``H_est`` the entropy of
those noisy actions, estimated by a Gaussian-mixture fit to samples at a few
batch states (:mod:`rljax.agents.dacer.mixture`).

DACER's reference estimates the entropy on a whole batch once per alpha
update (every 10,000 gradient steps). Here every actor step estimates it on
``entropy_states`` states and alpha steps on the mean of a period's
estimates: the same kind of figure, from more states, with no ``lax.cond``
(which ``vmap`` over seeds would turn into computing the estimate every step
anyway).

**Mode covering (our addition, off by default).** DACER's actor loss
``-Q(s, a_theta)`` is mode-seeking: how the chain's samples split between
equally good modes is a neutral direction of it, so the split drifts until
one mode holds everything. With ``coverage.weight > 0`` the actor loss also
gets ``weight * mean_s sum_j w_j(s) eps_loss(s, c_j)``: the head's denoising
(imitation) loss at ``coverage.candidates`` actions ``c_j`` drawn uniformly
from the action box, weighted by ``w_j = softmax_j(Q(s, c_j) / temperature)``.
Its expectation is the denoising loss of ``pi(a|s) ~ exp(Q(s, a) /
temperature)`` (self-normalised importance sampling from the uniform
proposal), a forward-KL fit that pulls the split back towards that
distribution's. The uniform proposal makes it exact in expectation and cheap
for few action dimensions; its efficiency falls with the dimension.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
import optax

from rljax import parallel
from rljax.agents.dacer.mixture import mixture_entropy
from rljax.agents.sac import entropy as entropy_lib
from rljax.agents.sac.entropy import ActionSampler, ActorSample, ImitationLoss, QFunction, RegulatorState
from rljax.config import ConfigBase, config_dataclass, leaf, non_negative, positive, static


@config_dataclass
class NoiseScaleSettings(ConfigBase):
    """Settings of DACER's exploration-noise regulator (``entropy="noise_scale"``)."""

    init: float = leaf(3.0, check=positive)
    """Initial alpha (DACER: 3)."""
    learning_rate: float = leaf(3e-2, check=positive)
    """Adam rate of log-alpha, one step per update period (DACER: 3e-2)."""
    target_entropy_per_dim: float = leaf(-0.9)
    """Target entropy = this * |A| (DACER: -0.9 |A|)."""
    noise_scale: float = leaf(0.15, check=positive)
    """Exploration noise std = noise_scale * alpha (DACER: 0.15)."""
    update_period: int = static(5_000, check=positive)
    """Actor steps per alpha update, gradients averaged over them (DACER: 10,000 gradient steps at delay 2)."""
    entropy_states: int = static(4, check=positive)
    """Batch states at which each actor step estimates the entropy."""
    entropy_samples: int = static(200, check=positive)
    """Actions sampled per state for the estimate (DACER: 200)."""
    mixture_components: int = static(3, check=positive)
    """Components of the Gaussian mixture fitted to them (DACER: 3)."""

    def _check_consistency(self) -> None:
        if self.mixture_components > self.entropy_samples:
            raise ValueError(f"{type(self).__module__}.{type(self).__qualname__}.mixture_components="
                             f"{self.mixture_components}: must be <= entropy_samples ({self.entropy_samples})")


@config_dataclass
class CoverageSettings(ConfigBase):
    """Settings of the mode-covering actor term (not in DACER's paper; off by default)."""

    weight: float = static(0.0, check=non_negative)
    """Weight of the Q-weighted denoising loss in the actor loss; 0: off (DACER's -Q alone)."""
    temperature: float = leaf(0.1, check=positive)
    """The term fits the actor to exp(Q / temperature), Q in the critic's (normalised-reward) units."""
    candidates: int = static(32, check=positive)
    """Uniform candidate actions per batch state, weighted by the softmax of Q / temperature."""


@dataclasses.dataclass(frozen=True)
class NoiseScaleRegulator:
    """``alpha`` scales the exploration noise; it adapts to hold the estimated entropy at the target.
    With ``coverage.weight > 0`` it also adds the mode-covering term to the actor loss."""

    settings: NoiseScaleSettings
    action_size: int
    coverage: CoverageSettings = CoverageSettings()
    axis_name: str | None = None  # the data axis the estimate is averaged over (rljax.parallel)
    uses_log_prob = False

    @property
    def regularizes_actor(self) -> bool:
        return self.coverage.weight > 0

    @property
    def _optimizer(self) -> optax.GradientTransformation:
        # Averages the per-step gradients H_est - H_target over the period and takes one Adam step at its end.
        return optax.MultiSteps(optax.adam(self.settings.learning_rate), every_k_schedule=self.settings.update_period)

    def init(self) -> RegulatorState:
        log_alpha = jnp.log(jnp.asarray(self.settings.init, jnp.float32))
        return {"log_alpha": log_alpha, "opt_state": self._optimizer.init(log_alpha)}

    def alpha(self, state: RegulatorState) -> jax.Array:
        return jnp.exp(state["log_alpha"])

    def explore(self, state: RegulatorState, action: jax.Array, key: jax.Array) -> jax.Array:
        """``clip(action + noise_scale * alpha * N(0, I), -1, 1)``."""
        noise = self.settings.noise_scale * self.alpha(state) * jax.random.normal(key, action.shape)
        return jnp.clip(action + noise, -1.0, 1.0)

    def entropy_estimate(self, state: RegulatorState, obs: jax.Array, key: jax.Array,
                         sample_actions: ActionSampler) -> jax.Array:
        """Mean over ``obs [S, O]`` of the mixture entropy of ``entropy_samples`` explored actions: ``[]``."""
        s = self.settings
        sample_key, noise_key, fit_key = jax.random.split(key, 3)
        repeated = jnp.broadcast_to(obs, (s.entropy_samples,) + obs.shape)            # [N, S, O]
        actions = self.explore(state, sample_actions(repeated, sample_key), noise_key)  # [N, S, A]
        fit_keys = jax.random.split(fit_key, obs.shape[0])
        per_state = jax.vmap(lambda x, k: mixture_entropy(x, k, s.mixture_components),
                             in_axes=(1, 0))(actions, fit_keys)
        return jnp.mean(per_state)

    def actor_regularizer(self, state: RegulatorState, obs: jax.Array, key: jax.Array, q_value: QFunction,
                          imitation_loss: ImitationLoss) -> jax.Array:
        """``weight * mean_s sum_j softmax_j(Q(s, c_j) / temperature) imitation_loss(s, c_j)`` over
        ``obs [B, O]`` and ``candidates`` uniform actions ``c_j`` per state: ``[]``."""
        chex.assert_rank(obs, 2)
        c = self.coverage
        (b, o), m = obs.shape, c.candidates
        candidate_key, loss_key = jax.random.split(key)
        candidates = jax.random.uniform(candidate_key, (b, m, self.action_size), minval=-1.0, maxval=1.0)
        repeated = jnp.broadcast_to(obs[:, None, :], (b, m, o))
        q = q_value(repeated.reshape(b * m, o), candidates.reshape(b * m, self.action_size)).reshape(b, m)
        weights = jax.lax.stop_gradient(jax.nn.softmax(q / c.temperature, axis=1))
        return c.weight * jnp.mean(jnp.sum(weights * imitation_loss(repeated, candidates, loss_key), axis=1))

    def update(self, state: RegulatorState, sample: ActorSample, key: jax.Array,
               sample_actions: ActionSampler) -> tuple[RegulatorState, dict[str, jax.Array]]:
        s = self.settings
        # With axis_name: every device estimates at its own batch's first states, and the estimates are averaged.
        estimate = parallel.reduce_mean(
            self.entropy_estimate(state, sample.obs[:s.entropy_states], key, sample_actions), self.axis_name)
        grad = estimate - s.target_entropy_per_dim * self.action_size  # d/dlog_alpha of -log_alpha (H_target - H_est)
        updates, opt_state = self._optimizer.update(grad, state["opt_state"])
        new_state = {"log_alpha": optax.apply_updates(state["log_alpha"], updates), "opt_state": opt_state}
        return new_state, {"entropy_estimate": estimate,
                           "exploration_std": s.noise_scale * self.alpha(new_state)}


def _build(cfg: Any, action_size: int) -> NoiseScaleRegulator:
    if not hasattr(cfg, "noise_scale"):
        raise ValueError(f"entropy='noise_scale' needs a Config with a noise_scale settings group "
                         f"(rljax.agents.dacer.Config); {type(cfg).__qualname__} has none")
    return NoiseScaleRegulator(cfg.noise_scale, action_size, getattr(cfg, "coverage", CoverageSettings()))


if "noise_scale" not in entropy_lib.REGULATORS:
    entropy_lib.register("noise_scale", _build)
