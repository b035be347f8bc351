"""DSRL: the noise-to-action map of flow and diffusion heads, a preset over SAC's loop whose frozen
policy never moves, checks before compiling, steering a bimodal clone to the better mode, and the
pendulum pipeline (slow)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import agents, data, running_stats
from rljax.agents import dsrl, sac
from rljax.agents.sac.entropy import TemperatureSettings
from rljax.policies import DiffusionSettings, FlowSettings
from rljax.training import check_agent
from scripts import experiment


def _perturbed(params, key, scale=0.5):
    """Params moved off their near-zero output layer, so the map is not close to the identity."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return treedef.unflatten([x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


def _head_and_params(policy, action_size=2, obs_size=3, **settings):
    cfg = agents.bc.Config(policy=policy, policy_hidden_sizes=(16, 16), **settings)
    head = agents.bc.make_head(action_size, cfg)
    return head, _perturbed(head.init(jax.random.key(0), obs_size), jax.random.key(1))


def test_flow_noise_to_action_is_the_sampler_at_that_noise():
    head, params = _head_and_params("flow", flow=FlowSettings(num_steps=6, integrator="midpoint", noise_std=0.5))
    obs = jax.random.normal(jax.random.key(2), (64, 3))
    key = jax.random.key(3)
    noise = jax.random.normal(jax.random.split(key)[0], (64, 2))  # what sample draws (then scales by noise_std)
    action = dsrl.noise_to_action(head, params, obs, noise)
    assert action.shape == (64, 2) and action.dtype == jnp.float32
    np.testing.assert_allclose(action, head.sample(params, obs, key)[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(action, dsrl.noise_to_action(head, params, obs, noise))  # deterministic
    np.testing.assert_allclose(dsrl.noise_to_action(head, params, obs, jnp.zeros((64, 2))), head.mode(params, obs),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dsrl.noise_to_action(head, params, obs[0], noise[0]), action[0], rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(action - head.mode(params, obs)).mean()) > 0.05  # the noise matters


@pytest.mark.parametrize("settings", [DiffusionSettings(num_steps=5),
                                      DiffusionSettings(num_steps=6, finetune_steps=2),  # a frozen params["base"]
                                      DiffusionSettings(num_steps=5, mode="mean")])
def test_diffusion_noise_to_action_is_its_deterministic_chain(settings):
    head, params = _head_and_params("diffusion", diffusion=settings)
    if "base" in params:
        params = {**params, "base": _perturbed(params["base"], jax.random.key(4))}  # unlike the denoiser
    obs = jax.random.normal(jax.random.key(2), (64, 3))
    noise = jax.random.normal(jax.random.key(3), (64, 2))
    np.testing.assert_allclose(dsrl.noise_to_action(head, params, obs, jnp.zeros((64, 2))), head.mode(params, obs),
                               rtol=1e-5, atol=1e-6)
    action = dsrl.noise_to_action(head, params, obs, noise)
    np.testing.assert_array_equal(action, dsrl.noise_to_action(head, params, obs, noise))
    assert float(jnp.abs(action - head.mode(params, obs)).mean()) > 0.01


def test_noise_to_action_rejects_heads_without_a_noise_map_and_bad_shapes():
    head = agents.bc.make_head(1, agents.bc.Config(policy="gaussian"))
    with pytest.raises(ValueError, match="GaussianHead has no deterministic noise-to-action map"):
        dsrl.noise_to_action(head, head.init(jax.random.key(0), 3), jnp.zeros((4, 3)), jnp.zeros((4, 1)))
    flow, params = _head_and_params("flow")
    with pytest.raises(AssertionError):
        dsrl.noise_to_action(flow, params, jnp.zeros((4, 3)), jnp.zeros((4, 3)))  # 3 noise dims, 2 actions


def test_is_a_preset_of_the_shared_loop():
    check_agent(dsrl)
    cfg = dsrl.Config()
    assert isinstance(cfg, sac.Config) and isinstance(cfg.base, agents.bc.Config)
    assert (cfg.noise_bound, cfg.utd_ratio, cfg.policy, cfg.base.policy) == (1.5, 20.0, "tanh_gaussian", "flow")
    assert cfg.temperature.target_entropy_per_dim == 0.0
    assert "noise_bound" in cfg.leaf_names()
    assert dsrl.presets.preset("pendulum").total_steps == 20_000


def _random_pendulum_dataset():
    env = envs.make("pendulum")

    def policy(obs, key):
        return jax.random.uniform(key, obs.shape[:-1] + (1,), minval=-1.0, maxval=1.0)

    return env, data.collect(env, policy, jax.random.key(0), 512, num_envs=8)[0]


def _tiny(bc_cfg, **kwargs):
    return dsrl.Config(base=bc_cfg, total_steps=400, num_envs=2, warmup_steps=200, batch_size=32,
                       buffer_size=1_000, utd_ratio=1.0, policy_hidden_sizes=(16,), critic_hidden_sizes=(16,),
                       **kwargs)


@pytest.mark.parametrize("policy", ["flow", "diffusion"])
def test_frozen_policy_never_moves_while_the_noise_actor_learns(policy):
    env, dataset = _random_pendulum_dataset()
    bc_cfg = agents.bc.Config(policy=policy, total_steps=100, steps_per_update=100, policy_hidden_sizes=(16,),
                              diffusion=DiffusionSettings(num_steps=4))
    cloned = agents.bc.train(dataset, bc_cfg, jax.random.key(1)).params
    cfg = _tiny(bc_cfg)
    start = dsrl.init(env, cfg, jax.random.key(2), cloned)
    result = jax.jit(dsrl.train, static_argnums=0)(env, cfg, jax.random.key(2), cloned)
    assert not np.asarray(result.metrics["nonfinite"]).any()
    same = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), result.params["base"], cloned)
    assert all(jax.tree.leaves(same))
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), result.params["policy"], start.params["policy"])
    assert max(jax.tree.leaves(moved)) > 0
    # Only the actor and the critic have optimisers; the frozen params hold none.
    assert set(result.state.opt_state) == {"policy", "critic"} and set(result.state.params) == {"policy", "critic"}
    # No gradient reaches the frozen params through the env step.
    noise_env = dsrl.noise_space_env(env, cfg, result.state.base)
    obs = jax.random.normal(jax.random.key(3), (8, 3))
    grads = jax.grad(lambda frozen: dsrl.NoiseSpaceEnv(env, noise_env.head, {**result.state.base, "policy": frozen},
                                                       cfg.noise_bound).env_action(obs, jnp.full((8, 1), 0.3)).sum()
                     )(result.state.base["policy"])
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads))
    # The env's actions are the frozen policy's at the actor's noise.
    policy_fn = dsrl.make_policy(env, cfg, result.params, deterministic=True)
    u = sac.make_parts(env, cfg).head.mode(result.params["policy"], obs)
    expected = dsrl.noise_to_action(dsrl.make_base_head(env, cfg), cloned["policy"],
                                    running_stats.normalize(cloned["obs_stats"], obs), 1.5 * u)
    np.testing.assert_allclose(policy_fn(obs, jax.random.key(0)), expected, rtol=1e-4, atol=1e-5)


