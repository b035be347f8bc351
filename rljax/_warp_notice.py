"""Import MuJoCo MJX without its notice about the optional Warp backend.

``mujoco/mjx/warp/__init__.py`` (imported by ``mujoco.mjx``, which brax
imports) tries ``import warp`` and, when the optional ``warp-lang`` package is
not installed, ``print``s to stdout::

    Failed to import warp: No module named 'warp'
    Failed to import mujoco_warp: No module named 'warp'

rljax never uses Warp (MJX's pure-JAX pipeline needs none), so every command
would print those two lines for nothing. :func:`import_mjx` imports
``mujoco.mjx`` once, dropping exactly those lines from stdout; every other
line, including a failure of an installed Warp, gets through.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import sys
from typing import TextIO

# The two lines MJX prints when the warp module is absent, and nothing else.
NOTICE = re.compile(r"Failed to import (mujoco_)?warp: No module named 'warp(\.[\w.]+)?'")


class DropWarpNotice(io.TextIOBase):
    """A stdout that forwards every line to ``out`` except MJX's missing-Warp notice."""

    def __init__(self, out: TextIO):
        self._out = out
        self._line = ""

    def write(self, text: str) -> int:
        self._line += text
        *lines, self._line = self._line.split("\n")
        for line in lines:
            if not NOTICE.fullmatch(line):
                self._out.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        """Forward an unfinished line as it is (only a whole line can be the notice)."""
        if self._line:
            self._out.write(self._line)
            self._line = ""
        self._out.flush()


def import_mjx() -> None:
    """Import ``mujoco.mjx`` (if not yet imported) without the missing-Warp notice.

    An ``ImportError`` is left to whoever imports MJX next, which raises it
    as usual.
    """
    if "mujoco.mjx" in sys.modules or sys.stdout is None:
        return
    quiet = DropWarpNotice(sys.stdout)
    try:
        with contextlib.redirect_stdout(quiet):
            importlib.import_module("mujoco.mjx")
    except ImportError:
        pass
    finally:
        quiet.flush()
