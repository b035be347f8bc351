"""Policy heads behind one contract (:mod:`rljax.policies.base`), chosen by name
through one registry (:mod:`rljax.policies.registry`)."""

from rljax.policies import registry
from rljax.policies.base import PolicyHead
from rljax.policies.categorical import CategoricalHead, CategoricalSettings
from rljax.policies.diffusion import DiffusionHead, DiffusionSettings
from rljax.policies.flow import FlowHead, FlowSettings
from rljax.policies.gaussian import GaussianHead, GaussianSettings
from rljax.policies.tanh_gaussian import TanhGaussianHead, TanhGaussianSettings

__all__ = ["PolicyHead", "registry", "CategoricalHead", "CategoricalSettings", "GaussianHead", "GaussianSettings",
           "TanhGaussianHead", "TanhGaussianSettings", "FlowHead", "FlowSettings", "DiffusionHead",
           "DiffusionSettings"]
