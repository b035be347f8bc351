"""rljax.parallel: the helpers are identities without an axis; a minibatch split over the data axis gives the
whole minibatch's gradient and statistics; every data-parallel agent reduces all of its replicated state (a
static check, by tracing); and, in a subprocess with 4 CPU devices, programs on a mesh match the same programs
emulated on one device (tests/parallel_devices.py)."""

import json
import os
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import agents, parallel
from rljax import env as env_lib
from rljax.agents.ppo.losses import ppo_loss
from rljax.critics import ValueCritic
from rljax.critics.gaussian import GaussianCritic
from rljax.policies import registry

DEVICE_SCRIPT = os.path.join(os.path.dirname(__file__), "parallel_devices.py")


def test_helpers_are_identities_without_an_axis():
    x = {"a": jnp.arange(3.0), "b": jnp.float32(2.0)}
    key = jax.random.key(0)
    assert parallel.reduce_mean(x, None) is x
    assert parallel.shard_key(key, None) is key
    assert parallel.axis_size(None) == 1 and parallel.local_size(8, None) == 8
    flag = jnp.array(True)
    assert parallel.reduce_all(flag, None) is flag
    y = jnp.array([1.0, jnp.nan, 3.0])
    assert float(parallel.reduce_nanmean(y, None)) == float(jnp.nanmean(y))
    critic = GaussianCritic()
    assert parallel.bind_axis(critic, None) is critic
    assert parallel.bind_axis(critic, "data").axis_name == "data"
    assert parallel.bind_axis(ValueCritic((8,)), "data") == ValueCritic((8,))  # no batch statistics: unchanged


def test_reductions_over_an_emulated_axis():
    x = jnp.array([[1.0, jnp.nan], [jnp.nan, jnp.nan], [3.0, 5.0], [jnp.nan, 7.0]])  # 4 shards of 2
    nanmean = jax.vmap(lambda s: parallel.reduce_nanmean(s, "data"), axis_name="data")(x)
    np.testing.assert_allclose(nanmean, np.full(4, 4.0))
    every = jax.vmap(lambda s: parallel.reduce_all(jnp.all(s > 0), "data"), axis_name="data")
    assert bool(every(jnp.ones((4, 2))).all()) and not bool(every(jnp.ones((4, 2)).at[2, 1].set(-1)).any())
    sizes = jax.vmap(lambda s: parallel.local_size(8, "data") + 0 * s, axis_name="data")(jnp.zeros(4))
    np.testing.assert_array_equal(sizes, 2)
    with pytest.raises(ValueError, match="does not split evenly"):
        jax.vmap(lambda s: parallel.local_size(6, "data", "num_envs") + s, axis_name="data")(jnp.zeros(4))
    keys = jax.vmap(lambda _: jax.random.key_data(parallel.shard_key(jax.random.key(0), "data")),
                    axis_name="data")(jnp.zeros(4))
    assert len({tuple(np.asarray(k)) for k in keys}) == 4  # a key of its own per shard


def test_layouts_and_checks():
    assert parallel.Layout.parse("2x4") == parallel.Layout(2, 4) and parallel.Layout(2, 4).devices == 8
    assert str(parallel.Layout(2, 4)) == "2x4" and parallel.Layout(3, 1).axis_name is None
    for bad in ("4", "2x", "axb", "0x2"):
        with pytest.raises(ValueError):
            parallel.Layout.parse(bad)
    assert parallel.layout_for(None, None, runs=4) is None
    assert parallel.layout_for("all", None, runs=4) == parallel.Layout(len(jax.devices()), 1)
    for devices, mesh in ((str(len(jax.devices()) + 1), None), ("two", None), (None, "2x2"), ("1", "1x2")):
        with pytest.raises(ValueError, match="device"):
            parallel.layout_for(devices, mesh, runs=4)
    with pytest.raises(ValueError, match="needs 2 devices"):
        parallel.Layout(1, 2).mesh(devices=jax.devices()[:1])
    ppo = agents.ppo.Config(num_envs=6, unroll_length=8, num_minibatches=3)
    parallel.check(agents.ppo, ppo, runs=4, layout=parallel.Layout(2, 2))
    with pytest.raises(ValueError, match="runs do not split"):
        parallel.check(agents.ppo, ppo, runs=3, layout=parallel.Layout(2, 1))
    with pytest.raises(ValueError, match="num_envs=6"):
        parallel.check(agents.ppo, ppo, runs=1, layout=parallel.Layout(1, 4))
    with pytest.raises(ValueError, match="batch_size=256"):
        parallel.check(agents.sac, agents.sac.Config(num_envs=3, batch_size=256), runs=1,
                       layout=parallel.Layout(1, 3))
    with pytest.raises(ValueError, match="does not support data parallelism"):
        parallel.check(agents.bc, agents.bc.Config(), runs=1, layout=parallel.Layout(1, 2))
    parallel.check(agents.bc, agents.bc.Config(), runs=2, layout=parallel.Layout(2, 1))  # seeds: every agent
    assert all(parallel.supports_data(getattr(agents, name))
               for name in ("ppo", "fpo", "dppo", "sac", "dsac_t", "dacer", "apg", "shac", "dsrl"))


