"""DSRL: steer a frozen flow or diffusion policy by RL in its noise space (Wagenmaker et al.,
"Steering Your Diffusion Policy with Latent Space Reinforcement Learning").

A preset over SAC's off-policy loop (``rljax.agents.sac``): the frozen
policy turns ``(obs, w)`` into an action deterministically; SAC learns a
tanh-Gaussian policy over the noise ``w in [-noise_bound, noise_bound]^A``
with its critic on ``(obs, w)``, on the env wrapped by
:class:`NoiseSpaceEnv`. The frozen params are an argument (``base_params``),
never trained; ``cfg.base`` is the ``agents.bc`` Config they were cloned
with (it names the head).

    bc_cfg = agents.bc.Config(policy="flow", total_steps=5_000)
    cloned = jax.jit(agents.bc.train)(dataset, bc_cfg, key)
    cfg = agents.dsrl.presets.preset("pendulum").replace(base=bc_cfg)
    result = jax.jit(agents.dsrl.train, static_argnums=0)(env, cfg, key, cloned.params)
    policy = agents.dsrl.make_policy(env, cfg, result.params, deterministic=True)  # env actions
"""

from rljax.agents.dsrl import presets
from rljax.agents.dsrl.config import BASE_HEADS, Config
from rljax.agents.dsrl.noise_space import (NoiseSpaceEnv, check_base_params, make_base_head, noise_space_env,
                                           noise_to_action)
from rljax.agents.dsrl.train import TrainState, init, make_policy, policy_params, train, update
from rljax.training import Result

__all__ = ["Config", "Result", "TrainState", "presets", "init", "update", "train", "make_policy", "policy_params",
           "NoiseSpaceEnv", "noise_to_action", "noise_space_env", "make_base_head", "check_base_params",
           "BASE_HEADS"]
