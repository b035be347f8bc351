"""rljax.contact vs MuJoCo MJX on the same scene: two boxes dropped and sliding on a plane.

For batches of 1, 64 and 1024 worlds (vmapped over initial velocities, scanned
over time, jitted; compile time reported apart), in one process, prints one JSON
line per batch with: steps/s for each engine (world-steps per second, median of
repeats), the ratio ours/mjx, compile times (forward program per batch; the
gradient program once), our iteration counts (median, max, and the mean over
steps of the batch maximum, which is what a vmapped while_loop pays), the max
penetration of any box corner below the plane for each, and gradient quality:
the relative disagreement between the autodiff gradient d final-x / d
initial-vx and a central finite difference (ours in reverse mode through the
IFT; MJX in forward mode, since reverse mode cannot cross its solver's
while_loop).
Both engines run in float64 (MJX via jax.enable_x64) so the comparison is fair.

    python benchmarks/contact_vs_mjx.py
    python benchmarks/contact_vs_mjx.py --batches 1 64 --steps 100 --repeats 5
    python benchmarks/contact_vs_mjx.py --small-ops xla   # our small ops as plain einsum/gather/scatter

``--no-warm-start`` starts each of our solves cold (default: warm from the
previous step's solution). ``--small-ops`` picks rljax.contact's small-op backend (``auto``: unrolled on
CPU, xla on GPU/TPU; see ``rljax.contact.small_ops``); each row reports the one used.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Literal, Sequence

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
    batches: Sequence[int] = (1, 64, 1024)
    """Worlds per batch (vmapped); one JSON line per batch."""
    steps: int = 50
    """Steps of each rollout."""
    repeats: int = 3
    """Timed runs per batch and engine (median reported)."""
    dt: float = 0.01
    """Time step (s) of both engines."""
    friction: float = 0.5
    """Friction coefficient of boxes and plane in both engines."""
    kappa: float = 1e-6
    """Central-path parameter of rljax.contact's solver."""
    fd_eps: float = 1e-5
    """Step of the central finite difference the autodiff gradients are checked against."""
    seed: int = 0
    """Seed of the batch's random initial velocities."""
    small_ops: Literal["auto", "unrolled", "xla"] = "auto"
    """rljax.contact's small-op backend (auto: unrolled on CPU, xla on GPU/TPU)."""
    warm_start: bool = True
    """Warm-start each of our solves from the previous step's solution (--no-warm-start: cold)."""


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


def corners_min_z(pos, rot):
    """Lowest box-corner height, pos [..., 2, 3], rot [..., 2, 3, 3]."""
    signs = jnp.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], jnp.float64) * HALF
    pts = pos[..., None, :] + jnp.einsum("...ij,kj->...ki", rot, signs)
    return jnp.min(pts[..., 2])


def init_vel(key, batch):
    """Initial linear velocities [B, 2, 3]: sliding in random horizontal directions."""
    v = jax.random.uniform(key, (batch, 2, 3), minval=-2.0, maxval=2.0)
    return v.at[..., 2].set(0.0)


# ---- ours ---------------------------------------------------------------------------


def ours(args: Args):
    world = contact.World(bodies=(contact.Box(half_extents=(HALF,) * 3, mass=1.0),) * 2,
                          ground=contact.Plane(), friction=args.friction, dt=args.dt,
                          body_pairs=())  # as the MJX model's <exclude>: the boxes meet only the floor
    base = world.init_state(pos=START)

    def run(vel0):
        st = contact.rollout(world, base.replace(vel=vel0), steps=args.steps, kappa=args.kappa,
                             warm_start=args.warm_start)
        pen = jnp.maximum(-corners_min_z(st.pos, quat_to_mat(st.quat)), 0.0)
        return st.pos[-1], pen, st.solver.iterations

    def final_x(vx):
        v = jnp.zeros((2, 3)).at[0, 0].set(vx)
        return contact.rollout(world, base.replace(vel=v), steps=args.steps, kappa=args.kappa,
                               warm_start=args.warm_start).pos[-1, 0, 0]

    return run, final_x


