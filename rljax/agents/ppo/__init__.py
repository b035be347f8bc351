"""Proximal policy optimisation (clipped surrogate, GAE, epochs of minibatches).

    cfg = agents.ppo.Config(total_steps=500_000, num_envs=32)
    result = jax.jit(agents.ppo.train, static_argnums=0)(env, cfg, key)
"""

from rljax.agents.ppo import presets
from rljax.agents.ppo.config import Config
from rljax.agents.ppo.losses import clipped_surrogate, ppo_loss
from rljax.agents.ppo.train import TrainState, init, make_heads, make_policy, policy_params, train, update
from rljax.training import Result

__all__ = ["Config", "presets", "Result", "TrainState", "init", "update", "train", "make_policy", "make_heads",
           "policy_params", "clipped_surrogate", "ppo_loss"]