def test_bad_inputs_raise_before_compiling():
    env, dataset = _random_pendulum_dataset()
    bc_cfg = agents.bc.Config(policy="flow", total_steps=100, steps_per_update=100, policy_hidden_sizes=(16,))
    cloned = agents.bc.init(dataset, bc_cfg, jax.random.key(1))
    base_params = agents.bc.policy_params(cloned)
    cfg = _tiny(bc_cfg)
    train = jax.jit(dsrl.train, static_argnums=0)
    with pytest.raises(ValueError, match="base_params is required"):
        train(env, cfg, jax.random.key(0))
    with pytest.raises(ValueError, match="must be a dict with 'policy'"):
        dsrl.init(env, cfg, jax.random.key(0), [1.0])
    with pytest.raises(ValueError, match="discrete actions"):
        dsrl.init(envs.make("cartpole"), cfg, jax.random.key(0), base_params)
    two_actions = agents.bc.make_head(2, bc_cfg).init(jax.random.key(0), 3)  # a clone for a 2-D action space
    with pytest.raises(ValueError, match=r"does not fit cfg.base's 'flow' head .*action_size=1"):
        train(env, cfg, jax.random.key(0), {**base_params, "policy": two_actions})
    with pytest.raises(ValueError, match="does not fit cfg.base's 'diffusion' head"):
        dsrl.init(env, cfg.replace(base=bc_cfg.replace(policy="diffusion")), jax.random.key(0), base_params)
    with pytest.raises(ValueError, match="no 'obs_stats'"):
        dsrl.init(env, cfg, jax.random.key(0), {"policy": base_params["policy"]})
    with pytest.raises(ValueError, match="cfg must be rljax.agents.dsrl.Config"):
        dsrl.init(env, sac.Config(), jax.random.key(0), base_params)
    with pytest.raises(ValueError, match="base.policy='gaussian'"):
        dsrl.Config(base=agents.bc.Config(policy="gaussian"))
    with pytest.raises(ValueError, match="noise_bound"):
        dsrl.Config(noise_bound=0.0)
    with pytest.raises(ValueError, match="policy"):
        dsrl.Config(policy="flow")  # the actor over the noise is the tanh-Gaussian


