"""Stopping a run cleanly on SIGTERM / SIGINT.

The first signal asks the run to stop at the next chunk boundary, after its
checkpoint; a second one exits at once (the last finished checkpoint is
intact: saves are atomic). A compiled chunk cannot be interrupted, so the
runner waits for it in Python (:func:`wait_until_ready`), where the handlers
run, rather than inside XLA.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import Any, Callable

import jax


class RunInterrupted(Exception):
    """A run stopped by a signal after checkpointing; ``exit_code`` is 128 + the signal's number."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_code = 128 + signal_number


class StopRequest:
    """Context manager: while active, SIGTERM and SIGINT set :attr:`signal_name` instead of killing."""

    def __init__(self, announce: Callable[[str], None] = print):
        self.signal_number: int | None = None
        self._announce = announce
        self._previous: dict[int, Any] = {}

    @property
    def signal_name(self) -> str | None:
        return None if self.signal_number is None else signal.Signals(self.signal_number).name

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.signal_number is not None:
            os._exit(128 + number)  # the second signal: at once
        self.signal_number = number
        self._announce(f"{signal.Signals(number).name}: stopping after this chunk and its checkpoint "
                       f"(send it again to stop at once)")

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for number in (signal.SIGTERM, signal.SIGINT):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def wait_until_ready(tree: Any, poll_seconds: float = 0.02) -> None:
    """Block until every array of ``tree`` is computed, in Python, so signal handlers run meanwhile."""
    leaves = [jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
              for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)]
    while not all(x.is_ready() for x in leaves):
        time.sleep(poll_seconds)
