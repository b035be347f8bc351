"""One registry of action-value critic heads: the off-policy loop chooses one by name.

    critic = registry.make("quantile", hidden_sizes=(256, 256), activation="relu", num_critics=2,
                           settings=QuantileCriticSettings(num_quantiles=25))

An agent's Config names its critic (``critic="gaussian"``) and holds that
critic's settings in a group named after it (``cfg.gaussian``); a critic
whose group the Config lacks gets its settings' defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from rljax.config import ConfigBase
from rljax.registry import Registry
from rljax.critics.base import CriticHead
from rljax.critics.categorical import C51Settings, CategoricalCritic
from rljax.critics.gaussian import GaussianCritic, GaussianCriticSettings
from rljax.critics.q import TwinQCritic, TwinQSettings
from rljax.critics.quantile import QuantileCritic, QuantileCriticSettings

Build = Callable[[tuple[int, ...], str, int, Any], CriticHead]


@dataclasses.dataclass(frozen=True)
class CriticSpec:
    """``build(hidden_sizes, activation, num_critics, settings) -> CriticHead``; ``settings``: its config class."""

    build: Build
    settings: type[ConfigBase]


CRITICS: Registry[CriticSpec] = Registry("critic head", field="critic")
register, names, get, settings_of = CRITICS.register, CRITICS.names, CRITICS.get, CRITICS.settings_of


def make(name: str, *, hidden_sizes: tuple[int, ...], activation: str, num_critics: int,
         settings: ConfigBase | None = None) -> CriticHead:
    spec = get(name)
    return spec.build(hidden_sizes, activation, num_critics, spec.settings() if settings is None else settings)


register("twin_q", CriticSpec(
    build=lambda sizes, act, n, s: TwinQCritic(sizes, act, n), settings=TwinQSettings))
register("gaussian", CriticSpec(
    build=lambda sizes, act, n, s: GaussianCritic(
        sizes, act, n, std_floor=s.std_floor, eps=s.eps, bound_sigmas=s.bound_sigmas, sample_clip=s.sample_clip,
        tau_b=s.tau_b, huber_ratio=s.huber_ratio, huber_delta=s.huber_delta),
    settings=GaussianCriticSettings))
register("quantile", CriticSpec(
    build=lambda sizes, act, n, s: QuantileCritic(sizes, act, n, num_quantiles=s.num_quantiles,
                                                  drop_per_critic=s.drop_per_critic, kappa=s.kappa),
    settings=QuantileCriticSettings))
register("c51", CriticSpec(
    build=lambda sizes, act, n, s: CategoricalCritic(sizes, act, n, num_atoms=s.num_atoms, v_min=s.v_min,
                                                     v_max=s.v_max),
    settings=C51Settings))
