"""``contact/hopper``: a planar one-legged hopper (Gym's Hopper, smaller) on a planar joint and hinges."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from envs.contact.base import ContactEnv, check_positive
from rljax.contact import Bodies, WorldSpec

# Body order in the world (and in ``pipeline["bodies"]``); each body's parent is the one before it.
TORSO, THIGH, SHIN, FOOT = 0, 1, 2, 3
# The foot capsule lies along its body z axis; +90 deg about y lays it along world +x.
_LAY_DOWN = (math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0)
_Y = (0.0, 1.0, 0.0)


def _pitch_quat(angle: jax.Array) -> jax.Array:
    """[..., 4] quaternion of the rotation by ``angle`` about world +y."""
    zero = jnp.zeros_like(angle)
    return jnp.stack([jnp.cos(0.5 * angle), zero, jnp.sin(0.5 * angle), zero], axis=-1)


def _wrap(angle: jax.Array) -> jax.Array:
    """Angles in [-pi, pi)."""
    return jnp.mod(angle + math.pi, 2.0 * math.pi) - math.pi


class Hopper(ContactEnv):
    """A planar one-legged hopper (torso, thigh, shin, foot) that should hop forward (+x).

    Bodies: four capsules (the torso, thigh and shin upright, the foot lying along
    x), lengths ``torso_length``, ``thigh_length``, ``shin_length`` joint to joint
    (caps included) and ``foot_length`` from heel to toe, with the ankle
    ``foot_length / 3`` from the heel; masses ``masses``. The torso is held in the
    x-z plane by a planar joint to the world (free in x, z and pitch, unactuated,
    undamped); hip, knee and ankle are hinges about y with damping
    ``joint_damping`` and limits (radians, relative to the upright pose: positive
    turns the lower body's far end backward, -x): hip ``(-2.6, 0.5)`` (negative:
    thigh forward), knee ``(-0.1, 2.6)`` (positive: bent like a human knee),
    ankle ``(-0.8, 0.8)``, so every body stays in the plane. Only the ground is
    touched: the linked bodies never collide with each other (``body_pairs=()``).
    Reset: upright with the hip, knee and ankle angles and the torso pitch
    perturbed by ``U(-reset_noise, reset_noise)`` each, at rest, lowered until
    its lowest point is just above the ground.

    Action ``a`` in ``[-1, 1]^3``: hip, knee and ankle torques ``max_torque * a`` (N m).
    Observation (11, float32): torso height (1), torso pitch (1, rad; + leans
    forward), hip / knee / ankle angles (3), torso velocity x, z (2), pitch rate
    (1), hip / knee / ankle rates (3), velocities over the last step, as Gym's Hopper.
    Reward per step (Gym Hopper's): forward velocity of the torso ``v_x`` (m/s, its
    x displacement over the step / dt) ``+ healthy_reward`` (a constant per step;
    0.5, half Gym's, so that moving forward weighs more against standing still:
    surviving 200 steps is worth 100, 1 m/s for as long 200) ``- ctrl_cost |a|^2``.
    ``posture_reward`` (default 0: the reward above, Gym's) adds
    ``posture_reward * (1 - (pitch / max_pitch)^2 - (min(z - h0, 0) / (h0 - min_height))^2)``
    per step (``z`` the torso height, ``h0`` its standing height): 1 upright at
    full height, 0 or less at the edge of termination. It is smooth, so it gives
    analytic-gradient agents (APG, SHAC) a gradient away from falling, which the
    constant healthy bonus and the termination itself never do (SHAC's hopper
    rewards carry the same kind of term).
    Terminates when unhealthy: torso height below ``min_height`` or
    ``|pitch| > max_pitch``. Time limit ``default_episode_length`` = 200 steps
    (6 s at dt 0.03). With zero action the hinges only damp: the hopper folds
    and terminates after about a second.

    ``armature`` (kg m^2, default 0.1) gives hip, knee and ankle MuJoCo's rotor
    inertia (its Hopper: 1).

    Scale: ``max_torque`` 40 N m (default) throws the 7.5 kg body off the
    ground; the armature is what makes that solvable. The links' own inertias
    are small, so without it such torques turn a shin by over half a radian in
    one step, where the solver stalls now and then (under uniform random
    actions 8 of 9600 solves hit ``max_iter`` at 40 N m without armature, 0
    with 0.1; under ``vmap`` every env waits for a stalled one). Before, the
    defaults were 15 N m without armature (``max_torque=15, armature=0``):
    enough to stand and shuffle, not to hop.
    """

    name = "contact/hopper"
    default_episode_length = 200

    def __init__(self, friction: float = 0.9, torso_length: float = 0.4, thigh_length: float = 0.4,
                 shin_length: float = 0.4, foot_length: float = 0.3, radius: float = 0.05,
                 masses: tuple = (3.0, 2.0, 1.5, 1.0), max_torque: float = 40.0, joint_damping: float = 1.0,
                 dt: float = 0.03, healthy_reward: float = 0.5, ctrl_cost: float = 1e-3, min_height: float = 0.6,
                 max_pitch: float = 1.0, reset_noise: float = 0.05, posture_reward: float = 0.0, kappa: float = 1e-4,
                 grad_kappa: float | None = None, max_iter: int = 50, warm_start: bool = False,
                 armature: float = 0.1):
        super().__init__(kappa, grad_kappa, max_iter, warm_start)
        check_positive(self.name, friction=friction, torso_length=torso_length, thigh_length=thigh_length,
                       shin_length=shin_length, foot_length=foot_length, radius=radius, max_torque=max_torque,
                       dt=dt, min_height=min_height, max_pitch=max_pitch)
        for field, v in (("joint_damping", joint_damping), ("armature", armature), ("healthy_reward", healthy_reward),
                         ("ctrl_cost", ctrl_cost), ("reset_noise", reset_noise), ("posture_reward", posture_reward)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"env {self.name!r}: {field}={v!r} must be a finite number >= 0")
        if not (isinstance(masses, (tuple, list)) and len(masses) == 4
                and all(isinstance(m, (int, float)) and math.isfinite(m) and m > 0 for m in masses)):
            raise ValueError(f"env {self.name!r}: masses={masses!r} must be 4 finite numbers > 0 "
                             "(torso, thigh, shin, foot)")
        for field, length in (("torso_length", torso_length), ("thigh_length", thigh_length),
                              ("shin_length", shin_length), ("foot_length", foot_length)):
            if not length > 2 * radius:
                raise ValueError(f"env {self.name!r}: {field}={length!r} must exceed the capsule diameter "
                                 f"2 radius = {2 * radius}")
        if not reset_noise < 0.5:
            raise ValueError(f"env {self.name!r}: reset_noise={reset_noise!r} must be < 0.5 rad "
                             "(the joints start inside their limits)")
        self.lengths = (float(torso_length), float(thigh_length), float(shin_length))
        self.foot_length, self.radius = float(foot_length), float(radius)
        self.max_torque, self.ctrl_cost, self.healthy_reward = float(max_torque), float(ctrl_cost), float(healthy_reward)
        self.min_height, self.max_pitch, self.reset_noise = float(min_height), float(max_pitch), float(reset_noise)
        self.posture_reward = float(posture_reward)
        self.standing_height = self.radius + sum(self.lengths[1:]) + 0.5 * self.lengths[0]
        if not self.min_height < self.standing_height:
            raise ValueError(f"env {self.name!r}: min_height={min_height!r} must be below the standing torso "
                             f"height {self.standing_height:.3f}")
        r = self.radius
        # Capsule segments inset by the radius, so each capsule spans its joints cap to cap.
        half = tuple(0.5 * length - r for length in self.lengths + (self.foot_length,))
        # The ankle sits a third of the foot from the heel: the foot's centre is this far ahead of it.
        self.ankle_to_foot = self.foot_length / 2.0 - self.foot_length / 3.0
        lt, lh, ls = (0.5 * length for length in self.lengths)
        damping = float(joint_damping)
        rotor = float(armature)
        upright = (1.0, 0.0, 0.0, 0.0)  # hip and knee rest at the identity relative rotation
        self.world = WorldSpec(
            bodies=tuple(("capsule", (r, h), float(m)) for h, m in zip(half, masses)),
            friction=float(friction), dt=float(dt),
            joints=(
                # The torso's centre stays in the x-z plane (normal y) and turns only about y;
                # its DOFs (2 in-plane displacements, pitch) are unactuated.
                ("planar", None, TORSO, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), _Y, 0.0),
                ("revolute", TORSO, THIGH, (0.0, 0.0, -lt), (0.0, 0.0, lh), _Y, damping, (-2.6, 0.5), upright, rotor),
                ("revolute", THIGH, SHIN, (0.0, 0.0, -lh), (0.0, 0.0, ls), _Y, damping, (-0.1, 2.6), upright, rotor),
                # The foot's body z is world +x at rest (rest_quat), so the ankle is behind its centre.
                ("revolute", SHIN, FOOT, (0.0, 0.0, -ls), (0.0, 0.0, -self.ankle_to_foot), _Y, damping,
                 (-0.8, 0.8), _LAY_DOWN, rotor),
            ),
            # Only the ground: a relaxed contact pushes (kappa / gap) even between bodies apart.
            body_pairs=())

    @property
    def observation_size(self) -> int:
        return 11

    @property
    def action_size(self) -> int:
        return 3

    def pose(self, x: jax.Array, z: jax.Array, angles: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Body poses from the torso centre ``(x, z)`` and ``angles [4]`` (pitch, hip, knee, ankle):
        pos [4, 3], quat [4, 4] (forward kinematics of the chain)."""
        pitch = jnp.cumsum(angles)  # world pitch of torso, thigh, shin, foot

        def up(a):  # a body's z axis at world pitch a
            return jnp.stack([jnp.sin(a), jnp.zeros_like(a), jnp.cos(a)])

        lt, lh, ls = self.lengths
        torso = jnp.stack([x, jnp.zeros_like(x), z])
        hip = torso - 0.5 * lt * up(pitch[0])
        knee = hip - lh * up(pitch[1])
        ankle = knee - ls * up(pitch[2])
        foot = ankle + self.ankle_to_foot * up(pitch[3] + 0.5 * math.pi)
        pos = jnp.stack([torso, hip - 0.5 * lh * up(pitch[1]), knee - 0.5 * ls * up(pitch[2]), foot])
        quat = _pitch_quat(pitch.at[3].add(0.5 * math.pi))
        return pos, quat

    def _lowest(self, pos: jax.Array, quat: jax.Array) -> jax.Array:
        """Height of the lowest point of the four capsules."""
        pitch = 2.0 * jnp.arctan2(quat[:, 2], quat[:, 0])
        half = jnp.array([b[1][1] for b in self.world.bodies], pos.dtype)
        return jnp.min(pos[:, 2] - half * jnp.abs(jnp.cos(pitch))) - self.radius

    def _reset_state(self, key):
        noise = jax.random.uniform(key, (4,), minval=-self.reset_noise, maxval=self.reset_noise)
        pos, quat = self.pose(jnp.zeros(()), jnp.asarray(self.standing_height), noise)
        # Lower (or raise) the whole body until its lowest point is 1 mm above the ground.
        pos = pos.at[:, 2].add(1e-3 - self._lowest(pos, quat))
        zero = jnp.zeros((4, 3), jnp.float32)
        return {"bodies": Bodies(pos=pos.astype(jnp.float32), quat=quat.astype(jnp.float32), vel=zero,
                                 ang_vel=zero)}

    def _forces(self, pipeline, action):
        zero = jnp.zeros((4, 3), jnp.float32)
        return zero, zero

    def _actuation(self, pipeline, action):
        # The planar root's 3 DOFs are unactuated; hip, knee, ankle follow.
        return jnp.concatenate([jnp.zeros((3,), jnp.float32), self.max_torque * action]).astype(jnp.float32)

    @staticmethod
    def pitches(bodies: Bodies) -> jax.Array:
        """World pitch of each body [4] (rad, about +y; the foot's includes its 90 deg lay-down)."""
        # Every body turns about y only (the joints keep the chain planar), so q = (cos, 0, sin, 0)(a / 2).
        return 2.0 * jnp.arctan2(bodies.quat[:, 2], bodies.quat[:, 0])

    def joint_state(self, bodies: Bodies) -> tuple[jax.Array, jax.Array]:
        """(hip, knee, ankle angles [3] in [-pi, pi), their rates [3]) from the body poses."""
        pitch = self.pitches(bodies).at[FOOT].add(-0.5 * math.pi)
        # Body-frame y angular velocity is the world pitch rate (rotations about y only).
        rate = bodies.ang_vel[:, 1]
        return _wrap(pitch[1:] - pitch[:-1]), rate[1:] - rate[:-1]

    def _obs(self, pipeline):
        b = pipeline["bodies"]
        angles, rates = self.joint_state(b)
        pitch = _wrap(self.pitches(b)[TORSO])
        return jnp.concatenate([b.pos[TORSO, 2:3], pitch[None], angles, b.vel[TORSO, 0::2],
                                b.ang_vel[TORSO, 1:2], rates]).astype(jnp.float32)

    def _reward(self, before, after, action):
        b = after["bodies"]
        forward = b.vel[TORSO, 0]  # the torso's x displacement over the step / dt
        reward = forward + self.healthy_reward - self.ctrl_cost * jnp.sum(action * action)
        if not self.posture_reward:
            return reward
        tilt = _wrap(self.pitches(b)[TORSO]) / self.max_pitch
        sag = jnp.minimum(b.pos[TORSO, 2] - self.standing_height, 0.0) / (self.standing_height - self.min_height)
        return reward + self.posture_reward * (1.0 - tilt * tilt - sag * sag)

    def _terminated(self, pipeline):
        b = pipeline["bodies"]
        pitch = _wrap(self.pitches(b)[TORSO])
        unhealthy = (b.pos[TORSO, 2] < self.min_height) | (jnp.abs(pitch) > self.max_pitch)
        return unhealthy.astype(jnp.float32)
