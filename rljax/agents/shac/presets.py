"""Tuned SHAC configs per env (measured in tests/test_shac.py and experiments/shac.py)."""

from __future__ import annotations

from typing import Any

from rljax.agents.shac.config import Config

PRESETS: dict[str, Config] = {
    # APG's contact/push preset (rljax/agents/apg/presets.py) plus the critic.
    "contact/push": Config(total_steps=131_072, num_envs=8, horizon=32, learning_rate=3e-3, init_scale=1.0,
                           max_grad_norm=1.0, desync_episodes=False),
    # The same on the jointed arm (experiments/shac.py --task contact/arm_push) but from a small
    # initial policy: with push's init_scale 1.0 the closed loop through the arm made gradient
    # norms of 1e5-1e7 (open-loop action gradients over 32 steps: 2-14). Discount 0.95 (the bootstrap
    # gamma^32 V is about -1.3 of a window's -6.6 per env; at 0.99 about -32 of -44) and both learning
    # rates decayed to 0 over 65k steps: two groups of 4 seeds reached PPO's -29.5 at 41k and 30k steps
    # and ended at -34.4 and -33.1 (at 0.99, same run: never, -44.3; at constant rates over 131k: never).
    "contact/arm_push": Config(total_steps=65_536, num_envs=8, horizon=32, learning_rate=3e-3, init_scale=0.1,
                               max_grad_norm=1.0, desync_episodes=False, discount=0.95,
                               anneal_learning_rate=True),
    # The arm's settings, 16 envs, discount 0.99, 393k steps, on the hopper with ENV_KWARGS' posture
    # reward: the healthy bonus is a constant and termination cuts the window's sum, so without a
    # smooth term the analytic gradient never points away from falling (SHAC stayed at a return of
    # 47 at discounts 0.95 and 0.99, also with gradients at grad_kappa 1e-2). On the env's defaults
    # (40 N m, armature 0.1), 4 seeds in one program (5 min compile, 27 min on the 2 cores here):
    # on the env's own reward 221 (random 6.8, standing 100, PPO's 1M-step preset 456.5); two seeds
    # hop 5-8 m in 6 s and survive every episode, one hops and falls in 2 of 4 episodes, one
    # stands. At 131k steps three seeds hop and fall (146.7 with the posture term); at 262k (2 seeds)
    # Adam 3e-3 hopped 5-8 m and 1e-3 shuffled or stood. On the earlier 15 N m hinges without
    # armature it only stood (103.5).
    # Gradients through pendulum's pure-JAX dynamics (tests/test_shac.py). Rewards
    # scaled by 0.1 keep the value's targets (about -50 at gamma 0.99) in a range
    # a fresh critic fits within a few windows; actor lr 1e-2 learned nothing.
    "pendulum": Config(total_steps=100_000, num_envs=16, horizon=32, learning_rate=3e-3, reward_scale=0.1,
                       critic_learning_rate=3e-3),
}

# Keyword arguments for ``envs.make`` that a preset was tuned with.
ENV_KWARGS: dict[str, dict[str, Any]] = {
    "contact/hopper": {"posture_reward": 0.5},
}


def preset(env_name: str) -> Config:
    """The tuned config for ``env_name``, or the defaults."""
    return PRESETS.get(env_name, Config())
