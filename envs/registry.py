"""``make(name, **kwargs)`` and ``names()`` over every env rljax ships."""

from __future__ import annotations

import inspect
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


def _accepted_kwargs(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return [p for p, v in params.items() if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)]


def _check_kwargs(name: str, kwargs: dict[str, Any], accepted: list[str]) -> None:
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"env {name!r} does not take {unknown}; it takes {sorted(accepted)}")


def _make_brax(short_name: str, kwargs: dict[str, Any]) -> Env:
    from brax import envs as brax_envs

    cls = brax_envs._envs[short_name]
    accepted = _accepted_kwargs(cls)
    if "backend" not in accepted and any(
            p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()):
        accepted += list(_BRAX_PIPELINE_KWARGS)
    _check_kwargs(f"brax/{short_name}", kwargs, accepted)
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


def make(name: str, **kwargs: Any) -> Env:
    """Build an env by name: ``"cartpole"``, ``"pendulum"``, ``"brax/<name>"``, ...

    Returns a single (unbatched) env following brax's ``Env``/``State``
    protocol, without a time limit; trainers add one (``default_episode_length``
    unless configured) together with auto-reset and vectorisation. brax's
    test-only envs (``"brax/fast"``) can be made, though ``names()`` leaves them out.
    """
    _ensure_registered()
    if name.startswith("brax/"):
        short = name[len("brax/"):]
        if short not in _brax_names():
            raise ValueError(f"unknown env {name!r}; valid names: {names()}")
        return _make_brax(short, kwargs)
    if name.startswith("playground/") and name not in _FACTORIES:
        from envs.playground import unknown_name_error

        raise unknown_name_error(name)
    if name not in _FACTORIES:
        raise ValueError(f"unknown env {name!r}; valid names: {names()}")
    factory = _FACTORIES[name]
    accepted = _accepted_kwargs(factory) if inspect.isclass(factory) else [
        p for p, v in inspect.signature(factory).parameters.items() if v.kind != v.VAR_KEYWORD]
    _check_kwargs(name, kwargs, accepted)
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
