"""The shared off-policy loop: SAC, and any preset over it (DSAC-T).

One training iteration (``update``) steps ``num_envs`` envs ``unroll_length``
times with the current tanh-Gaussian policy, writing each transition into a
device-resident replay, then makes ``grad_steps_per_update`` gradient steps
in groups of ``policy_delay``: each group updates the critic ``policy_delay``
times, then the actor, the temperature and the Polyak targets once. The
grouping keeps delayed updates free of ``lax.cond`` (which ``vmap`` would
turn into computing both branches). ``init`` fills the replay with
``warmup_steps`` random actions first. The whole run is ``init`` and a
``lax.scan`` of ``update``: one XLA program, vmappable over seeds and
stacked configs.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from brax.envs.base import Env, State
from flax import struct

import envs as envs_lib
from rljax.agents.sac.config import Config
from rljax.agents.sac.losses import actor_loss, polyak, temperature_loss
from rljax.critics.categorical import CategoricalCritic
from rljax.critics.gaussian import GaussianCritic
from rljax.critics.q import TwinQCritic
from rljax.critics.quantile import QuantileCritic
from rljax.policies.tanh_gaussian import TanhGaussianHead
from rljax.replay import Replay
from rljax.training import Result, train_with, tree_all_finite

Critic = Any  # TwinQCritic | GaussianCritic | QuantileCritic | CategoricalCritic


@struct.dataclass
class TrainState:
    params: dict[str, Any]         # {"policy", "critic", "log_alpha"}
    target_params: dict[str, Any]  # {"critic", "policy"} ("policy" is None unless cfg.target_policy)
    opt_state: dict[str, Any]      # {"policy", "critic", "alpha"}
    critic_state: dict[str, jax.Array]  # the critic head's running state (DSAC-T's running stds)
    replay: Any
    env_state: State
    key: jax.Array
    update_index: jax.Array  # int32 scalar: updates done so far


def make_critic(cfg: Config) -> Critic:
    """The critic head named by ``cfg.critic``, with its constants from ``cfg``."""
    common = dict(hidden_sizes=cfg.critic_hidden_sizes, activation=cfg.activation, num_critics=cfg.num_critics)
    if cfg.critic == "twin_q":
        return TwinQCritic(**common)
    if cfg.critic == "gaussian":
        return GaussianCritic(**common, std_floor=cfg.std_floor, eps=cfg.dsac_eps, bound_sigmas=cfg.dsac_bound_sigmas,
                              sample_clip=cfg.dsac_sample_clip, tau_b=cfg.dsac_tau_b,
                              huber_ratio=cfg.huber_ratio_loss, huber_delta=cfg.huber_delta)
    if cfg.critic == "quantile":
        return QuantileCritic(**common, num_quantiles=cfg.num_quantiles, drop_per_critic=cfg.quantiles_to_drop,
                              kappa=cfg.quantile_kappa)
    if cfg.critic == "c51":
        return CategoricalCritic(**common, num_atoms=cfg.num_atoms, v_min=cfg.v_min, v_max=cfg.v_max)
    raise ValueError(f"critic={cfg.critic!r}")


def make_heads(env: Env, cfg: Config) -> tuple[TanhGaussianHead, Critic]:
    """The tanh-Gaussian actor for ``env``'s actions and the configured critic."""
    head = TanhGaussianHead(env.action_size, cfg.policy_hidden_sizes, cfg.activation, cfg.log_std_min,
                            cfg.log_std_max)
    return head, make_critic(cfg)


def _optimizers(cfg: Config) -> dict[str, optax.GradientTransformation]:
    return {"policy": optax.adam(cfg.actor_learning_rate), "critic": optax.adam(cfg.critic_learning_rate),
            "alpha": optax.adam(cfg.alpha_learning_rate)}


def _training_env(env: Env, cfg: Config) -> Env:
    return envs_lib.wrap_for_training(env, cfg.num_envs, cfg.episode_length)


def _replay(cfg: Config) -> Replay:
    return Replay(capacity=cfg.buffer_size, batch_size=cfg.batch_size)


def _transition(state: State, next_state: State, action: jax.Array) -> dict[str, jax.Array]:
    """What replay stores per env step. ``next_obs`` is the observation the step
    reached (before any auto-reset); ``terminal`` excludes time-limit ends, where
    the target still bootstraps."""
    terminal = next_state.done * (1.0 - next_state.info["truncation"])
    return {"obs": state.obs, "action": action, "reward": next_state.reward,
            "next_obs": next_state.info["final_obs"], "terminal": terminal}


def _collect(env: Env, cfg: Config, env_state: State, replay_state: Any, keys: jax.Array,
             act: Callable[[jax.Array, jax.Array], jax.Array]) -> tuple[State, Any]:
    """Step the batched env once per key with ``act(obs, key)``, adding every transition to replay."""
    training_env, replay = _training_env(env, cfg), _replay(cfg)

    def one_step(carry, key):
        env_state, replay_state = carry
        action = act(env_state.obs, key)
        next_state = training_env.step(env_state, action)
        return (next_state, replay.add(replay_state, _transition(env_state, next_state, action))), None

    (env_state, replay_state), _ = jax.lax.scan(one_step, (env_state, replay_state), keys)
    return env_state, replay_state


