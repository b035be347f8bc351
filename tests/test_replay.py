"""Device-resident replay: ring overwrite, uniform sampling over what is stored, jit + vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.replay import Replay


def _items(start, n):
    ids = jnp.arange(start, start + n, dtype=jnp.float32)
    return {"id": ids, "obs": jnp.stack([ids, -ids], axis=-1)}


def test_samples_only_stored_items_and_overwrites_oldest():
    replay = Replay(capacity=10, batch_size=8)
    many = jax.vmap(replay.sample, in_axes=(None, 0))  # 64 batches at once
    state = replay.init({"id": jnp.zeros(()), "obs": jnp.zeros(2)})
    state = replay.add(state, _items(0, 4))
    assert int(replay.size(state)) == 4
    batch = many(state, jax.random.split(jax.random.key(0), 64))
    assert batch["obs"].shape == (64, 8, 2)
    assert set(np.asarray(batch["id"]).ravel().tolist()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(batch["obs"][..., 0], batch["id"])  # fields stay aligned
    # 4 + 4 + 4 = 12 items into capacity 10: the two oldest (0, 1) are gone.
    state = replay.add(state, _items(4, 4))
    state = replay.add(state, _items(8, 4))
    assert int(replay.size(state)) == 10
    ids = set(np.asarray(many(state, jax.random.split(jax.random.key(1), 64))["id"]).ravel().tolist())
    assert ids == set(range(2, 12))


def test_uniform_sampling():
    replay = Replay(capacity=8, batch_size=8)
    state = replay.add(replay.init({"id": jnp.zeros(())}), {"id": jnp.arange(8, dtype=jnp.float32)})
    ids = jax.vmap(replay.sample, in_axes=(None, 0))(state, jax.random.split(jax.random.key(2), 5000))["id"]
    counts = np.bincount(np.asarray(ids).astype(int).ravel(), minlength=8)
    np.testing.assert_allclose(counts / counts.sum(), 1 / 8, atol=0.01)


def test_jit_and_vmap_over_seeds():
    replay = Replay(capacity=16, batch_size=4)

    def run(key):
        state = replay.init({"x": jnp.zeros(3)})

        def body(state, k):
            state = replay.add(state, {"x": jax.random.normal(k, (2, 3))})
            return state, replay.sample(state, k)["x"].sum()

        return jax.lax.scan(body, state, jax.random.split(key, 20))

    state, sums = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), 3))
    assert sums.shape == (3, 20)
    assert state.experience["x"].shape[0] == 3
    assert not np.allclose(sums[0], sums[1])  # independent per seed


def test_bad_capacity():
    with pytest.raises(ValueError, match="capacity"):
        Replay(capacity=0, batch_size=4)
    replay = Replay(capacity=4, batch_size=2)
    with pytest.raises(ValueError, match="exceed capacity"):
        replay.add(replay.init({"x": jnp.zeros(())}), {"x": jnp.zeros(5)})
