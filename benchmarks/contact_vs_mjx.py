"""rljax.contact vs MuJoCo MJX on the same scene, in one process, float64 in both.

Scenes (``--scene``):

- ``two_box`` (default): two boxes dropped and sliding on a plane, vmapped over
  random initial velocities.
- ``arm``: the ``contact/arm_push`` model (envs/contact/arm_push.py, its default
  masses, sizes, joint damping, friction and dt 0.03): a planar two-link arm
  on hinges about z, a sphere fingertip welded under link 2's end, a box on
  the floor. Ours is the env's own ``WorldSpec``; MJX gets the same model as
  MJCF (hinges at the same anchors, the fingertip a jointless body welded to
  link 2, the box on a free joint, the same inertias; contacts only
  fingertip-box and box-floor, as ours: the joints hold the links and the
  fingertip above the floor). Both are driven by the same
  open-loop joint torques, vmapped over a per-world phase: the shoulder turns
  the arm clockwise so the fingertip sweeps into the box (after about 0.8 s:
  step 26-30 of 50) and keeps pushing it.

For batches of 1, 64 and 1024 worlds (vmapped, scanned over time, jitted;
compile time reported apart), prints one JSON line per batch with: steps/s for
each engine (world-steps per second, median of repeats), the ratio ours/mjx,
compile times (forward program per batch; two_box's gradient program once), our
iteration counts (median, max, and the mean over steps of the batch maximum,
which is what a plain vmapped while_loop would pay: the solver finishes its
stragglers in smaller batches, see ``rljax.contact.solver.STRAGGLER_FRACTIONS``), our unconverged solves (world-steps),
and the max penetration of any box corner below the plane for each. two_box adds gradient quality: the relative
disagreement between the autodiff gradient d final-x / d initial-vx and a
central finite difference (ours in reverse mode through the IFT; MJX in
forward mode, since reverse mode cannot cross its solver's while_loop). arm
adds the max fingertip-into-box penetration (sphere centre's signed distance
to the box minus its radius) and the agreement of the two engines on world 0:
the max distance between their fingertip and box positions over the rollout,
and over the steps before either fingertip comes within 1 mm of the box.
Both engines run in float64 (MJX via jax.enable_x64) so the comparison is fair.

    python benchmarks/contact_vs_mjx.py
    python benchmarks/contact_vs_mjx.py --scene arm
    python benchmarks/contact_vs_mjx.py --batches 1 64 --steps 100 --repeats 5
    python benchmarks/contact_vs_mjx.py --small-ops xla   # our small ops as plain einsum/gather/scatter

``--no-warm-start`` starts each of our solves cold (default: warm from the
previous step's solution). ``--small-ops`` picks rljax.contact's small-op backend (``auto``: unrolled on
CPU, xla on GPU/TPU; see ``rljax.contact.small_ops``); each row reports the one used.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any, Callable, Literal, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import tyro
from mujoco import mjx

from rljax import contact
from rljax.contact import small_ops
from rljax.contact.rotation import quat_to_mat


@dataclasses.dataclass
class Args:
    scene: Literal["two_box", "arm"] = "two_box"
    """Scene: two_box (two boxes sliding on a plane) or arm (contact/arm_push's two-link arm pushing a box)."""
    batches: Sequence[int] = (1, 64, 1024)
    """Worlds per batch (vmapped); one JSON line per batch."""
    steps: int = 50
    """Steps of each rollout."""
    repeats: int = 3
    """Timed runs per batch and engine (median reported)."""
    dt: Optional[float] = None
    """Time step (s) of both engines (default: 0.01 for two_box, 0.03 for arm, contact/arm_push's)."""
    friction: float = 0.5
    """Friction coefficient of every shape and the plane in both engines."""
    kappa: float = 1e-6
    """Central-path parameter of rljax.contact's solver."""
    fd_eps: float = 1e-5
    """Step of the central finite difference the autodiff gradients are checked against (two_box)."""
    seed: int = 0
    """Seed of the batch's random initial velocities (two_box) or torque phases (arm)."""
    small_ops: Literal["auto", "unrolled", "xla"] = "auto"
    """rljax.contact's small-op backend (auto: unrolled on CPU, xla on GPU/TPU)."""
    warm_start: bool = True
    """Warm-start each of our solves from the previous step's solution (--no-warm-start: cold)."""


DEFAULT_DT = {"two_box": 0.01, "arm": 0.03}


class Scene(NamedTuple):
    """One benchmark scene. ``engines``: name -> ``run(x)`` for one world's input ``x``
    (vmapped over ``inputs(key, batch)``), returning a dict with ``penetration_m``
    (scalar), ``iterations`` ([steps] int, zeros where the engine has none; ours also
    ``unconverged``, its count of unconverged solves) and any
    further scalars ``*_m`` (reported as their batch max) or trajectories.
    ``grads``: name -> (final_x(scalar), at, mode) for the gradient check, or empty.
    ``compare``: the per-engine outputs of a batch -> extra row entries (or None)."""

    engines: dict[str, Callable]
    inputs: Callable[[jax.Array, int], jax.Array]
    grads: dict[str, tuple[Callable, float, str]]
    compare: Optional[Callable[[dict[str, Any]], dict]] = None


def box_signs(half):
    return jnp.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], jnp.float64) * half


