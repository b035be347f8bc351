"""Pure-JAX classic-control environments (brax Env protocol)."""

from envs.classic.cartpole import CartPole
from envs.classic.pendulum import Pendulum

__all__ = ["CartPole", "Pendulum"]
