"""``make(name, **kwargs)`` and ``names()`` over every env rljax ships."""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable

from rljax.env import Env

_FACTORIES: dict[str, Callable[..., Env]] = {}
_BRAX_BACKENDS = ("generalized", "positional", "spring", "mjx")
# Keyword arguments every brax PipelineEnv forwards to its base class.
_BRAX_PIPELINE_KWARGS = ("backend", "n_frames", "debug")


def register(name: str, factory: Callable[..., Env]) -> None:
    """Register ``factory(**kwargs) -> Env`` under ``name``."""
    if name in _FACTORIES:
        raise ValueError(f"env {name!r} is already registered")
    _FACTORIES[name] = factory


# brax's registry also holds envs that exist only for brax's own unit tests ("Gotta go fast! This
# trivial Env is for unit testing."): makeable as brax/<name>, never listed by names().
BRAX_TEST_ONLY = ("fast",)


def _brax_names() -> list[str]:
    """Every env in brax's registry, its test-only ones included."""
    from brax import envs as brax_envs

    return sorted(brax_envs._envs)  # brax keeps its registry in this module-level dict


def names() -> list[str]:
    """Every env name to train on, sorted (brax's test-only envs, e.g. brax/fast, are left out)."""
    _ensure_registered()
    return sorted(list(_FACTORIES) + [f"brax/{n}" for n in _brax_names() if n not in BRAX_TEST_ONLY])


def _check_kwargs(name: str, kwargs: dict[str, Any], accepted: list[str]) -> None:
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"env {name!r} does not take {unknown}; it takes {sorted(accepted)}")


def _accepted_by(name: str, factory: Callable[..., Any]) -> list[str]:
    """The keyword arguments ``make(name, ...)`` takes: the factory's own, and for a brax env that
    forwards ``**kwargs`` to its PipelineEnv without naming ``backend``, the PipelineEnv's."""
    accepted = list(_signature_parameters(factory))
    if name.startswith("brax/") and "backend" not in accepted and any(
            p.kind == p.VAR_KEYWORD for p in inspect.signature(factory.__init__).parameters.values()):
        accepted += list(_BRAX_PIPELINE_KWARGS)
    return accepted


def _make_brax(short_name: str, kwargs: dict[str, Any]) -> Env:
    from brax import envs as brax_envs

    cls = brax_envs._envs[short_name]
    _check_kwargs(f"brax/{short_name}", kwargs, _accepted_by(f"brax/{short_name}", cls))
    backend = kwargs.get("backend")
    if backend is not None and backend not in _BRAX_BACKENDS:
        raise ValueError(f"env 'brax/{short_name}': backend={backend!r}; must be one of {list(_BRAX_BACKENDS)}")
    env = cls(**kwargs)
    env.default_episode_length = 1000
    # brax resets are costly (a forward pass of the physics); reuse the first
    # state on auto-reset, as brax's own training wrapper does.
    env.fresh_reset = False
    env.discrete_actions = False
    return env


def _factory(name: str) -> Callable[..., Any]:
    """What builds the env ``name`` (a brax env's class for ``brax/<name>``); ``ValueError`` for an
    unknown name."""
    _ensure_registered()
    if name.startswith("brax/"):
        short = name[len("brax/"):]
        if short not in _brax_names():
            raise ValueError(f"unknown env {name!r}; valid names: {names()}")
        from brax import envs as brax_envs

        return brax_envs._envs[short]
    if name.startswith("playground/") and name not in _FACTORIES:
        from envs.playground import unknown_name_error

        raise unknown_name_error(name)
    if name not in _FACTORIES:
        raise ValueError(f"unknown env {name!r}; valid names: {names()}")
    return _FACTORIES[name]


def _signature_parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    signature = inspect.signature(factory.__init__ if inspect.isclass(factory) else factory)
    return {p: v for p, v in signature.parameters.items()
            if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)}


def _recordable(value: Any) -> Any:
    """``value`` as strict JSON holds it: tuples as lists, inf/nan as strings, anything else as its repr."""
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [_recordable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _recordable(v) for k, v in value.items()}
    return repr(value)


def parameters(name: str, **kwargs: Any) -> dict[str, Any]:
    """Every keyword argument ``make(name, **kwargs)`` builds the env with: the given ones and the
    factory's defaults for the rest, as JSON (tuples as lists, ``inf`` as ``"inf"``, other objects
    as their repr). A run records them, so that a later change of an env's defaults is visible.

    Raises ``ValueError`` for an unknown name or keyword, as ``make`` does; imports the env's
    module only to read its signature (builds nothing).
    """
    factory = _factory(name)
    signature = _signature_parameters(factory)
    _check_kwargs(name, kwargs, _accepted_by(name, factory))
    values = {p: v.default for p, v in signature.items() if v.default is not inspect.Parameter.empty}
    return {k: _recordable(v) for k, v in {**values, **kwargs}.items()}


def make(name: str, **kwargs: Any) -> Env:
    """Build an env by name: ``"cartpole"``, ``"pendulum"``, ``"brax/<name>"``, ...

    Returns a single (unbatched) env following brax's ``Env``/``State``
    protocol, without a time limit; trainers add one (``default_episode_length``
    unless configured) together with auto-reset and vectorisation. brax's
    test-only envs (``"brax/fast"``) can be made, though ``names()`` leaves them out.
    """
    factory = _factory(name)
    if name.startswith("brax/"):
        return _make_brax(name[len("brax/"):], kwargs)
    _check_kwargs(name, kwargs, _accepted_by(name, factory))
    return factory(**kwargs)


_registered = False


def _ensure_registered() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    from envs.classic import CartPole, Pendulum
    from envs.classic.bandit import BimodalBandit

    register("cartpole", CartPole)
    register("pendulum", Pendulum)
    register("bandit/bimodal", BimodalBandit)
    register("bandit/bimodal_unequal", lambda centre=0.6, width=0.1, height_plus=1.0, height_minus=0.8:
             BimodalBandit(centre, width, height_plus, height_minus))
    from envs.playground import register_all as register_playground

    register_playground(register)  # names only; building one imports mujoco_playground (the playground extra)
    import importlib.util

    # The contact suite registers itself when it is present (a real package,
    # not an empty namespace directory).
    spec = importlib.util.find_spec("envs.contact")
    if spec is not None and spec.origin is not None:
        from envs.contact import register_all

        register_all(register)
