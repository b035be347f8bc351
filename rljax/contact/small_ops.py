"""Small products, static gathers and scatters of the solver, with two backends.

The solver's hot path goes through ``einsum`` (two operands, ``...`` allowed
once per term), ``take`` / ``segment_sum`` (indexing by the static
contact-candidate lists) and ``inv6`` from here. Each has two implementations:

- ``"unrolled"``: products written as broadcast multiplies and explicit adds,
  indexing as broadcasts of rows and explicit row adds (no ``dot_general``,
  gather or scatter). XLA:CPU lowers a ``dot_general`` with several batch
  dimensions and a 2-6 long contraction to a loop of tiny GEMM calls; under
  ``vmap`` every per-contact 3x3 or 6x6 product becomes such a dot and runs
  10-20x slower than the same product as multiplies and adds, which XLA fuses
  into one loop. Gathers and scatters by short static lists are slow there too.
- ``"xla"``: the plain ``jnp.einsum(..., precision=HIGHEST)``, ``jnp.take`` and
  ``jax.ops.segment_sum``, which the GPU and TPU compilers handle well.

Choice, in order of precedence:

1. the context manager ``with small_ops.backend("xla"): ...`` (or
   ``"unrolled"``, or ``"auto"``), scoped to the current thread / context;
2. the environment variable ``RLJAX_CONTACT_SMALL_OPS`` = ``auto`` (or unset /
   empty), ``unrolled`` or ``xla``;
3. ``auto``: by the platform of ``jax.default_backend()``: ``"unrolled"`` on
   ``cpu``, ``"xla"`` on every other platform (gpu, cuda, rocm, tpu).

The choice is read when a function is traced, not when it runs: ``jax.jit``
caches its traces, so a function already compiled keeps the backend it was
traced with. To compare the backends in one process, trace fresh functions (a
new ``jax.jit`` around a new closure) inside each ``backend(...)`` block, or
call ``jax.clear_caches()`` between them. ``active_backend()`` says which one a
trace made now would use.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import os
import string
from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

__all__ = ["BACKENDS", "ENV_VAR", "active_backend", "backend", "einsum", "inv6", "platform_default",
           "segment_sum", "take"]

BACKENDS = ("unrolled", "xla")
CHOICES = ("auto",) + BACKENDS
ENV_VAR = "RLJAX_CONTACT_SMALL_OPS"

_override: contextvars.ContextVar = contextvars.ContextVar("rljax_contact_small_ops", default=None)


def _check(name, where: str) -> str:
    if name not in CHOICES:
        raise ValueError(f"{where} must be one of {', '.join(map(repr, CHOICES))}, got {name!r}")
    return name


def platform_default(platform: str) -> str:
    """The ``auto`` backend for a JAX platform name: ``"unrolled"`` on cpu, else ``"xla"``."""
    return "unrolled" if platform.lower() == "cpu" else "xla"


def _platform() -> str:
    # A jax.default_device(...) scope (device or platform name) takes precedence
    # over the default backend, as it does for where computations run.
    dev = jax.config.jax_default_device
    if dev is not None:
        return dev if isinstance(dev, str) else dev.platform
    return jax.default_backend()


def active_backend() -> str:
    """The backend (``"unrolled"`` or ``"xla"``) a function traced now uses: the
    innermost ``backend(...)`` scope, else ``$RLJAX_CONTACT_SMALL_OPS``, else the
    platform's default (see the module docstring)."""
    choice = _override.get()
    if choice is None:
        choice = _check(os.environ.get(ENV_VAR, "").strip().lower() or "auto", f"${ENV_VAR}")
    return platform_default(_platform()) if choice == "auto" else choice


@contextlib.contextmanager
def backend(name: str) -> Iterator[str]:
    """Scope in which traced contact code uses the ``name`` small-op backend.

    ``name``: ``"unrolled"``, ``"xla"`` or ``"auto"`` (the platform's default,
    ignoring the environment variable). Overrides ``$RLJAX_CONTACT_SMALL_OPS``;
    read at trace time (``jax.jit`` reuses earlier traces). Yields the resolved
    backend.
    """
    token = _override.set(_check(name, "small_ops.backend(name)"))
    try:
        yield active_backend()
    finally:
        _override.reset(token)


