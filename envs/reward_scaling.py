"""Reward scaling as an env wrapper (for reward-scale robustness experiments).

    env = RewardScaling(envs.make("pendulum"), scale=10.0)

Only ``reward`` changes; dynamics, observations and episode ends are the
inner env's, so returns in the original scale are ``return / scale``.
"""

from __future__ import annotations

import jax
from brax.envs.base import Env, State, Wrapper


class RewardScaling(Wrapper):
    """Multiply every reward by ``scale`` (a Python float)."""

    def __init__(self, env: Env, scale: float):
        super().__init__(env)
        if not scale > 0:
            raise ValueError(f"RewardScaling.scale={scale!r}: must be > 0")
        self.scale = float(scale)

    def reset(self, rng: jax.Array) -> State:
        state = self.env.reset(rng)
        return state.replace(reward=state.reward * self.scale)

    def step(self, state: State, action: jax.Array) -> State:
        state = self.env.step(state, action)
        return state.replace(reward=state.reward * self.scale)