def corners_min_z(pos, rot, half):
    """Lowest box-corner height, pos [..., 3], rot [..., 3, 3], half-extent ``half``."""
    pts = pos[..., None, :] + jnp.einsum("...ij,kj->...ki", rot, box_signs(half))
    return jnp.min(pts[..., 2])


# ---- two_box -------------------------------------------------------------------------

HALF = 0.1
START = np.array([[0.0, 0.0, 0.3], [1.0, 0.0, 0.3]])


def mjx_model(args: Args) -> mujoco.MjModel:
    xml = f"""
    <mujoco>
      <option timestep="{args.dt}" gravity="0 0 -9.81"/>
      <worldbody>
        <geom name="floor" type="plane" size="0 0 1" friction="{args.friction} 0.005 0.0001"/>
        <body name="b0" pos="{START[0, 0]} {START[0, 1]} {START[0, 2]}"><freejoint/>
          <geom type="box" size="{HALF} {HALF} {HALF}" mass="1" friction="{args.friction} 0.005 0.0001"/></body>
        <body name="b1" pos="{START[1, 0]} {START[1, 1]} {START[1, 2]}"><freejoint/>
          <geom type="box" size="{HALF} {HALF} {HALF}" mass="1" friction="{args.friction} 0.005 0.0001"/></body>
      </worldbody>
      <contact><exclude body1="b0" body2="b1"/></contact>
    </mujoco>"""
    return mujoco.MjModel.from_xml_string(xml)


def init_vel(key, batch):
    """Initial linear velocities [B, 2, 3]: sliding in random horizontal directions."""
    v = jax.random.uniform(key, (batch, 2, 3), minval=-2.0, maxval=2.0)
    return v.at[..., 2].set(0.0)


def two_box_ours(args: Args):
    world = contact.World(bodies=(contact.Box(half_extents=(HALF,) * 3, mass=1.0),) * 2,
                          ground=contact.Plane(), friction=args.friction, dt=args.dt,
                          body_pairs=())  # as the MJX model's <exclude>: the boxes meet only the floor
    base = world.init_state(pos=START)

    def run(vel0):
        st = contact.rollout(world, base.replace(vel=vel0), steps=args.steps, kappa=args.kappa,
                             warm_start=args.warm_start)
        pen = jnp.maximum(-corners_min_z(st.pos, quat_to_mat(st.quat), HALF), 0.0)
        return dict(penetration_m=pen, iterations=st.solver.iterations, unconverged=jnp.sum(~st.solver.converged))

    def final_x(vx):
        v = jnp.zeros((2, 3)).at[0, 0].set(vx)
        return contact.rollout(world, base.replace(vel=v), steps=args.steps, kappa=args.kappa,
                               warm_start=args.warm_start).pos[-1, 0, 0]

    return run, final_x


def two_box_mjx(args: Args):
    model = mjx.put_model(mjx_model(args))
    data0 = mjx.make_data(model)

    def rollout(vel0):
        qvel = jnp.zeros(12).at[0:3].set(vel0[0]).at[6:9].set(vel0[1])
        d = data0.replace(qvel=qvel)

        def body(d, _):
            d = mjx.step(model, d)
            return d, corners_min_z(d.xpos[1:], d.xmat[1:], HALF)

        return jax.lax.scan(body, d, None, length=args.steps)

    def run(vel0):
        _, zmin = rollout(vel0)
        return dict(penetration_m=jnp.maximum(-jnp.min(zmin), 0.0), iterations=jnp.zeros(args.steps, jnp.int32))

    def final_x(vx):
        d, _ = rollout(jnp.zeros((2, 3)).at[0, 0].set(vx))
        return d.xpos[1, 0]

    return run, final_x


