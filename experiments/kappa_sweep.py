"""How kappa smooths contact: one-step displacement and d disp / d force across stick-slip.

A 1 kg box rests on the ground (mu = 0.3); a horizontal force F is applied for
one step. With hard contact the displacement is 0 below mu m g and grows
linearly above it, so d disp / d F jumps from 0 to dt^2 / m at the threshold.
Larger kappa (the central-path target) smooths the jump and lets the box creep.

    python experiments/kappa_sweep.py
    python experiments/kappa_sweep.py --kappas 1e-7 1e-5 1e-3 --num-forces 201

Writes runs/kappa_sweep/<timestamp>/kappa_sweep.png and data.json; prints a JSON line
with the largest jump of the normalised gradient between neighbouring forces per kappa.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import tyro

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rljax import contact  # noqa: E402
from rljax.runner.cli import command_line  # noqa: E402

G = 9.81


@dataclasses.dataclass
class Args:
    kappas: Sequence[float] = (1e-8, 1e-6, 1e-5, 1e-4, 1e-3)
    """Central-path parameters of the contact solver, one curve each."""
    friction: float = 0.3
    """Friction coefficient mu between box and ground."""
    mass: float = 1.0
    """Box mass m (kg)."""
    dt: float = 0.01
    """Time step (s)."""
    num_forces: int = 121
    """Forces F in the sweep, evenly spaced."""
    max_force_ratio: float = 2.0
    """Sweep F from 0 to this multiple of the threshold mu m g."""
    out_dir: str = "runs/kappa_sweep"
    """Folder under which a <time> folder gets the figure and data.json."""


def main(args: Args) -> dict:
    out = pathlib.Path(args.out_dir) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    threshold = args.friction * args.mass * G
    with jax.enable_x64(True):
        world = contact.World(bodies=(contact.Box(mass=args.mass),), ground=contact.Plane(),
                              friction=args.friction, dt=args.dt)
        forces = jnp.linspace(0.0, args.max_force_ratio * threshold, args.num_forces)
        kappas = jnp.asarray(args.kappas)

        def disp(force, kappa):
            gap = kappa / (args.mass * G * args.dt / 4)  # resting equilibrium at this kappa
            s = world.init_state(pos=jnp.array([[0.0, 0.0, 0.25]]) + jnp.array([[0.0, 0.0, 1.0]]) * gap)
            st = contact.step(world, s, jnp.array([[1.0, 0.0, 0.0]]) * force, kappa=kappa)
            return st.pos[0, 0], st.solver.converged

        sweep = jax.jit(jax.vmap(jax.vmap(jax.value_and_grad(disp, has_aux=True), (0, None)), (None, 0)))
        (x, ok), g = sweep(forces, kappas)
        x, g, ok = np.asarray(x), np.asarray(g), np.asarray(ok)
    g_norm = g / (args.dt**2 / args.mass)
    roughness = np.max(np.abs(np.diff(g_norm, axis=1)), axis=1)

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
    f_ratio = np.asarray(forces) / threshold
    for k, kappa in enumerate(args.kappas):
        ax0.plot(f_ratio, x[k] * 1e3, label=f"kappa={kappa:g}")
        ax1.plot(f_ratio, g_norm[k], label=f"kappa={kappa:g}")
    ax0.set(xlabel="force / (mu m g)", ylabel="one-step displacement [mm]", title="displacement")
    ax1.set(xlabel="force / (mu m g)", ylabel="d disp / d force  [dt^2 / m]", title="IFT gradient")
    for ax in (ax0, ax1):
        ax.axvline(1.0, color="k", lw=0.5, ls="--")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "kappa_sweep.png", dpi=120)
    (out / "data.json").write_text(json.dumps(dict(
        forces=np.asarray(forces).tolist(), kappas=list(args.kappas),
        displacement=x.tolist(), grad=g.tolist(), converged=ok.tolist())))
    summary = dict(experiment="kappa_sweep", kappas=list(args.kappas),
                   max_grad_jump=[float(r) for r in roughness], all_converged=bool(ok.all()),
                   png=str(out / "kappa_sweep.png"))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    command_line(lambda argv: main(tyro.cli(Args, args=argv, description=__doc__)))
