"""DPPO's preset of PPO's Config: the diffusion head, per-step clipping, denoising-discounted advantages."""

from __future__ import annotations

import jax.numpy as jnp

from rljax.agents.ppo.config import Config as PPOConfig
from rljax.config import config_dataclass, group, leaf, non_negative, one_of, positive, static, unit_interval
from rljax.policies.diffusion import DiffusionSettings


@config_dataclass
class Config(PPOConfig):
    """Diffusion Policy Policy Optimisation (Ren et al.) over PPO's loop.

    The policy is a K-step denoising chain of exact Gaussian steps
    (``policy="diffusion"``, settings in ``diffusion``); each of the last
    ``K' = diffusion.finetune_steps`` steps is one log-likelihood term, and
    PPO clips every term on its own (the earlier steps run a frozen copy of
    the denoiser). Over the K' terms, ordered noisiest first (``k = 0..K'-1``):

        clip_k   = clip_epsilon_base + (clip_epsilon - clip_epsilon_base)
                   * (exp(clip_rate t) - 1) / (exp(clip_rate) - 1),   t = k / (K' - 1)
        weight_k = gamma_denoise^(K' - k - 1)    (advantages of earlier steps discounted)

    Defaults are the reference's: K = 20 denoising steps, the last 10
    fine-tuned, std clipped below at 0.1, clip 0.01 at the last step rising
    from 0.001, rate 3, gamma_denoise 0.99, no entropy bonus. DPPO usually
    starts from a behaviour-cloned policy, ``init(env, cfg, key,
    policy_params=...)`` (or ``train(..., policy_params)``), with the
    observation statistics it was cloned under, which stay fixed
    (``freeze_obs_stats``).
    """

    policy: str = static("diffusion", check=one_of("diffusion"))
    """DPPO's policy: the diffusion head (settings in ``diffusion``)."""
    clip_epsilon: float = leaf(0.01, check=positive)
    """Ratio clip of the last (cleanest) denoising step; also the value-loss clip when clip_value_loss."""
    clip_epsilon_base: float = leaf(1e-3, check=positive)
    """Ratio clip of the first fine-tuned (noisiest) step."""
    clip_rate: float = leaf(3.0, check=positive)
    """Exponential rate of the clip schedule between the two."""
    gamma_denoise: float = leaf(0.99, check=unit_interval)
    """Discount of the advantage per denoising step before the last."""
    freeze_obs_stats: bool = static(True, check=one_of(True, False))
    """Keep the pre-trained policy's observation statistics fixed (DPPO's fixed dataset statistics)."""
    entropy_coef: float = leaf(0.0, check=non_negative)
    """Must be 0: the diffusion chain has no entropy."""
    diffusion: DiffusionSettings = group(DiffusionSettings(num_steps=20, finetune_steps=10))
    """Settings of the diffusion head: 20 steps, the last 10 fine-tuned."""

    @property
    def num_terms(self) -> int:
        """K': the fine-tuned denoising steps, one log-likelihood term each."""
        d = self.diffusion
        return d.num_steps if d.finetune_steps is None else d.finetune_steps

    def term_clip_and_weights(self):
        """DPPO's clip schedule and denoising discount over the ``K'`` terms: ``([K'], [K'])``."""
        k = jnp.arange(self.num_terms, dtype=jnp.float32)
        t = k / max(self.num_terms - 1, 1)
        rise = (jnp.exp(self.clip_rate * t) - 1.0) / (jnp.exp(self.clip_rate) - 1.0)
        clip = self.clip_epsilon_base + (self.clip_epsilon - self.clip_epsilon_base) * rise
        if self.num_terms == 1:
            clip = jnp.full((1,), self.clip_epsilon, jnp.float32)
        weights = jnp.power(self.gamma_denoise, self.num_terms - 1 - k)
        return clip, weights
