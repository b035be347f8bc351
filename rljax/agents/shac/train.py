"""SHAC: APG's differentiable windows, bootstrapped by a learned value function.

Per update (Xu et al. 2022): from the carried env state (gradient stopped),
roll ``num_envs`` envs ``horizon`` steps with APG's deterministic policy.
The actor loss (:func:`actor_loss`) sums each env's discounted rewards per
episode segment of the window and closes every segment with the target value
of where it ended (nothing after a termination); ``jax.grad`` of it through
the env and through ``V(s_H)`` gives the policy gradient, applied by Adam with
global-norm clipping (skipped when non-finite, as in APG). The window's
rewards and target values (gradients stopped) give TD(lambda) targets
(:func:`rljax.returns.td_lambda`) that the critic is fit to with MSE for
``critic_epochs`` x ``critic_minibatches`` Adam steps; then the target net
takes a Polyak step toward it. Windows continue where the last one ended;
envs reset only when their episodes end. With ``axis_name`` each device rolls
out its share of the envs and fits the critic on its share of the window;
gradients, statistics and metrics are averaged over the devices.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import parallel, running_stats
# The policy side (its network, params and observation statistics) is APG's.
from rljax.agents.apg.train import (_act, _normalizer, _optimizer, _training_env, guarded_step, init_policy_state,
                                    learning_rate, make_policy, policy_params)
from rljax.agents.shac.config import Config
from rljax.env import Env, State
from rljax.nets import MLP
from rljax.returns import td_lambda
from rljax.training import Result, train_with, tree_all_finite

@struct.dataclass
class TrainState:
    params: Any  # policy network params
    opt_state: optax.OptState
    critic_params: Any  # value network params
    target_params: Any  # Polyak-averaged copy of critic_params: the actor's bootstrap and the TD targets' values
    critic_opt_state: optax.OptState
    obs_stats: running_stats.RunningStats
    env_state: State
    key: jax.Array
    update_index: jax.Array  # int32 scalar


def _value_network(cfg: Config) -> MLP:
    return MLP(cfg.value_hidden_sizes, 1, cfg.activation, out_scale=1.0)


def value(cfg: Config, critic_params: Any, stats: running_stats.RunningStats, obs: jax.Array) -> jax.Array:
    """``V(obs [..., obs_size]) -> [...]``, on observations normalised as the policy's are."""
    return _value_network(cfg).apply(critic_params, _normalizer(cfg, stats)(obs))[..., 0]


def _critic_optimizer(cfg: Config) -> optax.GradientTransformation:
    rate = learning_rate(cfg, cfg.critic_learning_rate, cfg.critic_epochs * cfg.critic_minibatches)
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(rate))


def init(env: Env, cfg: Config, key: jax.Array, *, axis_name: str | None = None) -> TrainState:
    """APG's policy, optimiser, normaliser and envs (``rljax.agents.apg.init``), plus the value
    network, its target copy and its Adam."""
    Config.check_args(env, cfg)
    policy_key, value_key = jax.random.split(key)
    base = init_policy_state(env, cfg, policy_key, axis_name)
    critic_params = _value_network(cfg).init(value_key, jnp.zeros_like(base.env_state.obs[0]))
    return TrainState(params=base.params, opt_state=base.opt_state, critic_params=critic_params,
                      target_params=critic_params, critic_opt_state=_critic_optimizer(cfg).init(critic_params),
                      obs_stats=base.obs_stats, env_state=base.env_state, key=base.key,
                      update_index=base.update_index)


