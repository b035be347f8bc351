"""Critic heads: value, twin Q and distributional critics."""

from rljax.critics.value import ValueCritic

__all__ = ["ValueCritic"]
