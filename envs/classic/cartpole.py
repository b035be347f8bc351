"""CartPole with the dynamics of Gymnasium's CartPole-v1, in pure JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rljax.env import Env, State


class CartPole(Env):
    """Balance a pole on a cart by pushing left (0) or right (1).

    Observation ``[x, x_dot, theta, theta_dot]``; reward 1 per step, including
    the step that terminates; terminates when ``|x| > 2.4`` or
    ``|theta| > 12 deg``. Time limit 500 steps (applied by the episode wrapper).
    The physical state lives in ``pipeline_state`` so auto-reset restores it.
    """

    discrete_actions = True
    default_episode_length = 500
    fresh_reset = True

    def __init__(self, gravity: float = 9.8, cart_mass: float = 1.0, pole_mass: float = 0.1,
                 pole_half_length: float = 0.5, force_mag: float = 10.0, dt: float = 0.02):
        self.gravity = gravity
        self.cart_mass = cart_mass
        self.pole_mass = pole_mass
        self.pole_half_length = pole_half_length
        self.force_mag = force_mag
        self.dt = dt

    @property
    def observation_size(self) -> int:
        return 4

    @property
    def action_size(self) -> int:
        return 2

    @property
    def backend(self) -> str:
        return "jax"

    def reset(self, rng: jax.Array) -> State:
        x = jax.random.uniform(rng, (4,), minval=-0.05, maxval=0.05)
        zero = jnp.zeros((), jnp.float32)
        return State(pipeline_state=x, obs=x, reward=zero, done=zero, metrics={}, info={})

    def step(self, state: State, action: jax.Array) -> State:
        x, x_dot, theta, theta_dot = state.pipeline_state
        force = jnp.where(jnp.asarray(action).reshape(()) == 1, self.force_mag, -self.force_mag)
        total_mass = self.cart_mass + self.pole_mass
        polemass_length = self.pole_mass * self.pole_half_length
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.pole_half_length * (4.0 / 3.0 - self.pole_mass * cos**2 / total_mass))
        x_acc = temp - polemass_length * theta_acc * cos / total_mass
        # Explicit Euler, as in CartPole-v1 ("euler" kinematics integrator).
        x = x + self.dt * x_dot
        x_dot = x_dot + self.dt * x_acc
        theta = theta + self.dt * theta_dot
        theta_dot = theta_dot + self.dt * theta_acc
        new = jnp.stack([x, x_dot, theta, theta_dot])
        done = (jnp.abs(x) > 2.4) | (jnp.abs(theta) > 12 * 2 * jnp.pi / 360)
        return state.replace(pipeline_state=new, obs=new, reward=jnp.ones((), jnp.float32),
                             done=done.astype(jnp.float32))
