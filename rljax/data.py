"""Datasets of ``(obs, action)`` pairs: recorded from any rljax policy, saved as ``.npz``.

    policy = agents.ppo.make_policy(env, cfg, result.params, deterministic=False)
    dataset, returns = data.collect(env, policy, key, num_steps=50_000, env_name="pendulum")
    data.save(dataset, "pendulum_expert.npz")
    dataset = data.load("pendulum_expert.npz")        # dataset.obs [N, O], dataset.action [N, A]

A dataset keeps the raw observations, the actions the policy took, the name
of the env it came from and the running statistics of its observations (the
normaliser a policy fitted to it uses).
"""

from __future__ import annotations

import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import env as env_lib
from rljax import running_stats
from rljax.env import Env

Policy = Callable[[jax.Array, jax.Array], jax.Array]


@struct.dataclass
class Dataset:
    """``obs [N, obs_size]`` and ``action [N, action_size]`` (float32, continuous actions),
    ``obs_stats`` (running mean and std of ``obs``) and the ``env_name`` it was recorded on."""

    obs: jax.Array
    action: jax.Array
    obs_stats: running_stats.RunningStats
    env_name: str = struct.field(pytree_node=False, default="env")

    @property
    def size(self) -> int:
        return int(self.obs.shape[0])

    @property
    def observation_size(self) -> int:
        return int(self.obs.shape[1])

    @property
    def action_size(self) -> int:
        return int(self.action.shape[1])


def from_arrays(obs: np.ndarray, action: np.ndarray, env_name: str = "env") -> Dataset:
    """A dataset from ``obs [N, O]`` and ``action [N, A]`` arrays (continuous actions)."""
    obs = jnp.asarray(obs, jnp.float32)
    action = jnp.asarray(action)
    if obs.ndim != 2 or obs.shape[0] == 0:
        raise ValueError(f"obs must be [N, obs_size] with N > 0, got shape {obs.shape}")
    if action.ndim != 2 or action.shape[0] != obs.shape[0]:
        raise ValueError(f"action must be [N, action_size] with N = {obs.shape[0]} (continuous actions), "
                         f"got shape {action.shape}")
    action = action.astype(jnp.float32)
    stats = running_stats.update(running_stats.init(obs.shape[1]), obs)
    return Dataset(obs=obs, action=action, obs_stats=stats, env_name=env_name)


def collect(env: Env, policy: Policy, key: jax.Array, num_steps: int, num_envs: int = 16,
            env_name: str = "env", episode_length: int | None = None) -> tuple[Dataset, jax.Array]:
    """Record ``num_steps`` ``(obs, action)`` pairs of ``policy`` in ``num_envs`` parallel envs
    (continuous actions).

    ``policy(obs [num_envs, O], key) -> action`` (e.g. ``agents.ppo.make_policy(...)``).
    Returns the dataset and the returns of the episodes that ended while
    recording (``[num_envs]``, NaN where none ended). One compiled program.
    """
    if env_lib.is_discrete(env):
        raise ValueError(f"{type(env).__name__} has discrete actions; datasets hold continuous actions")
    if num_steps <= 0 or num_envs <= 0 or num_steps % num_envs:
        raise ValueError(f"num_steps={num_steps} must be a positive multiple of num_envs={num_envs}")
    training_env = env_lib.wrap_for_training(env, num_envs, episode_length)

    @jax.jit
    def record(key: jax.Array):
        reset_key, run_key = jax.random.split(key)

        def one_step(state, step_key):
            action = policy(state.obs, step_key)
            return training_env.step(state, action), (state.obs, action)

        state, (obs, action) = jax.lax.scan(one_step, training_env.reset(reset_key),
                                            jax.random.split(run_key, num_steps // num_envs))
        return obs, action, state.info["last_episode_return"]

    obs, action, returns = record(key)
    obs = obs.reshape((num_steps,) + obs.shape[2:])
    action = action.reshape((num_steps,) + action.shape[2:])
    return from_arrays(obs, action, env_name), returns


def save(dataset: Dataset, path: str) -> None:
    """Write ``dataset`` to ``path`` (``.npz``), atomically (a temporary file, then a rename)."""
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, obs=np.asarray(dataset.obs), action=np.asarray(dataset.action), env_name=dataset.env_name,
             obs_mean=np.asarray(dataset.obs_stats.mean), obs_std=np.asarray(dataset.obs_stats.std))
    os.replace(tmp, path)


def load(path: str) -> Dataset:
    """Read a dataset written by :func:`save`; its observation statistics are recomputed from
    ``obs`` and checked against the saved ones."""
    try:
        with np.load(path) as f:
            obs, action, env_name = f["obs"], f["action"], str(f["env_name"])
            saved_mean, saved_std = f["obs_mean"], f["obs_std"]
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: not a dataset written by rljax.data.save ({e})") from e
    dataset = from_arrays(obs, action, env_name)
    if not (np.allclose(dataset.obs_stats.mean, saved_mean, rtol=1e-4, atol=1e-5)
            and np.allclose(dataset.obs_stats.std, saved_std, rtol=1e-4, atol=1e-5)):
        raise ValueError(f"{path}: its observation statistics do not match its observations (damaged file?)")
    return dataset