# ---- mjx ----------------------------------------------------------------------------


def mjx_engine(args: Args):
    model = mjx.put_model(mjx_model(args))
    data0 = mjx.make_data(model)

    def rollout(vel0):
        qvel = jnp.zeros(12).at[0:3].set(vel0[0]).at[6:9].set(vel0[1])
        d = data0.replace(qvel=qvel)

        def body(d, _):
            d = mjx.step(model, d)
            return d, corners_min_z(d.xpos[1:], d.xmat[1:])

        d, zmin = jax.lax.scan(body, d, None, length=args.steps)
        return d, zmin

    def run(vel0):
        d, zmin = rollout(vel0)
        return d.xpos[1:], jnp.maximum(-jnp.min(zmin), 0.0), jnp.zeros((), jnp.int32)

    def final_x(vx):
        d, _ = rollout(jnp.zeros((2, 3)).at[0, 0].set(vx))
        return d.xpos[1, 0]

    return run, final_x


def time_batch(run, vels, repeats):
    fn = jax.jit(jax.vmap(run))
    t0 = time.perf_counter()
    compiled = fn.lower(vels).compile()
    compile_s = time.perf_counter() - t0
    out = jax.block_until_ready(compiled(vels))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(vels))
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times)), compile_s


def grad_quality(final_x, vx, eps, mode):
    # MJX's constraint solver is a while_loop, which reverse mode cannot cross, so
    # MJX is differentiated forward; ours is reverse-only (custom_vjp with the IFT).
    diff = jax.grad if mode == "reverse" else jax.jacfwd
    vx = jnp.asarray(vx)
    t0 = time.perf_counter()
    grad_fn = jax.jit(diff(final_x)).lower(vx).compile()
    compile_s = time.perf_counter() - t0
    g = float(grad_fn(vx))
    f = jax.jit(final_x)
    fd = float((f(vx + eps) - f(vx - eps)) / (2 * eps))
    return g, fd, abs(g - fd) / max(abs(fd), 1e-12), compile_s


def main(args: Args) -> None:
    # Read at trace time: every program below is traced inside this scope.
    with jax.enable_x64(True), small_ops.backend(args.small_ops) as ops_backend:
        engines = {"ours": ours(args), "mjx": mjx_engine(args)}
        modes = {"ours": "reverse", "mjx": "forward"}
        grads = {name: grad_quality(fx, 1.5, args.fd_eps, modes[name]) for name, (_, fx) in engines.items()}
        for batch in args.batches:
            vels = init_vel(jax.random.key(args.seed), batch)
            row = dict(batch=batch, steps=args.steps, dt=args.dt, small_ops=ops_backend, warm_start=args.warm_start)
            for name, (run, _) in engines.items():
                (pos, pen, iters), secs, compile_s = time_batch(run, vels, args.repeats)
                row[f"{name}_steps_per_s"] = round(batch * args.steps / secs, 1)
                row[f"{name}_compile_s"] = round(compile_s, 1)
                row[f"{name}_max_penetration_m"] = float(jnp.max(pen))
                g, fd, err, grad_compile_s = grads[name]
                row[f"{name}_grad"], row[f"{name}_grad_fd"], row[f"{name}_grad_rel_err"] = g, fd, err
                row[f"{name}_grad_compile_s"] = round(grad_compile_s, 1)
                if name == "ours":
                    iters = np.asarray(iters)  # [batch, steps]
                    row["ours_iterations_median"] = float(np.median(iters))
                    row["ours_iterations_max"] = int(iters.max())
                    # A vmapped while_loop runs until its slowest world converges.
                    row["ours_iterations_per_step_batch_max_mean"] = round(float(iters.max(0).mean()), 2)
            row["ratio_ours_over_mjx"] = round(row["ours_steps_per_s"] / row["mjx_steps_per_s"], 4)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(tyro.cli(Args, description=__doc__))
