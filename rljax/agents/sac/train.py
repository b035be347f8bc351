"""The shared off-policy loop: SAC, and every preset over it (DSAC-T).

One training iteration (``update``) steps ``num_envs`` envs ``unroll_length``
times with the current policy, writing each transition into a
device-resident replay, then makes ``grad_steps_per_update`` gradient steps
in groups of ``policy_delay``: each group updates the critic ``policy_delay``
times, then the actor, the entropy regulator and the Polyak targets once.
The grouping keeps delayed updates free of ``lax.cond`` (which ``vmap`` would
turn into computing both branches). ``init`` fills the replay with
``warmup_steps`` random actions first. The whole run is ``init`` and a
``lax.scan`` of ``update``: one XLA program, vmappable over seeds and
stacked configs.

The parts are chosen by the Config: the actor head (``policy``), the critic
head (``critic``, which owns its TD loss) and the entropy regulator
(``entropy``, :mod:`rljax.agents.sac.entropy`). A new off-policy agent is a
preset of these, not a copy of this loop.

With ``axis_name`` (:mod:`rljax.parallel`'s data axis) each device steps its
share of the envs into a replay of its own (``buffer_size / devices``) and
samples its share of every batch (``batch_size / devices``) from it;
gradients, the parts' batch statistics and metrics are averaged over the
devices.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import env as env_lib
from rljax import parallel
from rljax.agents.sac import entropy as entropy_lib
from rljax.agents.sac.config import Config
from rljax.agents.sac.entropy import ActorSample, EntropyRegulator
from rljax.agents.sac.losses import actor_loss, polyak
from rljax.critics import registry as critics
from rljax.critics.base import CriticHead
from rljax.env import Env, State
from rljax.policies import registry as policies
from rljax.policies.base import PolicyHead
from rljax.replay import Replay
from rljax.training import Result, train_with, tree_all_finite


@struct.dataclass
class TrainState:
    params: dict[str, Any]         # {"policy", "critic"}
    target_params: dict[str, Any]  # {"critic", "policy"} ("policy" is None unless cfg.target_policy)
    opt_state: dict[str, Any]      # {"policy", "critic"}
    entropy: Any                   # the entropy regulator's state (SAC: log-alpha and its Adam state)
    critic_state: dict[str, jax.Array]  # the critic head's running state (DSAC-T's running stds)
    replay: Any
    env_state: State
    key: jax.Array
    update_index: jax.Array  # int32 scalar: updates done so far
    reward_normalizer: jax.Array  # float32 scalar: learning's rewards are reward * reward_scale * this


class Parts(NamedTuple):
    """The pieces a Config selects: actor head, critic head, entropy regulator; and the data axis the
    learning steps average over (None on one device)."""

    head: PolicyHead
    critic: CriticHead
    regulator: EntropyRegulator
    axis_name: str | None = None


def make_critic(cfg: Config) -> CriticHead:
    """The critic head named by ``cfg.critic``, with its settings group."""
    return critics.make(cfg.critic, hidden_sizes=cfg.critic_hidden_sizes, activation=cfg.activation,
                        num_critics=cfg.num_critics, settings=critics.settings_of(cfg, cfg.critic))


def make_parts(env: Env, cfg: Config, axis_name: str | None = None) -> Parts:
    """The actor head for ``env``'s actions, the configured critic and entropy regulator; with ``axis_name``,
    the critic and regulator that keep batch statistics reduce them over it (:func:`rljax.parallel.bind_axis`)."""
    head = policies.make(cfg.policy, action_size=env.action_size, hidden_sizes=cfg.policy_hidden_sizes,
                         activation=cfg.activation, settings=policies.settings_of(cfg, cfg.policy))
    return Parts(head, parallel.bind_axis(make_critic(cfg), axis_name),
                 parallel.bind_axis(entropy_lib.make(cfg, env.action_size), axis_name), axis_name)


def _optimizers(cfg: Config) -> dict[str, optax.GradientTransformation]:
    return {"policy": optax.adam(cfg.actor_learning_rate), "critic": optax.adam(cfg.critic_learning_rate)}


def _training_env(env: Env, cfg: Config, axis_name: str | None = None) -> Env:
    """This device's envs: all ``num_envs``, or its share of them along ``axis_name``."""
    return env_lib.wrap_for_training(env, parallel.local_size(cfg.num_envs, axis_name, "num_envs"),
                                     cfg.episode_length)


