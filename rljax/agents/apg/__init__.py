"""Analytic policy gradients (Brax APG): backpropagate the reward of short
rollouts through a differentiable env.

    cfg = agents.apg.Config(total_steps=50_000, num_envs=32, horizon=32)
    result = jax.jit(agents.apg.train, static_argnums=0)(envs.make("contact/push"), cfg, key)
"""

from rljax.agents.apg import presets
from rljax.agents.apg.config import Config
from rljax.agents.apg.train import TrainState, init, make_policy, policy_params, train, update
from rljax.training import Result

__all__ = ["Config", "presets", "Result", "TrainState", "init", "update", "train", "make_policy", "policy_params"]
