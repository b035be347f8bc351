"""``contact/hop``: a box with a springy leg must hop forward (intermittent contact)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.contact.base import ContactEnv, check_positive
from rljax.contact import WorldSpec, resting_bodies, rotate


class Hop(ContactEnv):
    """A box (edge ``2 half``, mass ``mass``) whose "leg" pushes off the ground.

    Action ``a`` in ``[-1, 1]^2``: leg thrust ``(a_x * max_side, (a_z + 1) / 2 * max_up)``
    in the world x-z plane, on the centre of mass, but only while the box's
    bottom is within ``leg`` of the ground: the thrust is scaled by the smooth
    reach ``sigmoid((leg - height) / (leg / 5))`` of its lowest point, so it
    fades out in the air. The sideways thrust is below the friction limit at
    rest (``max_side = 0.8 friction m g``), so sliding is slow: going forward
    fast means unloading the contact (pushing up, leaving the ground) while
    pushing forward, then landing — contact switches on and off.
    Observation (11): height, orientation quaternion (4), velocity (3), angular velocity (3).
    Reward: forward velocity ``v_x`` minus ``ctrl_cost |a|^2``.
    Terminates when the box tips over (its up axis more than ~70 degrees from vertical);
    time limit ``default_episode_length`` = 100 steps (4 s).
    """

    name = "contact/hop"
    default_episode_length = 100

    def __init__(self, friction: float = 0.8, mass: float = 1.0, half: float = 0.1, leg: float = 0.1,
                 max_up: float = 25.0, dt: float = 0.04, ctrl_cost: float = 0.05,
                 kappa: float = 1e-4, grad_kappa: float | None = None, max_iter: int = 50, warm_start: bool = False):
        super().__init__(kappa, grad_kappa, max_iter, warm_start)
        check_positive(self.name, friction=friction, mass=mass, half=half, leg=leg, max_up=max_up, dt=dt)
        if not (isinstance(ctrl_cost, (int, float)) and ctrl_cost >= 0):
            raise ValueError(f"env {self.name!r}: ctrl_cost={ctrl_cost!r} must be >= 0")
        self.world = WorldSpec(bodies=(("box", (half, half, half), float(mass)),), friction=float(friction),
                               dt=float(dt))
        self.mass, self.half, self.leg = float(mass), float(half), float(leg)
        self.max_up = float(max_up)
        self.max_side = 0.8 * float(friction) * self.mass * 9.81
        self.ctrl_cost = float(ctrl_cost)
        self.rest_height = self.half + kappa / (self.mass * 9.81 * self.dt / 4.0)

    @property
    def observation_size(self) -> int:
        return 11

    @property
    def action_size(self) -> int:
        return 2

    def _reset_state(self, key):
        jitter = jax.random.uniform(key, (), minval=0.0, maxval=0.05)
        return {"bodies": resting_bodies(jnp.array([[0.0, 0.0, 1.0]]) * (self.rest_height + jitter))}

    def _lowest_point(self, bodies) -> jax.Array:
        # Height of the lowest corner: centre height minus the box's vertical half-extent.
        q = bodies.quat[0]
        axes = rotate(q, jnp.eye(3, dtype=jnp.float32))  # row i: body axis i in world
        return bodies.pos[0, 2] - self.half * jnp.sum(jnp.abs(axes[:, 2]))

    def _forces(self, pipeline, action):
        reach = jax.nn.sigmoid((self.leg - self._lowest_point(pipeline["bodies"])) / (self.leg / 5.0))
        fx = action[0] * self.max_side * reach
        fz = 0.5 * (action[1] + 1.0) * self.max_up * reach
        force = jnp.stack([fx, jnp.zeros_like(fx), fz])[None, :]
        return force.astype(jnp.float32), jnp.zeros((1, 3), jnp.float32)

    def _obs(self, pipeline):
        b = pipeline["bodies"]
        return jnp.concatenate([b.pos[0, 2:3], b.quat[0], b.vel[0], b.ang_vel[0]])

    def _reward(self, before, after, action):
        return after["bodies"].vel[0, 0] - self.ctrl_cost * jnp.sum(action * action)

    def _terminated(self, pipeline):
        up = rotate(pipeline["bodies"].quat[0], jnp.array([0.0, 0.0, 1.0], jnp.float32))
        return (up[2] < 0.35).astype(jnp.float32)
