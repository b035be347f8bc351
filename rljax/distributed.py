"""One run over several processes (hosts): ``jax.distributed``, with process 0 writing.

Each process drives its local devices; ``jax.devices()`` then lists every
process's devices and the run's mesh (:mod:`rljax.parallel`) spans them all,
so the compiled programs are the single-host ones. What crosses processes
outside those programs goes through here:

- :func:`initialize` joins the processes (flags, the usual environment
  variables, or a detected cluster), before any JAX computation;
- :func:`to_host` brings a sharded tree to every process as numpy (a
  collective: every process calls it), for metrics, checkpoints and replays;
- :func:`from_host` puts a host tree (a restored checkpoint) back onto the
  shardings of a live one;
- :func:`is_primary` says who writes: process 0 logs, checkpoints and writes
  the run folder; the others compute the same run and write nothing;
- :func:`any_process` agrees on a flag (a stop signal that reached one host).

With one process every function is the plain single-host operation.

    rljax.distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)   # before anything else
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

import jax
import numpy as np

ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
AUTO = "auto"
_ADDRESS = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")


def _int_from(value: Any, name: str, env: str) -> int | None:
    if value is None:
        value = os.environ.get(env)
        name = env
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: expected an integer") from None


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, announce: Callable[[str], None] | None = None) -> bool:
    """Join this process to a multi-process run; returns whether it did (False: a single-process run).

    ``coordinator``: ``HOST:PORT`` of process 0 (every process gives the same), or ``"auto"`` to let
    JAX detect a cluster (SLURM, Open MPI, TPU pods). Each argument left None is read from
    ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``; with no coordinator at
    all this is a no-op. Must run before any JAX computation (creating arrays starts the backends);
    the experiment scripts call it first. Calling it again in a joined process is a no-op.
    ``announce(line)`` is told before joining, which waits until every process has started.
    """
    coordinator = coordinator or os.environ.get(ENV_COORDINATOR) or None
    num_processes = _int_from(num_processes, "num-processes", ENV_NUM_PROCESSES)
    process_id = _int_from(process_id, "process-id", ENV_PROCESS_ID)
    if coordinator is None:
        if num_processes not in (None, 1) or process_id not in (None, 0):
            raise ValueError(f"num-processes={num_processes}, process-id={process_id} need a coordinator "
                             f"(--coordinator HOST:PORT of process 0, or {ENV_COORDINATOR})")
        return False
    if coordinator != AUTO:
        if not _ADDRESS.match(coordinator):
            raise ValueError(f"coordinator={coordinator!r}: expected HOST:PORT of process 0 (e.g. 10.0.0.1:1234) "
                             f"or '{AUTO}'")
        if num_processes is None or process_id is None:
            raise ValueError(f"coordinator={coordinator!r} needs num-processes and process-id too (or "
                             f"{ENV_NUM_PROCESSES} and {ENV_PROCESS_ID})")
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"num-processes={num_processes}: must be >= 1")
    if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"process-id={process_id}: must be in [0, {num_processes}) for {num_processes} processes")
    if jax.distributed.is_initialized():
        return True
    if announce is not None:
        who = "" if process_id is None else f" as process {process_id} of {num_processes}"
        announce(f"joining a multi-process run at {coordinator}{who} (waits for every process) ...")
    try:
        if coordinator == AUTO:
            jax.distributed.initialize(num_processes=num_processes, process_id=process_id)
        else:
            jax.distributed.initialize(coordinator, num_processes, process_id)
    except RuntimeError as e:
        if "before" in str(e).lower():
            raise ValueError("rljax.distributed.initialize() must run before any JAX computation (before making "
                             "envs, configs' arrays or keys)") from None
        raise
    return True


def is_primary() -> bool:
    """True in the process that writes (process 0; the only process of a single-process run)."""
    return jax.process_index() == 0


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_host(tree: Any) -> Any:
    """Every leaf as a whole numpy array, in every process (PRNG keys stay keys, as local arrays).

    With several processes this is a collective: every process must call it, in the same order."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def one(x: Any) -> Any:
        if _is_key(x):
            return jax.random.wrap_key_data(np.asarray(one(jax.random.key_data(x))), impl=jax.random.key_impl(x))
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)


def from_host(host: Any, like: Any) -> Any:
    """``host`` (numpy leaves, e.g. a restored checkpoint; the same in every process) placed with the
    shardings of ``like``'s leaves (a live state); each process fills only its own devices' shards."""
    if jax.process_count() == 1:
        return jax.device_put(host, jax.tree.map(lambda x: x.sharding, like))

    def one(h: Any, x: Any) -> Any:
        if _is_key(x):
            data = one(np.asarray(jax.random.key_data(h)) if _is_key(h) else h, jax.random.key_data(x))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        h = np.asarray(h)
        return jax.make_array_from_callback(h.shape, x.sharding, lambda index: h[index])

    return jax.tree.map(one, host, like)


def any_process(flag: bool) -> bool:
    """True in every process when ``flag`` is true in any of them (a collective with several processes)."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray([bool(flag)]))))


def broadcast_text(text: str | None) -> str:
    """Process 0's ``text`` in every process (the run folder it made, say)."""
    if jax.process_count() == 1:
        return text or ""
    from jax.experimental import multihost_utils

    data = np.zeros(4096, np.uint8)
    encoded = (text or "").encode()[:4096] if is_primary() else b""
    data[:len(encoded)] = np.frombuffer(encoded, np.uint8)
    out = np.asarray(multihost_utils.broadcast_one_to_all(data))
    return bytes(out[out != 0].astype(np.uint8)).decode()


def barrier(name: str) -> None:
    """Wait until every process gets here (no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