def two_box_scene(args: Args) -> Scene:
    (ours_run, ours_fx), (mjx_run, mjx_fx) = two_box_ours(args), two_box_mjx(args)
    # MJX's constraint solver is a while_loop, which reverse mode cannot cross, so
    # MJX is differentiated forward; ours is reverse-only (custom_vjp with the IFT).
    return Scene(engines={"ours": ours_run, "mjx": mjx_run}, inputs=init_vel,
                 grads={"ours": (ours_fx, 1.5, "reverse"), "mjx": (mjx_fx, 1.5, "forward")})


# ---- arm -----------------------------------------------------------------------------

# Open-loop torques (N m): the shoulder ramps (sin^2 over RAMP_S) to -SHOULDER
# (clockwise) with a +-WIGGLE relative sinusoid of period 1 s and per-world phase;
# the elbow gets ELBOW_SHARE of it (M21 / M11 of the mass matrix at the start pose,
# so the elbow keeps its angle while the arm turns) and ELBOW_CLOSE more to close
# it a little: the fingertip then meets the box near the arm's reach 0.5 m.
SHOULDER, WIGGLE, RAMP_S, ELBOW_SHARE, ELBOW_CLOSE = 0.2, 0.3, 0.3, 0.27, 0.03
START_ANGLES = (math.pi / 2, -math.pi / 2)  # contact/arm_push's start without jitter: tip at the upper left of the box
CONTACT_GAP = 1e-3  # "in contact" for the pre-contact agreement: fingertip within 1 mm of the box


def arm_torques(phase, steps, dt):
    """[steps, 2] joint torques (shoulder, elbow) held over each step of one world."""
    t = jnp.arange(steps) * dt
    ramp = jnp.sin(0.5 * jnp.pi * jnp.minimum(t / RAMP_S, 1.0)) ** 2
    shoulder = -SHOULDER * ramp * (1.0 + WIGGLE * jnp.sin(2 * jnp.pi * t + phase))
    return jnp.stack([shoulder, ELBOW_SHARE * shoulder - ELBOW_CLOSE * ramp], axis=-1)


def tip_box_gap(tip, box_pos, box_rot, half, radius):
    """Fingertip sphere's signed distance to the box (negative: penetration)."""
    p = jnp.abs(jnp.einsum("...ji,...j->...i", box_rot, tip - box_pos)) - half
    outside = jnp.linalg.norm(jnp.maximum(p, 0.0), axis=-1)
    return outside + jnp.minimum(jnp.max(p, axis=-1), 0.0) - radius


def arm_env(args: Args):
    from envs.contact.arm_push import ArmPush

    return ArmPush(friction=args.friction, dt=args.dt)


def arm_mjcf(args: Args, env, world: contact.World) -> mujoco.MjModel:
    """contact/arm_push as MJCF: links along their body x, hinged about z; inertias from our shapes."""
    link1, link2, tip, box = world.bodies[:4]
    radius, length, half = float(link1.radius), env.l, env.half
    i_perp, _, i_axis = (float(v) for v in link1.principal_inertia())
    i_tip = float(tip.principal_inertia()[0])
    damping = float(world.joints[0].damping)
    f = f'friction="{args.friction} 0.005 0.0001"'
    link = (f'<inertial pos="{length / 2} 0 0" mass="{float(link1.mass)}" diaginertia="{i_axis} {i_perp} {i_perp}"/>'
            f'<geom type="capsule" fromto="{radius} 0 0 {length - radius} 0 0" size="{radius}" {f}/>')
    xml = f"""
    <mujoco>
      <option timestep="{args.dt}" gravity="0 0 -9.81"/>
      <worldbody>
        <geom name="floor" type="plane" size="0 0 1" {f}/>
        <body name="link1" pos="0 0 {env.h}"><joint type="hinge" axis="0 0 1" damping="{damping}"/>{link}
          <body name="link2" pos="{length} 0 0"><joint type="hinge" axis="0 0 1" damping="{damping}"/>{link}
            <body name="tip" pos="{length} 0 {-(env.h - half)}">
              <inertial pos="0 0 0" mass="{float(tip.mass)}" diaginertia="{i_tip} {i_tip} {i_tip}"/>
              <geom type="sphere" size="{float(tip.radius)}" {f}/></body></body></body>
        <body name="box"><freejoint/>
          <geom type="box" size="{half} {half} {half}" mass="{float(box.mass)}" {f}/></body>
      </worldbody>
      <contact><exclude body1="link1" body2="box"/><exclude body1="link2" body2="box"/>
        <exclude body1="link1" body2="tip"/><exclude body1="world" body2="link1"/>
        <exclude body1="world" body2="link2"/><exclude body1="world" body2="tip"/></contact>
    </mujoco>"""
    return mujoco.MjModel.from_xml_string(xml)


