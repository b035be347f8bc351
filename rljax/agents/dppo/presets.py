"""DPPO configs per env: fine-tuning a behaviour-cloned diffusion policy (``policy_params``)."""

from __future__ import annotations

from rljax.agents.dppo.config import Config

PRESETS: dict[str, Config] = {
    # PPO's pendulum schedule for fine-tuning a cloned policy, half PPO's budget; DPPO's reference
    # clips, denoising steps and discount.
    "pendulum": Config(total_steps=2**19, num_envs=16, unroll_length=256, num_epochs=10, num_minibatches=16,
                       learning_rate=1e-3, gamma=0.9, reward_scale=0.1),
}


def preset(env_name: str) -> Config:
    """The config for ``env_name``, or DPPO's defaults."""
    return PRESETS.get(env_name, Config())
