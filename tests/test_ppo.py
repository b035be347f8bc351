"""PPO end to end: learning thresholds over seeds in one vmapped program,
sweeps as one program, exact resume from a checkpoint, the experiment runner."""

import glob
import json
import os

import jax
import numpy as np
import pytest

import envs
from rljax import agents, checkpoint, evaluate
from rljax.agents.ppo.presets import preset
from rljax.training import run_updates
from scripts import experiment


def _train_and_evaluate(env_name, cfg, seeds=4, **env_kwargs):
    env = envs.make(env_name, **env_kwargs)

    def one_seed(key):
        result = agents.ppo.train(env, cfg, key)
        policy = agents.ppo.make_policy(env, cfg, result.params, deterministic=True)
        return evaluate(env, policy, jax.random.fold_in(key, 1), num_episodes=16).mean(), result.metrics

    returns, metrics = jax.jit(jax.vmap(one_seed))(jax.random.split(jax.random.key(0), seeds))
    return np.asarray(returns), metrics


def test_cartpole_reaches_475_over_4_seeds_within_5e5_steps():
    cfg = preset("cartpole")
    assert cfg.total_steps <= 2**19 and cfg.num_updates * cfg.batch_size <= 5.3e5
    returns, metrics = _train_and_evaluate("cartpole", cfg)
    print("cartpole eval returns per seed:", returns)
    assert returns.mean() >= 475, returns
    assert metrics["episode_return"].shape == (4, cfg.num_updates)
    assert float(metrics["env_steps"][0, -1]) == cfg.num_updates * cfg.batch_size
    assert not np.asarray(metrics["nonfinite"]).any()


@pytest.mark.slow
def test_pendulum_reaches_minus_250_over_4_seeds_within_1e6_steps():
    cfg = preset("pendulum")
    assert cfg.total_steps <= 2**20
    returns, _ = _train_and_evaluate("pendulum", cfg)
    print("pendulum eval returns per seed:", returns)
    assert returns.mean() >= -250, returns


@pytest.mark.slow
def test_brax_inverted_pendulum_reaches_900():
    returns, _ = _train_and_evaluate("brax/inverted_pendulum", preset("brax/inverted_pendulum"), seeds=4,
                                     backend="spring")
    print("inverted_pendulum eval returns per seed:", returns)
    assert returns.mean() >= 900, returns


def test_public_api_jit_with_static_env():
    env = envs.make("cartpole")
    cfg = agents.ppo.Config(total_steps=2048, num_envs=8, unroll_length=16)
    result = jax.jit(agents.ppo.train, static_argnums=0)(env, cfg, jax.random.key(0))
    assert result.metrics["episode_return"].shape == (cfg.num_updates,)
    policy = agents.ppo.make_policy(env, cfg, result.params, deterministic=True)
    action = policy(np.zeros((3, 4), np.float32), jax.random.key(1))
    assert action.shape == (3,) and action.dtype == np.int32


def test_sweep_of_three_learning_rates_equals_three_separate_runs():
    env = envs.make("pendulum")
    base = agents.ppo.Config(total_steps=4096, num_envs=8, unroll_length=64)
    cfgs = [base.replace(learning_rate=lr) for lr in (1e-4, 3e-4, 1e-3)]
    key = jax.random.key(7)
    stacked = jax.jit(jax.vmap(lambda c: agents.ppo.train(env, c, key)))(agents.ppo.Config.stack(cfgs))
    for i, cfg in enumerate(cfgs):
        single = jax.jit(agents.ppo.train, static_argnums=0)(env, cfg, key)
        for name in ("policy_loss", "value_loss", "episode_return"):
            np.testing.assert_allclose(np.asarray(stacked.metrics[name][i]), np.asarray(single.metrics[name]),
                                       rtol=2e-4, atol=2e-5)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b), rtol=2e-4, atol=2e-5),
                     stacked.params["policy"], single.params["policy"])
    # The sweep is not degenerate: different learning rates give different params.
    assert not np.allclose(np.asarray(jax.tree.leaves(stacked.params["policy"])[0][0]),
                           np.asarray(jax.tree.leaves(stacked.params["policy"])[0][2]))


