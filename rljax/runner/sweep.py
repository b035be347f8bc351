"""Hyperparameter sweeps as one program: float Config fields, one stacked Config.

    sweep = parse_sweep(["learning-rate=1e-4,3e-4,1e-3"], cfg)   # {"learning_rate": [1e-4, 3e-4, 1e-3]}
    configs, labels = expand(cfg, sweep)                         # one Config per value (product over fields)

Only float leaves can be swept together (structural fields change the
program); nested settings are named with dots (``gaussian.init-log-std``).
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping, Sequence

from rljax.config import ConfigBase


def _field_name(text: str) -> str:
    return text.strip().lstrip("-").replace("-", "_")


def parse_sweep(items: Sequence[str], cfg: ConfigBase) -> dict[str, list[float]]:
    """``["FIELD=v1,v2,...", ...]`` -> ``{field: [v1, v2, ...]}``; errors name the bad item."""
    sweep: dict[str, list[float]] = {}
    leaves = cfg.leaf_names()
    for item in items:
        name, sep, values = item.partition("=")
        field = _field_name(name)
        if not sep or not field or not values.strip():
            raise ValueError(f"--sweep {item!r}: expected FIELD=v1,v2,... (e.g. learning-rate=1e-4,3e-4)")
        if field not in leaves:
            try:
                cfg.get(field)
            except AttributeError:
                raise ValueError(f"--sweep {item!r}: {type(cfg).__qualname__} has no field {field!r}; float fields "
                                 f"that can be swept: {leaves}") from None
            raise ValueError(f"--sweep {item!r}: {field!r} is structural (it shapes the compiled program), so it "
                             f"cannot be swept in one program; float fields that can: {leaves}")
        try:
            parsed = [float(v) for v in values.split(",")]
        except ValueError:
            raise ValueError(f"--sweep {item!r}: values must be numbers separated by commas") from None
        if len(set(parsed)) != len(parsed):
            raise ValueError(f"--sweep {item!r}: values repeat")
        if field in sweep:
            raise ValueError(f"--sweep {item!r}: {field!r} is swept twice")
        sweep[field] = parsed
    return sweep


def expand(cfg: ConfigBase, sweep: Mapping[str, Sequence[float]]) -> tuple[list[Any], list[str]]:
    """One Config per combination of swept values (checked as it is built) and its label
    (``"learning_rate=0.001"``); without a sweep, ``[cfg]`` and ``[""]``."""
    if not sweep:
        return [cfg], [""]
    fields = list(sweep)
    configs, labels = [], []
    for values in itertools.product(*(sweep[f] for f in fields)):
        c = cfg
        for field, value in zip(fields, values):
            c = c.replace_path(field, value)
        configs.append(c)
        labels.append(",".join(f"{f}={v:g}" for f, v in zip(fields, values)))
    return configs, labels
