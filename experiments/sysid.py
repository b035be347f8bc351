"""System identification through the contact solver: recover friction and mass.

A box is pushed across the ground by known forces; from its observed positions
(optionally with Gaussian observation noise) we fit friction mu and mass m by
minimising the squared position error with L-BFGS (optax), differentiating the
whole rollout with rljax.contact's implicit gradients.

``--source rljax`` (default): the observations come from rljax.contact itself,
so the fit must recover the true values exactly. ``--source mujoco``: they are
recorded in MuJoCo (a free box on a plane, elliptic cones, built here in MJCF):
two pushes that slide it, a torque pulse that tips it over and a spinning
drop. The fit then crosses contact models (MuJoCo's soft, convex contact vs the
hard complementarity here), so it reports the trajectory error before the fit,
at MuJoCo's true values and after the fit, and how far MuJoCo's own trajectories
move when one of its contact settings changes (time step, cone, softness).

    python experiments/sysid.py                      # noise-free and 1 mm noise
    python experiments/sysid.py --noise-mm 2 --iters 60
    python experiments/sysid.py --source mujoco      # MuJoCo recordings, noise-free and 1 mm

Prints one JSON summary line and writes it to runs/sysid/<timestamp>/summary.json.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import time
from typing import Literal, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tyro

from rljax import contact
from rljax.runner.cli import command_line

SOURCES = ("rljax", "mujoco")


@dataclasses.dataclass
class Args:
    source: Literal["rljax", "mujoco"] = "rljax"
    """Where the observed trajectories come from: rljax (the solver itself) or mujoco (fit across contact models)."""
    true_friction: float = 0.4
    """Friction coefficient mu that generates the observations."""
    true_mass: float = 1.3
    """Box mass (kg) that generates the observations."""
    init_friction: float = 0.2
    """The fit's initial guess of mu."""
    init_mass: float = 0.8
    """The fit's initial guess of the mass (kg)."""
    noise_mm: Sequence[float] = (0.0, 1.0)
    """Observation noise levels (std, millimetres); one fit per level."""
    steps: int = 80
    """Steps of each rollout (rljax source: three pushes; mujoco source: four scenarios)."""
    dt: float = 0.01
    """Time step (s)."""
    kappa: float = 1e-6
    """Central-path parameter of the contact solver."""
    iters: int = 40
    """L-BFGS iterations per fit (fewer when the gradient vanishes)."""
    seed: int = 0
    """Seed of the observation noise."""
    out_dir: str = "runs/sysid"
    """Folder under which a <time> folder gets summary.json."""
    mujoco_substeps: int = 10
    """MuJoCo steps per recorded step: its time step is dt / substeps (1 = the same step as rljax)."""
    mujoco_cone: Literal["elliptic", "pyramidal"] = "elliptic"
    """MuJoCo's friction cone; elliptic is the exact second-order cone that rljax.contact uses."""
    mujoco_impratio: float = 100.0
    """MuJoCo's frictional-to-normal impedance ratio; large makes sticking harder (less creep)."""
    mujoco_solimp: Tuple[float, float, float] = (0.99, 0.999, 0.001)
    """MuJoCo's solimp (dmin, dmax, width) of both geoms; near 1 makes contact stiffer."""
    mujoco_timeconst: float = 0.02
    """MuJoCo's solref time constant (s, damping ratio 1); MuJoCo raises it to 2 of its steps if smaller."""
    orientation_mm_per_rad: float = 100.0
    """mujoco source: weight of the orientation error in the loss, as mm per rad (0: positions only)."""
    mismatch_study: bool = True
    """mujoco source: also record MuJoCo with one setting changed at a time and report how far that moves it."""


def make_world(mu, mass, dt):
    return contact.World(bodies=(contact.Box(half_extents=(0.1, 0.1, 0.1), mass=mass),),
                         ground=contact.Plane(), friction=mu, dt=dt)


def push_forces(steps: int, dt: float) -> jnp.ndarray:
    """Three known pushes [3, T, 1, 3]: different strengths make mass and friction separable."""
    t = jnp.arange(steps) * dt
    profiles = []
    for amp, freq, angle in ((8.0, 1.0, 0.0), (10.0, 2.0, 0.6), (6.0, 0.5, -0.4)):
        mag = amp * (0.6 + 0.4 * jnp.sin(2 * jnp.pi * freq * t))
        f = jnp.stack([mag * jnp.cos(angle), mag * jnp.sin(angle), jnp.zeros_like(t)], -1)
        profiles.append(f[:, None, :])
    return jnp.stack(profiles)


