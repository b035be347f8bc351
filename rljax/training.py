"""The agent contract, and the loop every agent shares: init, then ``lax.scan`` of one update.

Runners that want progress, logging or checkpoints between compiled chunks
call :func:`run_updates` on a chunk of updates at a time instead.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Protocol, TypeVar, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

S = TypeVar("S")
Metrics = dict[str, jax.Array]


@struct.dataclass
class Result:
    """What ``train`` returns.

    ``params``: everything a policy needs (network params and observation
    statistics). ``metrics``: dict of arrays with one row per update (leading
    axis ``[num_updates]``; ``[seeds, num_updates]`` under ``vmap``).
    ``state``: the final training state, to resume or inspect.
    """

    params: Any
    metrics: Metrics
    state: Any


Policy = Callable[[jax.Array, jax.Array], jax.Array]


@runtime_checkable
class Agent(Protocol):
    """What every agent module in ``rljax.agents`` provides (modules satisfy it structurally).

    - ``Config``: its config class (:class:`rljax.config.ConfigBase`), with
      ``num_updates``; structural fields static, float fields pytree leaves.
    - ``init(env, cfg, key) -> TrainState``: checks ``(env, cfg)`` before
      anything compiles, then builds networks, optimizers and env states.
    - ``update(env, cfg, state) -> (TrainState, metrics)``: one training
      iteration; metrics are scalars and include ``episode_return``,
      ``env_steps`` and ``nonfinite``. ``TrainState`` has ``update_index``.
    - ``train(env, cfg, key) -> Result``: ``init`` then ``lax.scan`` of ``update``.
    - ``make_policy(env, cfg, params, deterministic=False) -> policy(obs, key) -> action``.
    - ``policy_params(state) -> params``: everything ``make_policy`` needs.

    Agents that fine-tune (PPO and its presets FPO and DPPO) also take
    ``policy_params`` (another run's or ``agents.bc``'s) as an optional last
    argument of ``init`` and ``train``. ``agents.bc`` meets the protocol with
    a :class:`rljax.data.Dataset` in the place of the env.
    """

    Config: type

    def init(self, env: Any, cfg: Any, key: jax.Array) -> Any: ...

    def update(self, env: Any, cfg: Any, state: Any) -> tuple[Any, Metrics]: ...

    def train(self, env: Any, cfg: Any, key: jax.Array) -> "Result": ...

    def make_policy(self, env: Any, cfg: Any, params: Any, deterministic: bool = False) -> Policy: ...

    def policy_params(self, state: Any) -> Any: ...


def check_agent(agent: ModuleType | Any) -> None:
    """Raise ``TypeError`` naming what ``agent`` lacks of the :class:`Agent` contract."""
    missing = [name for name in ("Config", "init", "update", "train", "make_policy", "policy_params")
               if not hasattr(agent, name)]
    if missing:
        raise TypeError(f"{getattr(agent, '__name__', agent)!r} is not an rljax agent: it lacks {missing}")


def run_updates(update: Callable[[S], tuple[S, Metrics]], state: S, num_updates: int) -> tuple[S, Metrics]:
    """``lax.scan`` ``update`` ``num_updates`` times; metrics stacked per update."""
    return jax.lax.scan(lambda s, _: update(s), state, None, length=num_updates)


def train_with(init: Callable[..., S], update: Callable[..., tuple[S, Metrics]],
               policy_params: Callable[[S], Any], env: Any, cfg: Any, key: jax.Array) -> Result:
    """An agent's whole ``train``: ``init`` then ``cfg.num_updates`` updates in one ``lax.scan``."""
    state = init(env, cfg, key)
    state, metrics = run_updates(lambda s: update(env, cfg, s), state, cfg.num_updates)
    return Result(params=policy_params(state), metrics=metrics, state=state)


def tree_all_finite(tree: Any) -> jax.Array:
    """Scalar bool: every floating leaf of ``tree`` is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def check_finite(metrics: Metrics, first_update: int = 1) -> None:
    """Raise ``FloatingPointError`` naming the first update whose loss or params went non-finite.

    Agents record ``metrics["nonfinite"]`` (1.0 where a loss, gradient or
    parameter was NaN/Inf after that update). ``metrics`` may carry leading
    seed axes; the error names the seed index too. ``first_update``: the
    number (1-based, as logs count) of the metrics' first update.
    """
    flags = np.asarray(metrics.get("nonfinite", np.zeros(1)))
    if not flags.any():
        return
    index = np.argwhere(flags > 0)[0]
    *seed, update = index.tolist()
    where = f"seed {seed[0] if len(seed) == 1 else tuple(seed)}, " if seed else ""
    raise FloatingPointError(
        f"non-finite loss or parameters at {where}update {first_update + update} "
        f"(metrics at that update: { {k: np.asarray(v)[tuple(index)].item() for k, v in metrics.items()} })")
