"""A frozen generative policy's noise as an action space: the noise-to-action map and the env wrapper.

``noise_to_action(head, params, obs, noise)`` runs a flow or diffusion head
deterministically from a given noise (the heads' ``from_noise``): the flow's
ODE from ``x_1 = noise_std * noise``; the diffusion head's DDIM chain
(eta = 0) from ``x_K = noise`` (or, with ``mode="mean"``, the sampler's steps
without their noise). At
``noise = 0`` it is the head's ``mode``; at ``noise ~ N(0, I)`` the flow's is
the head's ``sample``.

:class:`NoiseSpaceEnv` wraps an env so that its action ``u in [-1, 1]^A``
means the noise ``w = noise_bound * u``; each step sends the frozen
policy's action at ``(obs, w)`` to the inner env. Any continuous-action
agent trained on it steers the frozen policy; DSRL is SAC's unchanged loop
on it (:mod:`rljax.agents.dsrl.train`).
"""

from __future__ import annotations

from typing import Any, Mapping

import chex
import jax
import jax.numpy as jnp

from rljax import env as env_lib
from rljax import running_stats
from rljax.agents.bc.train import make_head
from rljax.agents.dsrl.config import Config
from rljax.env import Env, State, Wrapper
from rljax.policies.base import Params, PolicyHead
from rljax.policies.diffusion import DiffusionHead
from rljax.policies.flow import FlowHead


def noise_to_action(head: PolicyHead, params: Params, obs: jax.Array, noise: jax.Array) -> jax.Array:
    """The action ``[..., A]`` a flow or diffusion ``head`` at ``params`` takes on ``obs [..., O]`` (as
    the head sees it: normalised where it was trained so) from ``noise [..., A]``, deterministically.

    ``noise`` is in units of the head's source: flow, ``x_1 = noise_std * noise``; diffusion,
    ``x_K = noise`` (its source is ``N(0, I)``). Differentiable in ``noise`` and ``params``.
    """
    chex.assert_axis_dimension(noise, -1, head.action_size)
    chex.assert_equal_rank((obs, noise))
    chex.assert_equal_shape_prefix((obs, noise), obs.ndim - 1)
    if not isinstance(head, (FlowHead, DiffusionHead)):
        raise ValueError(f"noise_to_action: {type(head).__name__} has no deterministic noise-to-action map; DSRL "
                         f"steers a FlowHead or a DiffusionHead")
    return head.from_noise(params, obs, noise.astype(jnp.float32))


def make_base_head(env: Env, cfg: Config) -> PolicyHead:
    """The frozen policy's head, ``cfg.base.policy`` with ``cfg.base``'s torso and settings, for ``env``'s actions."""
    return make_head(env.action_size, cfg.base)


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    return {jax.tree_util.keystr(p): tuple(jnp.shape(x)) for p, x in jax.tree_util.tree_leaves_with_path(tree)}


def check_base_params(env: Env, cfg: Config, base_params: Any) -> dict[str, Any]:
    """Check the frozen policy's params against ``cfg.base``'s head on ``env`` (shapes only: runs before
    anything compiles) and return them as ``{"policy": head params, "obs_stats": RunningStats}``.

    ``base_params``: ``agents.bc.policy_params(state)`` / a BC ``Result.params`` (``{"policy",
    "obs_stats"}``); ``"obs_stats"`` may be left out only when ``cfg.base.normalize_observations`` is off.
    """
    name = f"{type(cfg).__module__.removesuffix('.config')}"
    if base_params is None:
        raise ValueError(f"{name}: base_params is required: the frozen {cfg.base.policy} policy's "
                         f"{{'policy': head params, 'obs_stats': ...}} (agents.bc's Result.params, cloned with "
                         f"cfg.base)")
    if not isinstance(base_params, Mapping) or "policy" not in base_params:
        raise ValueError(f"{name}: base_params must be a dict with 'policy' (and 'obs_stats'), as agents.bc's "
                         f"policy_params returns; got {type(base_params).__name__}")
    obs_size, action_size = env_lib.observation_size(env), env.action_size
    head = make_base_head(env, cfg)
    expected = _shapes(jax.eval_shape(lambda: head.init(jax.random.key(0), obs_size)))
    given = _shapes(base_params["policy"])
    if expected != given:
        differing = [f"{p}: {given[p]} (expected {expected[p]})" for p in sorted(expected)
                     if p in given and given[p] != expected[p]]
        raise ValueError(
            f"{name}: base_params['policy'] does not fit cfg.base's {cfg.base.policy!r} head "
            f"(hidden_sizes={cfg.base.policy_hidden_sizes}) on {type(env).__name__} (observation_size={obs_size}, "
            f"action_size={action_size}): missing {sorted(set(expected) - set(given))[:4]}, unexpected "
            f"{sorted(set(given) - set(expected))[:4]}, shapes differing {differing[:4]}")
    stats = base_params.get("obs_stats")
    if stats is None:
        if cfg.base.normalize_observations:
            raise ValueError(f"{name}: base_params has no 'obs_stats', but cfg.base.normalize_observations is on: "
                             f"the frozen policy needs the statistics it was trained with")
        stats = running_stats.init(obs_size)
    elif _shapes(stats) != _shapes(running_stats.init(obs_size)):
        raise ValueError(f"{name}: base_params['obs_stats'] does not fit observations of size {obs_size}: "
                         f"{_shapes(stats)}")
    return {"policy": base_params["policy"], "obs_stats": stats}


class NoiseSpaceEnv(Wrapper):
    """``env`` whose action ``u [A]`` in ``[-1, 1]`` is the frozen policy's noise ``w = noise_bound * u``.

    ``step(state, u)`` steps ``env`` with ``noise_to_action(head, params, normalize(obs), w)``; the frozen
    params pass through ``stop_gradient``. Observations, rewards and episode ends are ``env``'s.
    ``base``: ``{"policy": head params, "obs_stats": RunningStats}`` (:func:`check_base_params`).
    """

    def __init__(self, env: Env, head: PolicyHead, base: Mapping[str, Any], noise_bound: float | jax.Array,
                 normalize_observations: bool = True):
        super().__init__(env)
        self.head = head
        self.base = base
        self.noise_bound = noise_bound
        self.normalize_observations = normalize_observations

    def env_action(self, obs: jax.Array, u: jax.Array) -> jax.Array:
        """The inner env's action ``[..., A]`` for the raw observation ``obs [..., O]`` and ``u [..., A]``."""
        params = jax.lax.stop_gradient(self.base["policy"])
        normalize = running_stats.normalizer(jax.lax.stop_gradient(self.base["obs_stats"]),
                                             self.normalize_observations)
        return noise_to_action(self.head, params, normalize(obs), self.noise_bound * jnp.clip(u, -1.0, 1.0))

    def step(self, state: State, action: jax.Array) -> State:
        return self.env.step(state, self.env_action(state.obs, action))


def noise_space_env(env: Env, cfg: Config, base: Mapping[str, Any]) -> NoiseSpaceEnv:
    """``env`` in the noise space of the frozen policy ``base`` (checked params) that ``cfg.base`` describes."""
    return NoiseSpaceEnv(env, make_base_head(env, cfg), base, cfg.noise_bound, cfg.base.normalize_observations)