def simulate(params, forces, args: Args):
    """Positions [3, T, 3] of the box under each push for params = (log mu, log m)."""
    mu, mass = jnp.exp(params[0]), jnp.exp(params[1])
    world = make_world(mu, mass, args.dt)
    gap = args.kappa / (mass * 9.81 * args.dt / 4)  # start resting on the ground
    state = world.init_state(pos=jnp.array([[0.0, 0.0, 0.1]]) + jnp.array([[0.0, 0.0, 1.0]]) * gap,
                             vel=jnp.array([[0.3, 0.0, 0.0]]))
    states = jax.vmap(lambda f: contact.rollout(world, state, f, kappa=args.kappa))(forces)
    return states.pos[:, :, 0, :], states.solver.converged


def make_fit(forces, args: Args):
    """Build (once) a jitted L-BFGS update of params = (log mu, log m) for given observations."""

    def loss(params, observed):
        pos, _ = simulate(params, forces, args)
        return 0.5 * jnp.mean(jnp.sum((pos - observed) ** 2, -1)) * 1e6  # mm^2

    opt = optax.lbfgs()

    @jax.jit
    def update(params, state, observed):
        fn = lambda p: loss(p, observed)  # noqa: E731
        value, grad = optax.value_and_grad_from_state(fn)(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fn)
        return optax.apply_updates(params, updates), state, value, grad

    def fit(observed):
        params = jnp.log(jnp.array([args.init_friction, args.init_mass]))
        state = opt.init(params)
        history = []
        for it in range(args.iters):
            params, state, value, grad = update(params, state, observed)
            history.append(float(value))
            mu, m = np.exp(np.asarray(params))
            print(f"  iter {it:2d} loss {float(value):.3e} mm^2  mu {mu:.5f}  m {m:.5f}", flush=True)
            if float(jnp.linalg.norm(grad)) < 1e-10:
                break
        return params, history

    return fit


def check_args(args: Args) -> None:
    """Raise ValueError naming the first bad field (before anything is compiled or recorded)."""
    if args.source not in SOURCES:
        raise ValueError(f"Args.source must be one of {SOURCES}, got {args.source!r}")
    for name in ("true_friction", "true_mass", "init_friction", "init_mass", "dt", "kappa",
                 "mujoco_impratio", "mujoco_timeconst"):
        v = getattr(args, name)
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"Args.{name} must be finite and > 0, got {v!r}")
    for name in ("steps", "iters", "mujoco_substeps"):
        if int(getattr(args, name)) < 1:
            raise ValueError(f"Args.{name} must be >= 1, got {getattr(args, name)!r}")
    if args.mujoco_cone not in ("elliptic", "pyramidal"):
        raise ValueError(f"Args.mujoco_cone must be 'elliptic' or 'pyramidal', got {args.mujoco_cone!r}")
    if len(args.mujoco_solimp) != 3 or not 0 < args.mujoco_solimp[0] <= args.mujoco_solimp[1] < 1:
        raise ValueError(f"Args.mujoco_solimp must be (dmin, dmax, width) with 0 < dmin <= dmax < 1, "
                         f"got {args.mujoco_solimp!r}")
    if not args.noise_mm or not all(np.isfinite(n) and n >= 0 for n in args.noise_mm):
        raise ValueError(f"Args.noise_mm must be one or more finite stds >= 0 (mm), got {tuple(args.noise_mm)!r}")
    if args.orientation_mm_per_rad < 0:
        raise ValueError(f"Args.orientation_mm_per_rad must be >= 0, got {args.orientation_mm_per_rad!r}")


def main(args: Args) -> dict:
    check_args(args)
    out = pathlib.Path(args.out_dir) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    summary = run_mujoco(args) if args.source == "mujoco" else run_rljax(args)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return summary