def init(env: Env, cfg: Config, key: jax.Array) -> TrainState:
    """Networks, optimizers, targets, ``num_envs`` reset envs, and a replay prefilled with
    ``warmup_steps`` uniformly random actions."""
    Config.check_args(env, cfg)
    head, critic = make_heads(env, cfg)
    obs_size, action_size = envs_lib.observation_size(env), env.action_size
    policy_key, critic_key, env_key, prefill_key, key = jax.random.split(key, 5)
    params = {"policy": head.init(policy_key, obs_size),
              "critic": critic.init(critic_key, obs_size, action_size),
              "log_alpha": jnp.log(jnp.asarray(cfg.init_alpha, jnp.float32))}
    optimizers = _optimizers(cfg)
    opt_state = {"policy": optimizers["policy"].init(params["policy"]),
                 "critic": optimizers["critic"].init(params["critic"]),
                 "alpha": optimizers["alpha"].init(params["log_alpha"])}
    target_params = {"critic": params["critic"], "policy": params["policy"] if cfg.target_policy else None}

    env_state = _training_env(env, cfg).reset(env_key)
    example = jax.tree.map(lambda x: x[0], _transition(env_state, env_state, jnp.zeros((cfg.num_envs, action_size))))
    replay_state = _replay(cfg).init(example)

    def random_action(obs: jax.Array, k: jax.Array) -> jax.Array:
        return jax.random.uniform(k, (obs.shape[0], action_size), minval=-1.0, maxval=1.0)

    env_state, replay_state = _collect(env, cfg, env_state, replay_state,
                                       jax.random.split(prefill_key, cfg.prefill_steps), random_action)
    return TrainState(params=params, target_params=target_params, opt_state=opt_state,
                      critic_state=critic.init_state(), replay=replay_state, env_state=env_state, key=key,
                      update_index=jnp.zeros((), jnp.int32))


def _td_inputs(head: TanhGaussianHead, cfg: Config, state: TrainState, batch: dict[str, jax.Array],
               key: jax.Array) -> dict[str, jax.Array]:
    """Everything a critic's TD loss needs besides its own params (see ``rljax.critics.q``)."""
    next_policy = state.target_params["policy"] if cfg.target_policy else state.params["policy"]
    next_action, aux = head.sample(next_policy, batch["next_obs"], key)
    return jax.lax.stop_gradient({
        "obs": batch["obs"], "action": batch["action"], "reward": batch["reward"] * cfg.reward_scale,
        "discount": cfg.gamma * (1.0 - batch["terminal"]), "next_obs": batch["next_obs"],
        "next_action": next_action, "next_log_prob": aux["log_prob"], "alpha": jnp.exp(state.params["log_alpha"]),
    })


