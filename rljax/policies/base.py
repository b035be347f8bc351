"""The policy-head contract every agent relies on.

A head is a frozen dataclass of pure functions over flax params. Shapes:
``obs [..., obs_size]``; continuous actions ``[..., action_size]`` (float),
discrete actions ``[...]`` (int32 indices).

- ``init(key, obs_size) -> params``
- ``sample(params, obs, key) -> (action, aux)``: ``aux`` is a dict of arrays
  (leading axes ``[...]``) holding what is needed to re-score this action
  later: noise draws, a denoising chain. Heads whose log-likelihood is a
  closed function of ``(obs, action)`` return ``{}``. Agents store ``aux``
  with the rollout and never look inside it.
- ``log_likelihood(params, obs, action, aux) -> [...]`` or ``[..., K]``: the
  (surrogate) log-likelihood of ``action`` under ``params``. A trailing axis
  carries one term per step of a generative chain (K denoising steps); PPO
  clips each term of ``exp(new - old)`` and broadcasts advantages over it.
  Exact heads (Gaussian, categorical) return ``[...]``. For reparameterised
  heads this is differentiable in ``params`` through ``aux`` as well.
- ``sample_and_log_likelihood(params, obs, key) -> (action, aux, [...])``:
  ``sample`` and the ``log_likelihood`` of its action (what reparameterised
  off-policy actors call).
- ``log_likelihood_and_entropy(params, obs, action, aux, key) -> ([...], [...] | None)``:
  both (what PPO's loss calls); ``None`` when the head has no entropy.
- ``entropy(params, obs, key) -> [...]``: the closed form where one exists
  (``entropy_kind == "exact"``; ``key`` unused), a Monte-Carlo estimate
  (``"estimate"``; agents log it as ``entropy_estimate``), or not available
  (``"none"``; the method raises and agents log no entropy and refuse an
  entropy bonus).
- ``mode(params, obs) -> action``: the deterministic action.
- ``imitation_loss(params, obs, action, key) -> [...]``: the behaviour-cloning
  loss of ``action`` (a demonstrator's, no ``aux``): what fitting the head to
  data minimises. :class:`HeadBase`'s default is the negative log-likelihood
  ``-log_likelihood(params, obs, action, {})`` (maximum likelihood: exact for
  the Gaussian and categorical heads; the tanh-Gaussian inverts ``tanh`` on
  the action). Generative heads without an exact likelihood override it with
  their training loss (conditional flow matching, epsilon-MSE); ``key`` draws
  their noise and times, the default ignores it.

Class attributes: ``discrete`` (actions are indices), ``reparameterized``
(``sample`` is differentiable in ``params``: what off-policy actors need),
``entropy_kind``.

:class:`HeadBase` gives the two combined methods by composition; heads
override them where one network pass can serve both (a loss differentiated
through two passes runs two backward passes).

A head is built by :func:`rljax.policies.registry.make` from its name, the
env's action size, the torso (hidden sizes, activation) and its settings (a
small config of its own, e.g. :class:`rljax.policies.gaussian.GaussianSettings`).
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Protocol, runtime_checkable

import jax

Params = Any
Aux = dict[str, jax.Array]
EntropyKind = Literal["exact", "estimate", "none"]


@runtime_checkable
class PolicyHead(Protocol):
    action_size: int
    discrete: bool
    reparameterized: bool
    entropy_kind: EntropyKind

    def init(self, key: jax.Array, obs_size: int) -> Params: ...

    def sample(self, params: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, Aux]: ...

    def sample_and_log_likelihood(self, params: Params, obs: jax.Array,
                                  key: jax.Array) -> tuple[jax.Array, Aux, jax.Array]: ...

    def log_likelihood_and_entropy(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux,
                                   key: jax.Array | None = None) -> tuple[jax.Array, jax.Array | None]: ...

    def log_likelihood(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux) -> jax.Array: ...

    def entropy(self, params: Params, obs: jax.Array, key: jax.Array | None = None) -> jax.Array: ...

    def mode(self, params: Params, obs: jax.Array) -> jax.Array: ...

    def imitation_loss(self, params: Params, obs: jax.Array, action: jax.Array, key: jax.Array) -> jax.Array: ...


class HeadBase:
    """The combined methods of :class:`PolicyHead`, composed from the single ones, and the
    maximum-likelihood ``imitation_loss``."""

    entropy_kind: EntropyKind

    def sample_and_log_likelihood(self, params: Params, obs: jax.Array,
                                  key: jax.Array) -> tuple[jax.Array, Aux, jax.Array]:
        action, aux = self.sample(params, obs, key)  # type: ignore[attr-defined]
        return action, aux, self.log_likelihood(params, obs, action, aux)  # type: ignore[attr-defined]

    def log_likelihood_and_entropy(self, params: Params, obs: jax.Array, action: jax.Array, aux: Aux,
                                   key: jax.Array | None = None) -> tuple[jax.Array, jax.Array | None]:
        log_likelihood = self.log_likelihood(params, obs, action, aux)  # type: ignore[attr-defined]
        if self.entropy_kind == "none":
            return log_likelihood, None
        return log_likelihood, self.entropy(params, obs, key)  # type: ignore[attr-defined]

    def imitation_loss(self, params: Params, obs: jax.Array, action: jax.Array, key: jax.Array) -> jax.Array:
        """Behaviour cloning by maximum likelihood: ``-log_likelihood(params, obs, action, {})``, ``[...]``.
        ``key`` is unused. Heads whose log-likelihood needs ``aux`` or has a ``K`` axis override this."""
        del key
        return -self.log_likelihood(params, obs, action, {})  # type: ignore[attr-defined]


def acting_policy(head: PolicyHead, params: Params, preprocess: Callable[[jax.Array], jax.Array],
                  deterministic: bool = False) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``policy(obs [..., obs_size], key) -> action``: ``head.mode`` (deterministic) or a sample
    of ``head`` at ``params`` on ``preprocess(obs)`` (an agent's observation normaliser)."""

    def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
        obs = preprocess(obs)
        if deterministic:
            return head.mode(params, obs)
        return head.sample(params, obs, key)[0]

    return policy
