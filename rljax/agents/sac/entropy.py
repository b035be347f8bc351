"""The off-policy loop's entropy seam: one pluggable regulator of the actor.

SAC's actor maximises ``Q(s, a~) - alpha log pi(a~|s)`` and its critic's TD
target subtracts ``alpha log pi(a'|s')``. What ``alpha`` is, whether
log-probabilities enter at all, how ``alpha`` adapts, and whether the acting
policy's actions are perturbed is the regulator's business:

- ``"learned"``: SAC's learned temperature, Adam on
  ``-log_alpha * (log pi + target_entropy)`` (target ``per_dim * |A|``);
- ``"fixed"``: a constant ``alpha`` (``temperature.init``);
- ``"none"``: no entropy term (``alpha = 0``; no log-probabilities needed).

A new off-policy actor whose exploration is regulated differently (e.g. a
diffusion actor scaling its exploration noise against an estimated entropy)
registers a regulator here instead of copying the loop. The protocol:

- ``uses_log_prob``: the actor loss and TD target include ``-alpha log pi``;
- ``init() -> state`` (a pytree kept in ``TrainState.entropy``);
- ``alpha(state) -> []``;
- ``update(state, sample, key, sample_actions) -> (state, metrics)``, once
  per actor step, given the actor's reparameterised :class:`ActorSample` on
  the batch and ``sample_actions(obs [..., O], key) -> [..., A]``, a sampler of
  the updated actor (for regulators that estimate the entropy from samples);
- ``explore(state, action, key) -> action``: the action sent to the env;
- ``regularizes_actor``: whether ``actor_regularizer(state, obs, key,
  q_value, imitation_loss) -> []`` is added to the actor loss, where
  ``q_value(obs [N, O], action [N, A]) -> [N]`` is the critic (not
  differentiated) and ``imitation_loss(obs [..., O], action [..., A], key)
  -> [...]`` the actor head's, differentiated in the actor's params (for
  regulators that fit the actor to a target distribution, e.g. DACER's
  mode-covering term).

A regulator whose update depends on the batch declares an ``axis_name``
field; under data parallelism the loop sets it (:func:`rljax.parallel.bind_axis`)
and the regulator averages its gradient over the devices, so its state stays
the same on each.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax

from rljax import parallel
from rljax.agents.sac.losses import temperature_loss
from rljax.config import ConfigBase, config_dataclass, leaf, positive

RegulatorState = Any
ActionSampler = Callable[[jax.Array, jax.Array], jax.Array]  # (obs [..., O], key) -> action [..., A]
QFunction = Callable[[jax.Array, jax.Array], jax.Array]  # (obs [N, O], action [N, A]) -> Q [N]
ImitationLoss = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]  # (obs, action [..., A], key) -> [...]


@config_dataclass
class TemperatureSettings(ConfigBase):
    """Settings of SAC's temperature (``entropy="learned"`` or ``"fixed"``)."""

    init: float = leaf(1.0, check=positive)
    """Initial alpha (the constant alpha when entropy="fixed")."""
    learning_rate: float = leaf(3e-4, check=positive)
    """Adam rate of log-alpha (entropy="learned")."""
    target_entropy_per_dim: float = leaf(-1.0)
    """Target entropy = this * |A| (SAC: -|A|)."""