def actor_loss(env: Env, cfg: Config, params: Any, value_params: Any, stats: running_stats.RunningStats,
               env_state: State, axis_name: str | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
    """SHAC's actor loss over one window of ``horizon`` steps from ``env_state`` (this device's envs).

    ``-(1 / (H N)) sum_envs sum_t [discount^k_t r_t + end_t discount^(k_t + 1) V(s'_t)]``, where ``r_t``
    is scaled by ``reward_scale``, ``k_t`` counts steps since the window's start or the env's last reset,
    ``end_t`` marks an episode's end and the window's last step, and ``V(s'_t)`` is ``value_params``'
    value of the observation reached (before any reset), 0 after a termination. With ``V = 0`` and
    episodes that fill the window exactly, this is APG's loss. Returns ``(loss, aux)``, ``aux`` the
    window, time-major ``[H, N, ...]``: ``obs`` (where each step started), ``rewards`` (scaled),
    ``next_values``, ``dones``, ``truncations`` (gradients stopped), and ``final`` (the state reached).
    """
    training_env = _training_env(env, cfg, axis_name)
    last = cfg.horizon - 1

    def one_step(carry, t):
        s, weight = carry
        action = _act(env, cfg, params, stats, s.obs)
        nxt = training_env.step(s, action)
        reward = cfg.reward_scale * nxt.reward
        truncation = nxt.info["truncation"]
        terminated = nxt.done * (1.0 - truncation)
        next_value = (1.0 - terminated) * value(cfg, value_params, stats, nxt.info["final_obs"])
        end = jnp.maximum(nxt.done, (t == last).astype(nxt.done.dtype))
        objective = weight * reward + end * weight * cfg.discount * next_value
        # A new episode starts its own discounted sum.
        weight = jnp.where(nxt.done > 0, 1.0, weight * cfg.discount)
        out = {"obs": s.obs, "rewards": reward, "next_values": next_value, "dones": nxt.done,
               "truncations": truncation}
        return (nxt, weight), (objective, jax.lax.stop_gradient(out))

    weight0 = jnp.ones_like(env_state.reward)
    (final, _), (objective, window) = jax.lax.scan(one_step, (env_state, weight0), jnp.arange(cfg.horizon))
    return -jnp.mean(objective), {**window, "final": final}


def _fit_critic(cfg: Config, critic_params: Any, opt_state: optax.OptState, stats: running_stats.RunningStats,
                obs: jax.Array, targets: jax.Array, key: jax.Array,
                axis_name: str | None) -> tuple[Any, optax.OptState, jax.Array]:
    """``critic_epochs`` shuffled passes of ``critic_minibatches`` Adam steps on the MSE to ``targets``
    (``obs [B, obs_size]``, ``targets [B]``); returns the params, optimiser state and the last pass's mean loss."""
    batch = targets.shape[0]
    size = batch // cfg.critic_minibatches
    if size * cfg.critic_minibatches != batch:
        raise ValueError(f"shac.Config.critic_minibatches={cfg.critic_minibatches}: must divide this device's "
                         f"share of num_envs * horizon = {batch}")
    optimizer = _critic_optimizer(cfg)

    def mse(p, o, y):
        return jnp.mean((value(cfg, p, stats, o) - y) ** 2)

    def minibatch(carry, idx):
        p, s = carry
        loss, grads = jax.value_and_grad(mse)(p, obs[idx], targets[idx])
        grads = parallel.reduce_mean(grads, axis_name)
        p, s, _, _ = guarded_step(optimizer, grads, s, p)
        return (p, s), loss

    def epoch(carry, k):
        order = jax.random.permutation(k, batch).reshape(cfg.critic_minibatches, size)
        return jax.lax.scan(minibatch, carry, order)

    keys = jax.random.split(key, cfg.critic_epochs)
    (critic_params, opt_state), losses = jax.lax.scan(epoch, (critic_params, opt_state), keys)
    return critic_params, opt_state, parallel.reduce_mean(jnp.mean(losses[-1]), axis_name)


def update(env: Env, cfg: Config, state: TrainState, *,
           axis_name: str | None = None) -> tuple[TrainState, dict[str, jax.Array]]:
    """One window of ``num_envs * horizon`` env steps: one actor step, the critic's fit, the target's
    Polyak step (``axis_name``: the data axis; each device's window is its envs')."""
    start = jax.lax.stop_gradient(state.env_state)
    (loss, window), grads = jax.value_and_grad(actor_loss, argnums=2, has_aux=True)(
        env, cfg, state.params, state.target_params, state.obs_stats, start, axis_name)
    grads = parallel.reduce_mean(grads, axis_name)
    params, opt_state, grad_ok, grads = guarded_step(_optimizer(cfg), grads, state.opt_state, state.params)

    targets = td_lambda(window["rewards"], window["next_values"], window["dones"], window["truncations"],
                        cfg.discount, cfg.td_lambda)
    obs = window["obs"].reshape(-1, window["obs"].shape[-1])
    fit_key, key = jax.random.split(state.key)
    critic_params, critic_opt_state, critic_loss = _fit_critic(
        cfg, state.critic_params, state.critic_opt_state, state.obs_stats, obs, targets.reshape(-1),
        parallel.shard_key(fit_key, axis_name), axis_name)
    target_params = optax.incremental_update(critic_params, state.target_params, cfg.target_tau)

    obs_stats = running_stats.update(state.obs_stats, window["obs"], axis_name) if cfg.normalize_observations \
        else state.obs_stats
    final = jax.lax.stop_gradient(window["final"])
    new_state = TrainState(params=params, opt_state=opt_state, critic_params=critic_params,
                           target_params=target_params, critic_opt_state=critic_opt_state, obs_stats=obs_stats,
                           env_state=final, key=key, update_index=state.update_index + 1)
    episode_returns = final.info["last_episode_return"]
    if cfg.desync_episodes:  # an env's first episode was cut short by its random start
        episode_returns = jnp.where(final.info["episodes"] >= 2, episode_returns, jnp.nan)
    rewards = window["rewards"] / cfg.reward_scale
    metrics = {
        "loss": parallel.reduce_mean(loss, axis_name),
        "critic_loss": critic_loss,
        "value": parallel.reduce_mean(jnp.mean(window["next_values"]), axis_name),
        "td_target": parallel.reduce_mean(jnp.mean(targets), axis_name),
        "mean_reward": parallel.reduce_mean(jnp.mean(rewards), axis_name),
        "grad_norm": optax.global_norm(grads),
        "skipped": 1.0 - grad_ok.astype(jnp.float32),
        "episode_return": parallel.reduce_nanmean(episode_returns, axis_name),
        "env_steps": (state.update_index + 1).astype(jnp.float32) * cfg.batch_size,
        "nonfinite": 1.0 - (tree_all_finite((params, critic_params))
                            & parallel.reduce_all(jnp.all(jnp.isfinite(rewards)), axis_name)).astype(jnp.float32),
    }
    return new_state, metrics


def train(env: Env, cfg: Config, key: jax.Array) -> Result:
    """``init`` then ``cfg.num_updates`` updates in one ``lax.scan``."""
    return train_with(init, update, policy_params, env, cfg, key)


__all__ = ["TrainState", "init", "update", "train", "actor_loss", "value", "make_policy", "policy_params"]

