"""The rljax environment suite: concrete envs on rljax's env protocol (:mod:`rljax.env`).

    env = envs.make("cartpole")
    env = envs.make("brax/hopper", backend="mjx")
    envs.names()
"""

from envs.registry import make, names, register

__all__ = ["make", "names", "register"]
