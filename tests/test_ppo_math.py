"""PPO's surrogate and log-likelihood plumbing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from rljax import agents
from rljax.agents.ppo.losses import clipped_surrogate


@pytest.mark.parametrize("ratio,adv,expected", [
    (1.5, 1.0, 1.2),    # positive advantage: capped at 1 + eps
    (0.5, 1.0, 0.5),    # positive advantage, ratio below: unclipped (min)
    (0.5, -1.0, -0.8),  # negative advantage: capped at 1 - eps
    (1.5, -1.0, -1.5),  # negative advantage, ratio above: unclipped (min)
    (1.1, 2.0, 2.2),    # inside the trust region: plain ratio * A
])
def test_clipped_surrogate_cases(ratio, adv, expected):
    loss = clipped_surrogate(jnp.log(jnp.array([ratio])), jnp.array([adv]), 0.2)
    np.testing.assert_allclose(-float(loss), expected, rtol=1e-6)


def test_clipped_surrogate_gradient_vanishes_when_clipped():
    grad = jax.grad(lambda lr: clipped_surrogate(lr, jnp.array([1.0]), 0.2))(jnp.log(jnp.array([1.5])))
    assert float(grad[0]) == 0.0
    grad = jax.grad(lambda lr: clipped_surrogate(lr, jnp.array([1.0]), 0.2))(jnp.log(jnp.array([1.1])))
    np.testing.assert_allclose(float(grad[0]), -1.1, rtol=1e-6)  # d(-r A)/d log r = -r A


@pytest.mark.parametrize("env_name", ["cartpole", "pendulum"])
def test_stored_log_prob_matches_recomputed(env_name):
    env = envs.make(env_name)
    cfg = agents.ppo.Config(total_steps=1024, num_envs=4, unroll_length=8)
    head, _ = agents.ppo.make_heads(env, cfg)
    params = head.init(jax.random.key(0), envs.observation_size(env))
    obs = jax.random.normal(jax.random.key(1), (16, envs.observation_size(env)))
    action, aux = head.sample(params, obs, jax.random.key(2))
    np.testing.assert_allclose(np.asarray(head.log_likelihood(params, obs, action, aux)),
                               np.asarray(aux["log_prob"]), rtol=1e-5, atol=1e-5)
