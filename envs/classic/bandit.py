"""One-step continuous bandits with two reward modes, for multimodal policies.

``bandit/bimodal``: equal bumps at ``a = -0.6`` and ``a = +0.6``; a Gaussian
policy must pick one bump or sit between them, a flow or diffusion policy
can put mass on both. ``bandit/bimodal_unequal``: bumps of height 1.0 (at
+0.6) and 0.8 (at -0.6); RL should move the mass to the better one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rljax.env import Env, State


class BimodalBandit(Env):
    """Observation ``[1.0]``; action ``a`` in ``[-1, 1]`` (clipped); reward
    ``h_+ exp(-(a - c)^2 / 2w^2) + h_- exp(-(a + c)^2 / 2w^2)``; every episode is one step."""

    discrete_actions = False
    default_episode_length = 1
    fresh_reset = True

    def __init__(self, centre: float = 0.6, width: float = 0.1, height_plus: float = 1.0, height_minus: float = 1.0):
        for name, value in (("centre", centre), ("width", width)):
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"BimodalBandit: {name}={value!r} must be a number > 0")
        self.centre, self.width = float(centre), float(width)
        self.height_plus, self.height_minus = float(height_plus), float(height_minus)

    @property
    def observation_size(self) -> int:
        return 1

    @property
    def action_size(self) -> int:
        return 1

    @property
    def backend(self) -> str:
        return "jax"

    def reward(self, action: jax.Array) -> jax.Array:
        """The reward of actions ``[...]`` (clipped to ``[-1, 1]``)."""
        a = jnp.clip(action, -1.0, 1.0)
        bump = lambda c: jnp.exp(-jnp.square(a - c) / (2 * self.width**2))  # noqa: E731
        return self.height_plus * bump(self.centre) + self.height_minus * bump(-self.centre)

    def reset(self, rng: jax.Array) -> State:
        zero = jnp.zeros((), jnp.float32)
        return State(pipeline_state=zero, obs=jnp.ones((1,), jnp.float32), reward=zero, done=zero, metrics={},
                     info={})

    def step(self, state: State, action: jax.Array) -> State:
        reward = self.reward(jnp.asarray(action, jnp.float32).reshape(())).astype(jnp.float32)
        return state.replace(reward=reward, done=jnp.ones((), jnp.float32))

