"""Behaviour cloning over a dataset, with the agent contract (the dataset stands where an env would).

``init(dataset, cfg, key)`` builds the head; ``update(dataset, cfg, state)``
makes ``steps_per_update`` Adam steps of the head's ``imitation_loss`` on
random minibatches; ``train`` is ``init`` and a ``lax.scan`` of ``update``;
``policy_params(state)`` returns ``{"policy": ..., "obs_stats": ...}``, the
layout PPO's ``policy_params`` has, so a cloned policy starts an on-policy
fine-tuning (``agents.dppo.init(env, cfg, key, policy_params=...)``) or is
evaluated on the dataset's env with ``make_policy``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import running_stats
from rljax.agents.bc.config import Config
from rljax.data import Dataset
from rljax.policies import registry as policies
from rljax.policies.base import PolicyHead, acting_policy
from rljax.training import Result, train_with, tree_all_finite


@struct.dataclass
class TrainState:
    params: Any  # the head's params
    opt_state: optax.OptState
    obs_stats: running_stats.RunningStats
    key: jax.Array
    update_index: jax.Array  # int32 scalar


def make_head(action_size: int, cfg: Config) -> PolicyHead:
    """The head ``cfg.policy`` with its settings group, for ``action_size`` action dimensions."""
    return policies.make(cfg.policy, action_size=action_size, hidden_sizes=cfg.policy_hidden_sizes,
                         activation=cfg.activation, settings=policies.settings_of(cfg, cfg.policy))


def _optimizer(cfg: Config) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, cfg.total_steps, alpha=0.1)
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(schedule))


def init(dataset: Dataset, cfg: Config, key: jax.Array) -> TrainState:
    """The head's params, Adam, and the dataset's observation statistics."""
    Config.check_args(dataset, cfg)
    params = make_head(dataset.action_size, cfg).init(jax.random.fold_in(key, 0), dataset.observation_size)
    return TrainState(params=params, opt_state=_optimizer(cfg).init(params), obs_stats=dataset.obs_stats,
                      key=jax.random.fold_in(key, 1), update_index=jnp.zeros((), jnp.int32))


def update(dataset: Dataset, cfg: Config, state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
    """``steps_per_update`` gradient steps on random minibatches; the mean loss."""
    head, optimizer = make_head(dataset.action_size, cfg), _optimizer(cfg)
    normalize = running_stats.normalizer(state.obs_stats, cfg.normalize_observations)
    key, steps_key = jax.random.split(state.key)

    def step(carry, step_key):
        params, opt_state = carry
        index_key, loss_key = jax.random.split(step_key)
        index = jax.random.randint(index_key, (cfg.batch_size,), 0, dataset.size)
        obs, action = normalize(dataset.obs[index]), dataset.action[index]
        loss, grads = jax.value_and_grad(lambda p: jnp.mean(head.imitation_loss(p, obs, action, loss_key)))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, optax.global_norm(grads))

    (params, opt_state), (losses, grad_norms) = jax.lax.scan(
        step, (state.params, state.opt_state), jax.random.split(steps_key, cfg.steps_per_update))
    update_index = state.update_index + 1
    metrics = {"loss": jnp.mean(losses), "grad_norm": jnp.mean(grad_norms),
               "gradient_steps": (update_index * cfg.steps_per_update).astype(jnp.float32),
               "nonfinite": 1.0 - (tree_all_finite(params) & jnp.all(jnp.isfinite(losses))).astype(jnp.float32)}
    return state.replace(params=params, opt_state=opt_state, key=key, update_index=update_index), metrics


def policy_params(state: TrainState) -> dict[str, Any]:
    """``{"policy": head params, "obs_stats": the dataset's statistics}`` (PPO's layout)."""
    return {"policy": state.params, "obs_stats": state.obs_stats}


def train(dataset: Dataset, cfg: Config, key: jax.Array) -> Result:
    """``init`` then ``cfg.num_updates`` updates in one ``lax.scan``."""
    return train_with(init, update, policy_params, dataset, cfg, key)


def make_policy(env: Any, cfg: Config, params: dict[str, Any],
                deterministic: bool = False) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``policy(obs [..., obs_size], key) -> action``; ``env`` is the dataset or an env with its
    ``action_size``. Observations are normalised with the dataset's statistics, as in training."""
    return acting_policy(make_head(env.action_size, cfg), params["policy"],
                         running_stats.normalizer(params["obs_stats"], cfg.normalize_observations), deterministic)
