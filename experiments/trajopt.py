"""Open-loop trajectory optimisation through the contact solver on ``contact/push``.

    python experiments/trajopt.py                     # 40 steps (2 s), Adam, 300 iterations
    python experiments/trajopt.py --iterations 500 --kappa 1e-3

Optimises (Adam, cosine-decayed step size) the force sequence
``a_t = tanh(u_t)`` (so actions stay in [-1, 1]) that pushes the box to the
goal and leaves it there: loss = mean distance to the goal over the window
+ ``final_weight`` * (final distance + final speed) + ``ctrl_cost`` * mean |a|^2, differentiated through every solver step
(implicit-function gradients, float64 inside the float32 program). Prints a
JSON line with the initial and final distance to the goal and the solver
statistics; saves ``trajopt.png`` (distance over time, path, forces) in
``runs/trajopt/<time>/``.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tyro

import envs
from rljax.runner.cli import command_line
from rljax.runner.report import write_report


@dataclasses.dataclass
class Args:
    steps: int = 40
    """Window length (env steps of 0.05 s)."""
    iterations: int = 300
    """Adam iterations over the force sequence."""
    learning_rate: float = 0.05
    """Adam's initial step size (cosine-decayed to 5% over the iterations)."""
    final_weight: float = 5.0
    """Weight of the final distance to the goal plus final speed in the loss."""
    ctrl_cost: float = 1e-3
    """Weight of the mean squared action in the loss."""
    kappa: float = 1e-4
    """Central-path parameter of the solver (trajectory and gradients)."""
    seed: int = 0
    """Seed of the env's reset (the box's start and goal)."""
    run_root: str = "runs"
    """Folder under which the result's folder is made (<run-root>/trajopt/<time>)."""


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(Args, args=argv, description=__doc__)
    env = envs.make("contact/push", kappa=args.kappa)
    state0 = env.reset(jax.random.key(args.seed))
    goal = state0.pipeline_state["goal"]

    def rollout(u):
        def body(s, a):
            s = env.step(s, a)
            b = s.pipeline_state["bodies"]
            return s, (env.distance(s.pipeline_state), b.pos[0, :2], jnp.linalg.norm(b.vel[0, :2]),
                       s.metrics["solver_iterations"], s.metrics["solver_converged"], s.metrics["solver_residual"])
        return jax.lax.scan(body, state0, jnp.tanh(u))[1]

    def loss(u):
        dist, _, speed, *_ = rollout(u)
        a = jnp.tanh(u)
        return jnp.mean(dist) + args.final_weight * (dist[-1] + speed[-1]) + args.ctrl_cost * jnp.mean(a * a)

    opt = optax.adam(optax.cosine_decay_schedule(args.learning_rate, args.iterations, alpha=0.05))

    @jax.jit
    def solve(u):
        def it(carry, _):
            u, s = carry
            value, g = jax.value_and_grad(loss)(u)
            upd, s = opt.update(g, s, u)
            return (optax.apply_updates(u, upd), s), (value, optax.global_norm(g))
        (u, _), (losses, gnorms) = jax.lax.scan(it, (u, opt.init(u)), None, length=args.iterations)
        return u, losses, gnorms

    u0 = jnp.zeros((args.steps, 2), jnp.float32)
    t = time.perf_counter()
    u, losses, gnorms = jax.block_until_ready(solve(u0))
    seconds = time.perf_counter() - t
    before = jax.device_get(jax.jit(rollout)(u0))
    after = jax.device_get(jax.jit(rollout)(u))
    losses = np.asarray(losses)
    iters = np.concatenate([before[3], after[3]])
    summary = {
        "env": "contact/push", "steps": args.steps, "iterations": args.iterations, "kappa": args.kappa,
        "goal": np.asarray(goal).tolist(),
        "initial_distance": float(np.linalg.norm(np.asarray(goal))),
        "distance_at_end_before": float(before[0][-1]),
        "distance_at_end_after": float(after[0][-1]),
        "final_speed_after": float(after[2][-1]),
        "loss_first": float(losses[0]), "loss_last": float(losses[-1]),
        "nonfinite_gradients": int((~np.isfinite(np.asarray(gnorms))).sum()),
        "solver_median_iterations": float(np.median(iters)), "solver_max_iterations": int(iters.max()),
        "solver_converged_fraction": float(np.mean(np.concatenate([before[4], after[4]]))),
        "solver_max_residual": float(np.max(after[5])),
        "seconds_including_compile": seconds,
    }
    out_dir = os.path.join(args.run_root, "trajopt", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tt = env.dt * np.arange(1, args.steps + 1)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    axes[0].plot(losses)
    axes[0].set(xlabel="Adam iteration", ylabel="loss", yscale="log", title="optimisation")
    axes[1].plot(tt, before[0], label="initial (no force)")
    axes[1].plot(tt, after[0], label="optimised")
    axes[1].set(xlabel="time (s)", ylabel="distance to goal (m)", title="distance")
    axes[1].legend()
    axes[2].plot(after[1][:, 0], after[1][:, 1], ".-", label="box path")
    axes[2].plot([0.0], [0.0], "ko", label="start")
    axes[2].plot([goal[0]], [goal[1]], "r*", ms=12, label="goal")
    axes[2].set(xlabel="x (m)", ylabel="y (m)", title="path", aspect="equal")
    axes[2].legend(fontsize=8)
    force = env.max_force * np.tanh(np.asarray(u))
    axes[3].plot(tt, force[:, 0], label="F_x")
    axes[3].plot(tt, force[:, 1], label="F_y")
    axes[3].plot(tt, np.linalg.norm(force, axis=1), "k--", lw=1, label="|F|")
    axes[3].axhline(env.world.friction * env.mass * 9.81, color="gray", ls=":", label="mu m g")
    axes[3].set(xlabel="time (s)", ylabel="force (N)", title="optimised open-loop forces")
    axes[3].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    return write_report(fig, summary, out_dir, "trajopt.png", dpi=110)


if __name__ == "__main__":
    command_line(main)
