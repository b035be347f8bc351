"""PPO hyperparameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from rljax import env as env_lib
from rljax.config import (ConfigBase, config_dataclass, group, is_concrete, leaf, non_negative, one_of, positive,
                          positive_sizes, static, unit_interval, valid_episode_length)
from rljax.env import Env
from rljax.nets import ACTIVATIONS
from rljax.policies import registry as policies
from rljax.policies.diffusion import DiffusionSettings
from rljax.policies.flow import FlowSettings
from rljax.policies.gaussian import GaussianSettings


def _policy_name(value) -> str | None:
    if value == "auto" or policies.HEADS.check(value) is None:
        return None
    return f"must be 'auto' or a registered policy head: {list(policies.names())}"


@config_dataclass
class Config(ConfigBase):
    """PPO configuration. Ints, tuples, strings and bools are static (they set
    shapes and program structure); floats are pytree leaves (sweepable with
    ``Config.stack`` + ``jax.vmap``).

    Each update collects ``num_envs * unroll_length`` env steps, then runs
    ``num_epochs`` passes of ``num_minibatches`` minibatches over them.
    """

    total_steps: int = static(500_000, check=positive)
    """Env steps to train for (rounded down to whole updates)."""
    num_envs: int = static(32, check=positive)
    """Envs stepped in parallel."""
    unroll_length: int = static(32, check=positive)
    """Steps per env per update."""
    num_epochs: int = static(4, check=positive)
    """Passes over each update's batch."""
    num_minibatches: int = static(4, check=positive)
    """Minibatches per pass; must divide num_envs * unroll_length."""
    policy: str = static("auto", check=_policy_name)
    """Policy head: 'auto' (categorical for discrete actions, gaussian otherwise) or a registered head."""
    policy_hidden_sizes: tuple[int, ...] = static((64, 64), check=positive_sizes)
    """Hidden layer widths of the policy's MLP torso."""
    value_hidden_sizes: tuple[int, ...] = static((64, 64), check=positive_sizes)
    """Hidden layer widths of the value network."""
    activation: str = static("tanh", check=one_of(*ACTIVATIONS))
    """Activation of both networks."""
    normalize_observations: bool = static(True, check=one_of(True, False))
    """Normalise observations by running mean and std."""
    freeze_obs_stats: bool = static(False, check=one_of(True, False))
    """Never update the observation statistics init set (pre-trained params' obs_stats); from scratch: unnormalised."""
    anneal_learning_rate: bool = static(True, check=one_of(True, False))
    """Decay the learning rate linearly to 0 over the run."""
    clip_value_loss: bool = static(False, check=one_of(True, False))
    """Clip value updates to +- clip_epsilon around the rollout's values."""
    trust_region: str = static("clip", check=one_of("clip", "aspo"))
    """'clip': PPO's clipped surrogate; 'aspo': clipped for A >= 0, SPO's (r - 1)^2 penalty for A < 0 (FPO++)."""
    episode_length: int | None = static(None, check=valid_episode_length)
    """Time limit; None uses the env's default_episode_length."""

    learning_rate: float = leaf(3e-4, check=positive)
    """Adam learning rate (initial, when annealed)."""
    gamma: float = leaf(0.99, check=unit_interval)
    """Discount."""
    gae_lambda: float = leaf(0.95, check=unit_interval)
    """GAE lambda."""
    clip_epsilon: float = leaf(0.2, check=positive)
    """Ratio clip of the surrogate (per log-likelihood term)."""
    value_coef: float = leaf(0.5, check=non_negative)
    """Weight of the value loss."""
    entropy_coef: float = leaf(0.01, check=non_negative)
    """Weight of the entropy bonus (0 for heads without an entropy)."""
    max_grad_norm: float = leaf(0.5, check=positive)
    """Global gradient-norm clip."""
    reward_scale: float = leaf(1.0, check=positive)
    """Rewards are multiplied by this for learning (returns are logged unscaled)."""

    gaussian: GaussianSettings = group(GaussianSettings())
    """Settings of the gaussian policy head."""
    flow: FlowSettings = group(FlowSettings())
    """Settings of the flow policy head (FPO's; ``policy="flow"``)."""
    diffusion: DiffusionSettings = group(DiffusionSettings())
    """Settings of the diffusion policy head (DPPO's; ``policy="diffusion"``)."""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.unroll_length

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    def term_clip_and_weights(self) -> tuple[Any, Any]:
        """Clip values and advantage weights of the surrogate's log-likelihood terms.

        Each is a scalar (the same for every term) or a ``[K]`` array, one
        entry per term of a head whose log-likelihood has a trailing ``K``
        axis (one term per denoising step). PPO: ``(clip_epsilon, 1.0)``.
        Presets over chains override this (DPPO: a clip schedule over the
        steps and denoising-discounted advantages).
        """
        return self.clip_epsilon, 1.0

    def policy_head_name(self, env: Env) -> str:
        """The registered head this config uses on ``env`` (resolves ``"auto"``)."""
        if self.policy == "auto":
            return "categorical" if env_lib.is_discrete(env) else "gaussian"
        return self.policy

    def _check_consistency(self) -> None:
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"ppo.Config: num_envs * unroll_length = {self.batch_size} is not divisible by "
                f"num_minibatches = {self.num_minibatches}; choose num_minibatches among the divisors of "
                f"{self.batch_size}")
        if self.total_steps < self.batch_size:
            raise ValueError(
                f"ppo.Config.total_steps={self.total_steps}: must be >= num_envs * unroll_length "
                f"= {self.batch_size} (one update)")

    def check_env(self, env: Env) -> None:
        """The policy head must serve the env's action space, and have an entropy if one is asked for."""
        name = self.policy_head_name(env)
        spec = policies.get(name)
        if spec.discrete != env_lib.is_discrete(env):
            kinds = ("discrete", "continuous") if env_lib.is_discrete(env) else ("continuous", "discrete")
            raise ValueError(f"{type(self).__module__}.{type(self).__qualname__}.policy={self.policy!r}: env "
                             f"{type(env).__name__} has {kinds[0]} actions but the {name!r} head serves "
                             f"{kinds[1]} ones")
        head = policies.make(name, action_size=env.action_size, hidden_sizes=self.policy_hidden_sizes,
                             activation=self.activation)
        if head.entropy_kind == "none" and is_concrete(self.entropy_coef) and np.any(np.asarray(self.entropy_coef) > 0):
            raise ValueError(f"{type(self).__module__}.{type(self).__qualname__}.entropy_coef={self.entropy_coef}: "
                             f"the {name!r} policy head has no entropy; set entropy_coef=0")
