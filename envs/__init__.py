"""The rljax environment suite behind one functional interface.

    env = envs.make("cartpole")
    env = envs.make("brax/hopper", backend="mjx")
    envs.names()
"""

from envs.registry import make, names, register
from envs.spaces import action_size, is_discrete, observation_size
from envs.wrappers import wrap_for_training

__all__ = ["make", "names", "register", "action_size", "is_discrete", "observation_size", "wrap_for_training"]
