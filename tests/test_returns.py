"""GAE against a hand-computed case with a truncation and a termination."""

import jax.numpy as jnp
import numpy as np

from rljax.returns import gae


def test_gae_bootstraps_on_truncation_and_not_on_termination():
    gamma, lam = 0.9, 0.8
    # One env, 4 steps: step 1 ends by time limit (bootstrap from its final
    # observation's value 10), step 3 terminates (no bootstrap).
    rewards = jnp.array([1.0, 2.0, 3.0, 4.0])[:, None]
    values = jnp.array([0.5, 1.0, 1.5, 2.0])[:, None]
    next_values = jnp.array([1.0, 10.0, 2.0, 7.0])[:, None]  # V(s'_t) before any reset
    dones = jnp.array([0.0, 1.0, 0.0, 1.0])[:, None]
    truncations = jnp.array([0.0, 1.0, 0.0, 0.0])[:, None]
    adv, ret = gae(rewards, values, next_values, dones, truncations, gamma, lam)

    d3 = 4.0 - 2.0                       # terminated: no bootstrap
    d2 = 3.0 + gamma * 2.0 - 1.5
    d1 = 2.0 + gamma * 10.0 - 1.0        # truncated: bootstrap V(final obs) = 10
    d0 = 1.0 + gamma * 1.0 - 0.5
    a3 = d3
    a2 = d2 + gamma * lam * a3
    a1 = d1                              # episode boundary: trace cut
    a0 = d0 + gamma * lam * a1
    expected = np.array([a0, a1, a2, a3])
    np.testing.assert_allclose(np.asarray(adv[:, 0]), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ret[:, 0]), expected + np.array([0.5, 1.0, 1.5, 2.0]), rtol=1e-6)


def test_gae_lambda_one_no_dones_is_discounted_return_minus_value():
    gamma = 0.5
    rewards = jnp.ones((3, 2))
    values = jnp.zeros((3, 2))
    next_values = jnp.zeros((3, 2)).at[-1].set(8.0)
    zeros = jnp.zeros((3, 2))
    adv, _ = gae(rewards, values, next_values, zeros, zeros, gamma, 1.0)
    np.testing.assert_allclose(np.asarray(adv[0]), 1 + 0.5 + 0.25 + 0.125 * 8.0)
