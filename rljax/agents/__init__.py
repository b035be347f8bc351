"""Agents: each module follows the :class:`rljax.training.Agent` contract
(``Config``, ``init``, ``update``, ``train``, ``make_policy``, ``policy_params``)
and exports ``Result``. Modules load on first use."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("_") or importlib.util.find_spec(f"rljax.agents.{name}") is None:
        raise AttributeError(f"rljax.agents has no agent {name!r}")
    return importlib.import_module(f"rljax.agents.{name}")


def __dir__() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