def arm_scene(args: Args) -> Scene:
    from envs.contact.arm_push import BOX, TIP

    env = arm_env(args)
    world = env.world()  # the env's WorldSpec: links, fingertip (fixed joint), box; only tip-box and box-ground contact
    half, radius = env.half, float(world.bodies[TIP].radius)
    arm_pos, arm_quat = env.arm_bodies(jnp.array(START_ANGLES))
    # The box at rest on the floor (gap kappa / (m g dt / 4) at each of 4 corners), in front of the base.
    box_xyz = np.array([env.box_start, 0.0, half + args.kappa / (env.box_mass * 9.81 * args.dt / 4.0)])
    state0 = world.init_state(pos=jnp.concatenate([arm_pos, jnp.asarray(box_xyz)[None]]),
                              quat=jnp.concatenate([arm_quat, jnp.array([[1.0, 0.0, 0.0, 0.0]])]))

    def metrics(tip, box_pos, box_rot, iterations):
        gap = tip_box_gap(tip, box_pos, box_rot, half, radius)
        return dict(penetration_m=jnp.maximum(-corners_min_z(box_pos, box_rot, half), 0.0),
                    tip_penetration_m=jnp.maximum(-jnp.min(gap), 0.0),
                    iterations=iterations, tip=tip, box=box_pos, gap=gap)

    def ours_run(phase):
        st = contact.rollout(world, state0, actuations=arm_torques(phase, args.steps, args.dt), kappa=args.kappa,
                             warm_start=args.warm_start)
        # Poses at the start of each step (as MJX's xpos after mjx.step): the initial one, then all but the last.
        pos = jnp.concatenate([state0.pos[None], st.pos[:-1]])
        quat = jnp.concatenate([state0.quat[None], st.quat[:-1]])
        return dict(metrics(pos[:, TIP], pos[:, BOX], quat_to_mat(quat[:, BOX]), st.solver.iterations),
                    unconverged=jnp.sum(~st.solver.converged))

    model = mjx.put_model(arm_mjcf(args, env, world))
    qpos0 = jnp.concatenate([jnp.array(START_ANGLES), jnp.asarray(box_xyz), jnp.array([1.0, 0.0, 0.0, 0.0])])
    data0 = mjx.make_data(model).replace(qpos=qpos0)
    mj_tip, mj_box = 3, 4  # MJX body ids (0 is the world)

    def mjx_run(phase):
        def body(d, tau):
            d = mjx.step(model, d.replace(qfrc_applied=d.qfrc_applied.at[:2].set(tau)))
            # xpos / xmat are those of the step's start pose (mjx.step runs forward, then integrates).
            return d, (d.xpos[mj_tip], d.xpos[mj_box], d.xmat[mj_box])

        _, (tip, box_pos, box_rot) = jax.lax.scan(body, data0, arm_torques(phase, args.steps, args.dt))
        return metrics(tip, box_pos, box_rot, jnp.zeros(args.steps, jnp.int32))

    def inputs(key, batch):
        return jax.random.uniform(key, (batch,), minval=0.0, maxval=2 * jnp.pi)

    return Scene(engines={"ours": ours_run, "mjx": mjx_run}, inputs=inputs, grads={}, compare=arm_agreement)