def run_rljax(args: Args) -> dict:
    """Observations from rljax.contact itself: one fit per noise level."""
    with jax.enable_x64(True):
        forces = push_forces(args.steps, args.dt)
        truth = jnp.log(jnp.array([args.true_friction, args.true_mass]))
        clean, ok = jax.jit(lambda p: simulate(p, forces, args))(truth)
        assert bool(jnp.all(ok)), "ground-truth rollout did not converge"
        key = jax.random.key(args.seed)
        results = []
        fit = make_fit(forces, args)
        for noise in args.noise_mm:
            key, sub = jax.random.split(key)
            observed = clean + 1e-3 * noise * jax.random.normal(sub, clean.shape)
            t0 = time.time()
            params, history = fit(observed)
            mu, mass = np.exp(np.asarray(params))
            results.append(dict(
                noise_mm=noise, friction=float(mu), mass=float(mass),
                friction_rel_err=float(abs(mu - args.true_friction) / args.true_friction),
                mass_rel_err=float(abs(mass - args.true_mass) / args.true_mass),
                iterations=len(history), final_loss_mm2=history[-1], seconds=round(time.time() - t0, 1),
            ))
            print(f"noise {noise} mm: mu {mu:.5f} (true {args.true_friction}), m {mass:.5f} "
                  f"(true {args.true_mass}); rel. errors {results[-1]['friction_rel_err']:.2e}, "
                  f"{results[-1]['mass_rel_err']:.2e}; {len(history)} L-BFGS iterations")
    return dict(experiment="sysid", source="rljax", true_friction=args.true_friction, true_mass=args.true_mass,
                init_friction=args.init_friction, init_mass=args.init_mass, results=results)


# ---------------------------------------------------------------------------
# --source mujoco: observations recorded in MuJoCo, fitted with rljax.contact.
# ---------------------------------------------------------------------------

HALF = 0.1  # box half extent (m), shared by both simulators


class Scenario(NamedTuple):
    """One recorded motion: initial state and the applied wrench per (rljax) step.

    pos [3], quat [4] (scalar first, body -> world), vel [3] world, ang_vel [3]
    body frame (MuJoCo's free-joint qvel[3:] convention, which is also
    ``contact.State``'s); force, torque [T, 3] world frame at the centre of mass.
    """

    name: str
    pos: np.ndarray
    quat: np.ndarray
    vel: np.ndarray
    ang_vel: np.ndarray
    force: np.ndarray
    torque: np.ndarray


def mujoco_scenarios(steps: int, dt: float) -> list[Scenario]:
    """Two pushes that slide the box, a torque pulse that tips it over an edge,
    and a spinning drop onto a corner. The pushes' known forces make mass and
    friction separable (as in ``push_forces``); the tumbles exercise rotation."""
    t = np.arange(steps) * dt
    zero = np.zeros((steps, 3))
    rest = np.array([0.0, 0.0, HALF])
    unit_q = np.array([1.0, 0.0, 0.0, 0.0])
    out = []
    for name, amp, freq, angle in (("slide", 8.0, 1.0, 0.0), ("slide_diag", 10.0, 2.0, 0.6)):
        mag = amp * (0.6 + 0.4 * np.sin(2 * np.pi * freq * t))
        f = np.stack([mag * np.cos(angle), mag * np.sin(angle), 0 * t], -1)
        out.append(Scenario(name, rest, unit_q, np.array([0.3, 0.0, 0.0]), np.zeros(3), f, zero))
    # A 0.15 s torque about +y (3 N m > m g h = 1.3 N m) with a small push: the box
    # pivots on its +x bottom edge, falls onto its side and slides on.
    pulse = (t < 0.15).astype(float)[:, None]
    out.append(Scenario("tumble", rest, unit_q, np.zeros(3), np.zeros(3),
                        pulse * np.array([2.0, 0.0, 0.0]), pulse * np.array([0.0, 3.0, 0.0])))
    axis = np.array([1.0, 0.5, 0.0]) / np.linalg.norm([1.0, 0.5, 0.0])
    tilt = np.concatenate([[np.cos(0.3)], np.sin(0.3) * axis])  # 0.6 rad about axis
    out.append(Scenario("drop_spin", np.array([0.0, 0.0, 0.25]), tilt, np.array([0.8, 0.2, 0.0]),
                        np.array([2.0, -3.0, 4.0]), zero, zero))
    return out


def mujoco_xml(args: "Args", *, cone: str, impratio: float, solimp: Sequence[float], substeps: int,
               timeconst: float) -> str:
    """MJCF of a free box on a plane; both geoms carry mu so the contact's mu is mu.

    condim 3: sliding friction only (rljax.contact has no torsional or rolling
    friction; torsion emerges from several contact points in both). Newton solver
    run to 1e-12 so solver tolerance is not part of the mismatch.
    """
    h = HALF
    solimp_s = " ".join(str(float(v)) for v in solimp)
    geom = f'friction="{args.true_friction} 0 0" condim="3" solimp="{solimp_s}" solref="{timeconst} 1"'
    return f"""
<mujoco model="sysid_box">
  <option timestep="{args.dt / substeps}" gravity="0 0 -9.81" integrator="Euler" cone="{cone}"
          impratio="{impratio}" solver="Newton" iterations="200" tolerance="1e-12"/>
  <worldbody>
    <geom name="floor" type="plane" size="0 0 1" {geom}/>
    <body name="box">
      <freejoint/>
      <geom type="box" size="{h} {h} {h}" mass="{args.true_mass}" {geom}/>
    </body>
  </worldbody>
</mujoco>"""


