"""SHAC (short-horizon actor-critic): config validation, TD(lambda) targets by hand, the actor loss
against APG's and its value bootstrap, learning through pendulum's differentiable dynamics, and a
run through the runner's command line."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import agents, evaluate
from rljax.agents.apg.train import _window as apg_window
from rljax.returns import td_lambda
from scripts import experiment

Config = agents.shac.Config


@pytest.mark.parametrize("field,value,message", [
    ("discount", 1.0, "discount.*must be in \\(0, 1\\)"),
    ("discount", 0.0, "discount.*must be in \\(0, 1\\)"),
    ("critic_learning_rate", 0.0, "critic_learning_rate.*must be > 0"),
    ("td_lambda", 1.5, "td_lambda.*must be in \\[0, 1\\]"),
    ("critic_epochs", 0, "critic_epochs.*must be > 0"),
    ("critic_minibatches", 0, "critic_minibatches.*must be > 0"),
    ("target_tau", 0.0, "target_tau.*must be in \\(0, 1\\]"),
    ("value_hidden_sizes", (8, 0), "value_hidden_sizes.*positive ints"),
    ("learning_rate", -1.0, "learning_rate.*must be > 0"),  # APG's fields are checked too
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        Config(**{field: value})


def test_config_consistency_and_agent_checks():
    with pytest.raises(ValueError, match="critic_minibatches=3: must divide num_envs \\* horizon = 128"):
        Config(total_steps=4096, num_envs=8, horizon=16, critic_minibatches=3)
    env = envs.make("pendulum")
    # APG's loop would ignore the critic: a SHAC config is refused there, and the other way round.
    with pytest.raises(ValueError, match="train it with rljax.agents.shac"):
        agents.apg.init(env, Config(), jax.random.key(0))
    with pytest.raises(ValueError, match="cfg must be rljax.agents.shac.Config"):
        agents.shac.init(env, agents.apg.Config(), jax.random.key(0))
    with pytest.raises(ValueError, match="continuous actions"):
        agents.shac.init(envs.make("cartpole"), Config(), jax.random.key(0))


def test_td_lambda_matches_a_hand_computed_window():
    # Three envs, three steps, gamma = lambda = 0.5, rewards 1, 2, 3 and next values 10, 20, 30:
    # env 0 runs on, env 1 terminates at step 1 (nothing after it), env 2 is truncated there (bootstrapped).
    rewards = jnp.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    next_values = jnp.array([[10.0, 10.0, 10.0], [20.0, 20.0, 20.0], [30.0, 30.0, 30.0]])
    dones = jnp.array([[0.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    truncations = jnp.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    got = td_lambda(rewards, next_values, dones, truncations, 0.5, 0.5)
    # env 0: G2 = 3 + .5*30 = 18; G1 = 2 + .5*(.5*20 + .5*18) = 11.5; G0 = 1 + .5*(.5*10 + .5*11.5) = 6.375
    # env 1: G2 = 18; G1 = 2 (terminated); G0 = 1 + .5*(.5*10 + .5*2) = 4
    # env 2: G2 = 18; G1 = 2 + .5*20 = 12 (episode over: one-step target); G0 = 1 + .5*(.5*10 + .5*12) = 6.5
    want = np.array([[6.375, 4.0, 6.5], [11.5, 2.0, 12.0], [18.0, 18.0, 18.0]])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # lambda = 0: one-step TD targets; lambda = 1: discounted rewards to the window's end plus its last value.
    np.testing.assert_allclose(td_lambda(rewards, next_values, dones * 0, truncations * 0, 0.5, 0.0)[:, 0],
                               [6.0, 12.0, 18.0], rtol=1e-6)
    np.testing.assert_allclose(td_lambda(rewards, next_values, dones * 0, truncations * 0, 0.5, 1.0)[:, 0],
                               [1 + 1 + 0.75 + 3.75, 2 + 1.5 + 7.5, 18.0], rtol=1e-6)
    with pytest.raises(AssertionError, match="shapes"):
        td_lambda(rewards, next_values[:2], dones, truncations, 0.5, 0.5)


def _window_setup(horizon, episode_length, discount=0.9):
    env = envs.make("pendulum")
    common = dict(total_steps=4 * horizon, num_envs=4, horizon=horizon, episode_length=episode_length,
                  desync_episodes=False, discount=discount, reward_scale=0.5, policy_hidden_sizes=(16,),
                  init_scale=1.0)
    cfg = Config(**common, value_hidden_sizes=(16,), critic_minibatches=1)
    state = jax.jit(lambda k: agents.shac.init(env, cfg, k))(jax.random.key(3))
    return env, cfg, agents.apg.Config(**common), state


def test_with_the_value_at_zero_and_one_episode_per_window_the_actor_loss_is_apg_s():
    # H = the episode length: each window is one whole episode from its reset, so SHAC's loss without a
    # value is APG's (same discount and reward scale), gradients included; with the value, the
    # difference is exactly the bootstrap -(gamma^H / H) mean_envs V(s_H) of the time-limited ends.
    env, cfg, apg_cfg, state = _window_setup(horizon=16, episode_length=16)
    zero_value = jax.tree.map(jnp.zeros_like, state.critic_params)

    @jax.jit
    def losses(params):
        shac = jax.value_and_grad(agents.shac.actor_loss, argnums=2, has_aux=True)
        (no_value, _), g_shac = shac(env, cfg, params, zero_value, state.obs_stats, state.env_state)
        (apg_loss, _), g_apg = jax.value_and_grad(apg_window, argnums=2, has_aux=True)(
            env, apg_cfg, params, state.obs_stats, state.env_state)
        with_value, window = agents.shac.actor_loss(env, cfg, params, state.critic_params, state.obs_stats,
                                                    state.env_state)
        final_values = agents.shac.value(cfg, state.critic_params, state.obs_stats,
                                         window["final"].info["final_obs"])
        return no_value, apg_loss, g_shac, g_apg, with_value, final_values, window

    no_value, apg_loss, g_shac, g_apg, with_value, final_values, window = losses(state.params)
    assert np.all(np.asarray(window["truncations"][-1]) == 1.0) and not np.any(window["dones"][:-1])
    np.testing.assert_allclose(no_value, apg_loss, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(g_shac), jax.tree.leaves(g_apg)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    assert abs(float(np.mean(final_values))) > 1e-3  # the init critic is not zero: the check below can fail
    np.testing.assert_allclose(with_value - no_value, -(0.9 ** 16) * np.mean(final_values) / 16, rtol=1e-4)


def test_the_value_bootstrap_s_gradient_reaches_the_policy():
    # A window inside an episode: the only value term is V(s_H), which depends on the policy through s_H.
    # Its gradient (the loss with the value minus without) is finite and nonzero, and matches a central
    # finite difference of the loss along that gradient's direction.
    env, cfg, _, state = _window_setup(horizon=8, episode_length=200)
    zero_value = jax.tree.map(jnp.zeros_like, state.critic_params)

    def bootstrap(params):
        loss = lambda v: agents.shac.actor_loss(env, cfg, params, v, state.obs_stats, state.env_state)[0]  # noqa: E731
        return loss(state.critic_params) - loss(zero_value)

    grads = jax.jit(jax.grad(bootstrap))(state.params)
    norm = float(jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads))))
    assert np.isfinite(norm) and norm > 1e-4, norm
    direction = jax.tree.map(lambda g: g / norm, grads)
    eps = 1e-2
    shifted = jax.jit(lambda s: bootstrap(jax.tree.map(lambda p, d: p + s * d, state.params, direction)))
    finite_difference = (float(shifted(eps)) - float(shifted(-eps))) / (2 * eps)
    np.testing.assert_allclose(finite_difference, norm, rtol=0.05)


def _random_policy(obs, key):
    return jax.random.uniform(key, obs.shape[:-1] + (1,), minval=-1.0, maxval=1.0)


def _train_and_evaluate(env, cfg, seeds):
    """Per seed (vmapped): the initial policy's, the trained policy's and (1-d actions) uniform random
    actions' mean eval return over the same 16 episodes, and the training metrics."""
    def one_seed(key):
        eval_key = jax.random.fold_in(key, 1)
        before = evaluate(env, agents.shac.make_policy(env, cfg, agents.shac.policy_params(
            agents.shac.init(env, cfg, key))), eval_key, num_episodes=16).mean()
        result = agents.shac.train(env, cfg, key)
        after = evaluate(env, agents.shac.make_policy(env, cfg, result.params), eval_key, num_episodes=16).mean()
        random = evaluate(env, _random_policy, eval_key, num_episodes=16).mean() if env.action_size == 1 \
            else jnp.nan
        return before, after, random, result.metrics

    before, after, random, metrics = jax.jit(jax.vmap(one_seed))(jax.random.split(jax.random.key(0), seeds))
    return np.asarray(before), np.asarray(after), np.asarray(random), jax.device_get(metrics)


