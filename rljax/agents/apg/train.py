"""APG: differentiate the mean reward of a short rollout through the env.

Per update (Brax APG): from the carried env state (gradient stopped), roll
``num_envs`` envs ``horizon`` steps with the deterministic policy
``a = tanh(MLP(normalised obs))``; the loss is ``-mean_t,envs(discount^t
reward_scale r_t)``; ``jax.grad`` of it through the env's step (the contact
solver's implicit-function gradients, or brax's differentiable pipelines)
gives the policy gradient; Adam with global-norm clipping applies it. A
window whose gradient is non-finite is skipped (parameters unchanged) and
counted in ``metrics["skipped"]``. Envs start at random points of their
episodes (``Config.desync_episodes``); an auto-reset cuts the gradient, since
the reset state does not depend on the policy. With ``axis_name``
(:mod:`rljax.parallel`'s data axis) each device rolls out its share of the
envs and the devices average their gradients, statistics and metrics.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import env as env_lib
from rljax import parallel, running_stats
from rljax.agents.apg.config import Config
from rljax.env import Env, State
from rljax.nets import MLP
from rljax.training import Result, train_with, tree_all_finite


@struct.dataclass
class TrainState:
    params: Any  # policy network params
    opt_state: optax.OptState
    obs_stats: running_stats.RunningStats
    env_state: State
    key: jax.Array
    update_index: jax.Array  # int32 scalar


def _network(env: Env, cfg: Config) -> MLP:
    return MLP(cfg.policy_hidden_sizes, env.action_size, cfg.activation, out_scale=1.0)


def _normalizer(cfg: Config, stats: running_stats.RunningStats) -> Callable[[jax.Array], jax.Array]:
    if cfg.normalize_observations:
        return lambda obs: running_stats.normalize(stats, obs)
    return lambda obs: obs


def _act(env: Env, cfg: Config, params: Any, stats: running_stats.RunningStats, obs: jax.Array) -> jax.Array:
    return jnp.tanh(_network(env, cfg).apply(params, _normalizer(cfg, stats)(obs)))


def learning_rate(cfg: Config, rate: jax.Array | float, steps_per_update: int = 1) -> optax.ScalarOrSchedule:
    """``rate``, or with ``cfg.anneal_learning_rate`` a linear decay from it to 0 over the run's
    ``num_updates * steps_per_update`` optimizer steps."""
    if cfg.anneal_learning_rate:
        return optax.linear_schedule(rate, 0.0, cfg.num_updates * steps_per_update)
    return rate


def _optimizer(cfg: Config) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(learning_rate(cfg, cfg.learning_rate)))


def _training_env(env: Env, cfg: Config, axis_name: str | None = None) -> Env:
    """This device's envs: all ``num_envs``, or its share of them along ``axis_name``."""
    return env_lib.wrap_for_training(env, parallel.local_size(cfg.num_envs, axis_name, "num_envs"),
                                     cfg.episode_length)


def init(env: Env, cfg: Config, key: jax.Array, *, axis_name: str | None = None) -> TrainState:
    """Policy network (output layer scaled by ``init_scale``), Adam, normaliser, reset envs (this
    device's share of them along ``axis_name``)."""
    Config.check_args(env, cfg)
    if type(cfg).trained_by != "apg":  # e.g. a shac.Config: its critic would be silently ignored here
        raise ValueError(f"cfg is a {type(cfg).__module__}.{type(cfg).__qualname__}: train it with "
                         f"rljax.agents.{type(cfg).trained_by}, not rljax.agents.apg")
    return init_policy_state(env, cfg, key, axis_name)


def init_policy_state(env: Env, cfg: Config, key: jax.Array, axis_name: str | None = None) -> TrainState:
    """``init`` without its checks: the policy's part of the state, which SHAC builds on too."""
    obs_size = env_lib.observation_size(env)
    net_key, env_key, phase_key, key = jax.random.split(key, 4)
    params = _network(env, cfg).init(net_key, jnp.zeros((obs_size,), jnp.float32))
    # Scale the last layer so the initial policy is gentle (a leaf: sweepable).
    last = sorted(params["params"])[-1]
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: x * cfg.init_scale if path[1].key == last else x, params)
    env_state = _training_env(env, cfg, axis_name).reset(parallel.shard_key(env_key, axis_name))
    if cfg.desync_episodes:
        length = cfg.episode_length or env_lib.episode_length(env)
        steps = jax.random.randint(parallel.shard_key(phase_key, axis_name), env_state.done.shape, 0, length,
                                   jnp.int32)
        env_state = env_state.replace(info={**env_state.info, "steps": steps})
    return TrainState(params=params, opt_state=_optimizer(cfg).init(params), obs_stats=running_stats.init(obs_size),
                      env_state=env_state, key=key,
                      update_index=jnp.zeros((), jnp.int32))


