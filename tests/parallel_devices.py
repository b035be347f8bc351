"""Multi-device checks of rljax.parallel, run by tests/test_parallel.py in a subprocess with 4 CPU devices.

    python tests/parallel_devices.py ppo:1x4 ppo:2x2 sac:1x4 sac:2x2 dsac_t:2x2 seeds_only

For each case: init and a chunk of updates on a mesh, and the same program emulated on one device
(the data axis a vmap); prints one JSON line per case with the largest relative differences of the
per-update metrics and of the final state's float leaves (as ``worst_ratio``: <= 1 is allclose at rtol 1e-4,
atol 1e-5), and the state's shardings.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envs  # noqa: E402
from rljax import agents, parallel  # noqa: E402

UPDATES = 3


def configs():
    ppo = agents.ppo.Config(total_steps=4096, num_envs=8, unroll_length=32, num_minibatches=2, num_epochs=2,
                            policy_hidden_sizes=(16,), value_hidden_sizes=(16,))
    sac = agents.sac.Config(total_steps=1000, num_envs=4, unroll_length=2, warmup_steps=64, batch_size=32,
                            buffer_size=512, policy_hidden_sizes=(16,), critic_hidden_sizes=(16,),
                            normalize_rewards=True)
    dsac_t = agents.dsac_t.Config(total_steps=1000, num_envs=4, unroll_length=2, warmup_steps=64, batch_size=32,
                                  buffer_size=512, policy_hidden_sizes=(16,), critic_hidden_sizes=(16,))
    return {"ppo": (agents.ppo, "cartpole", ppo), "sac": (agents.sac, "pendulum", sac),
            "dsac_t": (agents.dsac_t, "pendulum", dsac_t)}


def float_leaves(tree):
    leaves = [x for x in jax.tree.leaves(tree) if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]
    return [np.asarray(x, np.float64) for x in leaves if np.issubdtype(np.asarray(x).dtype, np.floating)]


def worst_ratio(a, b, rtol=1e-4, atol=1e-5):
    """``max |a - b| / (atol + rtol |b|)`` over the float leaves (NaN where both are NaN counts as equal):
    ``<= 1`` is ``np.allclose(a, b, rtol, atol)``."""
    worst = 0.0
    for x, y in zip(float_leaves(a), float_leaves(b), strict=True):
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return float("inf")
        x, y = np.nan_to_num(x), np.nan_to_num(y)
        worst = max(worst, float(np.max(np.abs(x - y) / (atol + rtol * np.abs(y)), initial=0.0)))
    return worst


def run(agent, env, cfg, runs, layout, emulate, together=True):
    """Init and ``UPDATES`` updates: as one program (``together``, one compile) or as the runner runs them."""
    keys = jax.random.split(jax.random.key(0), runs)
    t = time.perf_counter()
    init = parallel.init_program(agent, env, cfg, runs, layout, emulate=emulate)
    train = parallel.train_program(agent, env, cfg, runs, UPDATES, layout, emulate=emulate)
    if together:
        state, metrics = jax.jit(lambda c, k: train(c, init(c, k)))(cfg, keys)
    else:
        state = init(cfg, keys)
        state, metrics = train.lower(cfg, state).compile()(cfg, state)
    jax.block_until_ready((state, metrics))
    return state, jax.device_get(metrics), time.perf_counter() - t


def check(name, layout, runs):
    agent, env_name, cfg = configs()[name]
    env = envs.make(env_name)
    state, metrics, mesh_seconds = run(agent, env, cfg, runs, layout, emulate=False)
    ref_state, ref_metrics, ref_seconds = run(agent, env, cfg, runs, layout, emulate=True)
    params = agent.policy_params(state)
    shardings = {
        "params": str(jax.tree.leaves(params)[0].sharding.spec),
        "env_state": str(jax.tree.leaves(state.env_state)[0].sharding.spec),
        "env_state_shape": list(jax.tree.leaves(state.env_state)[0].shape),
        "devices": len(jax.tree.leaves(state.env_state)[0].sharding.device_set),
    }
    result = {
        "case": name, "layout": str(layout), "runs": runs,
        "metrics_keys": sorted(metrics),
        "metrics_shape": list(np.shape(metrics["episode_return"])),
        "metrics_worst": {k: worst_ratio(metrics[k], ref_metrics[k]) for k in metrics},
        "params_worst": worst_ratio(params, agent.policy_params(ref_state)),
        "state_worst": worst_ratio(state, ref_state),
        "nonfinite": float(np.max(metrics["nonfinite"])),
        "runs_differ": bool(runs > 1 and not np.allclose(*[float_leaves(jax.tree.map(lambda x: x[i], params))[0]
                                                           for i in range(2)])),
        "shardings": shardings, "seconds": {"mesh": mesh_seconds, "emulated": ref_seconds},
    }
    if hasattr(state, "replay"):
        result["replay_experience_shape"] = list(jax.tree.leaves(state.replay.experience)[0].shape)
    print(json.dumps(result), flush=True)


def check_seeds_only():
    """A seeds-only mesh (4x1) lays the state out as on one device and matches the runner's own programs."""
    from rljax.runner.chunks import chunk_program, init_runs

    agent, env_name, cfg = configs()["ppo"]
    env = envs.make(env_name)
    keys = jax.random.split(jax.random.key(0), 4)
    state, metrics, seconds = run(agent, env, cfg, 4, parallel.Layout(4, 1), emulate=False, together=False)
    ref = init_runs(agent, env, cfg, keys)
    ref, ref_metrics = chunk_program(agent, env, cfg, 4, UPDATES)(cfg, ref)
    print(json.dumps({
        "case": "ppo_seeds_only", "layout": "4x1", "runs": 4,
        "same_structure": jax.tree.structure(state) == jax.tree.structure(ref)
        and [np.shape(x) for x in jax.tree.leaves(state)] == [np.shape(x) for x in jax.tree.leaves(ref)],
        "metrics_worst": {k: worst_ratio(metrics[k], ref_metrics[k]) for k in metrics},
        "state_worst": worst_ratio(state, ref),
        "devices": len(jax.tree.leaves(state.params)[0].sharding.device_set),
        "seconds": seconds}), flush=True)


if __name__ == "__main__":
    assert len(jax.devices()) == 4, jax.devices()
    for case in sys.argv[1:] or ["ppo:1x4", "ppo:2x2", "sac:1x4", "sac:2x2"]:
        if case == "seeds_only":
            check_seeds_only()
        else:
            name, layout = case.split(":")
            layout = parallel.Layout.parse(layout)
            check(name, layout, runs=layout.seeds)
