"""rljax: pure-function RL agents compiled together with vectorised envs.

    from rljax import agents, evaluate
    result = jax.jit(agents.ppo.train, static_argnums=0)(env, cfg, key)

Submodules (``agents``, ``contact``, ...) load on first use, so importing
rljax stays cheap and the float64 contact solver loads only when asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from rljax._warp_notice import import_mjx

import_mjx()  # before anything imports brax: MJX's notice that the optional warp is absent, silenced

from rljax.evaluate import evaluate  # noqa: E402

__all__ = ["agents", "contact", "critics", "policies", "evaluate"]
_SUBMODULES = {"agents", "checkpoint", "config", "contact", "critics", "env", "nets", "policies", "replay",
               "returns", "runner", "running_stats", "training"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"rljax.{name}")
    raise AttributeError(f"module 'rljax' has no attribute {name!r}")
