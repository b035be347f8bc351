"""Checkpoints of a full training state with orbax, checked when restored.

A checkpoint is the folder ``<directory>/step_<update:012d>``: orbax's files
plus ``rljax_manifest.json``, which records the size and SHA-256 of every
file and what the caller passes as ``meta`` (the run's Config, say). orbax
writes into a temporary folder and renames it when complete; the manifest is
written after that, atomically, so it is the mark of a finished checkpoint.
A folder without one, or whose files no longer match it (truncated,
overwritten, corrupted), is never restored: :func:`restore` says which file
and why in one line, and :func:`newest_good` falls back to the previous
checkpoint. PRNG keys are stored as their raw key data and
re-wrapped on restore.

    path = checkpoint.save("run/checkpoints", 40, state, meta={"config": cfg.to_dict()})
    state = checkpoint.restore(checkpoint.newest_good("run/checkpoints", on_skip=print), like=state)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from typing import Any, Callable, TypeVar

import jax
import numpy as np
import orbax.checkpoint as ocp

T = TypeVar("T")

MANIFEST = "rljax_manifest.json"
_STEP = re.compile(r"^step_(\d{12})$")
_TEMPORARY = ".orbax-checkpoint-tmp"


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored; the message names it and says why, in one line."""


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


FORMAT = 2
"""Format 2 stores ``{"leaves": [...]}``: the state's leaves in tree order, as host (numpy) arrays.
Format 1 (before multi-host runs) stored the state's own tree; it is still restored. Host arrays
because a multi-host run saves a whole host copy from process 0 alone, and orbax refuses
host-local jax.Arrays there (some pytree nodes, such as brax's UInt64 counter, turn numpy
leaves back into jax.Arrays, so the state's own tree cannot be kept)."""


def _storable_leaf(x: Any) -> np.ndarray:
    x = np.asarray(jax.random.key_data(x)) if _is_key(x) else np.asarray(x)
    # orbax refuses zero-size arrays (MJX's contact fields of a contact-free model are [..., 0, ...]);
    # they hold no data, so a scalar stands in and restore takes the shape and dtype from ``like``.
    return np.zeros((), x.dtype) if x.size == 0 else x


def _restored_leaf(stored: Any, like: Any) -> Any:
    """The inverse of :func:`_storable_leaf`, given the leaf ``like`` it was saved from."""
    if np.size(like) == 0:
        stored = np.zeros(np.shape(like), np.asarray(stored).dtype)
    return jax.random.wrap_key_data(stored, impl=jax.random.key_impl(like)) if _is_key(like) else stored


def _to_storable(tree: Any) -> Any:
    return {"leaves": [_storable_leaf(x) for x in jax.tree.leaves(tree)]}


