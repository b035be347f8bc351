"""PPO: collect a batch with the current policy, then epochs of minibatch updates.

The whole run is ``init`` followed by ``lax.scan`` of ``update``, one XLA
program; ``jax.vmap`` over keys runs seeds, over a stacked ``Config`` runs a
hyperparameter sweep. With ``axis_name`` (:mod:`rljax.parallel`'s data axis)
each device steps its share of the envs and shuffles its share of the batch
into its share of each minibatch; gradients, advantage statistics,
observation statistics and metrics are averaged over the devices.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from rljax import env as env_lib
from rljax import parallel, running_stats
from rljax.agents.ppo.config import Config
from rljax.agents.ppo.losses import ppo_loss
from rljax.critics.value import ValueCritic
from rljax.env import Env, State
from rljax.policies import registry as policies
from rljax.policies.base import PolicyHead, acting_policy
from rljax.returns import gae
from rljax.training import Result, train_with, tree_all_finite


@struct.dataclass
class TrainState:
    params: dict[str, Any]  # {"policy": ..., "value": ...}
    opt_state: optax.OptState  # over ravel_pytree(params), one flat vector (see update)
    obs_stats: running_stats.RunningStats
    env_state: State
    key: jax.Array
    update_index: jax.Array  # int32 scalar: updates done so far


def make_heads(env: Env, cfg: Config) -> tuple[PolicyHead, ValueCritic]:
    """The policy head ``cfg.policy`` (with its settings group) and the value critic."""
    name = cfg.policy_head_name(env)
    head = policies.make(name, action_size=env.action_size, hidden_sizes=cfg.policy_hidden_sizes,
                         activation=cfg.activation, settings=policies.settings_of(cfg, name))
    return head, ValueCritic(cfg.value_hidden_sizes, cfg.activation)


def _training_env(env: Env, cfg: Config, axis_name: str | None = None) -> Env:
    """This device's envs: all ``num_envs``, or its share of them along ``axis_name``."""
    return env_lib.wrap_for_training(env, parallel.local_size(cfg.num_envs, axis_name, "num_envs"),
                                     cfg.episode_length)


def _optimizer(cfg: Config) -> optax.GradientTransformation:
    if cfg.anneal_learning_rate:
        steps_per_update = cfg.num_epochs * cfg.num_minibatches
        learning_rate = optax.linear_schedule(cfg.learning_rate, 0.0, cfg.num_updates * steps_per_update)
    else:
        learning_rate = cfg.learning_rate
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(learning_rate, eps=1e-5))


def init(env: Env, cfg: Config, key: jax.Array, policy_params: Any = None, *,
         axis_name: str | None = None) -> TrainState:
    """Networks, optimizer, normaliser and ``num_envs`` freshly reset envs.

    ``policy_params``: start from pre-trained parameters (behaviour cloning, a
    checkpoint) instead of from scratch: either the policy head's own params,
    or an agent's ``policy_params(state)`` / ``Result.params`` (a dict with
    ``"policy"``, and optionally ``"value"`` and ``"obs_stats"``, each used
    when present; without ``"obs_stats"`` the normaliser starts fresh, so
    params trained on normalised observations should bring theirs, and
    ``cfg.freeze_obs_stats`` keeps them as they are: statistics that move
    change the pre-trained policy). They must have the structure and shapes
    of this Config's head on ``env`` (a ``ValueError`` says where they
    differ). ``None``: from scratch. ``axis_name``: the data axis this device
    holds a share of the envs along (:mod:`rljax.parallel`).
    """
    Config.check_args(env, cfg)
    head, critic = make_heads(env, cfg)
    obs_size = env_lib.observation_size(env)
    policy_key, value_key, env_key, key = jax.random.split(key, 4)
    params = {"policy": head.init(policy_key, obs_size), "value": critic.init(value_key, obs_size)}
    obs_stats = running_stats.init(obs_size)
    if policy_params is not None:
        given = dict(policy_params) if _is_agent_params(policy_params) else {"policy": policy_params}
        for name, fresh in (("policy", params["policy"]), ("value", params["value"]), ("obs_stats", obs_stats)):
            if name in given:
                _check_same_structure(f"policy_params[{name!r}]", fresh, given[name])
        params = {"policy": given["policy"], "value": given.get("value", params["value"])}
        obs_stats = given.get("obs_stats", obs_stats)
    return TrainState(
        params=params,
        opt_state=_optimizer(cfg).init(ravel_pytree(params)[0]),
        obs_stats=obs_stats,
        env_state=_training_env(env, cfg, axis_name).reset(parallel.shard_key(env_key, axis_name)),
        key=key,
        update_index=jnp.zeros((), jnp.int32),
    )