# ---- "unrolled": elementwise, no dot_general / gather / scatter (XLA:CPU) ----------

_UNROLL = 36  # longest contraction written as explicit adds


def _expand(term: str, ndim: int, fill: str) -> str:
    if "..." not in term:
        if len(term) != ndim:
            raise ValueError(f"einsum term {term!r} does not match an operand with {ndim} axes")
        return term
    head, tail = term.split("...")
    return head + fill[: ndim - len(head) - len(tail)] + tail


def _einsum_unrolled(spec: str, a: Array, b: Array) -> Array:
    """``jnp.einsum(spec, a, b)`` for small contractions, without ``dot_general``."""
    inputs, out = spec.replace(" ", "").split("->")
    ta, tb = inputs.split(",")
    used = set(spec)
    fill = "".join(ch for ch in string.ascii_letters if ch not in used)
    nell = max(a.ndim - len(ta.replace("...", "")) if "..." in ta else 0,
               b.ndim - len(tb.replace("...", "")) if "..." in tb else 0)
    ta, tb = _expand(ta, a.ndim, fill), _expand(tb, b.ndim, fill)
    out = out.replace("...", fill[:nell])
    letters = list(dict.fromkeys(ta + tb))

    def aligned(x: Array, term: str) -> Array:
        order = [ch for ch in letters if ch in term]
        x = jnp.transpose(x, [term.index(ch) for ch in order])
        return x.reshape([x.shape[order.index(ch)] if ch in term else 1 for ch in letters])

    # The barrier makes XLA materialise the operands: fused into the broadcast
    # product they would be recomputed once per element of the other operand.
    a, b = lax.optimization_barrier((a, b))
    xa, xb = aligned(a, ta), aligned(b, tb)
    sizes = {ch: max(xa.shape[i], xb.shape[i]) for i, ch in enumerate(letters)}
    summed = [ch for ch in letters if ch not in out]
    count = int(np.prod([sizes[ch] for ch in summed]))
    if count > _UNROLL or count == 0:
        prod = jnp.sum(xa * xb, axis=tuple(letters.index(ch) for ch in summed))
    else:
        # XLA:CPU reduces a 2-6 long axis element by element; explicit adds of
        # slices fuse into one vectorised loop, about twice as fast.
        prod = None
        for combo in itertools.product(*(range(sizes[ch]) for ch in summed)):
            pick = dict(zip(summed, combo))

            def part(x):
                return x[tuple(min(pick[ch], x.shape[i] - 1) if ch in pick else slice(None)
                               for i, ch in enumerate(letters))]

            term = part(xa) * part(xb)
            prod = term if prod is None else prod + term
    kept = [ch for ch in letters if ch in out]
    return jnp.transpose(prod, [kept.index(ch) for ch in out])


def _runs(idx) -> list:
    """Runs of equal consecutive entries of a static index list: [(value, start, stop)]."""
    out = []
    for i, v in enumerate(int(v) for v in idx):
        if out and out[-1][0] == v:
            out[-1][2] = i + 1
        else:
            out.append([v, i, i + 1])
    return out


def _take_unrolled(x: Array, idx) -> Array:
    """``x[idx]`` for a static index list, as broadcasts of rows (no gather).

    Contact candidates come in runs that share a body (a box's 8 corners), so
    this is a handful of broadcasts that XLA fuses into its consumers.
    """
    if len(idx) == 0:
        return jnp.zeros((0,) + x.shape[1:], x.dtype)
    parts = [jnp.broadcast_to(x[v][None], (stop - start,) + x.shape[1:]) for v, start, stop in _runs(idx)]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)


def _segment_sum_unrolled(x: Array, idx, num: int) -> Array:
    """``zeros([num, ...]).at[idx].add(x)`` for a static index list; entries >= num are dropped."""
    # Materialise x, then add rows explicitly: a reduce fusion that pulls in x's
    # producer runs several times slower on XLA:CPU than a loop over plain adds.
    x = lax.optimization_barrier(x)
    rows = [jnp.zeros(x.shape[1:], x.dtype) for _ in range(num)]
    for v, start, stop in _runs(idx):
        if v < num:
            for i in range(start, stop):
                rows[v] = rows[v] + x[i]
    return jnp.stack(rows)


