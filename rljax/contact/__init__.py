"""Differentiable rigid-body contact solver (Dojo-style interior point, float64).

    import jax
    from rljax import contact

    with jax.enable_x64(True):
        world = contact.World(
            bodies=(contact.Box(half_extents=(0.25, 0.25, 0.25), mass=1.0),
                    contact.Sphere(radius=0.1, mass=0.5)),
            ground=contact.Plane(normal=(0.0, 0.0, 1.0), offset=0.0),
            friction=0.5, gravity=(0.0, 0.0, -9.81), dt=0.01)
        state = world.init_state(pos=[[0, 0, 0.3], [1, 0, 0.2]])
        state = contact.step(world, state, force=f, torque=t, kappa=1e-6)
        states = contact.rollout(world, state, forces, kappa=1e-6)

Physics: maximal coordinates, midpoint velocities, Dojo's quaternion map and
discrete Euler-Lagrange equations (``dynamics``); contact candidates with smooth
gaps (``collision``: every pair of sphere, box and capsule, box-box with
vertex-face both ways and edge-edge candidates, a fixed number per pair, with
faces, edges and clamps chosen at the start of each step so a step's gaps are
smooth); per contact an orthant pair (normal impulse, gap) and a
second-order-cone pair (friction, slip) solved by a primal-dual interior point
with Mehrotra predictor-corrector, fraction-to-boundary and residual
backtracking inside ``lax.while_loop`` (``solver`` on the ``residual``); each
Newton step uses analytic Jacobian blocks (``jacobian``), per-contact blocks
solved in closed form (``local_block``) and a Schur complement on body
velocities (``newton``); gradients by the implicit function theorem via
``jax.custom_vjp`` (``gradients``). ``kappa`` is the
central-path target: the solve is exact for the relaxed complementarity
``gamma s = kappa``, and so are its gradients. ``grad_kappa`` gives qpax-style
gradients at a smoother point while the trajectory uses ``kappa``.

Joints (``joints``): ``World(..., joints=(Revolute(parent=None, child=0,
child_anchor=(0, 0, 1), axis=(0, 1, 0), damping=0.1, limits=(-1, 1)), ...))``
with ``Fixed``, ``Revolute``, ``Prismatic``, ``Spherical``, ``Planar`` (the
child kept in a plane of the parent: two in-plane displacements and the angle
about the normal, as Dojo's; parent ``None`` or -1: the world; a forest, no
loops). Their constraint rows are imposed at the next pose and their
multipliers solved in the same Newton system (impulses through the constraint
Jacobian at the current pose: a SHAKE-type variational integrator, bounded
energy error); revolute/prismatic limits are orthant pairs
like the contact normal; ``step(..., actuation=[J_dof])`` /
``rollout(..., actuations=[T, J_dof])`` drive the DOFs, ``damping`` is implicit.
Jointed bodies get no contact candidates with each other by default.
``joint_positions(world, state)`` / ``joint_velocities(world, state)`` read the
DOFs from the maximal coordinates. With joints the Newton step eliminates
contacts and limits onto body velocities and LU-factors the bordered matrix on
(velocities, joint multipliers), dense, (6N + L) square; without joints
(static) none of it is traced. The float32 bridge carries them as hashable
tuples, ``WorldSpec(..., joints=(("revolute", None, 0, anchor_a, anchor_b,
axis, damping, limits), ...))``, and ``float32_step(..., actuation=[J_dof])``
(float32, differentiable).

Small products and indexing by the static candidate lists go through
``small_ops``, which has two backends picked at trace time by platform:
``unrolled`` (broadcast multiplies and adds, no dot_general / gather / scatter;
the default on CPU) and ``xla`` (plain einsum, gather, segment_sum; the default
on GPU and TPU). Override with ``small_ops.backend("xla")`` or the environment
variable ``RLJAX_CONTACT_SMALL_OPS=unrolled|xla|auto``.

float64 scoping: this package never flips ``jax_enable_x64``: importing it
leaves the rest of the program (float32 agents) untouched. Every entry point
(``World.init_state``, ``step``, ``rollout``) checks at trace time that x64 is
on and raises ``RuntimeError`` otherwise. Run contact code inside the scoped
context ``with jax.enable_x64(True): ...`` (jax 0.9's thread-local context
manager; jit traces and caches per setting) or enable x64 for a whole program
with ``jax.config.update("jax_enable_x64", True)``. Arrays made inside the
context keep float64 outside it but computing on them there downcasts, so keep
the whole contact computation inside one context.

From float32 programs (agents, envs) call the solver through its bridge,
``float32_step`` with a hashable ``WorldSpec`` (``rljax.contact.bridge``),
never through a bare ``enable_x64`` around ``step``: jit, vmap and grad then
work from float32 code, and only float32 crosses the boundary.

Warm starts: ``State.warm`` holds the previous step's solution (``init_state``
sets neutral zeros) and ``step``/``rollout(..., warm_start=True)`` seed the next
solve with it (``solver.warm_point``: previous velocities, impulses kept, slacks
from the predicted gaps; the cold ``initial_point`` whenever a contact appears or
any value is unusable, and a cold restart after 10 stalled iterations). The
solution is the same to tolerance and the start point is not differentiated;
off by default (cold starts). Through the bridge the same lives in
``Bodies.warm`` (``cold_warm(spec)``; ``StepOptions.warm_start``).

Non-convergence never shows up as a silent NaN: the solver rejects non-finite
iterates and reports ``state.solver.converged = False``.
"""

from rljax.contact.bridge import (Bodies, Solve, StepOptions, WorldSpec, cold_warm, float32_step, resting_bodies,
                                  warm_size)
from rljax.contact.dynamics import kinetic_energy, momentum
from rljax.contact.joints import Fixed, Planar, Prismatic, Revolute, Spherical, joint_positions, joint_velocities
from rljax.contact.rotation import rotate
from rljax.contact.shapes import Box, Capsule, Plane, Sphere
from rljax.contact.simulate import rollout, step
from rljax.contact.world import SolverInfo, State, World, require_x64

__all__ = [
    "Box", "Capsule", "Plane", "Sphere", "World", "State", "SolverInfo",
    "step", "rollout", "momentum", "kinetic_energy", "require_x64", "rotate",
    "Bodies", "Solve", "StepOptions", "WorldSpec", "float32_step", "resting_bodies", "cold_warm", "warm_size",
    "Fixed", "Revolute", "Prismatic", "Spherical", "Planar", "joint_positions", "joint_velocities",
]
