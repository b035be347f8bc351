"""SHAC (short-horizon actor-critic, Xu et al. 2022): APG's short differentiable windows,
bootstrapped by a learned value function fit to TD(lambda) targets.

    cfg = agents.shac.Config(total_steps=50_000, num_envs=32, horizon=32)
    result = jax.jit(agents.shac.train, static_argnums=0)(envs.make("contact/push"), cfg, key)

The policy, its normaliser, envs and optimiser are APG's (``rljax.agents.apg``);
so are ``make_policy`` and the shape of ``policy_params``.
"""

from rljax.agents.shac import presets
from rljax.agents.shac.config import Config
from rljax.agents.shac.train import (TrainState, actor_loss, init, make_policy, policy_params, train, update,
                                     value)
from rljax.training import Result

__all__ = ["Config", "presets", "Result", "TrainState", "init", "update", "train", "make_policy", "policy_params",
           "actor_loss", "value"]