def _replay(cfg: Config, axis_name: str | None = None) -> Replay:
    """This device's replay: its share of ``buffer_size``, sampling its share of ``batch_size``."""
    return Replay(capacity=parallel.local_size(cfg.buffer_size, axis_name, "buffer_size"),
                  batch_size=parallel.local_size(cfg.batch_size, axis_name, "batch_size"))


def _transition(state: State, next_state: State, action: jax.Array) -> dict[str, jax.Array]:
    """What replay stores per env step. ``next_obs`` is the observation the step
    reached (before any auto-reset); ``terminal`` excludes time-limit ends, where
    the target still bootstraps."""
    terminal = next_state.done * (1.0 - next_state.info["truncation"])
    return {"obs": state.obs, "action": action, "reward": next_state.reward,
            "next_obs": next_state.info["final_obs"], "terminal": terminal}


def _collect(env: Env, cfg: Config, env_state: State, replay_state: Any, keys: jax.Array,
             act: Callable[[jax.Array, jax.Array], jax.Array],
             axis_name: str | None = None) -> tuple[State, Any, jax.Array]:
    """Step the batched env once per key with ``act(obs, key)``, adding every transition to replay.
    Also returns the rewards, ``[len(keys), num_envs]`` (this device's envs with ``axis_name``)."""
    training_env, replay = _training_env(env, cfg, axis_name), _replay(cfg, axis_name)

    def one_step(carry, key):
        env_state, replay_state = carry
        action = act(env_state.obs, key)
        next_state = training_env.step(env_state, action)
        return (next_state, replay.add(replay_state, _transition(env_state, next_state, action))), next_state.reward

    (env_state, replay_state), rewards = jax.lax.scan(one_step, (env_state, replay_state), keys)
    return env_state, replay_state, rewards


def init(env: Env, cfg: Config, key: jax.Array, *, axis_name: str | None = None) -> TrainState:
    """Networks, optimizers, targets, regulator, ``num_envs`` reset envs, and a replay prefilled
    with ``warmup_steps`` uniformly random actions. ``axis_name``: the data axis this device holds
    a share of the envs and of the replay along (:mod:`rljax.parallel`)."""
    Config.check_args(env, cfg)
    head, critic, regulator, _ = make_parts(env, cfg, axis_name)
    obs_size, action_size = env_lib.observation_size(env), env.action_size
    policy_key, critic_key, env_key, prefill_key, key = jax.random.split(key, 5)
    params = {"policy": head.init(policy_key, obs_size), "critic": critic.init(critic_key, obs_size, action_size)}
    optimizers = _optimizers(cfg)
    opt_state = {name: optimizers[name].init(params[name]) for name in ("policy", "critic")}
    target_params = {"critic": params["critic"], "policy": params["policy"] if cfg.target_policy else None}

    env_state = _training_env(env, cfg, axis_name).reset(parallel.shard_key(env_key, axis_name))
    example = jax.tree.map(lambda x: x[0], _transition(env_state, env_state, jnp.zeros((1, action_size))))
    replay_state = _replay(cfg, axis_name).init(example)

    def random_action(obs: jax.Array, k: jax.Array) -> jax.Array:
        return jax.random.uniform(k, (obs.shape[0], action_size), minval=-1.0, maxval=1.0)

    prefill_keys = jax.random.split(parallel.shard_key(prefill_key, axis_name), cfg.prefill_steps)
    env_state, replay_state, rewards = _collect(env, cfg, env_state, replay_state, prefill_keys, random_action,
                                                axis_name)
    return TrainState(params=params, target_params=target_params, opt_state=opt_state, entropy=regulator.init(),
                      critic_state=critic.init_state(), replay=replay_state, env_state=env_state, key=key,
                      update_index=jnp.zeros((), jnp.int32),
                      reward_normalizer=reward_normalizer(cfg, rewards, axis_name))


