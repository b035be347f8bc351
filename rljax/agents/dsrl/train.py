"""DSRL's agent functions: SAC's loop on the frozen policy's noise space.

``init`` checks the frozen policy's params (``base_params``) against
``cfg.base`` and the env, then runs :func:`rljax.agents.sac.init` on
:class:`~rljax.agents.dsrl.noise_space.NoiseSpaceEnv`; ``update`` is
:func:`rljax.agents.sac.update` on that wrapper. The frozen params travel in
``TrainState.base``: no optimiser holds them and no gradient reaches them
(they enter only the env step, under ``stop_gradient``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
from flax import struct

from rljax.agents import sac
from rljax.agents.dsrl.config import Config
from rljax.agents.dsrl.noise_space import check_base_params, noise_space_env
from rljax.env import Env
from rljax.training import Result, train_with


@struct.dataclass
class TrainState(sac.TrainState):
    """SAC's state (its params are the noise actor's and critic's) and the frozen policy,
    ``base = {"policy": head params, "obs_stats": RunningStats}``."""

    base: dict[str, Any]


def init(env: Env, cfg: Config, key: jax.Array, base_params: Any = None, *,
         axis_name: str | None = None) -> TrainState:
    """SAC's ``init`` on ``env``'s noise space of the frozen policy ``base_params``.

    ``base_params``: ``{"policy": head params, "obs_stats": ...}`` of a flow or diffusion policy with
    ``cfg.base``'s head (``agents.bc``'s ``Result.params`` / ``policy_params``). Required; its structure,
    shapes and the env are checked before anything compiles (``ValueError``). ``axis_name``: as SAC's.
    """
    Config.check_args(env, cfg)
    base = check_base_params(env, cfg, base_params)
    state = sac.init(noise_space_env(env, cfg, base), cfg, key, axis_name=axis_name)
    return TrainState(**{f.name: getattr(state, f.name) for f in dataclasses.fields(state)}, base=base)


def update(env: Env, cfg: Config, state: TrainState, *,
           axis_name: str | None = None) -> tuple[TrainState, dict[str, jax.Array]]:
    """SAC's ``update`` on the noise-space env of ``state.base``: ``num_envs * unroll_length`` env steps
    and ``grad_steps_per_update`` gradient steps of the noise actor and critic (``axis_name``: as SAC's)."""
    return sac.update(noise_space_env(env, cfg, state.base), cfg, state, axis_name=axis_name)


def policy_params(state: TrainState) -> dict[str, Any]:
    """``{"policy": noise actor, "critic": critics, "base": the frozen policy}``: what ``make_policy`` needs."""
    return {**state.params, "base": state.base}


_policy_params = policy_params  # ``train`` takes the frozen policy's params as ``base_params``


def train(env: Env, cfg: Config, key: jax.Array, base_params: Any = None) -> Result:
    """``init`` (from the frozen policy ``base_params``, see :func:`init`) then ``cfg.num_updates``
    updates in one ``lax.scan``."""
    return train_with(functools.partial(init, base_params=base_params), update, _policy_params, env, cfg, key)


def make_policy(env: Env, cfg: Config, params: dict[str, Any],
                deterministic: bool = False) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``policy(obs [..., obs_size], key) -> action [..., action_size]`` in ``env``'s action space: the frozen
    policy's action at the noise the actor picks (deterministic: ``w = noise_bound * tanh(mean)``)."""
    actor = sac.make_parts(env, cfg).head
    noise_env = noise_space_env(env, cfg, params["base"])

    def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
        u = actor.mode(params["policy"], obs) if deterministic else actor.sample(params["policy"], obs, key)[0]
        return noise_env.env_action(obs, u)

    return policy