def test_shac_learns_pendulum_through_pure_jax_dynamics():
    # Preset, 2 seeds vmapped in one program, 100k env steps each; the initial (gentle) policy scores
    # -1057 and -1202, uniform random actions about -1250. Measured: -827 and -933.
    env = envs.make("pendulum")
    cfg = agents.shac.presets.preset("pendulum")
    before, after, random, metrics = _train_and_evaluate(env, cfg, seeds=2)
    print("pendulum SHAC eval returns: before", before, "after", after, "random actions", random)
    assert np.all(after > before + 100) and np.all(after > random + 100), (before, after, random)
    assert not metrics["nonfinite"].any()
    assert metrics["critic_loss"][:, -1].max() < metrics["critic_loss"][:, 0].min()  # the critic fits
    assert metrics["episode_return"].shape == (2, cfg.num_updates)


@pytest.mark.slow
def test_shac_improves_contact_push_through_the_solver():
    # Gradients through the contact solver, the preset cut to 32k env steps (as APG's slow test), 2 seeds:
    # from about -95 (the optimum is about -10). Measured: -95 -> -9.5 and -95 -> -76.9 (214 s on 2
    # shared CPU cores).
    env = envs.make("contact/push")
    cfg = agents.shac.presets.preset("contact/push").replace(total_steps=32_768)
    before, after, _, metrics = _train_and_evaluate(env, cfg, seeds=2)
    print("contact/push SHAC eval returns: before", before, "after", after)
    assert after.mean() > before.mean() + 40 and np.all(after > before + 10), (before, after)
    assert not metrics["nonfinite"].any()


