"""Off-policy heads against known answers: tanh-Gaussian density, DSAC-T's
Gaussian critic on a known return distribution, the twin target, the C51
projection and quantile regression on a bimodal sample."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rljax.critics.categorical import categorical_projection
from rljax.critics.gaussian import GaussianCritic, dsac_t_loss, lower_mean_sample
from rljax.critics.quantile import QuantileCritic, quantile_midpoints
from rljax.policies.tanh_gaussian import TanhGaussianHead, tanh_log_det_jacobian


def _head_with(mean: float, log_std: float) -> tuple[TanhGaussianHead, dict]:
    """A 1-D head whose output layer ignores obs and emits (mean, log_std)."""
    head = TanhGaussianHead(action_size=1, hidden_sizes=(8,))
    params = head.init(jax.random.key(0), 2)
    out = params["params"]["Dense_1"]
    out = {"kernel": jnp.zeros_like(out["kernel"]), "bias": jnp.array([mean, log_std])}
    return head, {"params": {**params["params"], "Dense_1": out}}


def test_stable_log_det_matches_naive_and_stays_finite():
    u = jnp.linspace(-5.0, 5.0, 101)
    np.testing.assert_allclose(tanh_log_det_jacobian(u), jnp.log(1 - jnp.tanh(u) ** 2), rtol=1e-4, atol=1e-5)
    assert np.isfinite(tanh_log_det_jacobian(jnp.array([-40.0, 40.0]))).all()  # naive form gives -inf here


def test_tanh_gaussian_log_prob_matches_sampled_histogram():
    head, params = _head_with(mean=0.4, log_std=np.log(0.9))
    obs = jnp.zeros((200_000, 2))
    actions, aux, log_prob = head.sample_and_log_likelihood(params, obs, jax.random.key(1))
    assert actions.shape == (200_000, 1) and float(jnp.max(jnp.abs(actions))) < 1.0
    edges = np.linspace(-0.95, 0.95, 39)
    counts, _ = np.histogram(np.asarray(actions[:, 0]), bins=edges)
    empirical = counts / (len(actions) * np.diff(edges))
    centres = jnp.asarray((edges[1:] + edges[:-1]) / 2)[:, None]
    density = np.exp(head.log_likelihood(params, jnp.zeros((len(centres), 2)), centres, {}))
    np.testing.assert_allclose(empirical, density, rtol=0.06)
    # Re-scoring from aux (the pre-squash draw) is exact; inverting tanh is close where it is not saturated.
    rescored = head.log_likelihood(params, obs[:1000], actions[:1000], jax.tree.map(lambda x: x[:1000], aux))
    np.testing.assert_allclose(log_prob[:1000], rescored, rtol=1e-6, atol=1e-6)
    inverted = head.log_likelihood(params, obs[:1000], actions[:1000], {})
    np.testing.assert_allclose(log_prob[:1000], inverted, rtol=1e-3, atol=1e-3)


def test_log_std_is_clamped():
    head, params = _head_with(mean=0.0, log_std=5.0)
    head = TanhGaussianHead(1, (8,), log_std_min=-20.0, log_std_max=0.5)
    _, log_std = head.mean_and_log_std(params, jnp.zeros((1, 2)))
    assert float(log_std[0, 0]) == pytest.approx(0.5)


def test_dsac_t_critic_learns_one_step_gaussian_return():
    """Reward ~ N(1, 0.5^2), terminal: the critic's mean -> 1 and std -> 0.5."""
    critic = GaussianCritic(hidden_sizes=(32, 32), activation="gelu")
    obs, action = jnp.zeros((512, 3)), jnp.zeros((512, 1))
    params = critic.init(jax.random.key(0), 3, 1)
    optimizer = optax.adam(optax.cosine_decay_schedule(3e-3, 3000, alpha=0.01))
    opt_state = optimizer.init(params)

    def step(carry, key):
        params, opt_state, state = carry
        reward_key, loss_key = jax.random.split(key)
        td = {"obs": obs, "action": action, "reward": 1.0 + 0.5 * jax.random.normal(reward_key, (512,)),
              "discount": jnp.zeros(512), "next_obs": obs, "next_action": action, "next_log_prob": jnp.zeros(512),
              "alpha": jnp.array(0.2)}
        grads, (_, state) = jax.grad(critic.loss, has_aux=True)(params, params, td, state, loss_key)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state, state), None

    (params, _, _), _ = jax.jit(lambda c, k: jax.lax.scan(step, c, k))(
        (params, opt_state, critic.init_state()), jax.random.split(jax.random.key(1), 3000))
    mean, std = critic.mean_and_std(params, obs[:1], action[:1])
    np.testing.assert_allclose(mean[:, 0], 1.0, rtol=0.05)
    np.testing.assert_allclose(std[:, 0], 0.5, rtol=0.05)


