"""Checkpoints of a full training state with orbax.

orbax writes into a temporary directory and renames it when complete, so a
crash mid-save never leaves a half-written checkpoint under the final name.
PRNG keys are stored as their raw key data and re-wrapped on restore.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, TypeVar

import jax
import orbax.checkpoint as ocp

T = TypeVar("T")


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_storable(tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def save(directory: str, step: int, state: Any) -> str:
    """Save ``state`` as ``directory/step_<step>`` (atomically); returns the path."""
    path = os.path.abspath(os.path.join(directory, f"step_{step:012d}"))
    if os.path.exists(path):
        raise ValueError(f"checkpoint {path} already exists; refusing to overwrite it")
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, _to_storable(state))
    return path


def latest(directory: str) -> str | None:
    """The newest complete checkpoint under ``directory``, or None."""
    if not os.path.isdir(directory):
        return None
    steps = sorted(d for d in os.listdir(directory) if d.startswith("step_") and "tmp" not in d)
    return os.path.join(os.path.abspath(directory), steps[-1]) if steps else None


def prune(directory: str, keep: int) -> None:
    """Delete all but the ``keep`` newest complete checkpoints under ``directory``."""
    if keep < 1:
        raise ValueError(f"keep={keep}: must be >= 1")
    steps = sorted(d for d in os.listdir(directory) if d.startswith("step_") and "tmp" not in d)
    for name in steps[:-keep]:
        shutil.rmtree(os.path.join(directory, name))


def restore(path: str, like: T) -> T:
    """Restore a checkpoint into the structure, shapes and dtypes of ``like``."""
    if not os.path.isdir(path):
        raise ValueError(f"no checkpoint at {path}")
    template = _to_storable(like)
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(os.path.abspath(path), template)
    return jax.tree.map(lambda r, x: jax.random.wrap_key_data(r, impl=jax.random.key_impl(x)) if _is_key(x) else r,
                        restored, like)
