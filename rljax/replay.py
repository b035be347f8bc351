"""Device-resident uniform replay, a thin layer over flashbax's item buffer.

The buffer lives in the training state (a pytree of preallocated arrays of
``capacity`` transitions), so adding and sampling happen inside the compiled
training program, and ``jax.vmap`` over seeds gives each seed its own buffer.
The capacity is always the user's choice (``Config.buffer_size``); it is never
silently sized to the whole run.

    replay = Replay(capacity=100_000, batch_size=256)
    state = replay.init(example_transition)          # one transition, no batch axis
    state = replay.add(state, transitions)           # [n, ...] leaves, n <= capacity
    batch = replay.sample(state, key)                # [batch_size, ...] leaves
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flashbax as fbx
import jax
import jax.numpy as jnp

Transition = Any  # a pytree of arrays
ReplayState = Any  # flashbax's TrajectoryBufferState


@dataclasses.dataclass(frozen=True)
class Replay:
    """Uniform replay of single transitions over a ring buffer of ``capacity``.

    Once full, the oldest transitions are overwritten first. Sampling is
    uniform with replacement over the transitions stored so far.
    """

    capacity: int
    batch_size: int

    def __post_init__(self) -> None:
        for name in ("capacity", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Replay.{name}={value!r}: must be a positive int")

    @property
    def _buffer(self):
        return fbx.make_item_buffer(max_length=self.capacity, min_length=1, sample_batch_size=self.batch_size,
                                    add_sequences=False, add_batches=True)

    def init(self, example: Transition) -> ReplayState:
        """Empty buffer shaped after ``example`` (one transition, no batch axis)."""
        return self._buffer.init(jax.tree.map(jnp.asarray, example))

    def add(self, state: ReplayState, transitions: Transition) -> ReplayState:
        """Append ``n`` transitions (leaves ``[n, ...]``, ``n <= capacity``), overwriting the oldest."""
        n = jax.tree.leaves(transitions)[0].shape[0]
        if n > self.capacity:
            raise ValueError(f"Replay.add: {n} transitions at once exceed capacity {self.capacity}")
        return self._buffer.add(state, transitions)

    def sample(self, state: ReplayState, key: jax.Array) -> Transition:
        """``batch_size`` transitions drawn uniformly (leaves ``[batch_size, ...]``)."""
        return self._buffer.sample(state, key).experience

    def size(self, state: ReplayState) -> jax.Array:
        """Number of transitions stored (int32 scalar)."""
        return jnp.where(state.is_full, self.capacity, state.current_index).astype(jnp.int32)
