"""One registry of policy heads: agents choose a head by name, never by if/else.

    head = registry.make("gaussian", action_size=6, hidden_sizes=(64, 64), activation="tanh",
                         settings=GaussianSettings(init_log_std=-1.0))
    registry.register("my_head", HeadSpec(build=MyHead.build, settings=MySettings, discrete=False,
                                          reparameterized=False))

An agent's Config names its head (``policy="gaussian"``) and holds that
head's settings in a group named after it (``cfg.gaussian``); a head whose
group the Config lacks gets its settings' defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from rljax.config import ConfigBase
from rljax.registry import Registry
from rljax.policies.base import PolicyHead
from rljax.policies.categorical import CategoricalHead, CategoricalSettings
from rljax.policies.diffusion import DiffusionHead, DiffusionSettings
from rljax.policies.flow import FlowHead, FlowSettings
from rljax.policies.gaussian import GaussianHead, GaussianSettings
from rljax.policies.tanh_gaussian import TanhGaussianHead, TanhGaussianSettings

Build = Callable[[int, tuple[int, ...], str, Any], PolicyHead]


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """How to build one kind of head.

    ``build(action_size, hidden_sizes, activation, settings) -> PolicyHead``;
    ``settings``: its settings config class; ``discrete``: the action space it
    serves (index actions or float vectors); ``reparameterized``: its samples
    are differentiable in the params (what off-policy actors need).
    """

    build: Build
    settings: type[ConfigBase]
    discrete: bool
    reparameterized: bool


HEADS: Registry[HeadSpec] = Registry("policy head", field="policy")
register, names, get, settings_of = HEADS.register, HEADS.names, HEADS.get, HEADS.settings_of


def make(name: str, *, action_size: int, hidden_sizes: tuple[int, ...], activation: str,
         settings: ConfigBase | None = None) -> PolicyHead:
    """Build head ``name`` for ``action_size`` actions on an MLP torso."""
    spec = get(name)
    return spec.build(action_size, hidden_sizes, activation, spec.settings() if settings is None else settings)


register("gaussian", HeadSpec(
    build=lambda n, sizes, act, s: GaussianHead(n, sizes, act, s.init_log_std),
    settings=GaussianSettings, discrete=False, reparameterized=True))
register("tanh_gaussian", HeadSpec(
    build=lambda n, sizes, act, s: TanhGaussianHead(n, sizes, act, s.log_std_min, s.log_std_max),
    settings=TanhGaussianSettings, discrete=False, reparameterized=True))
register("categorical", HeadSpec(
    build=lambda n, sizes, act, s: CategoricalHead(n, sizes, act),
    settings=CategoricalSettings, discrete=True, reparameterized=False))
register("flow", HeadSpec(
    build=lambda n, sizes, act, s: FlowHead(n, sizes, act, s.num_steps, s.integrator, s.num_mc, s.target,
                                            s.time_embed_dim, s.noise_std, s.squash,
                                            s.ratio),
    settings=FlowSettings, discrete=False, reparameterized=True))
register("diffusion", HeadSpec(
    build=lambda n, sizes, act, s: DiffusionHead(n, sizes, act, s.num_steps, s.finetune_steps, s.min_std,
                                                 s.denoised_clip, s.time_embed_dim, s.mode,
                                                 s.clip_gradient),
    settings=DiffusionSettings, discrete=False, reparameterized=True))
