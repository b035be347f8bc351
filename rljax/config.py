"""Agent configurations that are pytrees: sweepable floats, static structure.

An agent's ``Config`` is a frozen dataclass whose float hyperparameters are
pytree leaves (so ``jax.vmap`` over a stacked config runs a sweep as one
program) and whose structural fields (sizes, counts, widths, which head) are
static metadata (part of the compiled program's identity).

    @config_dataclass
    class Config(ConfigBase):
        num_envs: int = static(64, check=positive)
        learning_rate: float = leaf(3e-4, check=positive)

Checks run when a config is built or replaced with concrete values, so bad
input fails with a ``ValueError`` naming the field before anything compiles.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

Check = Callable[[Any], "str | None"]
C = TypeVar("C", bound="ConfigBase")


def positive(value: Any) -> str | None:
    return None if np.all(np.asarray(value) > 0) else "must be > 0"


def non_negative(value: Any) -> str | None:
    return None if np.all(np.asarray(value) >= 0) else "must be >= 0"


def unit_interval(value: Any) -> str | None:
    v = np.asarray(value)
    return None if np.all((v >= 0) & (v <= 1)) else "must be in [0, 1]"


def one_of(*allowed: Any) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {list(allowed)}"

    return check


def positive_sizes(value: Any) -> str | None:
    ok = isinstance(value, tuple) and all(isinstance(v, int) and v > 0 for v in value)
    return None if ok else "must be a tuple of positive ints, e.g. (64, 64)"


def static(default: Any, *, check: Check | None = None) -> Any:
    """A structural field: static in the compiled program, not vmappable."""
    return struct.field(pytree_node=False, default=default, metadata={"check": check})


def leaf(default: float, *, check: Check | None = None) -> Any:
    """A float hyperparameter: a pytree leaf, so it can be traced and swept."""
    return struct.field(pytree_node=True, default=default, metadata={"check": check})


def _is_concrete(value: Any) -> bool:
    if isinstance(value, jax.core.Tracer):
        return False
    try:
        np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False  # placeholders jax passes through while unflattening
    return True


class ConfigBase:
    """Mixin for agent configs built with :func:`config_dataclass`."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check = f.metadata.get("check")
            value = getattr(self, f.name)
            if check is None:
                continue
            if f.metadata.get("pytree_node", True) and not _is_concrete(value):
                continue
            problem = check(value)
            if problem:
                raise ValueError(
                    f"{type(self).__module__}.{type(self).__qualname__}.{f.name}={value!r}: {problem}"
                )
        self._check_consistency()

    def _check_consistency(self) -> None:
        """Cross-field checks; override in subclasses."""

    def check_env(self, env: Any) -> None:
        """Raise ``ValueError`` if ``env`` does not suit this config; override in subclasses."""

    @classmethod
    def check_args(cls, env: Any, cfg: Any) -> None:
        """What every agent's ``init`` runs first, before anything compiles: ``cfg`` must be a
        ``cls`` (or a preset subclass of it) and must suit ``env``."""
        if not isinstance(cfg, cls):
            name = f"{cls.__module__.removesuffix('.config')}.{cls.__qualname__}"
            raise ValueError(f"cfg must be {name} (or a preset of it), got {type(cfg).__name__}")
        cfg.check_env(env)

    @classmethod
    def stack(cls: type[C], configs: Sequence[C]) -> C:
        """Stack configs that differ only in float leaves, for ``jax.vmap``.

        Returns one config whose leaves have a leading axis of ``len(configs)``.
        """
        if not configs:
            raise ValueError("Config.stack needs at least one config")
        first = configs[0]
        static_names = [f.name for f in dataclasses.fields(first) if not f.metadata.get("pytree_node", True)]
        for i, c in enumerate(configs[1:], start=1):
            if type(c) is not type(first):
                raise ValueError(f"Config.stack: config {i} is a {type(c).__name__}, not {type(first).__name__}")
            for name in static_names:
                if getattr(c, name) != getattr(first, name):
                    raise ValueError(
                        f"Config.stack: static field {name!r} differs ({getattr(first, name)!r} vs "
                        f"{getattr(c, name)!r} in config {i}); only float fields can be swept in one program"
                    )
        return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x, jnp.float32) for x in xs]), *configs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view (for config.json)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (jax.Array, np.ndarray)):
                v = np.asarray(v).tolist()
            out[f.name] = v
        return out


def config_dataclass(cls: type[C]) -> type[C]:
    """Decorator: a frozen flax struct dataclass with ``replace`` and ``stack``."""
    return struct.dataclass(cls, frozen=True)