def arm_agreement(outs: dict[str, Any]) -> dict:
    """World 0: max distance between the engines' fingertip / box positions (start of each step)."""
    ours, mj = ({k: np.asarray(v[0]) for k, v in outs[name].items()} for name in ("ours", "mjx"))
    d_tip = np.linalg.norm(ours["tip"] - mj["tip"], axis=-1)
    d_box = np.linalg.norm(ours["box"] - mj["box"], axis=-1)
    row = {}
    first = []
    for name, o in (("ours", ours), ("mjx", mj)):
        near = np.flatnonzero(o["gap"] < CONTACT_GAP)
        first.append(int(near[0]) if near.size else len(o["gap"]))
        row[f"w0_{name}_first_contact_step"] = first[-1] if near.size else None
    pre = min(first)
    row["w0_max_tip_delta_m"] = float(d_tip.max())
    row["w0_max_box_delta_m"] = float(d_box.max())
    row["w0_max_tip_delta_before_contact_m"] = float(d_tip[:pre].max()) if pre else 0.0
    row["w0_final_box_displacement_ours_m"] = float(np.linalg.norm(ours["box"][-1, :2] - ours["box"][0, :2]))
    row["w0_final_box_displacement_mjx_m"] = float(np.linalg.norm(mj["box"][-1, :2] - mj["box"][0, :2]))
    return row


SCENES = {"two_box": two_box_scene, "arm": arm_scene}


# ---- shared machinery ------------------------------------------------------------------


def time_batch(run, inputs, repeats):
    fn = jax.jit(jax.vmap(run))
    t0 = time.perf_counter()
    compiled = fn.lower(inputs).compile()
    compile_s = time.perf_counter() - t0
    out = jax.block_until_ready(compiled(inputs))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(inputs))
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times)), compile_s


def grad_quality(final_x, x, eps, mode):
    diff = jax.grad if mode == "reverse" else jax.jacfwd
    x = jnp.asarray(x)
    t0 = time.perf_counter()
    grad_fn = jax.jit(diff(final_x)).lower(x).compile()
    compile_s = time.perf_counter() - t0
    g = float(grad_fn(x))
    f = jax.jit(final_x)
    fd = float((f(x + eps) - f(x - eps)) / (2 * eps))
    return g, fd, abs(g - fd) / max(abs(fd), 1e-12), compile_s


def engine_row(name: str, out: dict, grad) -> dict:
    """Row entries of one engine's batch outputs: max of each ``*_m`` metric, gradient check, iterations."""
    row = {}
    for key, value in out.items():
        if key.endswith("_m"):
            row[f"{name}_max_{key}"] = float(jnp.max(value))
    if grad is not None:
        g, fd, err, grad_compile_s = grad
        row[f"{name}_grad"], row[f"{name}_grad_fd"], row[f"{name}_grad_rel_err"] = g, fd, err
        row[f"{name}_grad_compile_s"] = round(grad_compile_s, 1)
    if name == "ours":
        iters = np.asarray(out["iterations"])  # [batch, steps]
        row["ours_iterations_median"] = float(np.median(iters))
        row["ours_iterations_max"] = int(iters.max())
        # A plain vmapped while_loop would run every world until the slowest converges.
        row["ours_iterations_per_step_batch_max_mean"] = round(float(iters.max(0).mean()), 2)
        row["ours_unconverged_steps"] = int(np.sum(out["unconverged"]))  # world-steps whose solve did not converge
    return row


def main(args: Args) -> None:
    if args.scene not in SCENES:
        raise ValueError(f"--scene={args.scene!r}: use one of {sorted(SCENES)}")
    if args.dt is None:
        args = dataclasses.replace(args, dt=DEFAULT_DT[args.scene])
    # Read at trace time: every program below is traced inside this scope.
    with jax.enable_x64(True), small_ops.backend(args.small_ops) as ops_backend:
        scene = SCENES[args.scene](args)
        grads = {name: grad_quality(fx, x, args.fd_eps, mode) for name, (fx, x, mode) in scene.grads.items()}
        for batch in args.batches:
            inputs = scene.inputs(jax.random.key(args.seed), batch)
            row = dict(scene=args.scene, batch=batch, steps=args.steps, dt=args.dt, small_ops=ops_backend,
                       warm_start=args.warm_start)
            outs = {}
            for name, run in scene.engines.items():
                out, secs, compile_s = time_batch(run, inputs, args.repeats)
                row[f"{name}_steps_per_s"] = round(batch * args.steps / secs, 1)
                row[f"{name}_compile_s"] = round(compile_s, 1)
                row.update(engine_row(name, out, grads.get(name)))
                outs[name] = out
            row["ratio_ours_over_mjx"] = round(row["ours_steps_per_s"] / row["mjx_steps_per_s"], 4)
            if scene.compare is not None:
                row.update(scene.compare(outs))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(tyro.cli(Args, description=__doc__))