@pytest.mark.parametrize("policy", ["flow", "diffusion"])
def test_steers_a_bimodal_clone_to_the_better_mode(policy):
    """A clone of 50/50 actions at -0.6 and +0.6, steered on bandit/bimodal_unequal (bumps 0.8 at -0.6, 1.0 at
    +0.6): the deterministic DSRL action ends within 0.1 of +0.6 and most sampled actions on that side. 2 seeds."""
    n = 4096
    k1, k2 = jax.random.split(jax.random.key(0))
    sign = jnp.where(jax.random.bernoulli(k1, 0.5, (n,)), 1.0, -1.0)
    action = (0.6 * sign + 0.05 * jax.random.normal(k2, (n,)))[:, None]
    dataset = data.from_arrays(np.ones((n, 1), np.float32), np.asarray(action), env_name="bandit/bimodal")
    env = envs.make("bandit/bimodal_unequal")
    bc_cfg = agents.bc.Config(policy=policy, total_steps=3000, steps_per_update=500)
    cfg = dsrl.Config(base=bc_cfg, total_steps=2400, num_envs=8, warmup_steps=400, utd_ratio=0.25, gamma=0.0,
                      policy_hidden_sizes=(64, 64), critic_hidden_sizes=(64, 64), actor_learning_rate=1e-3,
                      critic_learning_rate=1e-3, batch_size=128, buffer_size=10_000,
                      temperature=TemperatureSettings(target_entropy_per_dim=0.0, learning_rate=1e-2))
    obs = jnp.ones((1000, 1))

    def one_seed(key):
        cloned = agents.bc.train(dataset, bc_cfg, key).params
        before = jnp.mean(agents.bc.make_policy(env, bc_cfg, cloned)(obs, key)[:, 0] > 0)
        steered = agents.dsrl.train(env, cfg, jax.random.fold_in(key, 1), cloned).params
        mode = agents.dsrl.make_policy(env, cfg, steered, deterministic=True)(obs[:1], key)[0, 0]
        after = jnp.mean(agents.dsrl.make_policy(env, cfg, steered)(obs, key)[:, 0] > 0.3)
        return before, mode, after

    before, mode, after = map(np.asarray, jax.jit(jax.vmap(one_seed))(jax.random.split(jax.random.key(1), 2)))
    print(f"{policy}: clone's share on the + side {before}, DSRL mode {mode}, DSRL samples near +0.6 {after}")
    np.testing.assert_allclose(before, 0.5, atol=0.1)
    np.testing.assert_allclose(mode, 0.6, atol=0.1)
    assert (after >= 0.8).all(), after


def _experiment():
    return experiment("dsrl")


def test_experiment_checks_its_arguments_before_running(tmp_path):
    module = _experiment()
    for bad, match in (({"seeds": 0}, "--seeds=0"), ({"dataset_steps": 100}, "--dataset-steps=100"),
                       ({"env": "cartpole"}, "--env 'cartpole'"), ({"policy": "gaussian"}, "--policy 'gaussian'"),
                       ({"dsrl_steps": 500}, "total_steps=500"), ({"noise_bound": -1.0}, "noise_bound")):
        with pytest.raises(ValueError, match=match):
            module.main(module.Args(run_root=str(tmp_path), **bad))
    assert os.listdir(tmp_path) == []  # nothing created
    with pytest.raises(SystemExit) as exit_info:
        import tyro

        tyro.cli(module.Args, args=["--help"])
    assert exit_info.value.code == 0


@pytest.mark.slow
def test_dsrl_pipeline_closes_half_the_gap_to_the_expert(tmp_path):
    """experiments/dsrl.py at its defaults (about 7 minutes on 2 CPU cores): a mediocre PPO expert on pendulum,
    a flow clone of its sampled actions, DSRL for 2e4 env steps, 4 seeds: the steered policies close at least
    half the gap between the clone and the expert (deterministic returns)."""
    module = _experiment()
    summary = module.main(module.Args(run_root=str(tmp_path)))
    print("dsrl pipeline:", summary)
    assert summary["dsrl_mean"] >= 0.5 * (summary["expert_return"] + summary["bc_mean"]), summary
    assert summary["dsrl_mean"] > summary["bc_mean"] and min(summary["dsrl"]) > max(summary["bc"]), summary
    assert os.path.getsize(summary["figure"]) > 0