def reward_normalizer(cfg: Config, warmup_rewards: jax.Array, axis_name: str | None = None) -> jax.Array:
    """``1 / std`` of the warm-up's rewards with ``cfg.normalize_rewards`` (1 where they are constant), else 1.
    With ``axis_name``, the std of every device's warm-up rewards.

    Rewards scaled by ``c`` give a ``c`` times larger std, so learning sees the
    same numbers at every reward scale (networks initialised and optimised for
    unit-scale outputs, and constants in reward units such as DSAC-T's
    ``eps``, then act the same at every scale)."""
    if not cfg.normalize_rewards:
        return jnp.ones((), jnp.float32)
    if axis_name is None:
        std = jnp.std(warmup_rewards)
    else:
        mean = parallel.reduce_mean(jnp.mean(warmup_rewards), axis_name)
        std = jnp.sqrt(parallel.reduce_mean(jnp.mean(jnp.square(warmup_rewards - mean)), axis_name))
    return jnp.where(std > 1e-8, 1.0 / jnp.maximum(std, 1e-8), 1.0).astype(jnp.float32)


class UpdateKeys(NamedTuple):
    """Every random key of one update's gradient phase, drawn together (leading ``[groups]``;
    the critic's also ``[policy_delay]``)."""

    batch: jax.Array        # replay samples
    next_action: jax.Array  # next actions of the TD targets
    critic_loss: jax.Array  # the critic head's own sampling (DSAC-T's return samples)
    actor: jax.Array        # the actor's reparameterised samples
    regulator: jax.Array    # the entropy regulator's update


def draw_update_keys(cfg: Config, key: jax.Array) -> UpdateKeys:
    """The keys of ``grad_steps_per_update / policy_delay`` gradient groups."""
    num_groups, delay = cfg.grad_steps_per_update // cfg.policy_delay, cfg.policy_delay
    keys = jax.random.split(key, (num_groups, 3 * delay + 2))
    return UpdateKeys(batch=keys[:, :delay], next_action=keys[:, delay:2 * delay],
                      critic_loss=keys[:, 2 * delay:3 * delay], actor=keys[:, -2], regulator=keys[:, -1])


def _td_inputs(parts: Parts, cfg: Config, state: TrainState, batch: dict[str, jax.Array],
               key: jax.Array) -> dict[str, jax.Array]:
    """Everything a critic's TD loss needs besides its own params (see :mod:`rljax.critics.base`)."""
    head, regulator = parts.head, parts.regulator
    next_policy = state.target_params["policy"] if cfg.target_policy else state.params["policy"]
    if regulator.uses_log_prob:
        next_action, _, next_log_prob = head.sample_and_log_likelihood(next_policy, batch["next_obs"], key)
    else:
        next_action = head.sample(next_policy, batch["next_obs"], key)[0]
        next_log_prob = jnp.zeros(batch["reward"].shape, jnp.float32)
    return jax.lax.stop_gradient({
        "obs": batch["obs"], "action": batch["action"],
        "reward": batch["reward"] * cfg.reward_scale * state.reward_normalizer,
        "discount": cfg.gamma * (1.0 - batch["terminal"]), "next_obs": batch["next_obs"],
        "next_action": next_action, "next_log_prob": next_log_prob, "alpha": regulator.alpha(state.entropy),
    })