class ActorSample(NamedTuple):
    """The actor's reparameterised sample on a batch: ``obs [B, O]``, ``action [B, A]``,
    ``log_prob [B]`` (``None`` when the regulator does not use log-probabilities)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array | None


class EntropyRegulator(Protocol):
    uses_log_prob: bool
    regularizes_actor: bool

    def init(self) -> RegulatorState: ...

    def alpha(self, state: RegulatorState) -> jax.Array: ...

    def update(self, state: RegulatorState, sample: ActorSample, key: jax.Array,
               sample_actions: ActionSampler) -> tuple[RegulatorState, dict[str, jax.Array]]: ...

    def explore(self, state: RegulatorState, action: jax.Array, key: jax.Array) -> jax.Array: ...

    def actor_regularizer(self, state: RegulatorState, obs: jax.Array, key: jax.Array, q_value: QFunction,
                          imitation_loss: ImitationLoss) -> jax.Array: ...


class NoActorRegularizer:
    """For regulators that add nothing to the actor loss besides ``alpha log pi``."""

    regularizes_actor = False

    def actor_regularizer(self, state: RegulatorState, obs: jax.Array, key: jax.Array, q_value: QFunction,
                          imitation_loss: ImitationLoss) -> jax.Array:
        return jnp.zeros((), jnp.float32)


@dataclasses.dataclass(frozen=True)
class LearnedTemperature(NoActorRegularizer):
    """SAC's automatic temperature: log-alpha follows ``-log_alpha * (log pi + target_entropy)``."""

    settings: TemperatureSettings
    action_size: int
    axis_name: str | None = None  # the data axis its gradient is averaged over (rljax.parallel)
    uses_log_prob = True

    @property
    def _optimizer(self) -> optax.GradientTransformation:
        return optax.adam(self.settings.learning_rate)

    def init(self) -> RegulatorState:
        log_alpha = jnp.log(jnp.asarray(self.settings.init, jnp.float32))
        return {"log_alpha": log_alpha, "opt_state": self._optimizer.init(log_alpha)}

    def alpha(self, state: RegulatorState) -> jax.Array:
        return jnp.exp(state["log_alpha"])

    def update(self, state: RegulatorState, sample: ActorSample, key: jax.Array,
               sample_actions: ActionSampler) -> tuple[RegulatorState, dict[str, jax.Array]]:
        del key, sample_actions
        target_entropy = self.settings.target_entropy_per_dim * self.action_size
        grad = jax.grad(temperature_loss)(state["log_alpha"], sample.log_prob, target_entropy)
        grad = parallel.reduce_mean(grad, self.axis_name)
        updates, opt_state = self._optimizer.update(grad, state["opt_state"])
        return {"log_alpha": optax.apply_updates(state["log_alpha"], updates), "opt_state": opt_state}, {}

    def explore(self, state: RegulatorState, action: jax.Array, key: jax.Array) -> jax.Array:
        return action


@dataclasses.dataclass(frozen=True)
class FixedTemperature(NoActorRegularizer):
    """A constant ``alpha``: ``settings.init``, or 0 without ``settings`` (no entropy term)."""

    settings: TemperatureSettings | None
    action_size: int

    @property
    def uses_log_prob(self) -> bool:
        return self.settings is not None

    def init(self) -> RegulatorState:
        return {}

    def alpha(self, state: RegulatorState) -> jax.Array:
        return jnp.asarray(0.0 if self.settings is None else self.settings.init, jnp.float32)

    def update(self, state: RegulatorState, sample: ActorSample, key: jax.Array,
               sample_actions: ActionSampler) -> tuple[RegulatorState, dict[str, jax.Array]]:
        return state, {}

    def explore(self, state: RegulatorState, action: jax.Array, key: jax.Array) -> jax.Array:
        return action


# name -> (build(cfg, action_size) -> regulator)
REGULATORS: dict[str, Callable[[Any, int], EntropyRegulator]] = {
    "learned": lambda cfg, n: LearnedTemperature(cfg.temperature, n),
    "fixed": lambda cfg, n: FixedTemperature(cfg.temperature, n),
    "none": lambda cfg, n: FixedTemperature(None, n),
}


def register(name: str, build: Callable[[Any, int], EntropyRegulator]) -> None:
    """Add a regulator; off-policy Configs select it with ``entropy=name``."""
    if name in REGULATORS:
        raise ValueError(f"entropy regulator {name!r} is already registered")
    REGULATORS[name] = build


def make(cfg: Any, action_size: int) -> EntropyRegulator:
    """The regulator ``cfg.entropy`` for ``action_size`` action dimensions."""
    if cfg.entropy not in REGULATORS:
        raise ValueError(f"entropy={cfg.entropy!r}: must be one of {sorted(REGULATORS)}")
    return REGULATORS[cfg.entropy](cfg, action_size)
