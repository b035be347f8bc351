"""``contact/push``: slide a box across the floor to a goal, against friction."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.contact.base import ContactEnv, check_positive
from rljax.contact import WorldSpec, resting_bodies


class Push(ContactEnv):
    """Push a box (edge ``2 half``, mass ``mass``) on a plane with Coulomb friction
    ``friction`` to a goal drawn uniformly in the annulus
    ``goal_min <= |goal| <= goal_max`` around its start at the origin.

    Action ``a`` in ``[-1, 1]^2``: the planar force ``max_force * a`` (N) on the
    box's centre of mass, held over the step. The box sticks while
    ``|F| <= friction * mass * g`` (4.9 N by default, half of ``max_force``), so
    weak pushes do nothing: friction makes it non-trivial.
    Observation (5): goal - box position (x, y), box velocity (x, y), yaw rate.
    Reward: ``-|goal - box|`` (m) after the step, minus ``ctrl_cost |a|^2``.
    Never terminates; time limit ``default_episode_length`` = 100 steps (5 s).
    """

    name = "contact/push"
    default_episode_length = 100

    def __init__(self, friction: float = 0.5, mass: float = 1.0, half: float = 0.1, max_force: float = 10.0,
                 dt: float = 0.05, goal_min: float = 0.5, goal_max: float = 1.5, ctrl_cost: float = 0.01,
                 kappa: float = 1e-4, grad_kappa: float | None = None, max_iter: int = 50, warm_start: bool = False):
        super().__init__(kappa, grad_kappa, max_iter, warm_start)
        check_positive(self.name, friction=friction, mass=mass, half=half, max_force=max_force, dt=dt,
                       goal_max=goal_max)
        if not (isinstance(goal_min, (int, float)) and 0 <= goal_min <= goal_max):
            raise ValueError(f"env {self.name!r}: goal_min={goal_min!r} must be in [0, goal_max={goal_max}]")
        if not (isinstance(ctrl_cost, (int, float)) and ctrl_cost >= 0):
            raise ValueError(f"env {self.name!r}: ctrl_cost={ctrl_cost!r} must be >= 0")
        self.world = WorldSpec(bodies=(("box", (half, half, half), float(mass)),), friction=float(friction),
                               dt=float(dt))
        self.mass, self.half, self.max_force = float(mass), float(half), float(max_force)
        self.goal_min, self.goal_max, self.ctrl_cost = float(goal_min), float(goal_max), float(ctrl_cost)
        # Resting height: each of the 4 bottom corners carries m g dt / 4 per step,
        # and the relaxed contact hovers at gap kappa / impulse.
        self.rest_height = self.half + kappa / (self.mass * 9.81 * self.dt / 4.0)

    @property
    def observation_size(self) -> int:
        return 5

    @property
    def action_size(self) -> int:
        return 2

    def _reset_state(self, key):
        k_angle, k_radius = jax.random.split(key)
        angle = jax.random.uniform(k_angle, (), minval=-jnp.pi, maxval=jnp.pi)
        radius = jax.random.uniform(k_radius, (), minval=self.goal_min, maxval=self.goal_max)
        goal = radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])
        bodies = resting_bodies(jnp.array([[0.0, 0.0, self.rest_height]]))
        return {"bodies": bodies, "goal": goal.astype(jnp.float32)}

    def _forces(self, pipeline, action):
        force = jnp.zeros((1, 3), jnp.float32).at[0, :2].set(self.max_force * action)
        return force, jnp.zeros((1, 3), jnp.float32)

    def _obs(self, pipeline):
        b = pipeline["bodies"]
        return jnp.concatenate([pipeline["goal"] - b.pos[0, :2], b.vel[0, :2], b.ang_vel[0, 2:3]])

    @staticmethod
    def distance(pipeline) -> jax.Array:
        """Distance from the box centre to the goal in the plane."""
        d = pipeline["goal"] - pipeline["bodies"].pos[0, :2]
        return jnp.sqrt(jnp.sum(d * d) + 1e-12)

    def _reward(self, before, after, action):
        return -self.distance(after) - self.ctrl_cost * jnp.sum(action * action)
