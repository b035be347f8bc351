"""DPPO: diffusion policy policy optimisation (Ren et al.), a preset over PPO's loop.

The loop, rollout, GAE and clipped surrogate are PPO's (``rljax.agents.ppo``);
what differs is the policy head (:class:`rljax.policies.diffusion.DiffusionHead`,
one exact log-likelihood term per fine-tuned denoising step) and the Config
(:class:`Config`: DPPO's clip schedule over the steps and denoising-discounted
advantages, through ``Config.term_clip_and_weights``).

    result = jax.jit(agents.dppo.train, static_argnums=0)(env, cfg, key, policy_params=bc_params)
"""

from rljax.agents.dppo import presets
from rljax.agents.dppo.config import Config
from rljax.agents.ppo.train import TrainState, init, make_heads, make_policy, policy_params, train, update
from rljax.training import Result

__all__ = ["Config", "Result", "TrainState", "presets", "init", "update", "train", "make_policy", "make_heads",
           "policy_params"]
