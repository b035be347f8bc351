"""Pendulum swing-up with the dynamics of Gymnasium's Pendulum-v1, in pure JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rljax.env import Env, State


def _angle_normalize(x: jax.Array) -> jax.Array:
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


class Pendulum(Env):
    """Swing a pendulum up and hold it.

    Observation ``[cos th, sin th, th_dot]``. The action is in ``[-1, 1]`` (the
    brax convention, so squashed and unsquashed policies share one range) and
    is scaled to a torque in ``[-max_torque, max_torque]``; the reward
    ``-(th^2 + 0.1 th_dot^2 + 0.001 u^2)`` uses the torque ``u``, so returns
    are those of Pendulum-v1. Never terminates; time limit 200 steps.
    """

    discrete_actions = False
    default_episode_length = 200
    fresh_reset = True

    def __init__(self, max_speed: float = 8.0, max_torque: float = 2.0, dt: float = 0.05,
                 gravity: float = 10.0, mass: float = 1.0, length: float = 1.0):
        self.max_speed = max_speed
        self.max_torque = max_torque
        self.dt = dt
        self.gravity = gravity
        self.mass = mass
        self.length = length

    @property
    def observation_size(self) -> int:
        return 3

    @property
    def action_size(self) -> int:
        return 1

    @property
    def backend(self) -> str:
        return "jax"

    def _obs(self, th: jax.Array, th_dot: jax.Array) -> jax.Array:
        return jnp.stack([jnp.cos(th), jnp.sin(th), th_dot])

    def reset(self, rng: jax.Array) -> State:
        th, th_dot = jax.random.uniform(rng, (2,), minval=jnp.array([-jnp.pi, -1.0]),
                                        maxval=jnp.array([jnp.pi, 1.0]))
        zero = jnp.zeros((), jnp.float32)
        return State(pipeline_state=jnp.stack([th, th_dot]), obs=self._obs(th, th_dot),
                     reward=zero, done=zero, metrics={}, info={})

    def step(self, state: State, action: jax.Array) -> State:
        th, th_dot = state.pipeline_state
        u = self.max_torque * jnp.clip(jnp.asarray(action, jnp.float32).reshape(()), -1.0, 1.0)
        cost = _angle_normalize(th) ** 2 + 0.1 * th_dot**2 + 0.001 * u**2
        g, m, l, dt = self.gravity, self.mass, self.length, self.dt
        th_dot = th_dot + (3 * g / (2 * l) * jnp.sin(th) + 3.0 / (m * l**2) * u) * dt
        th_dot = jnp.clip(th_dot, -self.max_speed, self.max_speed)
        th = th + th_dot * dt
        return state.replace(pipeline_state=jnp.stack([th, th_dot]), obs=self._obs(th, th_dot),
                             reward=-cost.astype(jnp.float32), done=jnp.zeros((), jnp.float32))