def record_mujoco(args: "Args", scenarios: Sequence[Scenario], *, cone: Optional[str] = None,
                  impratio: Optional[float] = None, solimp: Optional[Sequence[float]] = None,
                  substeps: Optional[int] = None, timeconst: Optional[float] = None) -> dict:
    """Run each scenario in MuJoCo and keep every ``substeps``-th state (one per rljax step).

    Settings left at None come from ``args`` (the mismatch study changes one at a time).
    Returns pos [S, T, 3], quat [S, T, 4] and max_penetration (m, the deepest contact seen).
    """
    import mujoco  # only this path needs it

    cone = args.mujoco_cone if cone is None else cone
    impratio = args.mujoco_impratio if impratio is None else impratio
    solimp = args.mujoco_solimp if solimp is None else solimp
    substeps = args.mujoco_substeps if substeps is None else substeps
    timeconst = args.mujoco_timeconst if timeconst is None else timeconst
    model = mujoco.MjModel.from_xml_string(
        mujoco_xml(args, cone=cone, impratio=impratio, solimp=solimp, substeps=substeps, timeconst=timeconst))
    body = model.body("box").id
    pos, quat, pen = [], [], 0.0
    for sc in scenarios:
        data = mujoco.MjData(model)
        # Free joint: qpos = (world position, scalar-first quaternion body -> world), qvel =
        # (world linear velocity, body-frame angular velocity), as contact.State. With
        # MuJoCo's semi-implicit Euler, qvel after a step is the velocity that moved qpos
        # over that step, which is what State.vel / ang_vel mean; so states map 1:1.
        data.qpos[:] = np.concatenate([sc.pos, sc.quat])
        data.qvel[:] = np.concatenate([sc.vel, sc.ang_vel])
        p, q = [], []
        for k in range(sc.force.shape[0]):
            # xfrc_applied: world-frame force and torque at the body's centre of mass,
            # held over the rljax step like contact.step's force / torque.
            data.xfrc_applied[body] = np.concatenate([sc.force[k], sc.torque[k]])
            for _ in range(substeps):
                mujoco.mj_step(model, data)
                if data.ncon:
                    pen = max(pen, -min(data.contact[i].dist for i in range(data.ncon)))
            p.append(data.qpos[:3].copy())
            q.append(data.qpos[3:7].copy())
        pos.append(p)
        quat.append(q)
    return dict(pos=np.array(pos), quat=np.array(quat), max_penetration=pen)


def quat_angle(q1, q2):
    """Rotation angle (rad) between unit quaternions [..., 4] (sign-insensitive)."""
    dot = jnp.clip(jnp.abs(jnp.sum(q1 * q2, -1)), 0.0, 1.0)
    return 2.0 * jnp.arccos(dot)


def simulate_scenarios(params, scenarios: Sequence[Scenario], args: "Args"):
    """rljax rollouts of every scenario from MuJoCo's initial states, for params = (log mu, log m).

    Returns pos [S, T, 3], quat [S, T, 4], converged [S, T].
    """
    mu, mass = jnp.exp(params[0]), jnp.exp(params[1])
    world = contact.World(bodies=(contact.Box(half_extents=(HALF,) * 3, mass=mass),),
                          ground=contact.Plane(), friction=mu, dt=args.dt)
    stack = lambda field: jnp.asarray(np.stack([getattr(s, field) for s in scenarios]))  # noqa: E731

    def one(p, q, v, w, f, tau):
        state = world.init_state(pos=p[None], quat=q[None], vel=v[None], ang_vel=w[None])
        s = contact.rollout(world, state, f[:, None], tau[:, None], kappa=args.kappa)
        return s.pos[:, 0], s.quat[:, 0], s.solver.converged

    return jax.vmap(one)(stack("pos"), stack("quat"), stack("vel"), stack("ang_vel"),
                         stack("force"), stack("torque"))


