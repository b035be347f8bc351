"""Implicit-function-theorem gradients of the step solve (``jax.custom_vjp``).

At a solution ``r(w*, theta; k) = 0`` the solution map has
``dw*/dtheta = -J_w^-1 J_theta``, so the VJP is one transposed solve with the
factored Newton matrix and one VJP of the residual: the solver loop is never
differentiated. The result is exact for the relaxed (``k > 0``) problem.

Two modes:
- default: forward and gradient at the same ``kappa``;
- qpax-style (``grad_kappa`` given): the returned point solves the problem at
  ``kappa`` (tight), then the solver is warm-started from it towards the
  central-path point at ``grad_kappa`` and the IFT is taken there, so the
  gradients are smooth while the trajectory stays hard.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from rljax.contact import solver
from rljax.contact.solver import Options, Problem


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def solve(opts: Options, problem: Problem, kappa, grad_kappa, w0, warm):
    """Solve one step from the initial point ``w0``: returns
    ``(w, (iterations, residual, complementarity, converged))``.

    ``w0`` only picks where the iteration starts (the solution is the same to
    tolerance), so it gets a zero cotangent. ``warm`` (bool scalar) says ``w0`` is a
    warm start: with ``opts.warm_max_iter > 0`` one not converged within that many
    iterations restarts from ``solver.initial_point`` with a fresh ``max_iter``.
    """
    out, _ = _solve_fwd(opts, problem, kappa, grad_kappa, w0, warm)
    return out


def _solve_fwd(opts: Options, problem: Problem, kappa, grad_kappa, w0, warm):
    if opts.warm_max_iter:
        # A warm start that has not converged within warm_max_iter restarts from the cold
        # point, which bounds the cost of a bad warm start. Worlds that did converge
        # start the second loop converged and take no iteration in it.
        short = opts._replace(max_iter=min(opts.warm_max_iter, opts.max_iter))
        w, it, eq, comp, ok = solver.interior_point(problem, kappa, w0, short)
        restart = jnp.where(ok | ~warm, w, solver.initial_point(problem))
        # The second loop has the full budget, so a restarted solve gets what a cold one
        # would (the cap on the total is warm_max_iter + max_iter).
        w, it2, eq, comp, ok = solver.interior_point(problem, kappa, restart, opts)
        it = it + it2
    else:
        w, it, eq, comp, ok = solver.interior_point(problem, kappa, w0, opts)
    if opts.relaxed_grad:
        w_grad, *_ = solver.interior_point(problem, grad_kappa, w, opts)
        k_grad = grad_kappa
    else:
        w_grad, k_grad = w, kappa
    return (w, (it, eq, comp, ok)), (problem, w_grad, k_grad, kappa, grad_kappa)


def _solve_bwd(opts: Options, res, ct):
    problem, w, k, kappa, grad_kappa = res
    ct_w = ct[0]
    blocks = solver.factor(problem, w)
    lam = solver.newton_step_transpose(problem, blocks, ct_w)
    _, vjp = jax.vjp(lambda p, kk: solver.residual(p, w, kk), problem, k)
    ct_problem, ct_k = vjp(-lam)
    zero = jnp.zeros_like
    zero_w0 = zero(w)  # w0 has w's shape and dtype
    if opts.relaxed_grad:
        return ct_problem, zero(kappa), ct_k.astype(jnp.result_type(grad_kappa)), zero_w0, None
    return ct_problem, ct_k.astype(jnp.result_type(kappa)), zero(grad_kappa), zero_w0, None


solve.defvjp(_solve_fwd, _solve_bwd)