def test_resume_from_checkpoint_continues_exactly(tmp_path):
    env = envs.make("cartpole")
    cfg = agents.ppo.Config(total_steps=8 * 256, num_envs=8, unroll_length=32)
    update = jax.jit(lambda s: run_updates(lambda x: agents.ppo.update(env, cfg, x), s, 4))
    state = jax.jit(agents.ppo.init, static_argnums=0)(env, cfg, jax.random.key(0))
    state = update(state)[0]
    path = checkpoint.save(str(tmp_path), 4, state)
    uninterrupted, metrics_a = update(state)
    # A template from another seed: everything restored must come from disk.
    template = jax.jit(agents.ppo.init, static_argnums=0)(env, cfg, jax.random.key(1))
    restored = checkpoint.restore(path, template)
    resumed, metrics_b = update(restored)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                 jax.random.key_data(uninterrupted.key), jax.random.key_data(resumed.key))
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                 uninterrupted.params, resumed.params)
    np.testing.assert_array_equal(np.asarray(metrics_a["policy_loss"]), np.asarray(metrics_b["policy_loss"]))
    with pytest.raises(ValueError, match="already exists"):
        checkpoint.save(str(tmp_path), 4, state)


def test_format_1_checkpoint_still_restores(tmp_path):
    import orbax.checkpoint as ocp

    env = envs.make("cartpole")
    cfg = agents.ppo.Config(total_steps=8 * 256, num_envs=8, unroll_length=32)
    init = jax.jit(agents.ppo.init, static_argnums=0)
    state = init(env, cfg, jax.random.key(0))
    path = tmp_path / "step_000000000004"  # as checkpoints were written before format 2: the state's own tree
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, checkpoint._to_storable_v1(state))
    checkpoint._write_json_atomically(str(path / checkpoint.MANIFEST),
                                      {"format": 1, "step": 4, "meta": {}, "files": checkpoint._files(str(path))})
    restored = checkpoint.restore(str(path), init(env, cfg, jax.random.key(1)))
    np.testing.assert_array_equal(np.asarray(jax.random.key_data(restored.key)),
                                  np.asarray(jax.random.key_data(state.key)))
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), restored.params,
                 state.params)


def test_experiment_script_writes_a_complete_run_folder(tmp_path):
    module = experiment("ppo")
    summary = module.main(["--env", "cartpole", "--total-steps", "4096", "--seeds", "2",
                           "--chunks", "2", "--run-root", str(tmp_path)])
    run_dir = summary["run_dir"]
    for name in ("config.json", "metrics.csv", "curves.png", "summary.json"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0, name
    assert glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    assert len(os.listdir(os.path.join(run_dir, "checkpoints"))) == 2
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 + 4096 // 1024 and "episode_return/seed1" in lines[0]
    assert json.load(open(os.path.join(run_dir, "config.json")))["config"]["total_steps"] == 4096
    resumed = module.main(["--total-steps", "8192", "--resume", run_dir])  # the rest from config.json
    assert resumed["run_dir"] == run_dir and resumed["resumed_at_update"] == 4
    with open(os.path.join(run_dir, "metrics.csv")) as f:  # one row per update, in the same folder
        assert [line.split(",")[0] for line in f.read().splitlines()[1:]] == [str(u) for u in range(1, 9)]


def test_preset_env_kwargs_build_the_envs_they_were_tuned_on():
    from rljax.agents.ppo.presets import ENV_KWARGS, PRESETS

    for name, kwargs in ENV_KWARGS.items():
        assert name in PRESETS, name
        envs.make(name, **kwargs)
    # The hopper's preset was tuned on the env's defaults: 40 N m hinges with armature 0.1.
    assert "contact/hopper" in PRESETS and "contact/hopper" not in ENV_KWARGS
    hopper = envs.make("contact/hopper")
    assert hopper.max_torque == 40.0 and all(float(j.armature) == 0.1 for j in hopper.world().joints[1:])