def trajectory_errors(pos, quat, obs) -> dict:
    """RMS position error (mm) and RMS / max orientation error (deg), overall and per scenario."""
    d2 = np.sum((np.asarray(pos) - obs["pos"]) ** 2, -1) * 1e6
    ang = np.degrees(np.asarray(quat_angle(jnp.asarray(quat), jnp.asarray(obs["quat"]))))
    return dict(pos_rms_mm=float(np.sqrt(d2.mean())), angle_rms_deg=float(np.sqrt((ang ** 2).mean())),
                angle_max_deg=float(ang.max()),
                per_scenario_pos_rms_mm=[round(float(v), 3) for v in np.sqrt(d2.mean(1))],
                per_scenario_angle_rms_deg=[round(float(v), 3) for v in np.sqrt((ang ** 2).mean(1))])


def mujoco_loss(params, scenarios, args: "Args", obs_pos, obs_quat, weights):
    """Weighted mean over scenarios of positions (mm^2) plus orientations; params = (log mu, log m).

    obs_pos [S, T, 3], obs_quat [S, T, 4], weights [S] (select scenarios without
    changing shapes, so one compile serves every stage). The orientation term is
    (angle * orientation_mm_per_rad)^2 with the smooth angle^2 ~ 4 (1 - <q, q_obs>^2):
    the displacement of a point that far from the centre.
    """
    pos, quat, _ = simulate_scenarios(params, scenarios, args)
    lin = jnp.mean(jnp.sum((pos - obs_pos) ** 2, -1), -1) * 1e6
    ang2 = jnp.mean(4.0 * (1.0 - jnp.sum(quat * obs_quat, -1) ** 2), -1)
    return 0.5 * jnp.sum(weights * (lin + args.orientation_mm_per_rad ** 2 * ang2)) / jnp.sum(weights)


def make_mujoco_fit(scenarios: Sequence[Scenario], args: "Args"):
    """Jitted L-BFGS (optax, zoom line search) on params = (log mu, log m) of ``mujoco_loss``."""
    opt = optax.lbfgs()
    loss = functools.partial(mujoco_loss, scenarios=scenarios, args=args)

    @jax.jit
    def update(params, state, obs_pos, obs_quat, weights):
        fn = lambda p: loss(p, obs_pos=obs_pos, obs_quat=obs_quat, weights=weights)  # noqa: E731
        value, grad = optax.value_and_grad_from_state(fn)(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fn)
        return optax.apply_updates(params, updates), state, value, grad

    def fit(params, obs_pos, obs_quat, weights, label):
        state = opt.init(params)
        history, stalled = [], 0
        for it in range(args.iters):
            params, state, value, grad = update(params, state, obs_pos, obs_quat, weights)
            history.append(float(value))
            mu, m = np.exp(np.asarray(params))
            print(f"  {label} iter {it:2d} loss {float(value):.4e}  mu {mu:.5f}  m {m:.5f}", flush=True)
            # With model mismatch the gradient never vanishes; stop once the loss stalls.
            stalled = stalled + 1 if it and history[-2] - history[-1] <= 1e-7 * abs(history[-1]) else 0
            if float(jnp.linalg.norm(grad)) < 1e-10 or stalled >= 3:
                break
        return params, history

    return fit


def rljax_min_gap(pos, quat) -> float:
    """Lowest box corner height (m) over rljax rollouts [S, T, 3], [S, T, 4] (negative = penetration)."""
    corners = contact.Box(half_extents=(HALF,) * 3).corners()
    z = pos[..., None, 2] + contact.rotate(quat[..., None, :], corners)[..., 2]
    return float(jnp.min(z))


