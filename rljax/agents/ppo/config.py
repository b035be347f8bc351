"""PPO hyperparameters."""

from __future__ import annotations

from brax.envs.base import Env

from rljax.config import (ConfigBase, config_dataclass, leaf, non_negative, one_of, positive,
                          positive_sizes, static, unit_interval)
from rljax.nets import ACTIVATIONS


@config_dataclass
class Config(ConfigBase):
    """PPO configuration. Ints, tuples, strings and bools are static (they set
    shapes and program structure); floats are pytree leaves (sweepable with
    ``Config.stack`` + ``jax.vmap``).

    Each update collects ``num_envs * unroll_length`` env steps, then runs
    ``num_epochs`` passes of ``num_minibatches`` minibatches over them.
    """

    total_steps: int = static(500_000, check=positive)
    num_envs: int = static(32, check=positive)
    unroll_length: int = static(32, check=positive)
    num_epochs: int = static(4, check=positive)
    num_minibatches: int = static(4, check=positive)
    policy_hidden_sizes: tuple[int, ...] = static((64, 64), check=positive_sizes)
    value_hidden_sizes: tuple[int, ...] = static((64, 64), check=positive_sizes)
    activation: str = static("tanh", check=one_of(*ACTIVATIONS))
    normalize_observations: bool = static(True, check=one_of(True, False))
    anneal_learning_rate: bool = static(True, check=one_of(True, False))
    clip_value_loss: bool = static(False, check=one_of(True, False))
    episode_length: int | None = static(None, check=lambda v: None if v is None or (isinstance(v, int) and v > 0)
                                        else "must be None (the env's own limit) or a positive int")

    learning_rate: float = leaf(3e-4, check=positive)
    gamma: float = leaf(0.99, check=unit_interval)
    gae_lambda: float = leaf(0.95, check=unit_interval)
    clip_epsilon: float = leaf(0.2, check=positive)
    value_coef: float = leaf(0.5, check=non_negative)
    entropy_coef: float = leaf(0.01, check=non_negative)
    max_grad_norm: float = leaf(0.5, check=positive)
    reward_scale: float = leaf(1.0, check=positive)
    init_log_std: float = leaf(0.0)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.unroll_length

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

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
        """Checks that need the env; PPO handles discrete and continuous actions."""
        del env

