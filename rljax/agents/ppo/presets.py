"""Tuned PPO configs per env (measured in tests/test_ppo.py; figures in README)."""

from __future__ import annotations

from typing import Any

from rljax.agents.ppo.config import Config
from rljax.policies.gaussian import GaussianSettings

# MuJoCo Playground's DM Control Suite tasks (the playground extra) at a CPU
# budget: playground's own PPO settings for these tasks (gamma 0.995, lr 1e-3,
# entropy 0.01, unrolls of 30, observation normalisation) with 64 envs instead
# of 2048 and 8 epochs x 8 minibatches instead of 16 x 32.
PLAYGROUND_SCHEDULE = dict(total_steps=2**20, num_envs=64, unroll_length=32, num_minibatches=8, num_epochs=8,
                           learning_rate=1e-3, gamma=0.995, reward_scale=0.1)
PLAYGROUND_TASKS = ("playground/CartpoleBalance", "playground/CartpoleSwingup")

PRESETS: dict[str, Config] = {
    # reward_scale 0.1 keeps value targets O(10) (returns reach 500), which
    # keeps late updates from collapsing a balanced policy.
    "cartpole": Config(total_steps=2**19, num_envs=32, unroll_length=32, reward_scale=0.1),
    "pendulum": Config(total_steps=2**20, num_envs=16, unroll_length=256, num_epochs=10, num_minibatches=16,
                       learning_rate=1e-3, gamma=0.9, entropy_coef=0.0, reward_scale=0.1),
    # Spring backend. Low initial action noise matters for balancing; no
    # observation normalisation, because the state distribution narrows as the
    # pole is balanced and normalised inputs then blow up small deviations.
    "brax/inverted_pendulum": Config(
        total_steps=2**20, num_envs=128, unroll_length=16, num_minibatches=8, num_epochs=4, learning_rate=1e-3,
        gamma=0.99, reward_scale=0.1, entropy_coef=0.0, normalize_observations=False,
        gaussian=GaussianSettings(init_log_std=-1.0)),
    **{name: Config(**PLAYGROUND_SCHEDULE, entropy_coef=0.01) for name in PLAYGROUND_TASKS},
    # The baseline experiments/apg.py and experiments/shac.py compare against (README: final eval -12.2 / -9.4).
    "contact/push": Config(total_steps=2**19, num_envs=32, unroll_length=32, num_epochs=4, num_minibatches=4,
                           learning_rate=1e-3, gamma=0.97, entropy_coef=0.0, reward_scale=0.1,
                           gaussian=GaussianSettings(init_log_std=-0.5)),
    # contact/push's settings at half its steps: 4 seeds of 262k steps of the jointed arm cost
    # about as much CPU time as push's 524k (README: arm_push learning).
    "contact/arm_push": Config(total_steps=2**18, num_envs=32, unroll_length=32, num_epochs=4, num_minibatches=4,
                               learning_rate=1e-3, gamma=0.97, entropy_coef=0.0, reward_scale=0.1,
                               gaussian=GaussianSettings(init_log_std=-0.5)),
    # Low initial action noise and no entropy bonus, so the hopper first learns to stay up; ten
    # epochs of 32 minibatches (320 gradient steps per 1024-step batch, where Stable Baselines'
    # defaults take 320 per 2048; cheap next to the solver's steps). On the env's defaults (40 N m
    # hinges with armature 0.1), 1M steps per seed, 4 seeds in one program (24 min on the 2 cores
    # here): it hops. Final deterministic return 456.5 (501.2, 353.9, 493.6, 477.4) vs 6.8 random;
    # every seed survives all 200 steps, travels 7-12 m in 6 s and clears the ground by 15-18 cm at
    # the top of each hop; 398 at 262k steps. On the earlier defaults (max_torque=15, armature=0)
    # the same preset stands and shuffles: 123.8, never airborne.
    "contact/hopper": Config(total_steps=2**20, num_envs=32, unroll_length=32, num_epochs=10, num_minibatches=32,
                             learning_rate=3e-4, gamma=0.99, entropy_coef=0.0, reward_scale=0.1,
                             gaussian=GaussianSettings(init_log_std=-0.5)),
}


# Keyword arguments for ``envs.make`` that a preset was tuned with (experiments/ppo.py passes them).
# None at present: the hopper's preset was tuned on the env's defaults.
ENV_KWARGS: dict[str, dict[str, Any]] = {}


def preset(env_name: str) -> Config:
    """The tuned config for ``env_name``, or the defaults."""
    return PRESETS.get(env_name, Config())
