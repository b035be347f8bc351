"""Soft actor-critic with automatic temperature, twin (or distributional) critics
and Polyak targets; the loop that DSAC-T reuses.

    cfg = agents.sac.Config(total_steps=30_000, warmup_steps=1_000)
    result = jax.jit(agents.sac.train, static_argnums=0)(env, cfg, key)
    cfg = agents.sac.Config(critic="quantile")   # TQC-style; or "gaussian", "c51"
"""

from rljax.agents.sac.config import CRITICS, Config
from rljax.agents.sac.losses import actor_loss, polyak, temperature_loss
from rljax.agents.sac.train import (TrainState, actor_step, critic_step, init, make_critic, make_heads, make_policy,
                                    policy_params, train, update)
from rljax.training import Result

__all__ = ["CRITICS", "Config", "Result", "TrainState", "init", "update", "train", "make_policy", "make_heads",
           "make_critic", "policy_params", "critic_step", "actor_step", "actor_loss", "temperature_loss", "polyak"]
