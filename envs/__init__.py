"""The rljax environment suite: concrete envs on rljax's env protocol (:mod:`rljax.env`).

    env = envs.make("cartpole")
    env = envs.make("brax/hopper", backend="mjx")
    envs.names()
    envs.parameters("brax/hopper")  # every keyword it is built with, defaults included
"""

from envs.registry import make, names, parameters, register

__all__ = ["make", "names", "parameters", "register"]