def critic_step(env: Env, cfg: Config, state: TrainState, batch: dict[str, jax.Array],
                key: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
    """One gradient step of the critic on ``batch`` (leaves ``[batch_size, ...]``)."""
    head, critic = make_heads(env, cfg)
    next_key, loss_key = jax.random.split(key)
    td = _td_inputs(head, cfg, state, batch, next_key)
    grad_fn = jax.value_and_grad(critic.loss, has_aux=True)
    (loss, (metrics, critic_state)), grads = grad_fn(state.params["critic"], state.target_params["critic"], td,
                                                     state.critic_state, loss_key)
    updates, opt_critic = _optimizers(cfg)["critic"].update(grads, state.opt_state["critic"])
    params = {**state.params, "critic": optax.apply_updates(state.params["critic"], updates)}
    metrics = {**metrics, "critic_loss": loss, "critic_grad_norm": optax.global_norm(grads)}
    return state.replace(params=params, opt_state={**state.opt_state, "critic": opt_critic},
                         critic_state=critic_state), metrics


def actor_step(env: Env, cfg: Config, state: TrainState, obs: jax.Array,
               key: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
    """Actor, temperature (if ``auto_alpha``) and Polyak target updates on ``obs [batch_size, obs_size]``."""
    head, critic = make_heads(env, cfg)
    optimizers = _optimizers(cfg)
    alpha = jnp.exp(state.params["log_alpha"])

    def loss_fn(policy_params):
        action, aux = head.sample(policy_params, obs, key)
        q = critic.q_value(state.params["critic"], obs, action)
        return actor_loss(aux["log_prob"], q, alpha), aux["log_prob"]

    (loss, log_prob), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params["policy"])
    updates, opt_policy = optimizers["policy"].update(grads, state.opt_state["policy"])
    params = {**state.params, "policy": optax.apply_updates(state.params["policy"], updates)}
    opt_state = {**state.opt_state, "policy": opt_policy}

    if cfg.auto_alpha:
        target_entropy = cfg.target_entropy_per_dim * env.action_size
        alpha_grad = jax.grad(temperature_loss)(state.params["log_alpha"], log_prob, target_entropy)
        updates, opt_alpha = optimizers["alpha"].update(alpha_grad, state.opt_state["alpha"])
        params["log_alpha"] = optax.apply_updates(state.params["log_alpha"], updates)
        opt_state["alpha"] = opt_alpha

    target_params = {"critic": polyak(state.target_params["critic"], params["critic"], cfg.tau),
                     "policy": polyak(state.target_params["policy"], params["policy"], cfg.tau)
                     if cfg.target_policy else None}
    metrics = {"actor_loss": loss, "entropy": -jnp.mean(log_prob), "alpha": alpha,
               "actor_grad_norm": optax.global_norm(grads)}
    return state.replace(params=params, opt_state=opt_state, target_params=target_params), metrics


def _group_batches(cfg: Config, replay_state: Any, key: jax.Array) -> dict[str, jax.Array]:
    """The ``policy_delay`` critic batches of one gradient group (leaves ``[policy_delay, batch_size, ...]``),
    drawn with the group's own keys so the sequence matches sampling inside the group."""
    replay = _replay(cfg)
    keys = jax.random.split(key, 2 * cfg.policy_delay + 1)
    return jax.tree.map(lambda *xs: jnp.stack(xs),
                        *[replay.sample(replay_state, keys[2 * i]) for i in range(cfg.policy_delay)])


def _gradient_group(env: Env, cfg: Config, state: TrainState, key: jax.Array, batches: dict[str, jax.Array]):
    """``policy_delay`` critic steps on ``batches`` (from ``_group_batches(cfg, replay, key)``), then one
    actor/temperature/target step on the last batch's observations."""
    keys = jax.random.split(key, 2 * cfg.policy_delay + 1)
    critic_metrics = []
    for i in range(cfg.policy_delay):  # static and small (DSAC-T: 2)
        batch = jax.tree.map(lambda x: x[i], batches)
        state, metrics = critic_step(env, cfg, state, batch, keys[2 * i + 1])
        critic_metrics.append(metrics)
    state, metrics = actor_step(env, cfg, state, batch["obs"], keys[-1])
    critic_metrics = jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *critic_metrics)
    return state, {**critic_metrics, **metrics}


def update(env: Env, cfg: Config, state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
    """One iteration: ``num_envs * unroll_length`` env steps, then ``grad_steps_per_update``
    gradient steps. Returns the new state and scalar metrics."""
    head, _ = make_heads(env, cfg)
    key, rollout_key, grad_key = jax.random.split(state.key, 3)

    def act(obs: jax.Array, k: jax.Array) -> jax.Array:
        return head.sample(state.params["policy"], obs, k)[0]

    env_state, replay_state = _collect(env, cfg, state.env_state, state.replay,
                                       jax.random.split(rollout_key, cfg.unroll_length), act)
    state = state.replace(env_state=env_state, replay=replay_state)
    num_groups = cfg.grad_steps_per_update // cfg.policy_delay
    group_keys = jax.random.split(grad_key, num_groups)
    # Every batch is drawn before the gradient loop (replay does not change
    # during it), so the loop carries only the learning state, not the buffer.
    batches = jax.vmap(lambda k: _group_batches(cfg, replay_state, k))(group_keys)
    learner, metrics = jax.lax.scan(lambda s, xs: _gradient_group(env, cfg, s, *xs), state.replace(replay=None),
                                    (group_keys, batches))
    state = learner.replace(replay=replay_state)
    metrics = jax.tree.map(jnp.mean, metrics)
    # Losses and params only: episode_return is NaN until a first episode ends.
    metrics["nonfinite"] = 1.0 - (tree_all_finite(state.params) & tree_all_finite(metrics)).astype(jnp.float32)
    update_index = state.update_index + 1
    state = state.replace(key=key, update_index=update_index)
    metrics["episode_return"] = jnp.nanmean(env_state.info["last_episode_return"])
    metrics["env_steps"] = (cfg.prefill_steps * cfg.num_envs
                            + update_index * cfg.env_steps_per_update).astype(jnp.float32)
    return state, metrics


def policy_params(state: TrainState) -> dict[str, Any]:
    """What a policy needs (the actor's params), plus the critic and temperature for inspection."""
    return state.params


def train(env: Env, cfg: Config, key: jax.Array) -> Result:
    """``init`` (with the warm-up prefill) then ``cfg.num_updates`` updates in one ``lax.scan``."""
    return train_with(init, update, policy_params, env, cfg, key)


def make_policy(env: Env, cfg: Config, params: dict[str, Any],
                deterministic: bool = False) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``policy(obs [..., obs_size], key) -> action [..., action_size]`` in ``[-1, 1]``;
    deterministic: ``tanh(mean)``."""
    head, _ = make_heads(env, cfg)

    def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
        if deterministic:
            return head.mode(params["policy"], obs)
        return head.sample(params["policy"], obs, key)[0]

    return policy