def _is_agent_params(params: Any) -> bool:
    """``policy_params(state)``'s dict (``"policy"`` and more), as opposed to a head's own params."""
    return isinstance(params, Mapping) and "policy" in params


def _check_same_structure(name: str, expected: Any, given: Any) -> None:
    expected_paths = {jax.tree_util.keystr(p): jnp.shape(x) for p, x in jax.tree_util.tree_leaves_with_path(expected)}
    given_paths = {jax.tree_util.keystr(p): jnp.shape(x) for p, x in jax.tree_util.tree_leaves_with_path(given)}
    if expected_paths != given_paths:
        missing = sorted(set(expected_paths) - set(given_paths))
        extra = sorted(set(given_paths) - set(expected_paths))
        shapes = [f"{p}: {given_paths[p]} (expected {expected_paths[p]})" for p in sorted(expected_paths)
                  if p in given_paths and given_paths[p] != expected_paths[p]]
        raise ValueError(f"{name} does not fit this Config's networks: missing {missing[:4]}, unexpected "
                         f"{extra[:4]}, shapes differing {shapes[:4]}")


def _updates_obs_stats(cfg: Config) -> bool:
    return cfg.normalize_observations and not cfg.freeze_obs_stats


def _rollout(env: Env, cfg: Config, head: PolicyHead, state: TrainState, key: jax.Array,
             axis_name: str | None = None):
    """``unroll_length`` steps of this device's envs; time-major transitions."""
    training_env = _training_env(env, cfg, axis_name)
    normalize = running_stats.normalizer(state.obs_stats, cfg.normalize_observations)

    def one_step(env_state: State, step_key: jax.Array):
        obs = normalize(env_state.obs)
        action, aux = head.sample(state.params["policy"], obs, step_key)
        next_state = training_env.step(env_state, action)
        transition = {
            "obs": obs,
            "action": action,
            "aux": aux,
            "reward": next_state.reward,
            "done": next_state.done,
            "truncation": next_state.info["truncation"],
            "next_obs": normalize(next_state.info["final_obs"]),
        }
        if _updates_obs_stats(cfg):
            transition["raw_obs"] = env_state.obs
        return next_state, transition

    return jax.lax.scan(one_step, state.env_state, jax.random.split(key, cfg.unroll_length))


def _permutation(key: jax.Array, n: int) -> jax.Array:
    """A uniformly random permutation of ``range(n)`` (int32) from one sort of ``n`` uint32s.

    ``jax.random.permutation`` sorts (random key, index) pairs, and XLA:CPU
    sorts pairs about 10x slower than plain arrays (0.7 ms vs 0.08 ms for
    2048). Here each uint32 carries random high bits and the index in its low
    ``ceil(log2 n)`` bits, so one plain sort shuffles and carries the index.
    Indices whose random bits tie keep their order, with probability
    ``2**-(32 - ceil(log2 n))`` per pair (5e-7 at n = 2048); past ``2**16``
    items that grows, so larger batches use ``jax.random.permutation``.
    """
    index_bits = max(1, (n - 1).bit_length())
    if index_bits > 16:
        return jax.random.permutation(key, n)
    mask = jnp.uint32((1 << index_bits) - 1)
    packed = (jax.random.bits(key, (n,), jnp.uint32) & ~mask) | jnp.arange(n, dtype=jnp.uint32)
    return (jnp.sort(packed) & mask).astype(jnp.int32)


