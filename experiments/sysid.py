"""System identification through the contact solver: recover friction and mass.

A box is pushed across the ground by known forces; from its observed positions
(optionally with Gaussian observation noise) we fit friction mu and mass m by
minimising the squared position error with L-BFGS (optax), differentiating the
whole rollout with rljax.contact's implicit gradients.

    python experiments/sysid.py                      # noise-free and 1 mm noise
    python experiments/sysid.py --noise-mm 2 --iters 60

Prints one JSON summary line and writes it to runs/sysid/<timestamp>/summary.json.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tyro

from rljax import contact


@dataclasses.dataclass
class Args:
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
    """Steps of each of the three pushed rollouts."""
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


def main(args: Args) -> dict:
    out = pathlib.Path(args.out_dir) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
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
    summary = dict(experiment="sysid", true_friction=args.true_friction, true_mass=args.true_mass,
                   init_friction=args.init_friction, init_mass=args.init_mass, results=results)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(tyro.cli(Args, description=__doc__))
