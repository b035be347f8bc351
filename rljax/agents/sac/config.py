"""Hyperparameters of the shared off-policy loop (SAC and its presets)."""

from __future__ import annotations

from rljax import env as env_lib
from rljax.agents.sac.entropy import REGULATORS, TemperatureSettings
from rljax.config import (ConfigBase, config_dataclass, group, leaf, non_negative_int, one_of, positive,
                          positive_sizes, static, unit_interval, valid_episode_length)
from rljax.critics import registry as critics
from rljax.critics.categorical import C51Settings
from rljax.critics.gaussian import GaussianCriticSettings
from rljax.critics.quantile import QuantileCriticSettings
from rljax.env import Env
from rljax.nets import ACTIVATIONS
from rljax.policies import registry as policies
from rljax.policies.tanh_gaussian import TanhGaussianSettings


def _positive_number(value) -> str | None:
    return None if isinstance(value, (int, float)) and value > 0 else "must be a number > 0"


def _regulator(value) -> str | None:
    return None if value in REGULATORS else f"must be one of {sorted(REGULATORS)}"


@config_dataclass
class Config(ConfigBase):
    """SAC configuration (defaults: Haarnoja et al. 2018, "SAC Algorithms and Applications").

    Ints, tuples, strings and bools are static; floats are pytree leaves
    (sweepable with ``Config.stack`` + ``jax.vmap``).

    Schedule: ``init`` fills the replay with ``warmup_steps`` uniformly random
    actions. Each ``update`` then takes ``unroll_length`` steps in each of
    ``num_envs`` envs with the current policy and makes
    ``utd_ratio * num_envs * unroll_length`` gradient steps; every
    ``policy_delay``-th gradient step also updates the actor, the entropy
    regulator and the target networks.

    Parts are chosen by name, each with its settings in a group of that name:
    ``policy`` (a reparameterised head; ``tanh_gaussian``), ``critic``
    (``twin_q``; ``gaussian``: DSAC-T's twin Gaussian distributional critic;
    ``quantile``: QR / TQC; ``c51``), ``entropy`` (``learned`` / ``fixed``
    temperature, ``none``; settings in ``temperature``).
    """

    total_steps: int = static(100_000, check=positive)
    """Env steps to train for, warm-up included."""
    num_envs: int = static(1, check=positive)
    """Envs stepped in parallel."""
    unroll_length: int = static(1, check=positive)
    """Steps per env per update."""
    utd_ratio: float = static(1.0, check=_positive_number)
    """Gradient steps per env step (a structural number: it sets the update's loop length)."""
    warmup_steps: int = static(10_000, check=non_negative_int)
    """Uniformly random env steps that prefill the replay before learning."""
    episode_length: int | None = static(None, check=valid_episode_length)
    """Time limit; None uses the env's default_episode_length."""
    buffer_size: int = static(1_000_000, check=positive)
    """Replay capacity in transitions (per seed)."""
    batch_size: int = static(256, check=positive)
    """Transitions per gradient step."""
    policy: str = static("tanh_gaussian", check=policies.HEADS.check)
    """Actor head: a reparameterised continuous policy head."""
    policy_hidden_sizes: tuple[int, ...] = static((256, 256), check=positive_sizes)
    """Hidden layer widths of the actor."""
    critic: str = static("twin_q", check=critics.CRITICS.check)
    """Critic head: twin_q, gaussian (DSAC-T), quantile (QR/TQC) or c51."""
    critic_hidden_sizes: tuple[int, ...] = static((256, 256), check=positive_sizes)
    """Hidden layer widths of each critic."""
    num_critics: int = static(2, check=positive)
    """Critic ensemble size."""
    activation: str = static("relu", check=one_of(*ACTIVATIONS))
    """Activation of actor and critics."""
    policy_delay: int = static(1, check=positive)
    """Critic steps per actor / regulator / target step."""
    target_policy: bool = static(False, check=one_of(True, False))
    """Next actions come from a Polyak-averaged target policy (DSAC-T) instead of the policy."""
    entropy: str = static("learned", check=_regulator)
    """Entropy regulator: learned (SAC's temperature), fixed alpha, or none."""

    actor_learning_rate: float = leaf(3e-4, check=positive)
    """Adam rate of the actor."""
    critic_learning_rate: float = leaf(3e-4, check=positive)
    """Adam rate of the critics."""
    gamma: float = leaf(0.99, check=unit_interval)
    """Discount."""
    tau: float = leaf(0.005, check=unit_interval)
    """Polyak rate of the target networks."""
    reward_scale: float = leaf(1.0, check=positive)
    """Rewards are multiplied by this for learning."""
    normalize_rewards: bool = static(False, check=one_of(True, False))
    """Also divide rewards by their std over the warm-up's random transitions (set at init; needs warm-up)."""

    tanh_gaussian: TanhGaussianSettings = group(TanhGaussianSettings())
    """Settings of the tanh_gaussian policy head."""
    temperature: TemperatureSettings = group(TemperatureSettings())
    """Settings of the learned / fixed temperature."""
    gaussian: GaussianCriticSettings = group(GaussianCriticSettings())
    """Settings of the gaussian (DSAC-T) critic."""
    quantile: QuantileCriticSettings = group(QuantileCriticSettings())
    """Settings of the quantile critic."""
    c51: C51Settings = group(C51Settings())
    """Settings of the c51 critic."""

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
        if self.normalize_rewards and self.warmup_steps == 0:
            raise ValueError(f"{name}.normalize_rewards=True: the reward std comes from the warm-up's "
                             f"transitions, so warmup_steps must be > 0")
        spec = policies.get(self.policy)
        if spec.discrete or not spec.reparameterized:
            raise ValueError(f"{name}.policy={self.policy!r}: the off-policy actor needs a reparameterised "
                             f"continuous head")

    def check_env(self, env: Env) -> None:
        """Off-policy actors here act in continuous action spaces only."""
        if env_lib.is_discrete(env):
            raise ValueError(
                f"{type(self).__module__}.{type(self).__qualname__}: env {type(env).__name__} has discrete actions; "
                f"this agent needs a continuous action space (try agents.ppo for discrete envs)")
