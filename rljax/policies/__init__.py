"""Policy heads behind one interface (see :mod:`rljax.policies.base`)."""

from rljax.policies.base import PolicyHead
from rljax.policies.categorical import CategoricalHead
from rljax.policies.gaussian import GaussianHead

__all__ = ["PolicyHead", "CategoricalHead", "GaussianHead"]
from rljax.policies.tanh_gaussian import TanhGaussianHead  # noqa: E402

__all__ += ["TanhGaussianHead"]