def _window(env: Env, cfg: Config, params: Any, stats: running_stats.RunningStats, env_state: State,
            axis_name: str | None = None):
    """``horizon`` steps from ``env_state``; returns (loss, (final state, observations, rewards))."""
    training_env = _training_env(env, cfg, axis_name)

    def one_step(carry, t):
        s = carry
        action = _act(env, cfg, params, stats, s.obs)
        s = training_env.step(s, action)
        return s, (s.obs, s.reward, cfg.discount ** t)

    final, (obs, rewards, weights) = jax.lax.scan(one_step, env_state, jnp.arange(cfg.horizon, dtype=jnp.float32))
    loss = -jnp.mean(weights[:, None] * rewards) * cfg.reward_scale
    return loss, (final, obs, rewards)


def guarded_step(optimizer: optax.GradientTransformation, grads: Any, opt_state: optax.OptState,
                 params: Any) -> tuple[Any, optax.OptState, jax.Array, Any]:
    """One optimiser step, skipped (params and optimiser state unchanged) when any gradient is non-finite.

    Returns ``(params, opt_state, grad_ok, grads)``, ``grads`` zeroed where skipped."""
    grad_ok = tree_all_finite(grads)
    grads = jax.tree.map(lambda g: jnp.where(grad_ok, g, 0.0), grads)
    updates, new_opt_state = optimizer.update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: jnp.where(grad_ok, p + u, p), params, updates)
    opt_state = jax.tree.map(lambda new, old: jnp.where(grad_ok, new, old), new_opt_state, opt_state)
    return params, opt_state, grad_ok, grads


def update(env: Env, cfg: Config, state: TrainState, *,
           axis_name: str | None = None) -> tuple[TrainState, dict[str, jax.Array]]:
    """One window of ``num_envs * horizon`` env steps and one Adam step (``axis_name``: the data axis;
    each device's window is its envs', and the devices' gradients are averaged)."""
    start = jax.lax.stop_gradient(state.env_state)
    grads, (final, obs, rewards) = jax.grad(_window, argnums=2, has_aux=True)(
        env, cfg, state.params, state.obs_stats, start, axis_name)
    grads = parallel.reduce_mean(grads, axis_name)
    params, opt_state, grad_ok, grads = guarded_step(_optimizer(cfg), grads, state.opt_state, state.params)
    obs_stats = running_stats.update(state.obs_stats, obs, axis_name) if cfg.normalize_observations \
        else state.obs_stats
    final = jax.lax.stop_gradient(final)
    new_state = TrainState(params=params, opt_state=opt_state, obs_stats=obs_stats, env_state=final,
                           key=state.key, update_index=state.update_index + 1)
    episode_returns = final.info["last_episode_return"]
    if cfg.desync_episodes:  # an env's first episode was cut short by its random start
        episode_returns = jnp.where(final.info["episodes"] >= 2, episode_returns, jnp.nan)
    metrics = {
        "loss": -parallel.reduce_mean(jnp.mean(rewards), axis_name) * cfg.reward_scale,
        "mean_reward": parallel.reduce_mean(jnp.mean(rewards), axis_name),
        "grad_norm": optax.global_norm(grads),
        "skipped": 1.0 - grad_ok.astype(jnp.float32),
        "episode_return": parallel.reduce_nanmean(episode_returns, axis_name),
        "env_steps": (state.update_index + 1).astype(jnp.float32) * cfg.batch_size,
        "nonfinite": 1.0 - (tree_all_finite(params)
                            & parallel.reduce_all(jnp.all(jnp.isfinite(rewards)), axis_name)).astype(jnp.float32),
    }
    return new_state, metrics


def policy_params(state: TrainState) -> dict[str, Any]:
    """What a policy needs: network params and observation statistics."""
    return {"policy": state.params, "obs_stats": state.obs_stats}


def train(env: Env, cfg: Config, key: jax.Array) -> Result:
    """``init`` then ``cfg.num_updates`` updates in one ``lax.scan``."""
    return train_with(init, update, policy_params, env, cfg, key)


def make_policy(env: Env, cfg: Config, params: dict[str, Any],
                deterministic: bool = True) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``policy(obs [..., obs_size], key) -> action in [-1, 1]``. APG's policy is
    deterministic; ``key`` and ``deterministic`` are accepted for the common interface."""
    del deterministic

    def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
        del key
        return _act(env, cfg, params["policy"], params["obs_stats"], obs)

    return policy
