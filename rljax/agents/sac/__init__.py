"""Soft actor-critic with automatic temperature, twin (or distributional) critics
and Polyak targets; the off-policy loop that DSAC-T and later actors are presets of.

    cfg = agents.sac.Config(total_steps=30_000, warmup_steps=1_000)
    result = jax.jit(agents.sac.train, static_argnums=0)(env, cfg, key)
    cfg = agents.sac.Config(critic="quantile")   # TQC-style; or "gaussian", "c51"
"""

from rljax.agents.sac import entropy, presets
from rljax.agents.sac.config import Config
from rljax.agents.sac.entropy import TemperatureSettings
from rljax.agents.sac.losses import actor_loss, polyak, temperature_loss
from rljax.agents.sac.train import (
                                    Parts,
                                    TrainState,
                                    actor_step,
                                    critic_step,
                                    draw_update_keys,
                                    init,
                                    make_critic,
                                    make_parts,
                                    make_policy,
                                    policy_params,
                                    train,
                                    update,
)
from rljax.training import Result

__all__ = ["Config", "Result", "TrainState", "Parts", "TemperatureSettings", "entropy", "presets", "init", "update",
           "train", "make_policy", "make_parts", "make_critic", "policy_params", "critic_step", "actor_step",
           "draw_update_keys", "actor_loss", "temperature_loss", "polyak"]
