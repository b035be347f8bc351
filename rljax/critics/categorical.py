"""Categorical (C51) distributional Q critic.

Returns live on ``num_atoms`` fixed atoms ``z_k`` evenly spaced in
``[v_min, v_max]``. The target distribution is the lower-mean target
member's, with atoms moved to ``r + discount (z - alpha log pi)``, projected
back onto the fixed atoms; each member minimises the cross-entropy to it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rljax.config import ConfigBase, config_dataclass, leaf, static
from rljax.critics.base import TD, EnsembleCritic, Params, soft_td_target


@config_dataclass
class C51Settings(ConfigBase):
    """Settings of the categorical critic (``critic="c51"``)."""

    num_atoms: int = static(51, check=lambda v: None if isinstance(v, int) and v >= 2 else "must be an int >= 2")
    """Atoms of the fixed support."""
    v_min: float = leaf(-100.0)
    """Lowest atom (the support should cover the returns; scale it with the rewards)."""
    v_max: float = leaf(100.0)
    """Highest atom."""

    def _check_consistency(self) -> None:
        if not isinstance(self.v_min, (int, float)) or not isinstance(self.v_max, (int, float)):
            return  # traced or stacked leaves
        if self.v_min >= self.v_max:
            raise ValueError(f"{type(self).__qualname__}: v_min={self.v_min} must be < v_max={self.v_max}")


def categorical_projection(atoms: jax.Array, probs: jax.Array, target_atoms: jax.Array) -> jax.Array:
    """Project probabilities on moved atoms back onto the fixed support.

    ``atoms [K]`` (evenly spaced), ``probs [B, K]`` (mass at ``target_atoms
    [B, K]``) -> ``[B, K]``. Each moved atom ``Tz = clip(target, v_min,
    v_max)``, at fractional index ``b = (Tz - v_min) / dz``, gives mass
    ``1 - |b - k|`` to the atoms ``k`` with ``|b - k| < 1``: the floor/ceil
    split of C51 written as a triangular kernel, so an integral ``b`` (where
    floor = ceil and the textbook split assigns zero to both) keeps all its
    mass on atom ``b``. Mass is conserved.
    """
    v_min, v_max = atoms[0], atoms[-1]
    dz = atoms[1] - atoms[0]
    b = (jnp.clip(target_atoms, v_min, v_max) - v_min) / dz  # [B, K]
    k = jnp.arange(atoms.shape[0], dtype=atoms.dtype)
    weights = jnp.clip(1.0 - jnp.abs(b[:, :, None] - k[None, None, :]), 0.0, 1.0)  # [B, K_src, K_dst]
    return jnp.einsum("bs,bsd->bd", probs, weights)


@dataclasses.dataclass(frozen=True)
class CategoricalCritic(EnsembleCritic):
    """``num_critics`` C51 heads over ``num_atoms`` atoms in ``[v_min, v_max]`` (floats may be traced)."""

    num_atoms: int = 51
    v_min: float | jax.Array = -100.0
    v_max: float | jax.Array = 100.0

    @property
    def out_size(self) -> int:
        return self.num_atoms

    @property
    def atoms(self) -> jax.Array:
        """``[num_atoms]``."""
        return jnp.linspace(self.v_min, self.v_max, self.num_atoms, dtype=jnp.float32)

    def logits(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
        """``[num_critics, B, num_atoms]``."""
        return self.outputs(params, obs, action)

    def means(self, logits: jax.Array) -> jax.Array:
        return jnp.sum(jax.nn.softmax(logits, axis=-1) * self.atoms, axis=-1)

    def q_value(self, params: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
        """``min_i E[Z_i]``: ``[B]``."""
        return jnp.min(self.means(self.logits(params, obs, action)), axis=0)

    def target_probs(self, target_params: Params, td: TD) -> jax.Array:
        """The projected target distribution ``[B, num_atoms]``."""
        next_logits = self.logits(target_params, td["next_obs"], td["next_action"])  # [C, B, K]
        probs = jax.nn.softmax(next_logits, axis=-1)
        index = jnp.argmin(self.means(next_logits), axis=0)  # [B]
        chosen = jnp.take_along_axis(probs, index[None, :, None], axis=0)[0]
        moved = soft_td_target(td, jnp.broadcast_to(self.atoms, chosen.shape))
        return categorical_projection(self.atoms, chosen, moved)

    def loss(self, params: Params, target_params: Params, td: TD, state: dict, key: jax.Array):
        del key
        target = jax.lax.stop_gradient(self.target_probs(target_params, td))
        logits = self.logits(params, td["obs"], td["action"])
        cross_entropy = -jnp.sum(target[None] * jax.nn.log_softmax(logits, axis=-1), axis=-1)  # [C, B]
        loss = jnp.sum(jnp.mean(cross_entropy, axis=-1))
        return loss, ({"q": jnp.mean(self.means(logits)), "target_q": jnp.mean(jnp.sum(target * self.atoms, -1))},
                      state)
