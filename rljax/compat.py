"""What differs across the jax versions rljax supports, in one place.

Supported range: jax >= 0.9.2, != 0.10.*, < 0.13 (pyproject.toml). Tested at
both ends: 0.9.2 on Python 3.11 (the pinned set; the full test suite,
``.ci/run``) and 0.12.0.1 on Python 3.12 (``.ci/smoke_latest_jax.sh``: PPO,
SAC and tests/contact; the full suite by hand), plus 0.11.2 by hand (PPO, SAC,
tests/contact: one step of the dt=0.05 box toss needs more than the solver's 50
iterations there; 36 on 0.9.2, 47 on 0.12.0.1). jax >= 0.11 needs Python >=
3.12. The 0.10 series is excluded, not wrapped: on 0.10.2 XLA:CPU deadlocks
(every thread idle in ``block_until_ready``) running SAC's replay prefill
vmapped over 2+ seeds once the replay holds 50k+ transitions; 0.9.2, 0.11.0,
0.11.2 and 0.12.0.1 run the same program in seconds.

Checked across the range, with nothing to wrap in rljax's own code:

- x64 scoping: the contact solver and its bridge use ``jax.enable_x64(bool)``,
  a context manager since jax 0.8.0 and present up to 0.12;
  ``jax.experimental.enable_x64`` / ``disable_x64`` were removed in 0.9.0, so
  nothing in the range needs them.
- PRNG (``jax.random.key``, ``key_impl``, ``wrap_key_data``), tree utilities
  (``jax.tree.*``, ``jax.tree_util.*_with_path``, ``register_dataclass``),
  ``jax.core.Tracer``, ``jax.custom_batching.custom_vmap``, ``jax.flatten_util``
  and the sharding API (``jax.make_mesh(axis_types=...)``,
  ``jax.shard_map(check_vma=...)``, ``NamedSharding``): the same from 0.9.2 to
  0.12.0.1.

What changed behaviour: before jax 0.10, XLA:CPU computed each run of a
vmapped program bitwise the same whatever the batch size, so a sweep (one
program over every value and seed) reproduced separate runs exactly. From 0.10
on the rounding depends on the batch size: the first update agrees exactly, the
next ones to float rounding (~1e-7 relative), which training then amplifies
(PPO on pendulum, 8 updates: losses apart by a few percent).
:func:`runs_bitwise_independent_of_batch` says which case holds, for the tests
that compare a sweep with separate runs.

What does break: brax 0.14.2's own trainers (``brax.training.agents.*.train``,
used only as anchors by benchmarks/ppo_throughput.py and
benchmarks/sac_throughput.py) call ``jax.device_put_replicated``, deprecated in
jax 0.8.1 and removed in 0.10.0. rljax itself never calls it (it only imports
``brax.training.acme``'s running statistics, which do not).
:func:`require_brax_trainers` stops those scripts with a clear message on jax
>= 0.10; benchmarks/requirements-anchors.txt is the environment they run in.
"""

from __future__ import annotations

import re
import sys

import jax

# brax's own trainers call jax.device_put_replicated, removed in this release.
BRAX_TRAINERS_BELOW = (0, 10)


def jax_version(version: str | None = None) -> tuple[int, ...]:
    """``jax.__version__`` (or ``version``) as a tuple of its leading integers: ``"0.12.0.1"`` -> (0, 12, 0, 1).

    Pre-release and local suffixes (``0.10.0.dev20260101``, ``0.9.2+cuda``) are dropped.
    """
    text = jax.__version__ if version is None else version
    parts = []
    for piece in re.split(r"[.+]", text):
        match = re.match(r"\d+", piece)
        if match is None or match.group() != piece:
            if match is not None:
                parts.append(int(match.group()))
            break
        parts.append(int(piece))
    return tuple(parts)


def runs_bitwise_independent_of_batch() -> bool:
    """Whether a run inside a vmapped batch computes bitwise the same as alone (CPU, jax < 0.10).

    False on newer jax and, not having been measured there, on accelerators: results then agree to
    float rounding per step, not over a whole training run.
    """
    return jax.default_backend() == "cpu" and jax_version() < (0, 10)


def brax_trainers_supported(version: str | None = None) -> bool:
    """Whether brax's own trainers can run on this jax (they need jax < 0.10)."""
    return jax_version(version) < BRAX_TRAINERS_BELOW


def require_brax_trainers(script: str) -> None:
    """Exit with status 2 and a clear message unless brax's own trainers can run on this jax.

    For the benchmark scripts whose anchor is a ``brax.training.agents`` trainer; call it first thing.
    """
    if brax_trainers_supported():
        return
    print(f"{script}: its anchor is brax's own trainer, which calls jax.device_put_replicated, removed in "
          f"jax 0.10; this environment has jax {jax.__version__}. Run it in the anchors' environment:\n"
          f"    python3 -m venv .venv-anchors && .venv-anchors/bin/pip install "
          f"-r benchmarks/requirements-anchors.txt -e .\n"
          f"    .venv-anchors/bin/python {script}", file=sys.stderr)
    raise SystemExit(2)
