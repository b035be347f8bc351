"""Tuned PPO configs per env (measured in tests/test_ppo_learning.py and README)."""

from __future__ import annotations

from rljax.agents.ppo.config import Config

PRESETS: dict[str, Config] = {
    # 4/4 seeds at 500 (deterministic eval) within 5e5 steps; reward_scale 0.1
    # keeps value targets O(10) and avoided late collapses seen at scale 1.
    "cartpole": Config(total_steps=2**19, num_envs=32, unroll_length=32, reward_scale=0.1),
    "pendulum": Config(total_steps=2**20, num_envs=16, unroll_length=256, num_epochs=10, num_minibatches=16,
                       learning_rate=1e-3, gamma=0.9, entropy_coef=0.0, reward_scale=0.1),
    # 4/4 seeds at 1000 within 2**20 steps (spring backend). Low initial action
    # noise matters for balancing; observation normalisation made 1 of 4 seeds
    # stall near 500 (the state distribution narrows as the pole is balanced).
    "brax/inverted_pendulum": Config(
        total_steps=2**20, num_envs=128, unroll_length=16, num_minibatches=8, num_epochs=4, learning_rate=1e-3,
        gamma=0.99, reward_scale=0.1, entropy_coef=0.0, init_log_std=-1.0, normalize_observations=False),
}


def preset(env_name: str) -> Config:
    """The tuned config for ``env_name``, or the defaults."""
    return PRESETS.get(env_name, Config())
