"""``contact/arm_push``: a planar two-link arm on revolute joints pushes a box to a goal."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from envs.contact.base import ContactEnv, check_positive
from rljax.contact import Bodies, WorldSpec, rotate

# Body order in the world (and in ``pipeline["bodies"]``).
LINK1, LINK2, TIP, BOX = 0, 1, 2, 3
# Capsules lie along their body z axis; this rest rotation (+90 deg about y) lays
# them along world +x, so a link's world direction at joint angle th is R_z(th) x.
_LAY_DOWN = (math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0)


def _yaw_quat(yaw: jax.Array) -> jax.Array:
    """[..., 4] quaternion of R_z(yaw) composed with the lay-down rotation (capsule along R_z(yaw) x)."""
    c, s = jnp.cos(0.5 * yaw), jnp.sin(0.5 * yaw)
    w, _, y, _ = _LAY_DOWN
    # (c, 0, 0, s) * (w, 0, y, 0)
    return jnp.stack([c * w, -s * y, c * y, s * w], axis=-1)


class ArmPush(ContactEnv):
    """A horizontal two-link arm pushes a box (edge ``2 half``, mass ``box_mass``)
    across the floor (Coulomb ``friction``) to a goal.

    Bodies: link 1 and link 2 are capsules (length ``link_length``, radius 0.02)
    at height ``link_height``; link 1 is hinged to the world at the origin, link 2
    to link 1's end, both about the vertical axis (damping ``joint_damping``);
    a sphere fingertip (radius ``tip_radius``) hangs from link 2's end on a fixed
    joint at the box's mid height, so only the fingertip touches the box (the links
    pass over it). The box starts at distance ``box_start`` in front of the base
    (x axis, +-0.1 m jitter in y); the goal is drawn at radius 0.35-0.65 m from
    the base within +-60 deg of the x axis, and at least ``goal_min`` from the box.
    The arm starts at angles (pi/2, -pi/2) +- 0.2 (tip at the upper left of the box).

    Action ``a`` in ``[-1, 1]^2``: joint torques ``max_torque * a`` (N m). The default 2 N m lets
    the fingertip push the box sideways with 3.4-4 N near its start, against 1.5 N of
    friction (at 0.5 N m it could not: 0.9-1 N).
    Observation (14): cos, sin of the two joint angles (4), joint velocities (2),
    fingertip position (x, y) (2), box minus goal (x, y) (2), box velocity (x, y) (2),
    box minus fingertip (x, y) (2).
    Reward: ``-|box - goal| - tip_cost |box - tip| - ctrl_cost |a|^2`` (m) after the step
    (Gym Pusher's weights for the first two terms: 1 and 0.5).
    Never terminates; time limit ``default_episode_length`` = 100 steps (3 s).
    """

    name = "contact/arm_push"
    default_episode_length = 100

    def __init__(self, friction: float = 0.5, box_mass: float = 0.3, half: float = 0.05,
                 link_length: float = 0.4, link_mass: float = 0.2, link_height: float = 0.15,
                 tip_radius: float = 0.03, max_torque: float = 2.0, joint_damping: float = 0.05,
                 box_start: float = 0.5, goal_min: float = 0.15, dt: float = 0.03, tip_cost: float = 0.5,
                 ctrl_cost: float = 0.01, kappa: float = 1e-4, grad_kappa: float | None = None,
                 max_iter: int = 50, warm_start: bool = False):
        super().__init__(kappa, grad_kappa, max_iter, warm_start)
        check_positive(self.name, friction=friction, box_mass=box_mass, half=half, link_length=link_length,
                       link_mass=link_mass, tip_radius=tip_radius, max_torque=max_torque, box_start=box_start,
                       dt=dt)
        for field, v in (("joint_damping", joint_damping), ("goal_min", goal_min), ("tip_cost", tip_cost),
                         ("ctrl_cost", ctrl_cost)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"env {self.name!r}: {field}={v!r} must be a finite number >= 0")
        if not (isinstance(link_height, (int, float)) and link_height - 0.02 > 2 * half):
            raise ValueError(f"env {self.name!r}: link_height={link_height!r} must clear the box top "
                             f"(> 2 half + link radius = {2 * half + 0.02})")
        if not tip_radius < half:
            raise ValueError(f"env {self.name!r}: tip_radius={tip_radius!r} must be < half={half} "
                             "(the fingertip hovers above the ground at the box's mid height)")
        if not box_start + half < 2 * link_length:
            raise ValueError(f"env {self.name!r}: box_start={box_start!r} is out of the arm's reach "
                             f"(2 link_length = {2 * link_length})")
        self.l, self.h, self.half, self.tip_radius = float(link_length), float(link_height), float(half), float(tip_radius)
        self.max_torque, self.box_start, self.goal_min = float(max_torque), float(box_start), float(goal_min)
        self.box_mass, self.tip_cost, self.ctrl_cost = float(box_mass), float(tip_cost), float(ctrl_cost)
        drop = self.h - self.half  # link axis height down to the fingertip centre (box mid height)
        damping = float(joint_damping)
        l2 = 0.5 * self.l
        self.world = WorldSpec(
            bodies=(("capsule", (0.02, l2 - 0.02), float(link_mass)),
                    ("capsule", (0.02, l2 - 0.02), float(link_mass)),
                    ("sphere", self.tip_radius, 0.05),
                    ("box", (self.half,) * 3, self.box_mass)),
            friction=float(friction), dt=float(dt),
            joints=(
                # Shoulder: world origin at link height to link 1's near end; world z axis.
                ("revolute", None, LINK1, (0.0, 0.0, self.h), (0.0, 0.0, -l2), (0.0, 0.0, 1.0), damping, None,
                 _LAY_DOWN),
                # Elbow: link 1's far end to link 2's near end; world z is -x in a link's frame.
                ("revolute", LINK1, LINK2, (0.0, 0.0, l2), (0.0, 0.0, -l2), (-1.0, 0.0, 0.0), damping),
                # Fingertip: below link 2's far end (body +x is world -z).
                ("fixed", LINK2, TIP, (drop, 0.0, l2), (0.0, 0.0, 0.0)),
            ),
            # Only the fingertip meets the box, and only the box the ground: the joints hold the
            # links and the fingertip above both, and a relaxed contact pushes across any gap.
            body_pairs=((TIP, BOX),), ground_bodies=(BOX,))
        # Resting height of the box (as in contact/push): 4 corners carry m g dt / 4 each.
        self.rest_height = self.half + kappa / (self.box_mass * 9.81 * self.dt / 4.0)

    @property
    def observation_size(self) -> int:
        return 14

    @property
    def action_size(self) -> int:
        return 2

    def arm_bodies(self, angles: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Poses of link 1, link 2 and the fingertip at joint ``angles [2]``: pos [3, 3], quat [3, 4]."""
        yaw1, yaw2 = angles[0], angles[0] + angles[1]
        d1 = jnp.stack([jnp.cos(yaw1), jnp.sin(yaw1), 0.0])
        d2 = jnp.stack([jnp.cos(yaw2), jnp.sin(yaw2), 0.0])
        base = jnp.array([0.0, 0.0, self.h])
        elbow = base + self.l * d1
        pos = jnp.stack([base + 0.5 * self.l * d1, elbow + 0.5 * self.l * d2,
                         elbow + self.l * d2 - jnp.array([0.0, 0.0, self.h - self.half])])
        quat = jnp.stack([_yaw_quat(yaw1), _yaw_quat(yaw2), _yaw_quat(yaw2)])
        return pos, quat

    def _reset_state(self, key):
        k_goal_r, k_goal_a, k_box, k_arm = jax.random.split(key, 4)
        box_xy = jnp.stack([self.box_start, jax.random.uniform(k_box, (), minval=-0.1, maxval=0.1)])
        radius = jax.random.uniform(k_goal_r, (), minval=0.35, maxval=0.65)
        angle = jax.random.uniform(k_goal_a, (), minval=-math.pi / 3, maxval=math.pi / 3)
        goal = radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])
        # Keep the goal at least goal_min from the box: push it out along the box-goal line.
        offset = goal - box_xy
        dist = jnp.sqrt(jnp.sum(offset * offset) + 1e-12)
        goal = box_xy + offset * jnp.maximum(dist, self.goal_min) / dist
        angles = jnp.array([math.pi / 2, -math.pi / 2]) + jax.random.uniform(k_arm, (2,), minval=-0.2, maxval=0.2)
        pos, quat = self.arm_bodies(angles)
        pos = jnp.concatenate([pos, jnp.concatenate([box_xy, jnp.array([self.rest_height])])[None]])
        quat = jnp.concatenate([quat, jnp.array([[1.0, 0.0, 0.0, 0.0]])])
        bodies = Bodies(pos=pos.astype(jnp.float32), quat=quat.astype(jnp.float32),
                        vel=jnp.zeros((4, 3), jnp.float32), ang_vel=jnp.zeros((4, 3), jnp.float32))
        return {"bodies": bodies, "goal": goal.astype(jnp.float32)}

    def _forces(self, pipeline, action):
        zero = jnp.zeros((4, 3), jnp.float32)
        return zero, zero

    def _actuation(self, pipeline, action):
        return (self.max_torque * action).astype(jnp.float32)

    @staticmethod
    def joint_state(bodies: Bodies) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(cos [2], sin [2], velocities [2]) of the shoulder and elbow angles, from the link poses.

        A link's world direction is its body z axis; the elbow angle is the
        relative yaw of the two directions (cos: dot, sin: z of the cross product).
        """
        z = jnp.array([0.0, 0.0, 1.0], bodies.pos.dtype)
        d1, d2 = rotate(bodies.quat[LINK1], z), rotate(bodies.quat[LINK2], z)
        cos = jnp.stack([d1[0], d1[0] * d2[0] + d1[1] * d2[1]])
        sin = jnp.stack([d1[1], d1[0] * d2[1] - d1[1] * d2[0]])
        # Body-frame angular velocities to world; the joints keep them vertical.
        w1 = rotate(bodies.quat[LINK1], bodies.ang_vel[LINK1])[2]
        w2 = rotate(bodies.quat[LINK2], bodies.ang_vel[LINK2])[2]
        return cos, sin, jnp.stack([w1, w2 - w1])

    def _obs(self, pipeline):
        b = pipeline["bodies"]
        cos, sin, vel = self.joint_state(b)
        tip, box = b.pos[TIP, :2], b.pos[BOX, :2]
        return jnp.concatenate([cos, sin, vel, tip, box - pipeline["goal"], b.vel[BOX, :2], box - tip])

    @staticmethod
    def _norm(v: jax.Array) -> jax.Array:
        return jnp.sqrt(jnp.sum(v * v) + 1e-12)

    def distance(self, pipeline) -> jax.Array:
        """Distance from the box centre to the goal in the plane."""
        return self._norm(pipeline["goal"] - pipeline["bodies"].pos[BOX, :2])

    def _reward(self, before, after, action):
        b = after["bodies"]
        reach = self._norm(b.pos[BOX, :2] - b.pos[TIP, :2])
        return -self.distance(after) - self.tip_cost * reach - self.ctrl_cost * jnp.sum(action * action)
