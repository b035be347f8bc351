"""Datasets (record, save, load) and behaviour cloning of Gaussian, flow and diffusion heads."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import agents, data


def _bimodal_dataset(n=4096, seed=0):
    """Constant observation; actions 50/50 at -0.6 and +0.6 with a little noise."""
    k1, k2 = jax.random.split(jax.random.key(seed))
    sign = jnp.where(jax.random.bernoulli(k1, 0.5, (n,)), 1.0, -1.0)
    action = (0.6 * sign + 0.05 * jax.random.normal(k2, (n,)))[:, None]
    return data.from_arrays(np.ones((n, 1), np.float32), np.asarray(action), env_name="bandit/bimodal")


def test_collect_save_load_round_trip(tmp_path):
    env = envs.make("pendulum")
    policy = lambda obs, key: jax.random.uniform(key, (obs.shape[0], 1), minval=-1.0, maxval=1.0)  # noqa: E731
    dataset, returns = data.collect(env, policy, jax.random.key(0), num_steps=1024, num_envs=8, env_name="pendulum")
    assert dataset.obs.shape == (1024, 3) and dataset.action.shape == (1024, 1) and dataset.size == 1024
    assert returns.shape == (8,)  # 128 steps per env: no 200-step episode has ended yet
    np.testing.assert_allclose(dataset.obs_stats.mean, np.asarray(dataset.obs).mean(0), rtol=1e-4, atol=1e-5)
    path = str(tmp_path / "pendulum.npz")
    data.save(dataset, path)
    loaded = data.load(path)
    assert loaded.env_name == "pendulum"
    np.testing.assert_array_equal(loaded.obs, dataset.obs)
    np.testing.assert_array_equal(loaded.action, dataset.action)
    np.testing.assert_allclose(loaded.obs_stats.std, dataset.obs_stats.std)
    assert os.listdir(tmp_path) == ["pendulum.npz"]  # written atomically, no temporary left


def test_bad_datasets_are_named(tmp_path):
    with pytest.raises(ValueError, match="action must be \\[N, action_size\\]"):
        data.from_arrays(np.zeros((4, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="obs must be \\[N, obs_size\\]"):
        data.from_arrays(np.zeros(4), np.zeros((4, 1)))
    path = str(tmp_path / "junk.npz")
    with open(path, "wb") as f:
        f.write(b"not a dataset")
    with pytest.raises(ValueError, match="junk.npz: not a dataset"):
        data.load(path)
    dataset = _bimodal_dataset(64)
    np.savez(path, obs=np.asarray(dataset.obs) + 1.0, action=np.asarray(dataset.action), env_name="x",
             obs_mean=np.asarray(dataset.obs_stats.mean), obs_std=np.asarray(dataset.obs_stats.std))
    with pytest.raises(ValueError, match="statistics do not match"):
        data.load(path)
    with pytest.raises(ValueError, match="discrete actions"):
        data.collect(envs.make("cartpole"), lambda o, k: jnp.zeros(o.shape[0], jnp.int32), jax.random.key(0), 64)
    with pytest.raises(ValueError, match="batch_size=256: larger than the dataset"):
        agents.bc.init(dataset, agents.bc.Config(), jax.random.key(0))


def test_bimodal_bandits_reward_their_bumps():
    equal, unequal = envs.make("bandit/bimodal"), envs.make("bandit/bimodal_unequal")
    a = jnp.array([-0.6, 0.0, 0.6])
    np.testing.assert_allclose(equal.reward(a), [1.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(unequal.reward(a), [0.8, 0.0, 1.0], atol=1e-6)
    state = unequal.step(unequal.reset(jax.random.key(0)), jnp.array([0.6]))
    assert float(state.done) == 1.0 and float(state.reward) == pytest.approx(1.0)


def _clone(policy, seeds=2, **kwargs):
    dataset = _bimodal_dataset()
    cfg = agents.bc.Config(policy=policy, total_steps=3000, steps_per_update=500, batch_size=256, **kwargs)

    def one_seed(key):
        result = agents.bc.train(dataset, cfg, key)
        actions = agents.bc.make_policy(dataset, cfg, result.params)(jnp.ones((4000, 1)), jax.random.fold_in(key, 1))
        return actions[:, 0], result.metrics

    actions, metrics = jax.jit(jax.vmap(one_seed))(jax.random.split(jax.random.key(0), seeds))
    assert not np.asarray(metrics["nonfinite"]).any()
    assert metrics["loss"][0, -1] < metrics["loss"][0, 0]
    return np.asarray(actions)


def test_gaussian_maximum_likelihood_sits_between_the_modes():
    actions = _clone("gaussian")
    np.testing.assert_allclose(actions.mean(axis=1), 0.0, atol=0.1)
    np.testing.assert_allclose(actions.std(axis=1), 0.6, rtol=0.15)  # the mixture's std: sqrt(0.36 + 0.05^2)


@pytest.mark.parametrize("policy", ["flow", "diffusion"])
def test_generative_heads_clone_both_modes(policy):
    actions = _clone(policy)
    for seed_actions in actions:
        plus, minus = np.mean(seed_actions > 0), np.mean(seed_actions < 0)  # the nearer mode of each sample
        away = np.mean(np.abs(np.abs(seed_actions) - 0.6) < 0.3)  # near one mode, not between them
        print(f"{policy}: {plus:.2f} on the +0.6 side, {minus:.2f} on the -0.6 side, {away:.2f} within 0.3 of a mode")
        assert 0.4 <= plus <= 0.6 and 0.4 <= minus <= 0.6 and away > 0.8


def test_dppo_from_a_bimodal_clone_moves_the_mass_to_the_better_mode():
    """BC of a diffusion policy on the 50/50 dataset, then DPPO on bandit/bimodal_unequal (bumps 1.0
    at +0.6 and 0.8 at -0.6): at least 90% of the samples end on the better side. 2 seeds."""
    dataset = _bimodal_dataset()
    dppo_cfg = agents.dppo.Config(total_steps=64 * 200, num_envs=64, unroll_length=1, num_epochs=4, num_minibatches=2,
                                  policy_hidden_sizes=(64, 64), learning_rate=3e-4, gamma=0.0, clip_epsilon=0.2,
                                  clip_epsilon_base=0.1, anneal_learning_rate=False)
    bc_cfg = agents.bc.Config(policy="diffusion", total_steps=3000, steps_per_update=500, policy_hidden_sizes=(64, 64),
                              diffusion=dppo_cfg.diffusion)  # the same head, so the clone loads into DPPO
    env = envs.make("bandit/bimodal_unequal")
    obs = jnp.ones((4000, 1))

    def one_seed(key):
        cloned = agents.bc.train(dataset, bc_cfg, key).params
        before = agents.dppo.make_policy(env, dppo_cfg, cloned)(obs, jax.random.fold_in(key, 1))[:, 0]
        tuned = agents.dppo.train(env, dppo_cfg, jax.random.fold_in(key, 2), cloned).params
        after = agents.dppo.make_policy(env, dppo_cfg, tuned)(obs, jax.random.fold_in(key, 3))[:, 0]
        return jnp.mean(before > 0), jnp.mean(after > 0)

    before, after = map(np.asarray, jax.jit(jax.vmap(one_seed))(jax.random.split(jax.random.key(0), 2)))
    print("share on the better side: cloned", before, "after DPPO", after)
    np.testing.assert_allclose(before, 0.5, atol=0.1)
    assert (after >= 0.9).all(), after
