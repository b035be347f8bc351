"""The env protocol rljax trains on, and the wrappers that make one env trainable.

An env is anything that follows brax's ``Env`` / ``State`` protocol:

- ``reset(key) -> State`` and ``step(state, action) -> State``, pure and
  jit-able; ``State`` holds ``pipeline_state`` (the env's dynamic state),
  ``obs [obs_size]``, ``reward []``, ``done []`` (1.0 when the env itself
  terminated), ``metrics`` and ``info`` (dicts of arrays);
- ``observation_size`` and ``action_size`` (ints).

It may declare these optional attributes (read with ``getattr``; the default
applies when absent):

===========================  =========  ==========================================================
attribute                    default    meaning
===========================  =========  ==========================================================
``default_episode_length``   ``1000``   the time limit trainers apply when a Config's
                                        ``episode_length`` is ``None``
``discrete_actions``         ``False``  actions are int32 indices in ``[0, action_size)``; otherwise
                                        float vectors ``[action_size]`` (in ``[-1, 1]`` by convention)
``fresh_reset``              ``True``   auto-reset draws a new initial state from ``reset`` for every
                                        episode. Envs whose reset is expensive declare ``False`` and
                                        reuse their first initial states instead, as brax's training
                                        wrapper does (brax's physics envs get ``False`` when no
                                        attribute says otherwise).
===========================  =========  ==========================================================

Auto-reset restores ``pipeline_state``, ``obs`` and ``info``, so an env keeps
everything that changes within an episode there. A user's own env works
unregistered: ``agents.ppo.train(MyEnv(), cfg, key)``.

Trainers wrap the env with :func:`wrap_for_training` (time limit, ``vmap``
over ``num_envs``, auto-reset). After each step of the wrapped env:
``done`` = terminated or truncated; ``info["truncation"]`` = 1.0 where the
time limit (and not the env) ended the episode, so learners bootstrap there;
``info["final_obs"]`` = the observation the step reached, before any reset;
``info["last_episode_return"]`` = the return of each env's last finished
episode (NaN before the first).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from brax.envs.base import Env, PipelineEnv, State, Wrapper
from brax.envs.wrappers.training import VmapWrapper

__all__ = ["Env", "State", "Wrapper", "EpisodeWrapper", "AutoResetWrapper", "RewardScaling", "wrap_for_training",
           "episode_length", "is_discrete", "fresh_reset", "observation_size", "action_size"]

# Keys the auto-reset wrapper adds to ``info``; the inner env never sees them.
_BOOKKEEPING = ("final_obs", "last_episode_return", "episodes", "reset_key", "first_state")


def episode_length(env: Env) -> int:
    """The env's time limit: its ``default_episode_length``, or 1000."""
    return int(getattr(env, "default_episode_length", 1000))


def is_discrete(env: Env) -> bool:
    """True for envs whose actions are integer indices in ``[0, action_size)``."""
    return bool(getattr(env, "discrete_actions", False))


def fresh_reset(env: Env) -> bool:
    """Whether auto-reset draws a new initial state per episode (see the module docstring)."""
    declared = getattr(env, "fresh_reset", None)
    if declared is not None:
        return bool(declared)
    return not isinstance(getattr(env, "unwrapped", env), PipelineEnv)


def observation_size(env: Env) -> int:
    """Flat observation size, via ``jax.eval_shape`` (brax's property runs ``reset`` eagerly)."""
    shape = jax.eval_shape(env.reset, jax.random.key(0)).obs.shape
    if len(shape) != 1:
        raise ValueError(f"{type(env).__name__}: expected a flat observation vector, got shape {shape}")
    return int(shape[0])


def action_size(env: Env) -> int:
    """Number of actions (discrete) or action dimensions (continuous)."""
    return int(env.action_size)


class EpisodeWrapper(Wrapper):
    """Time limit and per-episode return for a single (unbatched) env.

    Ends an episode after ``episode_length`` steps with ``info["truncation"] =
    1`` (only when the env did not terminate on that same step) and
    accumulates ``info["episode_return"]``.
    """

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
        # ``done`` on the incoming state describes the previous transition (1
        # right after an auto-reset). Envs that never terminate (brax's reacher)
        # return ``state.replace(...)`` and would inherit it, ending every later
        # step; so the env decides termination from a cleared flag.
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
    """Auto-reset for a batch of ``num_envs`` envs; ``reset`` takes one key.

    brax's own ``AutoResetWrapper`` restores ``pipeline_state`` and ``obs`` but
    neither ``info`` nor the observation the episode ended on, which PPO needs
    to bootstrap at a time-limit truncation; this one keeps both.
    """

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


class RewardScaling(Wrapper):
    """Multiply every reward by ``scale`` (a Python float), for reward-scale studies.

    Dynamics, observations and episode ends are the inner env's, so a return in
    the original scale is ``return / scale``.
    """

    def __init__(self, env: Env, scale: float):
        super().__init__(env)
        if not scale > 0:
            raise ValueError(f"RewardScaling.scale={scale!r}: must be > 0")
        self.scale = float(scale)

    def reset(self, rng: jax.Array) -> State:
        state = self.env.reset(rng)
        return state.replace(reward=state.reward * self.scale)

    def step(self, state: State, action: jax.Array) -> State:
        state = self.env.step(state, action)
        return state.replace(reward=state.reward * self.scale)


def wrap_for_training(env: Env, num_envs: int, length: int | None = None) -> AutoResetWrapper:
    """Time limit (``length``, default the env's own) -> vmap -> auto-reset, for ``num_envs`` envs.

    ``reset(key)`` returns a batch ``[num_envs, ...]``; ``step(state, action
    [num_envs, ...])`` steps every env and resets those that ended.
    """
    length = episode_length(env) if length is None else length
    return AutoResetWrapper(VmapWrapper(EpisodeWrapper(env, length)), num_envs, fresh_reset(env))