@pytest.mark.slow  # ~25 s of compiling the runner's programs; `--help` is checked in test_cli_help.py
def test_the_runner_trains_shac_from_the_command_line(tmp_path):
    shac = experiment("shac")
    summary = shac.main(["--env", "pendulum", "--total-steps", "512", "--num-envs", "4", "--horizon", "8",
                         "--critic-epochs", "2", "--seeds", "2", "--chunks", "2", "--eval-episodes", "2",
                         "--no-checkpoints", "--run-root", str(tmp_path)])
    with open(os.path.join(summary["run_dir"], "config.json")) as f:
        saved = json.load(f)
    assert saved["config"]["critic_epochs"] == 2 and saved["config"]["td_lambda"] == 0.95
    assert summary["env_steps_per_seed"] == 512


def test_the_comparison_takes_each_agents_preset_for_its_task(tmp_path):
    shac = experiment("shac")
    args = shac.make_args("contact/arm_push")()
    assert args.ppo == agents.ppo.presets.preset("contact/arm_push")
    assert args.shac == agents.shac.presets.preset("contact/arm_push")
    with pytest.raises(SystemExit, match="--task 'contact/hop'"):
        shac.main(["--task", "contact/hop", "--run-root", str(tmp_path)])
    assert not os.listdir(tmp_path)  # nothing made for a bad task


def test_annealed_learning_rates_decay_to_zero_over_the_run():
    # Adam on a constant gradient moves a parameter by its learning rate each step, so over the run's
    # steps a linear decay to 0 covers half the distance of the constant rate, for the actor (one step per
    # update) and the critic (critic_epochs * critic_minibatches steps per update) alike.
    from rljax.agents.apg.train import _optimizer
    from rljax.agents.shac.train import _critic_optimizer

    cfg = agents.shac.Config(total_steps=2048, num_envs=8, horizon=32, critic_epochs=2, critic_minibatches=4)

    def distance(optimizer, steps):
        params = jnp.zeros(())

        def step(carry, _):
            params, opt_state = carry
            updates, opt_state = optimizer.update(jnp.ones(()), opt_state, params)
            return (params + updates, opt_state), None

        return -float(jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)[0][0])

    for make, rate, steps in ((_optimizer, cfg.learning_rate, cfg.num_updates),
                              (_critic_optimizer, cfg.critic_learning_rate, cfg.num_updates * 8)):
        constant = distance(make(cfg), steps)
        annealed = distance(make(cfg.replace(anneal_learning_rate=True)), steps)
        np.testing.assert_allclose(constant, rate * steps, rtol=1e-3)
        np.testing.assert_allclose(annealed, rate * (steps + 1) / 2, rtol=1e-3)
