"""Behaviour cloning: fit a Gaussian, flow or diffusion policy head to a dataset.

    dataset = rljax.data.load("pendulum_expert.npz")
    cfg = agents.bc.Config(policy="diffusion", total_steps=20_000)
    result = jax.jit(agents.bc.train)(dataset, cfg, key)     # the dataset is an argument, not static
    policy = agents.bc.make_policy(env, cfg, result.params)
"""

from rljax.agents.bc.config import Config
from rljax.agents.bc.train import TrainState, init, make_head, make_policy, policy_params, train, update
from rljax.training import Result

__all__ = ["Config", "Result", "TrainState", "init", "update", "train", "make_policy", "make_head", "policy_params"]
