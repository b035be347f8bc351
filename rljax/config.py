"""Agent configurations that are pytrees: sweepable floats, static structure.

An agent's ``Config`` is a frozen dataclass whose float hyperparameters are
pytree leaves (so ``jax.vmap`` over a stacked config runs a sweep as one
program) and whose structural fields (sizes, counts, widths, which head) are
static metadata (part of the compiled program's identity).

    @config_dataclass
    class Config(ConfigBase):
        num_envs: int = static(64, check=positive)
        learning_rate: float = leaf(3e-4, check=positive)

A field may also hold a nested config (:func:`group`): the settings of one
policy or critic head, of an entropy regulator, ... grouped under its name
(``cfg.gaussian.init_log_std``; ``--gaussian.init-log-std`` on the command
line) instead of flattened into the agent's fields.

Checks run when a config is built or replaced with concrete values, so bad
input fails with a ``ValueError`` naming the field before anything compiles.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence, TypeVar

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


def non_negative_int(value: Any) -> str | None:
    return None if isinstance(value, int) and value >= 0 else "must be an int >= 0"


def valid_episode_length(value: Any) -> str | None:
    """A time limit: ``None`` (the env's own) or a positive int."""
    ok = value is None or (isinstance(value, int) and value > 0)
    return None if ok else "must be None (the env's own limit) or a positive int"


def positive_sizes(value: Any) -> str | None:
    ok = isinstance(value, tuple) and all(isinstance(v, int) and v > 0 for v in value)
    return None if ok else "must be a tuple of positive ints, e.g. (64, 64)"


def static(default: Any, *, check: Check | None = None) -> Any:
    """A structural field: static in the compiled program, not vmappable."""
    return struct.field(pytree_node=False, default=default, metadata={"check": check})


def leaf(default: float, *, check: Check | None = None) -> Any:
    """A float hyperparameter: a pytree leaf, so it can be traced and swept."""
    return struct.field(pytree_node=True, default=default, metadata={"check": check})


def group(default: Any) -> Any:
    """A nested config (a head's or regulator's settings): its own leaves and static fields."""
    if not isinstance(default, ConfigBase):
        raise TypeError(f"group(): expected a config instance, got {type(default).__name__}")
    return struct.field(pytree_node=True, default=default, metadata={"group": True})


def _is_group(f: dataclasses.Field) -> bool:
    return bool(f.metadata.get("group"))


def is_concrete(value: Any) -> bool:
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
            if f.metadata.get("pytree_node", True) and not is_concrete(value):
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
        for i, c in enumerate(configs[1:], start=1):
            if type(c) is not type(first):
                raise ValueError(f"Config.stack: config {i} is a {type(c).__name__}, not {type(first).__name__}")
            for name, a, b in _static_differences(first, c):
                raise ValueError(
                    f"Config.stack: static field {name!r} differs ({a!r} vs {b!r} in config {i}); only float "
                    f"fields can be swept in one program")
        return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x, jnp.float32) for x in xs]), *configs)

    def leaf_names(self) -> list[str]:
        """Dotted names of every float leaf (the sweepable fields), groups included."""
        names = []
        for f in dataclasses.fields(self):
            if _is_group(f):
                names += [f"{f.name}.{n}" for n in getattr(self, f.name).leaf_names()]
            elif f.metadata.get("pytree_node", True):
                names.append(f.name)
        return names

    def get(self, name: str) -> Any:
        """The value of a (dotted) field name, e.g. ``"gaussian.init_log_std"``."""
        value: Any = self
        for part in name.split("."):
            value = getattr(value, part)
        return value

    def replace_path(self: C, name: str, value: Any) -> C:
        """``replace`` for a (dotted) field name; checks run on the new config."""
        head, _, rest = name.partition(".")
        if not rest:
            return self.replace(**{head: value})
        return self.replace(**{head: getattr(self, head).replace_path(rest, value)})

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any]) -> C:
        """The Config that :meth:`to_dict` (and a round trip through JSON) described.

        Unknown keys raise ``ValueError`` naming them (a config.json from another
        version of the agent); missing ones take their defaults.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"{cls.__module__}.{cls.__qualname__} has no field(s) {unknown}")
        kwargs = {}
        for name, value in values.items():
            f = fields[name]
            default = f.default
            if _is_group(f):
                value = type(default).from_dict(value)
            elif isinstance(default, tuple) and isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view (for config.json)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, ConfigBase):
                v = v.to_dict()
            elif isinstance(v, (jax.Array, np.ndarray)):
                v = np.asarray(v).tolist()
            out[f.name] = v
        return out


def _static_differences(a: ConfigBase, b: ConfigBase, prefix: str = "") -> list[tuple[str, Any, Any]]:
    out = []
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if _is_group(f):
            out += _static_differences(x, y, f"{prefix}{f.name}.")
        elif not f.metadata.get("pytree_node", True) and x != y:
            out.append((prefix + f.name, x, y))
    return out


def config_dataclass(cls: type[C]) -> type[C]:
    """Decorator: a frozen flax struct dataclass with ``replace`` and ``stack``."""
    return struct.dataclass(cls, frozen=True)