def update(env: Env, cfg: Config, state: TrainState, *,
           axis_name: str | None = None) -> tuple[TrainState, dict[str, jax.Array]]:
    """One PPO iteration: a rollout of ``num_envs * unroll_length`` steps, then
    ``num_epochs x num_minibatches`` gradient steps. Returns the new state and
    scalar metrics for this update.

    ``axis_name``: the data axis (:mod:`rljax.parallel`). Each device rolls out
    its envs, shuffles its own share of the batch and takes its share of every
    minibatch from it; the mean of the devices' gradients is then the
    gradient of the whole minibatch (advantages normalised by the whole
    minibatch's statistics)."""
    head, critic = make_heads(env, cfg)
    optimizer = _optimizer(cfg)
    key, rollout_key, shuffle_key = jax.random.split(state.key, 3)
    rollout_key, shuffle_key = parallel.shard_key(rollout_key, axis_name), parallel.shard_key(shuffle_key, axis_name)
    batch_size = parallel.local_size(cfg.batch_size, axis_name, "batch_size")
    minibatch_size = parallel.local_size(cfg.minibatch_size, axis_name, "minibatch_size")
    env_state, traj = _rollout(env, cfg, head, state, rollout_key, axis_name)

    # The behaviour log-likelihood is scored here, in one batched pass at the
    # rollout's params, from what the head stored in ``aux``.
    log_likelihood = head.log_likelihood(state.params["policy"], traj["obs"], traj["action"], traj["aux"])
    values = critic.value(state.params["value"], traj["obs"])
    next_values = critic.value(state.params["value"], traj["next_obs"])
    advantages, returns = gae(traj["reward"] * cfg.reward_scale, values, next_values, traj["done"],
                              traj["truncation"], cfg.gamma, cfg.gae_lambda)
    batch = {"obs": traj["obs"], "action": traj["action"], "aux": traj["aux"], "log_likelihood": log_likelihood,
             "advantages": advantages, "returns": returns, "values": values}
    batch = jax.tree.map(lambda x: x.reshape((batch_size,) + x.shape[2:]), batch)

    # Gradient steps run on the parameters raveled into one flat vector, so the
    # optimizer (global-norm clip, Adam) updates one array per step instead of
    # one per layer: a few large ops instead of dozens of tiny ones. The
    # arithmetic is the same (the global norm of the tree is the vector's norm).
    flat_params, unravel = ravel_pytree(state.params)

    def minibatch_step(carry, xs):
        flat, opt_state = carry
        minibatch, key = xs
        grads, loss_metrics = jax.grad(
            lambda f: ppo_loss(unravel(f), minibatch, cfg, head, critic, key, axis_name), has_aux=True)(flat)
        grads, loss_metrics = parallel.reduce_mean((grads, loss_metrics), axis_name)
        updates, opt_state = optimizer.update(grads, opt_state, flat)
        flat = optax.apply_updates(flat, updates)
        loss_metrics["grad_norm"] = optax.global_norm(grads)
        return (flat, opt_state), loss_metrics

    def epoch(carry, epoch_key):
        permutation = _permutation(epoch_key, batch_size)
        shuffled = jax.tree.map(
            lambda x: x[permutation].reshape((cfg.num_minibatches, minibatch_size) + x.shape[1:]), batch)
        # Keys only for heads whose entropy is a sampled estimate.
        keys = (jax.random.split(jax.random.fold_in(epoch_key, 1), cfg.num_minibatches)
                if head.entropy_kind == "estimate" else None)
        return jax.lax.scan(minibatch_step, carry, (shuffled, keys))

    (flat_params, opt_state), loss_metrics = jax.lax.scan(
        epoch, (flat_params, state.opt_state), jax.random.split(shuffle_key, cfg.num_epochs))
    params = unravel(flat_params)

    # The normaliser moves after the update so the ratio starts at exactly 1.
    obs_stats = running_stats.update(state.obs_stats, traj["raw_obs"], axis_name) if _updates_obs_stats(cfg) \
        else state.obs_stats
    new_state = TrainState(params=params, opt_state=opt_state, obs_stats=obs_stats, env_state=env_state,
                           key=key, update_index=state.update_index + 1)
    metrics = jax.tree.map(jnp.mean, loss_metrics)
    metrics["episode_return"] = parallel.reduce_nanmean(env_state.info["last_episode_return"], axis_name)
    metrics["env_steps"] = (state.update_index + 1).astype(jnp.float32) * cfg.batch_size
    metrics["nonfinite"] = 1.0 - (tree_all_finite(params) & tree_all_finite(loss_metrics)).astype(jnp.float32)
    return new_state, metrics


def policy_params(state: TrainState) -> dict[str, Any]:
    """What a policy needs: network params and observation statistics."""
    return {**state.params, "obs_stats": state.obs_stats}


_policy_params = policy_params  # for ``train``, whose argument ``policy_params`` shadows the function


def train(env: Env, cfg: Config, key: jax.Array, policy_params: Any = None) -> Result:
    """``init`` (from ``policy_params`` when given, see :func:`init`) then ``cfg.num_updates`` updates in
    one ``lax.scan``."""
    return train_with(functools.partial(init, policy_params=policy_params), update, _policy_params, env, cfg, key)


def make_policy(env: Env, cfg: Config, params: dict[str, Any],
                deterministic: bool = False) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``policy(obs [..., obs_size], key) -> action``; normalises observations as in training."""
    return acting_policy(make_heads(env, cfg)[0], params["policy"],
                         running_stats.normalizer(params["obs_stats"], cfg.normalize_observations), deterministic)
