"""Critic heads: value, twin Q and distributional critics."""

from rljax.critics.value import ValueCritic

__all__ = ["ValueCritic"]
from rljax.critics.categorical import CategoricalCritic, categorical_projection  # noqa: E402
from rljax.critics.gaussian import GaussianCritic, dsac_t_loss  # noqa: E402
from rljax.critics.q import TwinQCritic  # noqa: E402
from rljax.critics.quantile import QuantileCritic, quantile_huber_loss  # noqa: E402

__all__ += ["TwinQCritic", "GaussianCritic", "QuantileCritic", "CategoricalCritic", "categorical_projection",
            "dsac_t_loss", "quantile_huber_loss"]