def test_dsac_t_loss_gradients_point_at_targets():
    q, std = jnp.array([0.0]), jnp.array([1.0])
    g_q, g_std = jax.grad(lambda q, s: dsac_t_loss(q, s, jnp.array([2.0]), jnp.array([0.5]), 1.0), (0, 1))(q, std)
    assert g_q[0] < 0  # descent raises Q toward y_q = 2
    assert g_std[0] > 0  # |Q - y_z| = 0.5 < std: descent shrinks std


def test_lower_mean_sample():
    means = jnp.array([[1.0, 5.0, -2.0], [2.0, 3.0, -3.0]])
    samples = jnp.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])
    np.testing.assert_array_equal(lower_mean_sample(means, samples), [10.0, 50.0, 60.0])


def test_twin_target_uses_sample_of_lower_mean_critic():
    """y_z comes from the target member with the lower mean (not the lower sample)."""

    class Fixed(GaussianCritic):
        def mean_and_std(self, params, obs, action):
            # Member 0: lower mean, tiny std. Member 1: higher mean, huge std (its samples are often lower).
            return jnp.array([[1.0, 2.0], [1.5, 1.0]]), jnp.array([[1e-3, 100.0], [100.0, 1e-3]])

    critic = Fixed(sample_clip=3.0)
    td = {"reward": jnp.zeros(2), "discount": jnp.ones(2), "next_log_prob": jnp.zeros(2), "alpha": jnp.array(0.0),
          "next_obs": jnp.zeros((2, 1)), "next_action": jnp.zeros((2, 1))}
    for seed in range(5):
        y_q, y_z = critic.targets(None, td, jax.random.key(seed))
        np.testing.assert_allclose(y_q, [1.0, 1.0])
        np.testing.assert_allclose(y_z, [1.0, 1.0], atol=3.1e-3)  # member 0 for item 0, member 1 for item 1


def test_c51_projection_mass_identity_and_integral_b():
    atoms = jnp.linspace(-10.0, 10.0, 21)  # dz = 1
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(0), (64, 21)), axis=-1)
    rewards = jax.random.uniform(jax.random.key(1), (64,), minval=-15.0, maxval=15.0)
    discounts = jax.random.uniform(jax.random.key(2), (64,))
    projected = categorical_projection(atoms, probs, rewards[:, None] + discounts[:, None] * atoms)
    np.testing.assert_allclose(projected.sum(-1), 1.0, rtol=1e-5)
    assert float(projected.min()) >= 0.0
    # r = 0, gamma = 1: identity.
    np.testing.assert_allclose(categorical_projection(atoms, probs, jnp.broadcast_to(atoms, probs.shape)), probs,
                               atol=1e-6)
    # Integral b (r = 2 dz, gamma = 1): every atom's mass lands exactly two atoms up; mass pushed past
    # v_max piles on the last atom. (The textbook floor/ceil split drops this mass when floor == ceil.)
    shifted = categorical_projection(atoms, probs, jnp.broadcast_to(atoms + 2.0, probs.shape))
    np.testing.assert_allclose(shifted[:, 2:-1], probs[:, :-3], atol=1e-6)
    np.testing.assert_allclose(shifted[:, -1], probs[:, -3:].sum(-1), atol=1e-6)
    np.testing.assert_allclose(shifted[:, :2], 0.0, atol=1e-6)
    # A fractional shift splits mass linearly between neighbours.
    one_hot = jnp.zeros((1, 21)).at[0, 10].set(1.0)
    split = categorical_projection(atoms, one_hot, (atoms + 0.25)[None])
    np.testing.assert_allclose(split[0, 10:12], [0.75, 0.25], atol=1e-6)