# ---- "xla": the plain operations (GPU, TPU) ------------------------------------------


def _index(idx) -> np.ndarray:
    return np.asarray(idx, dtype=np.int32).reshape(-1)


def _einsum_xla(spec: str, a: Array, b: Array) -> Array:
    return jnp.einsum(spec, a, b, precision=lax.Precision.HIGHEST)


def _take_xla(x: Array, idx) -> Array:
    return jnp.asarray(x).at[_index(idx)].get(mode="promise_in_bounds")


def _segment_sum_xla(x: Array, idx, num: int) -> Array:
    idx = _index(idx)
    # Static lists: tell XLA when they are sorted (a box's corners share a body).
    return jax.ops.segment_sum(jnp.asarray(x), idx, num_segments=num,
                               indices_are_sorted=bool(np.all(np.diff(idx) >= 0)))


# ---- the functions the solver calls -------------------------------------------------


def einsum(spec: str, a: Array, b: Array) -> Array:
    """``jnp.einsum(spec, a, b)`` for small two-operand contractions (``...`` once per term)."""
    impl = _einsum_unrolled if active_backend() == "unrolled" else _einsum_xla
    return impl(spec, a, b)


def take(x: Array, idx) -> Array:
    """``x[idx]`` along axis 0 for a static, in-range index list."""
    impl = _take_unrolled if active_backend() == "unrolled" else _take_xla
    return impl(x, idx)


def segment_sum(x: Array, idx, num: int) -> Array:
    """``zeros([num, ...]).at[idx].add(x)`` for a static index list; entries >= num are dropped."""
    impl = _segment_sum_unrolled if active_backend() == "unrolled" else _segment_sum_xla
    return impl(x, idx, num)


def _inv3(m: Array) -> Array:
    """Inverse of [..., 3, 3] matrices by the adjugate."""
    e = [[m[..., i, j] for j in range(3)] for i in range(3)]
    cof = [[e[(i + 1) % 3][(j + 1) % 3] * e[(i + 2) % 3][(j + 2) % 3]
            - e[(i + 1) % 3][(j + 2) % 3] * e[(i + 2) % 3][(j + 1) % 3] for j in range(3)] for i in range(3)]
    det = e[0][0] * cof[0][0] + e[0][1] * cof[0][1] + e[0][2] * cof[0][2]
    # inverse = adjugate / det, the adjugate being the transposed cofactor matrix
    return jnp.stack([jnp.stack([cof[j][i] for j in range(3)], -1) for i in range(3)], -2) / det[..., None, None]


def inv6(m: Array) -> Array:
    """Inverse of [..., 6, 6] matrices by 3x3 blocks (no pivoting).

    For the solver's per-body Schur complements: mass matrix plus contact
    stiffness, whose leading 3x3 block (translational mass) and its Schur
    complement (rotational inertia) are far from singular. Elementwise, so it
    fuses, where a batched LU runs one LAPACK call per matrix. Both backends
    use it; its products follow the active backend.
    """
    a, b = m[..., :3, :3], m[..., :3, 3:]
    c, d = m[..., 3:, :3], m[..., 3:, 3:]
    ai = _inv3(a)
    ai_b = einsum("...ij,...jk->...ik", ai, b)
    c_ai = einsum("...ij,...jk->...ik", c, ai)
    si = _inv3(d - einsum("...ij,...jk->...ik", c, ai_b))
    top_right = -einsum("...ij,...jk->...ik", ai_b, si)
    bottom_left = -einsum("...ij,...jk->...ik", si, c_ai)
    top_left = ai - einsum("...ij,...jk->...ik", top_right, c_ai)
    return jnp.concatenate([jnp.concatenate([top_left, top_right], -1),
                            jnp.concatenate([bottom_left, si], -1)], -2)
