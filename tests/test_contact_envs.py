"""Contact tasks (envs.contact): protocol, float32 boundary, long rollouts,
finite-difference gradients through the float64 solver from float32 programs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.contact import Hop, Push
from rljax import env as env_lib

TASKS = ("contact/push", "contact/hop")


def test_registered_and_bad_kwargs_rejected():
    names = envs.names()
    for name in TASKS:
        assert name in names
    assert isinstance(envs.make("contact/push"), Push) and isinstance(envs.make("contact/hop"), Hop)
    with pytest.raises(ValueError, match="does not take"):
        envs.make("contact/push", wind=1.0)
    for name, kw in [("contact/push", {"friction": 0.0}), ("contact/push", {"kappa": -1e-4}),
                     ("contact/push", {"goal_min": 2.0}), ("contact/push", {"max_iter": 0}),
                     ("contact/hop", {"dt": 0.0}), ("contact/hop", {"ctrl_cost": -1.0}),
                     ("contact/hop", {"grad_kappa": 0.0})]:
        with pytest.raises(ValueError, match=list(kw)[0]):
            envs.make(name, **kw)


@pytest.mark.parametrize("name", TASKS)
def test_protocol_shapes_and_float32_without_x64(name):
    assert not jax.config.jax_enable_x64
    env = envs.make(name)
    state = jax.eval_shape(env.reset, jax.random.key(0))
    assert state.obs.shape == (env.observation_size,) and state.obs.dtype == jnp.float32
    action = jax.ShapeDtypeStruct((env.action_size,), jnp.float32)
    nxt = jax.eval_shape(env.step, state, action)
    for leaf in jax.tree.leaves(nxt):
        assert leaf.dtype != jnp.float64, "float64 leaked out of the env"
    assert nxt.obs.shape == (env.observation_size,) and nxt.obs.dtype == jnp.float32
    assert nxt.reward.shape == () and nxt.reward.dtype == jnp.float32
    assert nxt.done.dtype == jnp.float32
    assert env.fresh_reset and not env.discrete_actions and env.default_episode_length == 100
    assert env_lib.observation_size(env) == env.observation_size


def _random_rollout(name, num_envs=4, steps=1000, seed=0):
    """Random actions in [-1.5, 1.5] (clipped by the env) for ``steps`` steps of
    ``num_envs`` auto-resetting envs, one compiled program."""
    env = envs.make(name)
    train_env = env_lib.wrap_for_training(env, num_envs)

    def run(key):
        s = train_env.reset(key)

        def body(s, k):
            a = jax.random.uniform(k, (num_envs, env.action_size), minval=-1.5, maxval=1.5)
            s = train_env.step(s, a)
            out = {"obs": s.obs, "reward": s.reward, "done": s.done, "trunc": s.info["truncation"],
                   "iters": s.metrics["solver_iterations"], "converged": s.metrics["solver_converged"],
                   "returns": s.info["last_episode_return"]}
            return s, out

        return jax.lax.scan(body, s, jax.random.split(key, steps))[1]

    return jax.device_get(jax.jit(run)(jax.random.key(seed)))


@pytest.mark.parametrize("name", TASKS)
def test_1000_step_random_rollouts_stay_finite_and_solver_converges(name):
    out = _random_rollout(name)
    assert out["obs"].dtype == np.float32 and out["reward"].dtype == np.float32
    assert np.isfinite(out["obs"]).all() and np.isfinite(out["reward"]).all()
    conv, iters = out["converged"], out["iters"]
    print(f"{name}: solver converged {conv.mean():.4f}, median iterations {np.median(iters)}, max {iters.max()}")
    assert conv.mean() > 0.999 and np.median(iters) <= 15
    done, trunc = out["done"], out["trunc"]
    assert set(np.unique(done)) <= {0.0, 1.0} and np.all(trunc <= done)
    if name == "contact/push":
        # never terminates: every episode ends by truncation at exactly 100 steps
        assert np.array_equal(done, trunc)
        assert done.sum() == 4 * 10 and np.all(done[99::100] == 1)
    else:
        # random thrust tips the hopper over: terminations (done, not truncation) happen
        assert (done * (1 - trunc)).sum() > 0
    assert np.isfinite(out["returns"][-1]).all()


def _push_return(env, actions, state):
    def body(s, a):
        s = env.step(s, a)
        return s, s.reward
    return jax.lax.scan(body, state, actions)[1].sum()


def test_push_gradient_matches_central_finite_differences():
    # A relaxed solve (kappa = 1e-3) with a sliding box: d(return)/d(actions) from the
    # solver's implicit-function VJP through 12 float32 steps vs central differences
    # of the same forward, along random directions. The gradients come from
    # jit(vmap(grad)) over two envs in a float32 program (x64 off), so this also
    # checks the float64 scoping under all three transformations.
    assert not jax.config.jax_enable_x64
    env = envs.make("contact/push", kappa=1e-3)
    states = jax.vmap(env.reset)(jax.random.split(jax.random.key(3), 2))
    k1, k2 = jax.random.split(jax.random.key(1))
    actions = 0.7 * jnp.sign(states.obs[:, None, :2]) + 0.1 * jax.random.normal(k1, (2, 12, 2))
    directions = jax.random.normal(k2, (4, 12, 2))
    directions = directions / jnp.linalg.norm(directions.reshape(4, -1), axis=1)[:, None, None]
    eps = 1e-2
    state0 = jax.tree.map(lambda x: x[0], states)

    @jax.jit
    def both(actions):
        grads = jax.vmap(jax.grad(lambda a, s: _push_return(env, a, s)))(actions, states)
        shifted = actions[0][None] + eps * jnp.concatenate([directions, -directions])
        values = jax.vmap(lambda a: _push_return(env, a, state0))(shifted)
        return grads, values

    grads, values = both(actions)
    assert grads.dtype == jnp.float32 and np.isfinite(np.asarray(grads)).all()
    assert not jax.config.jax_enable_x64
    fd = (values[:4] - values[4:]) / (2 * eps)
    analytic = jnp.einsum("ktj,tj->k", directions, grads[0])
    print("directional derivatives: analytic", np.asarray(analytic), "finite differences", np.asarray(fd))
    np.testing.assert_allclose(np.asarray(analytic), np.asarray(fd), rtol=2e-2, atol=2e-3)
    assert float(jnp.abs(analytic).max()) > 0.05  # not trivially zero
    assert float(jnp.abs(grads[0] - grads[1]).max()) > 1e-4  # the two envs differ


@pytest.mark.slow
def test_hop_gradient_matches_central_finite_differences():
    # Intermittent contact: the box leaves the ground and lands within the window.
    env = envs.make("contact/hop", kappa=1e-3)
    state = env.reset(jax.random.key(0))
    k1, k2 = jax.random.split(jax.random.key(2))
    actions = jnp.tile(jnp.array([[0.5, 0.6]]), (15, 1)) + 0.1 * jax.random.normal(k1, (15, 2))
    directions = jax.random.normal(k2, (4, 15, 2))
    directions = directions / jnp.linalg.norm(directions.reshape(4, -1), axis=1)[:, None, None]
    eps = 1e-2

    def ret(actions):
        def body(s, a):
            s = env.step(s, a)
            return s, (s.reward, s.obs[0])
        r, h = jax.lax.scan(body, state, actions)[1]
        return r.sum(), h

    @jax.jit
    def both(actions):
        (_, heights), grad = jax.value_and_grad(ret, has_aux=True)(actions)
        shifted = actions[None] + eps * jnp.concatenate([directions, -directions])
        values = jax.vmap(lambda a: ret(a)[0])(shifted)
        return grad, values, heights

    grad, values, heights = both(actions)
    assert float(heights.max()) > env.rest_height + 0.02, "the hopper never left the ground"
    fd = (values[:4] - values[4:]) / (2 * eps)
    analytic = jnp.einsum("ktj,tj->k", directions, grad)
    print("hop directional derivatives: analytic", np.asarray(analytic), "fd", np.asarray(fd))
    np.testing.assert_allclose(np.asarray(analytic), np.asarray(fd), rtol=5e-2, atol=5e-3)