def test_quantile_critic_recovers_bimodal_quantiles():
    """One-step returns from a bimodal mixture: the learned quantiles match the sample's quantiles."""
    critic = QuantileCritic(hidden_sizes=(32,), num_critics=1, num_quantiles=10, drop_per_critic=0, kappa=0.01)
    obs, action = jnp.zeros((256, 2)), jnp.zeros((256, 1))
    params = critic.init(jax.random.key(0), 2, 1)
    optimizer = optax.adam(optax.cosine_decay_schedule(3e-2, 4000, alpha=0.01))
    opt_state = optimizer.init(params)

    def bimodal(key, n):
        mode_key, noise_key = jax.random.split(key)
        mode = jnp.where(jax.random.bernoulli(mode_key, 0.3, (n,)), -4.0, 2.0)
        return mode + 0.5 * jax.random.normal(noise_key, (n,))

    def step(carry, key):
        params, opt_state = carry
        td = {"obs": obs, "action": action, "reward": bimodal(key, 256), "discount": jnp.zeros(256),
              "next_obs": obs, "next_action": action, "next_log_prob": jnp.zeros(256), "alpha": jnp.array(0.0)}
        grads, _ = jax.grad(critic.loss, has_aux=True)(params, params, td, {}, key)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.jit(lambda c, k: jax.lax.scan(step, c, k))(
        (params, opt_state), jax.random.split(jax.random.key(1), 4000))
    learned = np.asarray(critic.quantiles(params, obs[:1], action[:1]))[0, 0]
    expected = np.quantile(np.asarray(bimodal(jax.random.key(2), 400_000)), np.asarray(quantile_midpoints(10)))
    np.testing.assert_allclose(learned, expected, atol=0.15)


def test_huber_ratio_loss_matches_its_formula():
    from rljax.critics.gaussian import dsac_t_huber_ratio_loss

    q, std = jnp.array([0.0, 1.0]), jnp.array([0.5, 2.0])
    y_q, y_z, sigma_bar, eps, delta = jnp.array([1.0, 100.0]), jnp.array([0.2, -9.0]), 1.0, 0.1, 50.0

    def huber(x):
        return np.where(np.abs(x) <= delta, 0.5 * x**2, delta * (np.abs(x) - 0.5 * delta))

    qn, sn = np.asarray(q), np.asarray(std)
    y_z_b = qn + np.clip(np.asarray(y_z) - qn, -3 * sigma_bar, 3 * sigma_bar)
    ratio = np.clip(sigma_bar**2 / (sn**2 + eps), 0.1, 10)
    expected = np.mean(ratio * (huber(qn - np.asarray(y_q)) + sn * (sn**2 - huber(qn - y_z_b)) / (sn + eps)))
    np.testing.assert_allclose(dsac_t_huber_ratio_loss(q, std, y_q, y_z, sigma_bar, eps, 3.0, delta), expected,
                               rtol=1e-5)
    g_q = jax.grad(lambda q: dsac_t_huber_ratio_loss(q, std, y_q, y_z, sigma_bar, eps, 3.0, delta))(q)
    assert (np.asarray(g_q) < 0).all()  # both means move up toward y_q