def _to_storable_v1(tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _files(path: str) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file under ``path`` but the manifest, by relative path."""
    out = {}
    for root, _, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            relative = os.path.relpath(full, path)
            if relative == MANIFEST:
                continue
            with open(full, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            out[relative] = {"size": os.path.getsize(full), "sha256": digest}
    return out


def _write_json_atomically(path: str, content: Any) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(content, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def step_of(path: str) -> int:
    """The update number in a checkpoint's folder name (``step_000000000040`` -> 40)."""
    match = _STEP.match(os.path.basename(os.path.normpath(path)))
    if not match:
        raise ValueError(f"{path}: not a checkpoint folder (expected step_<12 digits>)")
    return int(match.group(1))


def clean_temporary(directory: str) -> list[str]:
    """Delete what interrupted saves left under ``directory``: orbax's temporary folders and
    checkpoint folders without a manifest. Returns the deleted paths."""
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        unfinished = _STEP.match(name) and not os.path.exists(os.path.join(path, MANIFEST))
        if os.path.isdir(path) and (_TEMPORARY in name or unfinished):
            shutil.rmtree(path)
            removed.append(path)
    return removed


def _checkpointer() -> ocp.StandardCheckpointer:
    """An orbax checkpointer of this process alone: in a multi-process run only process 0 saves (a host copy
    of the whole state), and each process restores the whole state for itself, so none waits for the others."""
    me = jax.process_index()
    return ocp.StandardCheckpointer(multiprocessing_options=ocp.options.MultiprocessingOptions(
        primary_host=me, active_processes={me}, barrier_sync_key_prefix=f"rljax_process_{me}"))


def save(directory: str, step: int, state: Any, meta: dict[str, Any] | None = None) -> str:
    """Save ``state`` as ``directory/step_<step>`` with its manifest; returns the path.

    Cleans what earlier interrupted saves left first; refuses to overwrite a
    finished checkpoint.
    """
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    clean_temporary(directory)
    path = os.path.join(directory, f"step_{step:012d}")
    if os.path.exists(path):
        raise ValueError(f"checkpoint {path} already exists; refusing to overwrite it")
    with _checkpointer() as checkpointer:
        checkpointer.save(path, _to_storable(state))
    _write_json_atomically(os.path.join(path, MANIFEST),
                           {"format": FORMAT, "step": step, "meta": meta or {}, "files": _files(path)})
    return path


def _candidates(directory: str) -> list[str]:
    """Every checkpoint-like folder under ``directory``, oldest first (finished or not)."""
    if not os.path.isdir(directory):
        return []
    names = [n for n in os.listdir(directory) if _STEP.match(n) or (_TEMPORARY in n and n.startswith("step_"))]
    return [os.path.join(os.path.abspath(directory), n) for n in sorted(names)]


def finished(directory: str) -> list[str]:
    """Checkpoints under ``directory`` whose save completed (they have a manifest), oldest first."""
    return [p for p in _candidates(directory)
            if _STEP.match(os.path.basename(p)) and os.path.exists(os.path.join(p, MANIFEST))]


def latest(directory: str) -> str | None:
    """The newest finished checkpoint under ``directory``, or None (not verified: see :func:`verify`)."""
    done = finished(directory)
    return done[-1] if done else None


def prune(directory: str, keep: int) -> None:
    """Delete all but the ``keep`` newest finished checkpoints under ``directory``."""
    if keep < 1:
        raise ValueError(f"keep={keep}: must be >= 1")
    for path in finished(directory)[:-keep]:
        shutil.rmtree(path)


def read_manifest(path: str) -> dict[str, Any]:
    """The checkpoint's manifest; :class:`CheckpointError` if it is missing or unreadable."""
    manifest = os.path.join(path, MANIFEST)
    if _TEMPORARY in os.path.basename(path) or not os.path.exists(manifest):
        raise CheckpointError(f"checkpoint {path} is incomplete: its save was interrupted")
    try:
        with open(manifest) as f:
            content = json.load(f)
        content["files"].items()
    except (OSError, ValueError, KeyError, AttributeError) as e:
        raise CheckpointError(f"checkpoint {path} has a damaged manifest ({MANIFEST}: {e})") from None
    return content


def verify(path: str) -> dict[str, Any]:
    """Check every file of a checkpoint against its manifest; returns the manifest.

    Raises :class:`CheckpointError` naming the first missing, truncated or changed file.
    """
    manifest = read_manifest(path)
    expected = manifest["files"]
    actual = _files(path)
    for name, want in sorted(expected.items()):
        got = actual.get(name)
        if got is None:
            raise CheckpointError(f"checkpoint {path} is damaged: file {name} is missing")
        if got["size"] != want["size"]:
            raise CheckpointError(f"checkpoint {path} is damaged: file {name} has {got['size']} bytes, "
                                  f"{want['size']} were saved (truncated or overwritten)")
        if got["sha256"] != want["sha256"]:
            raise CheckpointError(f"checkpoint {path} is damaged: file {name} does not match its saved "
                                  f"checksum (corrupted)")
    extra = sorted(set(actual) - set(expected))
    if extra:
        raise CheckpointError(f"checkpoint {path} is damaged: file {extra[0]} was not part of it")
    return manifest


def restore(path: str, like: T) -> T:
    """Verify the checkpoint at ``path`` and restore it into the structure, shapes and dtypes of ``like``."""
    if not os.path.isdir(path):
        raise CheckpointError(f"no checkpoint at {path}")
    version = verify(path).get("format", 1)
    leaves, treedef = jax.tree.flatten(like)
    template = _to_storable(like) if version >= 2 else _to_storable_v1(like)
    try:
        with _checkpointer() as checkpointer:
            restored = checkpointer.restore(os.path.abspath(path), template)
        if version >= 2 and len(restored["leaves"]) != len(leaves):
            raise ValueError(f"it holds {len(restored['leaves'])} arrays, the state has {len(leaves)}")
    except Exception as e:  # orbax raises many types; the first line of each says what it is
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path} does not fit this run's training state "
                              f"(another Config or seed count?): {first}") from None
    restored = restored["leaves"] if version >= 2 else treedef.flatten_up_to(restored)
    return treedef.unflatten([_restored_leaf(r, x) for r, x in zip(restored, leaves)])


def newest_good(directory: str, on_skip: Callable[[str], None] = lambda message: None) -> str | None:
    """The newest checkpoint under ``directory`` whose files verify against its manifest.

    Checks newest first, before anything is restored or compiled. Each one
    skipped is reported through ``on_skip(message)``; a damaged one (finished,
    then changed) is renamed ``<name>.damaged``, kept for inspection, so its
    step can be saved again. Returns None when there is no checkpoint at all;
    raises :class:`CheckpointError` listing the skipped ones when none is good.
    """
    skipped = []
    for path in reversed(_candidates(directory)):
        try:
            verify(path)
            return path
        except CheckpointError as e:
            message = str(e)
            if _STEP.match(os.path.basename(path)) and os.path.exists(os.path.join(path, MANIFEST)):
                os.replace(path, f"{path}.damaged")
                message += f"; moved to {os.path.basename(path)}.damaged"
            skipped.append(message)
            on_skip(message)
    if skipped:
        raise CheckpointError(f"no good checkpoint under {directory}: " + " | ".join(skipped))
    return None