def critic_step(parts: Parts, cfg: Config, state: TrainState, batch: dict[str, jax.Array], next_key: jax.Array,
                loss_key: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
    """One gradient step of the critic on ``batch`` (leaves ``[batch_size, ...]``)."""
    td = _td_inputs(parts, cfg, state, batch, next_key)
    grad_fn = jax.value_and_grad(parts.critic.loss, has_aux=True)
    (loss, (metrics, critic_state)), grads = grad_fn(state.params["critic"], state.target_params["critic"], td,
                                                     state.critic_state, loss_key)
    grads, metrics, loss = parallel.reduce_mean((grads, metrics, loss), parts.axis_name)
    updates, opt_critic = _optimizers(cfg)["critic"].update(grads, state.opt_state["critic"])
    params = {**state.params, "critic": optax.apply_updates(state.params["critic"], updates)}
    metrics = {**metrics, "critic_loss": loss, "critic_grad_norm": optax.global_norm(grads)}
    return state.replace(params=params, opt_state={**state.opt_state, "critic": opt_critic},
                         critic_state=critic_state), metrics


def actor_step(parts: Parts, cfg: Config, state: TrainState, obs: jax.Array, actor_key: jax.Array,
               regulator_key: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
    """Actor, entropy-regulator and Polyak target updates on ``obs [batch_size, obs_size]``."""
    head, critic, regulator = parts.head, parts.critic, parts.regulator
    alpha = regulator.alpha(state.entropy)

    def loss_fn(policy_params):
        if regulator.uses_log_prob:
            action, _, log_prob = head.sample_and_log_likelihood(policy_params, obs, actor_key)
        else:
            action, log_prob = head.sample(policy_params, obs, actor_key)[0], None
        q = critic.q_value(state.params["critic"], obs, action)
        loss = actor_loss(log_prob, q, alpha)
        regularizer = jnp.zeros((), jnp.float32)
        if regulator.regularizes_actor:
            regularizer = regulator.actor_regularizer(
                state.entropy, obs, jax.random.fold_in(actor_key, 1),
                lambda o, a: jax.lax.stop_gradient(critic.q_value(state.params["critic"], o, a)),
                lambda o, a, k: head.imitation_loss(policy_params, o, a, k))
        return loss + regularizer, (ActorSample(obs, action, log_prob), regularizer)

    (loss, (sample, regularizer)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params["policy"])
    grads, loss = parallel.reduce_mean((grads, loss), parts.axis_name)
    updates, opt_policy = _optimizers(cfg)["policy"].update(grads, state.opt_state["policy"])
    params = {**state.params, "policy": optax.apply_updates(state.params["policy"], updates)}
    entropy_state, regulator_metrics = regulator.update(
        state.entropy, jax.lax.stop_gradient(sample), regulator_key,
        lambda o, k: jax.lax.stop_gradient(head.sample(params["policy"], o, k)[0]))

    target_params = {"critic": polyak(state.target_params["critic"], params["critic"], cfg.tau),
                     "policy": polyak(state.target_params["policy"], params["policy"], cfg.tau)
                     if cfg.target_policy else None}
    metrics = {"actor_loss": loss, "alpha": alpha, "actor_grad_norm": optax.global_norm(grads), **regulator_metrics}
    if regulator.regularizes_actor:
        metrics["actor_regularizer"] = regularizer
    if sample.log_prob is not None:  # -log pi of one sample per state: a Monte-Carlo estimate
        metrics["entropy_estimate"] = -jnp.mean(sample.log_prob)
    metrics = parallel.reduce_mean(metrics, parts.axis_name)
    return state.replace(params=params, opt_state={**state.opt_state, "policy": opt_policy},
                         entropy=entropy_state, target_params=target_params), metrics


def _gradient_group(parts: Parts, cfg: Config, state: TrainState, batches: dict[str, jax.Array],
                    keys: UpdateKeys) -> tuple[TrainState, dict[str, jax.Array]]:
    """``policy_delay`` critic steps on ``batches`` (leaves ``[policy_delay, batch_size, ...]``), then one
    actor / regulator / target step on the last batch's observations."""
    critic_metrics = []
    for i in range(cfg.policy_delay):  # static and small (DSAC-T: 2)
        batch = jax.tree.map(lambda x: x[i], batches)
        state, metrics = critic_step(parts, cfg, state, batch, keys.next_action[i], keys.critic_loss[i])
        critic_metrics.append(metrics)
    state, metrics = actor_step(parts, cfg, state, batch["obs"], keys.actor, keys.regulator)
    critic_metrics = jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *critic_metrics)
    return state, {**critic_metrics, **metrics}


def update(env: Env, cfg: Config, state: TrainState, *,
           axis_name: str | None = None) -> tuple[TrainState, dict[str, jax.Array]]:
    """One iteration: ``num_envs * unroll_length`` env steps, then ``grad_steps_per_update``
    gradient steps. Returns the new state and scalar metrics. ``axis_name``: the data axis
    (:mod:`rljax.parallel`); each device steps its envs, samples its share of every batch from
    its own replay, and the devices average their gradients."""
    parts = make_parts(env, cfg, axis_name)
    key, rollout_key, grad_key = jax.random.split(state.key, 3)
    rollout_key, grad_key = parallel.shard_key(rollout_key, axis_name), parallel.shard_key(grad_key, axis_name)

    def act(obs: jax.Array, k: jax.Array) -> jax.Array:
        action = parts.head.sample(state.params["policy"], obs, k)[0]
        return parts.regulator.explore(state.entropy, action, jax.random.fold_in(k, 1))

    env_state, replay_state, _ = _collect(env, cfg, state.env_state, state.replay,
                                          jax.random.split(rollout_key, cfg.unroll_length), act, axis_name)
    keys = draw_update_keys(cfg, grad_key)
    # Every batch is drawn before the gradient loop (replay does not change
    # during it), so the loop carries only the learning state, not the buffer.
    replay = _replay(cfg, axis_name)
    batches = jax.vmap(jax.vmap(lambda k: replay.sample(replay_state, k)))(keys.batch)
    learner, metrics = jax.lax.scan(lambda s, xs: _gradient_group(parts, cfg, s, *xs),
                                    state.replace(replay=None, env_state=None), (batches, keys))
    metrics = jax.tree.map(jnp.mean, metrics)
    # Losses and params only: episode_return is NaN until a first episode ends.
    metrics["nonfinite"] = 1.0 - (tree_all_finite(learner.params) & tree_all_finite(metrics)).astype(jnp.float32)
    update_index = state.update_index + 1
    state = learner.replace(replay=replay_state, env_state=env_state, key=key, update_index=update_index)
    metrics["episode_return"] = parallel.reduce_nanmean(env_state.info["last_episode_return"], axis_name)
    metrics["env_steps"] = (cfg.prefill_steps * cfg.num_envs
                            + update_index * cfg.env_steps_per_update).astype(jnp.float32)
    return state, metrics


def policy_params(state: TrainState) -> dict[str, Any]:
    """What a policy needs (the actor's params), plus the critic for inspection."""
    return state.params


def train(env: Env, cfg: Config, key: jax.Array) -> Result:
    """``init`` (with the warm-up prefill) then ``cfg.num_updates`` updates in one ``lax.scan``."""
    return train_with(init, update, policy_params, env, cfg, key)


def make_policy(env: Env, cfg: Config, params: dict[str, Any],
                deterministic: bool = False) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``policy(obs [..., obs_size], key) -> action [..., action_size]``; deterministic: the head's mode
    (``tanh(mean)`` for the tanh-Gaussian head). Exploration perturbations of the regulator are
    training-time only."""
    head = make_parts(env, cfg).head

    def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
        if deterministic:
            return head.mode(params["policy"], obs)
        return head.sample(params["policy"], obs, key)[0]

    return policy
