"""Rigid-body shapes and the ground plane.

Every number (mass, sizes, optional inertia override) is a pytree leaf, so
``jax.grad`` reaches it; the shape's class is static (it fixes the contact
candidates). Inertia is the diagonal of the principal inertia tensor in the
body frame, derived from mass and size unless given explicitly.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array


def as_leaf(x: Any) -> Any:
    """Python numbers / sequences become float64 numpy arrays; arrays and tracers pass."""
    if isinstance(x, (bool,)):
        return x
    if isinstance(x, (int, float)):
        return np.asarray(x, dtype=np.float64)
    if isinstance(x, (list, tuple)):
        if any(isinstance(e, jax.Array) for e in jax.tree.leaves(x)):
            return jnp.asarray(x)  # e.g. a tuple of tracers built inside a traced function
        return np.asarray(x, dtype=np.float64)
    return x


def concrete(x: Any) -> Optional[np.ndarray]:
    """The value of ``x`` as a numpy array if it is concrete data, else ``None``."""
    if isinstance(x, jax.core.Tracer):
        return None
    if isinstance(x, (np.ndarray, np.generic, int, float, jax.Array)):
        try:
            return np.asarray(x, dtype=np.float64)
        except Exception:  # noqa: BLE001 - deleted/abstract arrays: skip validation
            return None
    return None


def check_positive(name: str, x: Any) -> None:
    """Raise ``ValueError`` if concrete ``x`` has a non-finite or non-positive entry."""
    v = concrete(x)
    if v is None:
        return
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {v}")


def _check_shape(name: str, x: Any, shape: tuple) -> None:
    v = concrete(x)
    if v is None:
        return
    # Leading axes are allowed: stacked worlds are how one vmaps over parameters.
    if v.shape[v.ndim - len(shape):] != shape or v.ndim < len(shape):
        raise ValueError(f"{name} must have shape {shape}, got {v.shape}")


def register_pytree(cls, data_fields, meta_fields=()):
    """Register a frozen dataclass whose unflattening skips ``__init__``.

    Validation belongs to user construction only: JAX rebuilds these objects from
    tracers, batching specs and cotangents (a gradient w.r.t. a size may well be
    negative), none of which must be checked or converted.
    """
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)

    def flatten_with_keys(x):
        keys = [(jax.tree_util.GetAttrKey(f), getattr(x, f)) for f in data_fields]
        return keys, tuple(getattr(x, m) for m in meta_fields)

    def flatten(x):
        return [getattr(x, f) for f in data_fields], tuple(getattr(x, m) for m in meta_fields)

    def unflatten(meta, data):
        obj = object.__new__(cls)
        for name, value in zip(data_fields + meta_fields, tuple(data) + tuple(meta)):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def _register(cls):
    return register_pytree(cls, [f.name for f in dataclasses.fields(cls)])


class _Shape:
    """Common interface: ``mass`` (scalar leaf) and ``principal_inertia() -> [3]``."""

    mass: Any
    inertia: Any

    def _init_common(self) -> None:
        object.__setattr__(self, "mass", as_leaf(self.mass))
        object.__setattr__(self, "inertia", as_leaf(self.inertia))
        check_positive(f"{type(self).__name__}.mass", self.mass)
        if self.inertia is not None:
            _check_shape(f"{type(self).__name__}.inertia", self.inertia, (3,))
            check_positive(f"{type(self).__name__}.inertia", self.inertia)

    def principal_inertia(self) -> Array:
        if self.inertia is not None:
            return jnp.asarray(self.inertia)
        return self._default_inertia()

    def _default_inertia(self) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError


@_register
@dataclasses.dataclass(frozen=True)
class Sphere(_Shape):
    """Solid sphere. ``radius``: scalar; ``mass``: scalar; ``inertia``: optional [3]."""

    radius: Any = 0.1
    mass: Any = 1.0
    inertia: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "radius", as_leaf(self.radius))
        check_positive("Sphere.radius", self.radius)
        self._init_common()

    def _default_inertia(self) -> Array:
        i = 0.4 * jnp.asarray(self.mass) * jnp.asarray(self.radius) ** 2
        return jnp.stack([i, i, i])


@_register
@dataclasses.dataclass(frozen=True)
class Box(_Shape):
    """Solid box. ``half_extents``: [3] (body x, y, z); contacts at its 8 corners."""

    half_extents: Any = (0.25, 0.25, 0.25)
    mass: Any = 1.0
    inertia: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "half_extents", as_leaf(self.half_extents))
        _check_shape("Box.half_extents", self.half_extents, (3,))
        check_positive("Box.half_extents", self.half_extents)
        self._init_common()

    def _default_inertia(self) -> Array:
        h2 = jnp.asarray(self.half_extents) ** 2
        m = jnp.asarray(self.mass)
        return m / 3.0 * jnp.stack([h2[1] + h2[2], h2[0] + h2[2], h2[0] + h2[1]])

    def corners(self) -> Array:
        """The 8 corners in the body frame, ``[8, 3]``."""
        signs = jnp.asarray(
            [[sx, sy, sz] for sx in (-1.0, 1.0) for sy in (-1.0, 1.0) for sz in (-1.0, 1.0)]
        )
        return signs * jnp.asarray(self.half_extents)


@_register
@dataclasses.dataclass(frozen=True)
class Capsule(_Shape):
    """Capsule along the body z axis: segment of half length ``half_length`` swept by ``radius``."""

    radius: Any = 0.05
    half_length: Any = 0.2
    mass: Any = 1.0
    inertia: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "radius", as_leaf(self.radius))
        object.__setattr__(self, "half_length", as_leaf(self.half_length))
        check_positive("Capsule.radius", self.radius)
        check_positive("Capsule.half_length", self.half_length)
        self._init_common()

    def _default_inertia(self) -> Array:
        # Uniform density over a cylinder plus two hemispherical caps.
        r, half, m = (jnp.asarray(v) for v in (self.radius, self.half_length, self.mass))
        v_cyl = jnp.pi * r**2 * 2.0 * half
        v_sph = 4.0 / 3.0 * jnp.pi * r**3
        m_cyl = m * v_cyl / (v_cyl + v_sph)
        m_hemi = 0.5 * m * v_sph / (v_cyl + v_sph)
        i_axis = 0.5 * m_cyl * r**2 + 2.0 * m_hemi * 0.4 * r**2
        # Each cap: own-centroid moment 83/320 m r^2, centroid 3r/8 beyond the segment end.
        i_perp = m_cyl * (r**2 / 4.0 + (2.0 * half) ** 2 / 12.0) + 2.0 * m_hemi * (
            83.0 / 320.0 * r**2 + (half + 3.0 * r / 8.0) ** 2
        )
        return jnp.stack([i_perp, i_perp, i_axis])


@_register
@dataclasses.dataclass(frozen=True)
class Plane:
    """Static half-space ``{p : normal . p >= offset}``; ``normal`` [3] is normalised on use."""

    normal: Any = (0.0, 0.0, 1.0)
    offset: Any = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", as_leaf(self.normal))
        object.__setattr__(self, "offset", as_leaf(self.offset))
        _check_shape("Plane.normal", self.normal, (3,))
        v = concrete(self.normal)
        if v is not None and np.any(np.linalg.norm(v, axis=-1) == 0):
            raise ValueError("Plane.normal must be non-zero")

    def unit_normal(self) -> Array:
        n = jnp.asarray(self.normal)
        return n / jnp.linalg.norm(n)


Shape = (Sphere, Box, Capsule)