def run_mujoco(args: Args) -> dict:
    """Record in MuJoCo, fit mu and m through rljax.contact, report errors and the model mismatch.

    The fit runs in two stages from (init_friction, init_mass): first on the two
    pushes only (smooth in mu and m), then on all scenarios from there. Starting on
    everything at once fails: at the initial guess the torque pulse flips the box
    twice, and that discrete outcome gives L-BFGS no useful slope (one stage on all
    four from (0.2, 0.8) stopped at mu 0.45, m 0.75 with 409 mm RMS error).
    """
    scenarios = mujoco_scenarios(args.steps, args.dt)
    names = [s.name for s in scenarios]
    obs = record_mujoco(args, scenarios)
    with jax.enable_x64(True):
        sim = jax.jit(lambda p: simulate_scenarios(p, scenarios, args))

        def report(params) -> dict:
            pos, quat, ok = sim(params)
            return dict(trajectory_errors(pos, quat, obs), all_converged=bool(jnp.all(ok)),
                        rljax_min_gap_mm=1e3 * rljax_min_gap(pos, quat))

        truth = jnp.log(jnp.array([args.true_friction, args.true_mass]))
        init = jnp.log(jnp.array([args.init_friction, args.init_mass]))
        before, at_truth = report(init), report(truth)
        fit = make_mujoco_fit(scenarios, args)
        pushes = jnp.array([float(n.startswith("slide")) for n in names])
        everything = jnp.ones(len(scenarios))
        obs_quat = jnp.asarray(obs["quat"])
        key = jax.random.key(args.seed)
        results = []
        for noise in args.noise_mm:
            key, sub = jax.random.split(key)
            # Noise on positions only; errors are measured against the clean recording.
            obs_pos = jnp.asarray(obs["pos"]) + 1e-3 * noise * jax.random.normal(sub, obs["pos"].shape)
            t0 = time.time()
            params, h1 = fit(init, obs_pos, obs_quat, pushes, "pushes")
            pushes_only = np.exp(np.asarray(params))
            params, h2 = fit(params, obs_pos, obs_quat, everything, "all")
            mu, mass = np.exp(np.asarray(params))
            after = report(params)
            results.append(dict(
                noise_mm=noise, friction=float(mu), mass=float(mass),
                friction_rel_err=float(abs(mu - args.true_friction) / args.true_friction),
                mass_rel_err=float(abs(mass - args.true_mass) / args.true_mass),
                pushes_only_fit=dict(friction=float(pushes_only[0]), mass=float(pushes_only[1])),
                iterations=[len(h1), len(h2)], final_loss=h2[-1], after=after,
                seconds=round(time.time() - t0, 1)))
            print(f"noise {noise} mm: mu {mu:.4f} (MuJoCo {args.true_friction}), m {mass:.4f} "
                  f"(MuJoCo {args.true_mass}); position RMS {before['pos_rms_mm']:.1f} -> "
                  f"{after['pos_rms_mm']:.1f} mm (at MuJoCo's values {at_truth['pos_rms_mm']:.1f}), "
                  f"angle RMS {before['angle_rms_deg']:.2f} -> {after['angle_rms_deg']:.2f} deg "
                  f"({at_truth['angle_rms_deg']:.2f})", flush=True)
    slides = np.asarray(pushes) > 0

    def lift_mm(recording) -> float:
        # MuJoCo's convex contact opens the gap of a sliding contact (by about mu |v_t| per
        # unit time, then gravity pulls it back): the box hops where rljax keeps it down.
        return float(1e3 * np.max(recording["pos"][slides, :, 2] - HALF))

    mismatch = dict(
        mujoco_max_penetration_mm=1e3 * obs["max_penetration"],
        mujoco_max_lift_while_pushed_mm=lift_mm(obs),
        rljax_rest_gap_mm=1e3 * args.kappa / (args.true_mass * 9.81 * args.dt),
    )
    if args.mismatch_study:
        # How far MuJoCo's own trajectories move when one contact setting changes:
        # the scale of what no choice of (mu, m) in the other model can absorb.
        variants = dict(
            same_step_as_rljax=dict(substeps=1),
            pyramidal_cone=dict(cone="pyramidal"),
            default_softness=dict(impratio=1.0, solimp=(0.9, 0.95, 0.001)),
        )
        for label, change in variants.items():
            other = record_mujoco(args, scenarios, **change)
            mismatch[label] = dict(trajectory_errors(other["pos"], other["quat"], obs),
                                   max_penetration_mm=1e3 * other["max_penetration"],
                                   max_lift_while_pushed_mm=lift_mm(other))
    return dict(
        experiment="sysid", source="mujoco", scenarios=names, steps=args.steps, dt=args.dt,
        mujoco=dict(cone=args.mujoco_cone, impratio=args.mujoco_impratio, solimp=list(args.mujoco_solimp),
                    solref=[args.mujoco_timeconst, 1.0], timestep=args.dt / args.mujoco_substeps,
                    integrator="Euler", condim=3),
        true_friction=args.true_friction, true_mass=args.true_mass,
        init_friction=args.init_friction, init_mass=args.init_mass,
        before=before, at_mujoco_values=at_truth, results=results, mismatch=mismatch)


if __name__ == "__main__":
    command_line(lambda argv: main(tyro.cli(Args, args=argv, description=__doc__)))
