"""Named parts a Config chooses by name (policy heads, critic heads, ...).

    HEADS = Registry("policy head", field="policy")
    HEADS.register("gaussian", HeadSpec(...))
    HEADS.get(cfg.policy)                 # ValueError listing the registered names when unknown
    HEADS.settings_of(cfg, "gaussian")    # the Config's settings group of that name, or the defaults

Each spec has a ``settings`` attribute: the config class of that part's own
settings, which a Config holds in a group named after the part.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

S = TypeVar("S")


class Registry(Generic[S]):
    """name -> spec, for one kind of part."""

    def __init__(self, kind: str, field: str):
        self.kind, self.field = kind, field
        self._specs: dict[str, S] = {}

    def register(self, name: str, spec: S) -> None:
        """Add a part under ``name``; Configs can then select it with ``<field>=name``."""
        if name in self._specs:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._specs[name] = spec

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._specs))

    def get(self, name: str) -> S:
        if name not in self._specs:
            raise ValueError(f"{self.field}={name!r}: unknown {self.kind}; registered: {list(self.names())}")
        return self._specs[name]

    def check(self, value: Any) -> str | None:
        """A Config field check: ``value`` must be a registered name."""
        return None if value in self._specs else f"must be a registered {self.kind}: {list(self.names())}"

    def settings_of(self, cfg: Any, name: str) -> Any:
        """The settings of part ``name`` in ``cfg`` (its group of that name), or the part's defaults."""
        settings_class = self.get(name).settings  # type: ignore[attr-defined]
        settings = getattr(cfg, name, None)
        return settings if isinstance(settings, settings_class) else settings_class()
