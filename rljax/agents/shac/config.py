"""SHAC hyperparameters: APG's, plus the value function's."""

from __future__ import annotations

import numpy as np

from rljax.agents.apg.config import Config as APGConfig
from rljax.config import config_dataclass, leaf, positive, positive_sizes, static, unit_interval


def _unit_open_closed(value) -> str | None:
    v = np.asarray(value)
    return None if np.all((v > 0) & (v <= 1)) else "must be in (0, 1]"


def _discount(value) -> str | None:
    v = np.asarray(value)
    return None if np.all((v > 0) & (v < 1)) else "must be in (0, 1): the value function sums discounted rewards"


@config_dataclass
class Config(APGConfig):
    """Short-horizon actor-critic (Xu et al. 2022, "Accelerated Policy Learning
    with Parallel Differentiable Simulation") over APG's differentiable windows.

    Each update rolls ``num_envs`` envs ``horizon`` steps with the
    deterministic policy from where the last window ended, and takes one Adam
    step on the gradient, through the env, of

        -(1 / (horizon num_envs)) sum_envs [sum_t discount^t reward_scale r_t + discount^horizon V(s_horizon)]

    where ``V`` is a target value network (frozen for this step; its gradient
    reaches the policy through ``s_horizon``). An episode that ends inside the
    window closes its sum there (terminated: no value; time limit: the value
    of its final observation) and the next one starts a new sum. The critic
    is then fit to the window's TD(lambda) returns (``td_lambda``) for
    ``critic_epochs`` passes of ``critic_minibatches`` minibatches, and the
    target moves ``target_tau`` of the way to it. Every other field is APG's
    (``rljax.agents.apg``); the defaults are the paper's where it has one.
    """

    trained_by = "shac"

    discount: float = leaf(0.99, check=_discount)
    """Discount gamma of the window's rewards and of the value function."""
    value_hidden_sizes: tuple[int, ...] = static((64, 64), check=positive_sizes)
    """Hidden layer widths of the value MLP (same activation as the policy)."""
    critic_learning_rate: float = leaf(1e-3, check=positive)
    """Adam learning rate of the value function (its gradients are clipped at max_grad_norm too)."""
    td_lambda: float = leaf(0.95, check=unit_interval)
    """lambda of the critic's TD(lambda) targets (0: one-step TD, 1: Monte Carlo to the window's end)."""
    critic_epochs: int = static(16, check=positive)
    """Passes over each window's transitions when fitting the critic (the paper: 16)."""
    critic_minibatches: int = static(4, check=positive)
    """Minibatches per critic pass (the paper: 4); must divide num_envs * horizon."""
    target_tau: float = leaf(0.8, check=_unit_open_closed)
    """Polyak step of the target value net toward the critic per window (1 - the reference code's alpha 0.2)."""

    def _check_consistency(self) -> None:
        super()._check_consistency()
        if self.batch_size % self.critic_minibatches:
            raise ValueError(
                f"shac.Config.critic_minibatches={self.critic_minibatches}: must divide num_envs * horizon "
                f"= {self.batch_size}")
