"""Critic heads behind two contracts (:mod:`rljax.critics.base`): state values,
and action-value heads with their own TD loss, chosen by name through one
registry (:mod:`rljax.critics.registry`)."""

from rljax.critics import registry
from rljax.critics.base import CriticHead, EnsembleCritic, ValueHead, soft_td_target
from rljax.critics.categorical import C51Settings, CategoricalCritic, categorical_projection
from rljax.critics.gaussian import GaussianCritic, GaussianCriticSettings, dsac_t_loss
from rljax.critics.q import TwinQCritic, TwinQSettings
from rljax.critics.quantile import QuantileCritic, QuantileCriticSettings, quantile_huber_loss
from rljax.critics.value import ValueCritic

__all__ = ["registry", "CriticHead", "ValueHead", "EnsembleCritic", "soft_td_target", "ValueCritic",
           "TwinQCritic", "TwinQSettings", "GaussianCritic", "GaussianCriticSettings", "dsac_t_loss",
           "QuantileCritic", "QuantileCriticSettings", "quantile_huber_loss", "CategoricalCritic", "C51Settings",
           "categorical_projection"]
