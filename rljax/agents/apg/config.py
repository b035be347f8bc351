"""APG hyperparameters."""

from __future__ import annotations

import numpy as np

from rljax import env as env_lib
from rljax.config import (ConfigBase, config_dataclass, leaf, one_of, positive, positive_sizes, static,
                          valid_episode_length)
from rljax.env import Env
from rljax.nets import ACTIVATIONS


def _unit_open_closed(value) -> str | None:
    v = np.asarray(value)
    return None if np.all((v > 0) & (v <= 1)) else "must be in (0, 1]"


@config_dataclass
class Config(ConfigBase):
    """Analytic policy gradient configuration (Brax APG style).

    Each update rolls ``num_envs`` envs forward ``horizon`` steps with the
    deterministic policy, and takes one Adam step on the gradient of
    ``-mean(reward_scale * reward)`` over that window, differentiated through
    the env; the env state carries over to the next window, its gradient does
    not. Ints, tuples, strings and bools are static; floats are pytree leaves.

    ``desync_episodes`` starts each env's step counter at a random point of its
    episode (as brax's APG does), so a window's batch covers every phase of an
    episode instead of all envs sitting at the same time step; the shortened
    first episodes are left out of ``metrics["episode_return"]``.
    """

    # The agent whose ``init`` takes this class (not a field): subclasses that add
    # parts apg would ignore (shac.Config's critic) name their own.
    trained_by = "apg"

    total_steps: int = static(100_000, check=positive)
    """Env steps to train for (rounded down to whole updates)."""
    num_envs: int = static(32, check=positive)
    """Envs rolled out in parallel."""
    horizon: int = static(32, check=positive)
    """Steps per differentiable window (one Adam step per window)."""
    policy_hidden_sizes: tuple[int, ...] = static((64, 64), check=positive_sizes)
    """Hidden layer widths of the policy MLP."""
    activation: str = static("tanh", check=one_of(*ACTIVATIONS))
    """Activation of the policy MLP."""
    normalize_observations: bool = static(True, check=one_of(True, False))
    """Normalise observations by running mean and std."""
    desync_episodes: bool = static(True, check=one_of(True, False))
    """Start each env at a random point of its episode."""
    episode_length: int | None = static(None, check=valid_episode_length)
    """Time limit; None uses the env's default_episode_length."""

    learning_rate: float = leaf(1e-3, check=positive)
    """Adam learning rate."""
    anneal_learning_rate: bool = static(False, check=one_of(True, False))
    """Decay the learning rate(s) linearly to 0 over the run (SHAC's reference does)."""
    max_grad_norm: float = leaf(1.0, check=positive)
    """Global gradient-norm clip."""
    reward_scale: float = leaf(1.0, check=positive)
    """Rewards are multiplied by this in the loss."""
    discount: float = leaf(1.0, check=_unit_open_closed)
    """Per-step weight discount^t of the window's rewards."""
    init_scale: float = leaf(0.1, check=positive)
    """Scale of the policy's last layer at init (small: a gentle first policy)."""

    @property
    def batch_size(self) -> int:
        """Env steps per update."""
        return self.num_envs * self.horizon

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    def _check_consistency(self) -> None:
        if self.total_steps < self.batch_size:
            raise ValueError(
                f"{type(self).__module__.removesuffix('.config')}.Config.total_steps={self.total_steps}: must be "
                f">= num_envs * horizon "
                f"= {self.batch_size} (one update)")

    def check_env(self, env: Env) -> None:
        if env_lib.is_discrete(env):
            raise ValueError("apg needs continuous actions and a differentiable env; "
                             f"{type(env).__name__} has discrete actions")
