"""Evaluate any policy on any env, inside one compiled program."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from brax.envs.wrappers.training import VmapWrapper

from rljax.env import Env, EpisodeWrapper
from rljax.env import episode_length as env_episode_length

Policy = Callable[[jax.Array, jax.Array], jax.Array]


def evaluate(env: Env, policy: Policy, key: jax.Array, num_episodes: int = 16,
             episode_length: int | None = None) -> jax.Array:
    """Run ``num_episodes`` episodes in parallel and return their returns ``[num_episodes]``.

    ``policy(obs [num_episodes, obs_size], key) -> action [num_episodes, ...]``.
    Each episode runs until it terminates or reaches the time limit
    (``episode_length``, default the env's own); rewards after the end are
    ignored. jit- and vmap-compatible (``num_episodes`` and ``episode_length``
    are static).
    """
    if num_episodes <= 0:
        raise ValueError(f"num_episodes={num_episodes}: must be > 0")
    length = env_episode_length(env) if episode_length is None else int(episode_length)
    batched = VmapWrapper(EpisodeWrapper(env, length))
    reset_key, run_key = jax.random.split(key)
    state = batched.reset(jax.random.split(reset_key, num_episodes))

    def one_step(carry, step_key):
        state, returns, alive = carry
        action = policy(state.obs, step_key)
        state = batched.step(state, action)
        returns = returns + alive * state.reward
        alive = alive * (1.0 - state.done)
        return (state, returns, alive), None

    init = (state, jnp.zeros(num_episodes), jnp.ones(num_episodes))
    (_, returns, _), _ = jax.lax.scan(one_step, init, jax.random.split(run_key, length))
    return returns