def _shards(tree, n):
    return jax.tree.map(lambda x: x.reshape((n, x.shape[0] // n) + x.shape[1:]), tree)


def test_a_minibatch_split_over_devices_has_the_whole_minibatch_gradient():
    """The mean over 4 shards of their gradients (advantages normalised by the whole minibatch's statistics)
    is the gradient of the whole minibatch; normalising per shard would not be."""
    env = envs.make("pendulum")
    cfg = agents.ppo.Config()
    head = registry.make("gaussian", action_size=1, hidden_sizes=(16,), activation="tanh")
    critic = ValueCritic((16,), "tanh")
    obs_size = env_lib.observation_size(env)

    @jax.jit
    def make(key):
        keys = jax.random.split(key, 6)
        params = {"policy": head.init(keys[0], obs_size), "value": critic.init(keys[1], obs_size)}
        obs = jax.random.normal(keys[2], (32, obs_size))
        action, aux = head.sample(params["policy"], obs, keys[3])
        return params, {"obs": obs, "action": action, "aux": aux,
                        "log_likelihood": head.log_likelihood(params["policy"], obs, action, aux) + 0.1,
                        "advantages": 3.0 + 2.0 * jax.random.normal(keys[4], (32,)),
                        "returns": jax.random.normal(keys[5], (32,)), "values": jnp.zeros(32)}

    params, batch = make(jax.random.key(1))

    def loss(p, b, axis_name=None):
        return ppo_loss(p, b, cfg, head, critic, axis_name=axis_name)

    full_grads, full_metrics = jax.jit(jax.grad(loss, has_aux=True))(params, batch)

    def shard(b, axis_name, normalize_over):
        grads, metrics = jax.grad(loss, has_aux=True)(params, b, normalize_over)
        return parallel.reduce_mean((grads, metrics), axis_name)

    def over_shards(normalize_over):
        return jax.jit(jax.vmap(lambda b: shard(b, "data", normalize_over), axis_name="data", out_axes=None))

    grads, metrics = over_shards("data")(_shards(batch, 4))
    for got, want in zip(jax.tree.leaves((grads, metrics)), jax.tree.leaves((full_grads, full_metrics))):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    per_shard, _ = over_shards(None)(_shards(batch, 4))
    assert not all(np.allclose(a, b, rtol=1e-3) for a, b in zip(jax.tree.leaves(per_shard),
                                                                  jax.tree.leaves(full_grads)))


def test_dsac_t_running_std_and_gradient_over_devices_are_the_whole_batch_s():
    """DSAC-T's critic keeps a running std of the batch's stds; split over devices it takes the whole batch's
    (``sample_clip=0`` makes the loss deterministic, so shards and batch compare exactly)."""
    critic = GaussianCritic((16,), "gelu", 2, sample_clip=0.0)
    keys = jax.random.split(jax.random.key(2), 6)
    params, target = jax.jit(lambda k: (critic.init(k[0], 3, 1), critic.init(k[1], 3, 1)))(keys)
    td = {"obs": jax.random.normal(keys[2], (16, 3)), "action": jax.random.uniform(keys[3], (16, 1)),
          "reward": jax.random.normal(keys[4], (16,)), "discount": jnp.full(16, 0.99),
          "next_obs": jax.random.normal(keys[5], (16, 3)), "next_action": jnp.zeros((16, 1)),
          "next_log_prob": jnp.zeros(16), "alpha": jnp.full(16, 0.1)}  # per row, to split
    state = {"sigma_bar": jnp.array([0.5, 2.0]), "initialized": jnp.float32(1.0)}

    def grads_and_state(c, t, axis_name=None):
        grads, (_, new_state) = jax.grad(c.loss, has_aux=True)(params, target, t, state, keys[0])
        return parallel.reduce_mean(grads, axis_name), new_state

    want = jax.jit(lambda t: grads_and_state(critic, t))(td)
    bound = parallel.bind_axis(critic, "data")
    got = jax.jit(jax.vmap(lambda t: grads_and_state(bound, t, "data"), axis_name="data", out_axes=None))(
        _shards(td, 4))
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)


def _tiny(name):
    small = dict(policy_hidden_sizes=(8,))
    if name in ("ppo", "fpo", "dppo"):
        return getattr(agents, name).Config(total_steps=256, num_envs=4, unroll_length=16, num_minibatches=2,
                                            num_epochs=1, value_hidden_sizes=(8,), **small), "pendulum"
    if name == "apg":
        return agents.apg.Config(total_steps=256, num_envs=4, horizon=8, **small), "pendulum"
    if name == "shac":
        return agents.shac.Config(total_steps=256, num_envs=4, horizon=8, value_hidden_sizes=(8,), critic_epochs=2,
                                  critic_minibatches=2, **small), "pendulum"
    extra = dict(noise_scale=agents.dacer.NoiseScaleSettings(update_period=2, entropy_samples=8)) \
        if name == "dacer" else {}
    return getattr(agents, name).Config(total_steps=200, num_envs=4, unroll_length=2, warmup_steps=16,
                                        batch_size=8, buffer_size=64, critic_hidden_sizes=(8,), **small,
                                        **extra), "pendulum"


@pytest.mark.parametrize("name", ["ppo", "fpo", "dppo", "sac", "dsac_t", "dacer", "apg", "shac"])
def test_every_data_parallel_agent_reduces_its_replicated_state(name):
    """Traced only (no compile): with the data axis emulated by a vmap, every replicated leaf (params,
    optimiser, statistics, regulator, critic state) and metric must come out the same on every shard, or the
    program would not trace. State leaves per shard get a [data] axis after the runs axis."""
    agent = getattr(agents, name)
    cfg, env_name = _tiny(name)
    env = envs.make(env_name)
    layout = parallel.Layout(1, 2)
    keys = jax.random.split(jax.random.key(0), 2)
    state = jax.eval_shape(parallel.init_program(agent, env, cfg, 2, layout, emulate=True), cfg, keys)
    assert jax.tree.leaves(state.env_state)[0].shape[:2] == (2, 2)
    assert jax.tree.leaves(state.params)[0].shape[0] == 2
    state, metrics = jax.eval_shape(parallel.train_program(agent, env, cfg, 2, 3, layout, emulate=True), cfg, state)
    assert metrics["episode_return"].shape == (2, 3)


def test_a_missing_reduction_is_caught_while_tracing():
    """An agent whose update leaves its params different on each shard does not trace."""
    def update(env, cfg, state, *, axis_name=None):
        state, metrics = agents.ppo.update(env, cfg, state, axis_name=axis_name)
        shift = jax.lax.axis_index(axis_name).astype(jnp.float32)  # a per-shard change, never reduced
        return state.replace(params=jax.tree.map(lambda p: p + shift, state.params)), metrics

    broken = types.SimpleNamespace(**{**{k: getattr(agents.ppo, k) for k in agents.ppo.__all__}, "update": update},
                                   __name__="broken")
    cfg, env_name = _tiny("ppo")
    env = envs.make(env_name)
    layout = parallel.Layout(1, 2)
    state = jax.eval_shape(parallel.init_program(broken, env, cfg, 1, layout, emulate=True), cfg,
                           jax.random.split(jax.random.key(0), 1))
    with pytest.raises(ValueError, match="differs between the data shards"):
        jax.eval_shape(parallel.train_program(broken, env, cfg, 1, 1, layout, emulate=True), cfg, state)


def _run_device_script(*cases):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    done = subprocess.run([sys.executable, DEVICE_SCRIPT, *cases], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _assert_matches(result):
    assert result["nonfinite"] == 0.0
    worst = {k: v for k, v in result["metrics_worst"].items() if v > 1.0}
    assert not worst, f"{result['case']} {result['layout']}: metrics differ from one device's: {worst}"
    assert result["params_worst"] <= 1.0 and result["state_worst"] <= 1.0, result
    seeds, data = map(int, result["layout"].split("x"))
    shardings = result["shardings"]
    assert shardings["devices"] == 4
    assert shardings["env_state"] == str(jax.sharding.PartitionSpec(None if seeds == 1 else "seeds", "data"))
    assert shardings["env_state_shape"][:2] == [result["runs"], data]
    assert result["metrics_shape"] == [result["runs"], 3]
    if result["runs"] > 1:
        assert result["runs_differ"]  # each run its own seed


def test_mesh_programs_match_one_device():
    """4 CPU devices: PPO (cartpole) and SAC (pendulum) with the envs (and replay) over 4 data devices, and PPO's
    runs over 2 seeds devices x envs over 2 data devices, match the same programs on one device (per-update
    metrics, final params and state, rtol 1e-4)."""
    results = _run_device_script("ppo:1x4", "ppo:2x2", "sac:1x4")
    assert [(r["case"], r["layout"]) for r in results] == [("ppo", "1x4"), ("ppo", "2x2"), ("sac", "1x4")]
    for result in results:
        _assert_matches(result)
    assert results[2]["replay_experience_shape"][:2] == [1, 4]  # [runs, data, ...]: a replay per device
    assert results[2]["replay_experience_shape"][3] == 512 // 4  # of buffer_size / 4 transitions


@pytest.mark.slow
def test_mesh_programs_match_one_device_more_layouts():
    """SAC and DSAC-T (its critic's running std reduced over devices) over 2 seeds x 2 data devices; and a
    seeds-only mesh (4x1), whose state is laid out as on one device and matches the runner's own programs."""
    results = _run_device_script("sac:2x2", "dsac_t:2x2", "seeds_only")
    for result in results[:2]:
        _assert_matches(result)
    seeds_only = results[2]
    assert seeds_only["same_structure"] and seeds_only["devices"] == 4
    assert max(seeds_only["metrics_worst"].values()) <= 1.0 and seeds_only["state_worst"] <= 1.0
