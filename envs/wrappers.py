"""Episode handling for training: time limits, auto-reset, episode statistics.

brax's ``AutoResetWrapper`` restores ``pipeline_state`` and ``obs`` on reset
but neither ``info`` nor the observation the episode ended on; PPO needs that
observation to bootstrap at a time-limit truncation. The wrappers here:

- ``EpisodeWrapper`` (one env): counts steps, ends the episode at the time
  limit with ``info["truncation"] = 1`` (only when the env did not terminate
  on that same step), and accumulates ``info["episode_return"]``.
- ``AutoResetWrapper`` (a batch): resets finished envs, restoring
  ``pipeline_state``, ``obs`` and the inner ``info``; keeps
  ``info["final_obs"]`` (the observation before any reset) and
  ``info["last_episode_return"]``. Resets are fresh draws (``fresh_reset``)
  or, for envs whose reset is expensive (brax's), the batch's first state, as
  brax does.

After ``step``: ``done`` = terminated or truncated; termination is
``done * (1 - info["truncation"])``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from brax.envs.base import Env, State, Wrapper
from brax.envs.wrappers.training import VmapWrapper

_BOOKKEEPING = ("final_obs", "last_episode_return", "episodes", "reset_key", "first_state")


class EpisodeWrapper(Wrapper):
    """Time limit and per-episode return for a single (unbatched) env."""

    def __init__(self, env: Env, episode_length: int):
        super().__init__(env)
        self.episode_length = int(episode_length)

    def reset(self, rng: jax.Array) -> State:
        state = self.env.reset(rng)
        info = dict(state.info)
        info["steps"] = jnp.zeros((), jnp.int32)
        info["truncation"] = jnp.zeros((), jnp.float32)
        info["episode_return"] = jnp.zeros((), jnp.float32)
        return state.replace(info=info)

    def step(self, state: State, action: jax.Array) -> State:
        # ``done`` on the incoming state describes the previous transition (it is
        # 1 right after an auto-reset). Envs that never terminate (brax's reacher,
        # pusher, ...) return ``state.replace(...)`` and would inherit it, ending
        # every later step; so the env decides termination from a cleared flag,
        # as brax's own AutoResetWrapper does.
        nstate = self.env.step(state.replace(done=jnp.zeros_like(state.done)), action)
        steps = state.info["steps"] + 1
        terminated = nstate.done > 0
        truncated = (steps >= self.episode_length) & ~terminated
        info = dict(nstate.info)
        info["steps"] = steps
        info["truncation"] = truncated.astype(jnp.float32)
        info["episode_return"] = state.info["episode_return"] + nstate.reward
        done = (terminated | truncated).astype(jnp.float32)
        return nstate.replace(done=done, info=info)


def _where_done(done: jax.Array, reset_value: jax.Array, value: jax.Array) -> jax.Array:
    mask = done.reshape(done.shape + (1,) * (value.ndim - done.ndim))
    return jnp.where(mask, reset_value, value)


class AutoResetWrapper(Wrapper):
    """Auto-reset for a batch of ``num_envs`` envs; ``reset`` takes one key."""

    def __init__(self, env: Env, num_envs: int, fresh_reset: bool):
        super().__init__(env)
        self.num_envs = int(num_envs)
        self.fresh_reset = bool(fresh_reset)

    def reset(self, rng: jax.Array) -> State:
        reset_rng, carry_rng = jax.random.split(rng)
        state = self.env.reset(jax.random.split(reset_rng, self.num_envs))
        inner_info = dict(state.info)
        info = dict(inner_info)
        info["final_obs"] = state.obs
        info["last_episode_return"] = jnp.full((self.num_envs,), jnp.nan, jnp.float32)
        info["episodes"] = jnp.zeros((self.num_envs,), jnp.int32)
        if self.fresh_reset:
            info["reset_key"] = jax.random.split(carry_rng, self.num_envs)
        else:
            info["first_state"] = (state.pipeline_state, state.obs, inner_info)
        return state.replace(info=info)

    def step(self, state: State, action: jax.Array) -> State:
        inner_in = {k: v for k, v in state.info.items() if k not in _BOOKKEEPING}
        nstate = self.env.step(state.replace(info=inner_in), action)
        done = nstate.done > 0
        info = {}
        if self.fresh_reset:
            keys = jax.vmap(jax.random.split)(state.info["reset_key"])
            fresh = self.env.reset(keys[:, 0])
            reset_pipeline, reset_obs, reset_info = fresh.pipeline_state, fresh.obs, dict(fresh.info)
            info["reset_key"] = keys[:, 1]
        else:
            reset_pipeline, reset_obs, reset_info = state.info["first_state"]
            info["first_state"] = state.info["first_state"]
        where = lambda r, x: _where_done(done, r, x)  # noqa: E731
        pipeline_state = jax.tree.map(where, reset_pipeline, nstate.pipeline_state)
        obs = jax.tree.map(where, reset_obs, nstate.obs)
        inner_out = {k: nstate.info[k] for k in reset_info}
        info.update(jax.tree.map(where, reset_info, inner_out))
        # Transition signals describe the step just taken, not the reset.
        info["truncation"] = nstate.info["truncation"]
        info["final_obs"] = nstate.obs
        info["last_episode_return"] = jnp.where(
            done, nstate.info["episode_return"], state.info["last_episode_return"])
        info["episodes"] = state.info["episodes"] + done.astype(jnp.int32)
        return nstate.replace(pipeline_state=pipeline_state, obs=obs, info=info)


def default_episode_length(env: Env) -> int:
    return int(getattr(env, "default_episode_length", 1000))


def wrap_for_training(env: Env, num_envs: int, episode_length: int | None = None) -> AutoResetWrapper:
    """Time limit -> vmap -> auto-reset, for ``num_envs`` parallel envs."""
    length = default_episode_length(env) if episode_length is None else episode_length
    fresh = bool(getattr(env, "fresh_reset", False))
    return AutoResetWrapper(VmapWrapper(EpisodeWrapper(env, length)), num_envs, fresh)
