"""Hyperparameters of the shared off-policy loop (SAC and its presets)."""

from __future__ import annotations

from brax.envs.base import Env

import envs as envs_lib
from rljax.config import (ConfigBase, config_dataclass, leaf, non_negative, one_of, positive, positive_sizes,
                          static, unit_interval)
from rljax.nets import ACTIVATIONS

CRITICS = ("twin_q", "gaussian", "quantile", "c51")


def _non_negative_int(value) -> str | None:
    return None if isinstance(value, int) and value >= 0 else "must be an int >= 0"


def _positive_number(value) -> str | None:
    return None if isinstance(value, (int, float)) and value > 0 else "must be a number > 0"


@config_dataclass
class Config(ConfigBase):
    """SAC configuration (defaults: Haarnoja et al. 2018, "SAC Algorithms and Applications").

    Ints, tuples, strings and bools are static; floats are pytree leaves
    (sweepable with ``Config.stack`` + ``jax.vmap``).

    Schedule: ``init`` fills the replay with ``warmup_steps`` uniformly random
    actions. Each ``update`` then takes ``unroll_length`` steps in each of
    ``num_envs`` envs with the current policy and makes
    ``utd_ratio * num_envs * unroll_length`` gradient steps; every
    ``policy_delay``-th gradient step also updates the actor, the temperature
    and the target networks.

    ``critic`` picks the head: ``"twin_q"`` (SAC's twin scalar Q),
    ``"gaussian"`` (twin Gaussian distributional Q with DSAC-T's loss),
    ``"quantile"`` (QR / TQC with ``quantiles_to_drop`` per critic), ``"c51"``.
    """

    # Environment interaction.
    total_steps: int = static(100_000, check=positive)
    num_envs: int = static(1, check=positive)
    unroll_length: int = static(1, check=positive)
    utd_ratio: float = static(1.0, check=_positive_number)
    warmup_steps: int = static(10_000, check=_non_negative_int)
    episode_length: int | None = static(None, check=lambda v: None if v is None or (isinstance(v, int) and v > 0)
                                        else "must be None (the env's own limit) or a positive int")
    # Learning structure.
    buffer_size: int = static(1_000_000, check=positive)
    batch_size: int = static(256, check=positive)
    policy_hidden_sizes: tuple[int, ...] = static((256, 256), check=positive_sizes)
    critic_hidden_sizes: tuple[int, ...] = static((256, 256), check=positive_sizes)
    activation: str = static("relu", check=one_of(*ACTIVATIONS))
    critic: str = static("twin_q", check=one_of(*CRITICS))
    num_critics: int = static(2, check=positive)
    policy_delay: int = static(1, check=positive)
    target_policy: bool = static(False, check=one_of(True, False))
    auto_alpha: bool = static(True, check=one_of(True, False))
    num_quantiles: int = static(25, check=positive)
    quantiles_to_drop: int = static(2, check=_non_negative_int)
    num_atoms: int = static(51, check=lambda v: None if isinstance(v, int) and v >= 2 else "must be an int >= 2")
    huber_ratio_loss: bool = static(False, check=one_of(True, False))

    # Float hyperparameters (pytree leaves).
    actor_learning_rate: float = leaf(3e-4, check=positive)
    critic_learning_rate: float = leaf(3e-4, check=positive)
    alpha_learning_rate: float = leaf(3e-4, check=positive)
    gamma: float = leaf(0.99, check=unit_interval)
    tau: float = leaf(0.005, check=unit_interval)
    init_alpha: float = leaf(1.0, check=positive)
    target_entropy_per_dim: float = leaf(-1.0)  # target entropy = this * |A| (SAC: -|A|)
    log_std_min: float = leaf(-20.0)
    log_std_max: float = leaf(2.0)
    reward_scale: float = leaf(1.0, check=positive)
    # Distributional heads.
    std_floor: float = leaf(1e-4, check=non_negative)     # gaussian: sigma = softplus + floor
    dsac_eps: float = leaf(0.1, check=positive)           # gaussian: the "+ eps" of DSAC-T's loss
    dsac_bound_sigmas: float = leaf(3.0, check=positive)  # gaussian: target bound, in running stds
    dsac_sample_clip: float = leaf(3.0, check=positive)   # gaussian: z ~ N(0,1) clipped to +-this
    dsac_tau_b: float = leaf(0.005, check=unit_interval)  # gaussian: running-std rate
    huber_delta: float = leaf(50.0, check=positive)       # gaussian with huber_ratio_loss
    quantile_kappa: float = leaf(1.0, check=positive)     # quantile Huber threshold
    v_min: float = leaf(-100.0)                           # c51 support
    v_max: float = leaf(100.0)

    @property
    def env_steps_per_update(self) -> int:
        return self.num_envs * self.unroll_length

    @property
    def grad_steps_per_update(self) -> int:
        return int(round(self.utd_ratio * self.env_steps_per_update))

    @property
    def prefill_steps(self) -> int:
        """Vector-env steps of random actions in ``init`` (``warmup_steps`` rounded up to whole steps)."""
        return -(-self.warmup_steps // self.num_envs)

    @property
    def num_updates(self) -> int:
        return max(self.total_steps - self.prefill_steps * self.num_envs, 0) // self.env_steps_per_update

    def _check_consistency(self) -> None:
        name = f"{type(self).__module__}.{type(self).__qualname__}"
        grad_steps = self.utd_ratio * self.env_steps_per_update
        if abs(grad_steps - round(grad_steps)) > 1e-9 or round(grad_steps) < 1:
            raise ValueError(
                f"{name}.utd_ratio={self.utd_ratio}: utd_ratio * num_envs * unroll_length = {grad_steps} must be a "
                f"positive integer (the gradient steps per update)")
        if self.grad_steps_per_update % self.policy_delay:
            raise ValueError(
                f"{name}.policy_delay={self.policy_delay}: the gradient steps per update "
                f"(utd_ratio * num_envs * unroll_length = {self.grad_steps_per_update}) must be a multiple of "
                f"policy_delay; raise unroll_length or utd_ratio")
        if self.buffer_size < max(self.batch_size, self.env_steps_per_update):
            raise ValueError(
                f"{name}.buffer_size={self.buffer_size}: must be >= batch_size ({self.batch_size}) and >= "
                f"num_envs * unroll_length ({self.env_steps_per_update})")
        if self.num_updates < 1:
            raise ValueError(
                f"{name}.total_steps={self.total_steps}: must exceed warmup_steps ({self.warmup_steps}) by at "
                f"least one update (num_envs * unroll_length = {self.env_steps_per_update} steps)")
        if self.critic == "quantile" and self.quantiles_to_drop >= self.num_quantiles:
            raise ValueError(f"{name}.quantiles_to_drop={self.quantiles_to_drop}: must be < num_quantiles "
                             f"({self.num_quantiles})")

    def check_env(self, env: Env) -> None:
        """Off-policy actors here are tanh-Gaussian: continuous actions in [-1, 1] only."""
        if envs_lib.is_discrete(env):
            raise ValueError(
                f"{type(self).__module__}.{type(self).__qualname__}: env {type(env).__name__} has discrete actions; "
                f"this agent needs a continuous action space (try agents.ppo for discrete envs)")
