"""The flow-matching and diffusion policy heads: their math against closed forms, FPO's ratio at
the old params, DPPO's exact per-step log-probs, shapes, behaviour cloning and settings checks."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rljax.policies import DiffusionHead, DiffusionSettings, FlowHead, FlowSettings, GaussianHead, registry
from rljax.policies.diffusion import clip_passing_inward_gradient, cosine_schedule

OBS = 3


def _obs(shape=(16,), key=1):
    return jax.random.normal(jax.random.key(key), shape + (OBS,))


# ---------------------------------------------------------------- flow


def _gaussian_target_velocity(m, s):
    """The marginal velocity E[eps - a | x_t = x] of the path x_t = t eps + (1 - t) a, a ~ N(m, s^2),
    eps ~ N(0, 1), per dimension: -m + (t - (1 - t) s^2) / (t^2 + (1 - t)^2 s^2) (x - (1 - t) m)."""
    def velocity(x, t):
        var = t**2 + (1 - t) ** 2 * s**2
        return -m + (t - (1 - t) * s**2) / var * (x - (1 - t) * m)
    return velocity


@pytest.mark.parametrize("integrator,steps", [("euler", 200), ("midpoint", 20)])
def test_flow_sampler_carries_noise_to_a_gaussian_target_with_its_analytic_velocity(integrator, steps):
    m, s = jnp.array([0.5, -1.0]), jnp.array([0.3, 2.0])
    head = FlowHead(2, num_steps=steps, integrator=integrator)
    x1 = jax.random.normal(jax.random.key(0), (20_000, 2))
    x0 = np.asarray(jax.jit(head.integrate, static_argnums=0)(_gaussian_target_velocity(m, s), x1))
    # Standard errors: s / sqrt(n) = 0.002 and 0.014 for the mean; the integrator's error is smaller.
    np.testing.assert_allclose(x0.mean(0), m, atol=0.05)
    np.testing.assert_allclose(x0.std(0), s, rtol=0.03)


def test_flow_euler_with_few_steps_is_visibly_inexact_and_midpoint_is_closer():
    m, s = jnp.array([0.5]), jnp.array([0.3])
    x1 = jax.random.normal(jax.random.key(0), (20_000, 1))
    velocity = _gaussian_target_velocity(m, s)
    euler = np.asarray(FlowHead(1, num_steps=4).integrate(velocity, x1)).std()
    midpoint = np.asarray(FlowHead(1, num_steps=4, integrator="midpoint").integrate(velocity, x1)).std()
    assert abs(midpoint - 0.3) < abs(euler - 0.3)


@pytest.mark.parametrize("target", ["velocity", "epsilon"])
def test_flow_log_likelihood_is_minus_the_mean_cfm_loss_at_the_stored_pairs(target):
    head = FlowHead(2, (16,), num_mc=5, target=target)
    params = head.init(jax.random.key(0), OBS)
    obs = _obs((4,))
    action, aux = head.sample(params, obs, jax.random.key(2))
    chex.assert_shape((aux["t"], aux["eps"]), [(4, 5), (4, 5, 2)])
    t, eps, a = aux["t"][..., None], aux["eps"], action[:, None, :]
    x_t = t * eps + (1 - t) * a
    v = head.velocity(params, obs[:, None, :], x_t, aux["t"])
    if target == "velocity":
        per_pair = jnp.mean((v - (eps - a)) ** 2, -1)
    else:  # the FPO reference's form: the noise recovered from the velocity, x_1 = x_t + (1 - t) v
        per_pair = jnp.mean((eps - (x_t + (1 - t) * v)) ** 2, -1)
    np.testing.assert_allclose(head.log_likelihood(params, obs, action, aux), -per_pair.mean(-1), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("target", ["velocity", "epsilon"])
def test_fpo_ratio_is_exactly_one_at_the_old_params_with_gradient_minus_the_cfm_gradient(target):
    head = FlowHead(1, (32, 32), target=target)
    params = head.init(jax.random.key(0), OBS)
    obs = _obs((64,))
    action, aux = head.sample(params, obs, jax.random.key(2))
    old = head.log_likelihood(params, obs, action, aux)

    def mean_ratio(p):
        return jnp.mean(jnp.exp(head.log_likelihood(p, obs, action, aux) - old))

    def mean_cfm_loss(p):
        return jnp.mean(head.cfm_losses(p, obs, action, aux["t"], aux["eps"]))

    ratios = jnp.exp(head.log_likelihood(params, obs, action, aux) - old)
    assert np.array_equal(np.asarray(ratios), np.ones(64, np.float32))
    minus_cfm_gradient = jax.tree.map(jnp.negative, jax.grad(mean_cfm_loss)(params))
    chex.assert_trees_all_close(jax.grad(mean_ratio)(params), minus_cfm_gradient, rtol=1e-5, atol=1e-7)
    # The ratio moves once the params do.
    moved = jax.tree.map(lambda x: x + 0.05, params)
    assert float(jnp.abs(mean_ratio(moved) - 1.0)) > 1e-4


@pytest.mark.parametrize("name", ["flow", "diffusion"])
def test_rescoring_a_minibatch_drawn_from_the_rollout_reproduces_its_log_likelihoods(name):
    """PPO scores the rollout [T, E] in one pass and each minibatch [B] in another: the ratio at the
    rollout's params starts at 1 (exactly, on CPU)."""
    head = registry.make(name, action_size=1, hidden_sizes=(32, 32), activation="tanh")
    params = head.init(jax.random.key(0), OBS)
    obs = _obs((64, 8))
    action, aux = jax.jit(head.sample)(params, obs, jax.random.key(2))
    rollout = jax.jit(head.log_likelihood)(params, obs, action, aux)
    flat = lambda x: x.reshape((512,) + x.shape[2:])
    pick = jax.random.permutation(jax.random.key(3), 512)[:64]
    minibatch = jax.jit(head.log_likelihood)(params, flat(obs)[pick], flat(action)[pick],
                                             jax.tree.map(lambda x: flat(x)[pick], aux))
    np.testing.assert_allclose(minibatch, flat(rollout)[pick], rtol=0, atol=1e-6)


def test_flow_mode_is_the_flow_of_zero_noise_and_sample_is_differentiable():
    head = FlowHead(2, (16,))
    params = head.init(jax.random.key(0), OBS)
    obs = _obs((5,))
    velocity = lambda x, t: head.velocity(params, obs, x, t)
    chex.assert_trees_all_close(head.mode(params, obs), head.integrate(velocity, jnp.zeros((5, 2))))
    grads = jax.grad(lambda p: jnp.sum(head.sample(p, obs, jax.random.key(1))[0] ** 2))(params)
    assert float(optax.global_norm(grads)) > 0
    assert head.reparameterized and head.entropy_kind == "none"
    with pytest.raises(NotImplementedError):
        head.entropy(params, obs, jax.random.key(0))


# ---------------------------------------------------------------- diffusion


def test_cosine_schedule():
    sched = cosine_schedule(20)
    abar = sched["abar"]
    assert abar[0] == 1.0 and np.all(np.diff(abar) < 0) and abar[-1] < 1e-4
    assert np.all(sched["beta"][1:] <= 0.999) and np.all(sched["beta"][1:] > 0)
    np.testing.assert_allclose(np.cumprod(1 - sched["beta"]), abar)
    assert sched["posterior_std"][1] == 0.0  # the last step is deterministic: its std is min_std's


@pytest.mark.parametrize("steps,finetune", [(5, None), (20, 10)])
def test_diffusion_rescored_step_log_probs_equal_the_stored_draws(steps, finetune):
    head = DiffusionHead(2, (16,), num_steps=steps, finetune_steps=finetune)
    params = head.init(jax.random.key(0), OBS)
    obs = _obs((8, 4))
    action, aux, stored = jax.jit(head.sample_and_log_likelihood)(params, obs, jax.random.key(2))
    k_prime = finetune or steps
    chex.assert_shape([action, aux["chain"], stored], [(8, 4, 2), (8, 4, k_prime, 2), (8, 4, k_prime)])
    rescored = jax.jit(head.log_likelihood)(params, obs, action, aux)
    np.testing.assert_allclose(rescored, stored, rtol=0, atol=1e-5)
    same_action, same_aux = head.sample(params, obs, jax.random.key(2))
    chex.assert_trees_all_close((same_action, same_aux), (action, aux))


def test_diffusion_step_log_probs_match_a_direct_gaussian_density():
    """Each step recomputed in float64 numpy from the DDPM posterior q(x_{k-1} | x_k, x0_hat)."""
    K, min_std = 6, 0.1
    head = DiffusionHead(1, (16,), num_steps=K, min_std=min_std)
    params = head.init(jax.random.key(0), OBS)
    # A denoiser that predicts more than zero noise, so x0_hat's clip is exercised on some steps.
    params = jax.tree.map(lambda x: x * 3.0, params)
    obs = _obs((32,))
    action, aux = head.sample(params, obs, jax.random.key(2))
    log_probs = np.asarray(head.log_likelihood(params, obs, action, aux))
    chain = np.concatenate([np.asarray(aux["chain"]), np.asarray(action)[:, None, :]], axis=1).astype(np.float64)

    k_all = np.arange(K + 1)
    f = np.cos((k_all / K + 0.008) / 1.008 * np.pi / 2) ** 2
    beta = np.concatenate([[0], np.minimum(1 - f[1:] / f[:-1], 0.999)])
    abar = np.cumprod(1 - beta)
    for j in range(K):
        k = K - j
        x, y = chain[:, j], chain[:, j + 1]
        eps = np.asarray(head.epsilon(params["denoiser"], obs, jnp.asarray(x, jnp.float32), k), np.float64)
        x0 = np.clip((x - np.sqrt(1 - abar[k]) * eps) / np.sqrt(abar[k]), -1, 1)
        mean = (np.sqrt(abar[k - 1]) * beta[k] * x0 + np.sqrt(1 - beta[k]) * (1 - abar[k - 1]) * x) / (1 - abar[k])
        std = max(np.sqrt((1 - abar[k - 1]) / (1 - abar[k]) * beta[k]), min_std)
        density = np.sum(-0.5 * ((y - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi), axis=-1)
        np.testing.assert_allclose(log_probs[:, j], density, rtol=1e-4, atol=1e-4)


def test_diffusion_frozen_base_and_gradients():
    head = DiffusionHead(1, (16,), num_steps=6, finetune_steps=2)
    params = head.init(jax.random.key(0), OBS)
    assert set(params) == {"denoiser", "base"}
    obs = _obs((8,))
    action, aux = head.sample(params, obs, jax.random.key(1))
    g_ll = jax.grad(lambda p: head.log_likelihood(p, obs, action, aux).sum())(params)
    g_sample = jax.grad(lambda p: jnp.sum(head.sample(p, obs, jax.random.key(1))[0] ** 2))(params)
    g_imitation = jax.grad(lambda p: head.imitation_loss(p, obs, action, jax.random.key(2)).mean())(params)
    norms = lambda g: (float(optax.global_norm(g["denoiser"])), float(optax.global_norm(g["base"])))
    assert norms(g_ll)[0] > 0 and norms(g_ll)[1] == 0
    assert norms(g_sample)[0] > 0 and norms(g_sample)[1] == 0  # reparameterised through the fine-tuned steps
    assert norms(g_imitation)[0] > 0 and norms(g_imitation)[1] > 0  # behaviour cloning trains both
    assert set(DiffusionHead(1, num_steps=4).init(jax.random.key(0), OBS)) == {"denoiser"}


def test_inward_clip_gradient_passes_only_what_moves_x_back_into_the_box():
    x = jnp.asarray([-2.0, -0.5, 0.5, 2.0])
    chex.assert_trees_all_close(clip_passing_inward_gradient(x, 1.0), jnp.clip(x, -1.0, 1.0))
    # Descent on sum(clip(x)) lowers x: back inside from above, further out from below.
    chex.assert_trees_all_close(jax.grad(lambda v: clip_passing_inward_gradient(v, 1.0).sum())(x),
                                jnp.asarray([0.0, 1.0, 1.0, 1.0]))
    chex.assert_trees_all_close(jax.grad(lambda v: -clip_passing_inward_gradient(v, 1.0).sum())(x),
                                jnp.asarray([-1.0, -1.0, -1.0, 0.0]))


def test_diffusion_inward_clip_gradient_keeps_a_saturated_actor_learning():
    """Where the x0_hat clip binds at every step, the exact gradient of the sampled action is zero (an
    off-policy actor there is stuck); the inward one is not. Where it never binds, both agree."""
    obs = _obs((8,))
    params = DiffusionHead(2, (16,), num_steps=5).init(jax.random.key(0), OBS)

    def grad_and_action(clip, clip_gradient):
        head = DiffusionHead(2, (16,), num_steps=5, denoised_clip=clip, clip_gradient=clip_gradient)
        objective = lambda p: jnp.sum(head.sample(p, obs, jax.random.key(1))[0] * jnp.asarray([1.0, -2.0]))
        return jax.grad(objective)(params), head.sample(params, obs, jax.random.key(1))[0]

    exact, exact_action = grad_and_action(1e-3, "exact")
    inward, inward_action = grad_and_action(1e-3, "inward")
    chex.assert_trees_all_close(exact_action, inward_action)  # the same forward chain
    assert float(optax.global_norm(exact)) == 0.0
    assert float(optax.global_norm(inward)) > 1e-2
    chex.assert_trees_all_close(grad_and_action(1e3, "exact")[0], grad_and_action(1e3, "inward")[0], atol=1e-6)
    with pytest.raises(ValueError, match="clip_gradient"):
        DiffusionSettings(clip_gradient="straight_through")


def test_diffusion_mode_is_deterministic_ddim():
    head = DiffusionHead(2, (16,), num_steps=8, finetune_steps=3)
    params = head.init(jax.random.key(0), OBS)
    obs = _obs((5,))
    mode = head.mode(params, obs)
    chex.assert_shape(mode, (5, 2))
    chex.assert_trees_all_close(mode, jax.jit(head.mode)(params, obs), atol=1e-6)
    assert np.all(np.abs(np.asarray(mode)) <= 1.0 + 1e-6)  # the last DDIM step returns the clipped x0_hat
    # mode_kind="mean": the sampler's own steps without their noise.
    mean_head = DiffusionHead(2, (16,), num_steps=8, finetune_steps=3, mode_kind="mean")
    x = jnp.zeros((5, 2))
    for k in range(8, 0, -1):
        x = mean_head.step_mean(params["base"] if k > 3 else params["denoiser"], obs, x, k)
    chex.assert_trees_all_close(mean_head.mode(params, obs), x, atol=1e-6)
    assert float(jnp.abs(mean_head.mode(params, obs) - mode).max()) > 1e-4


# ---------------------------------------------------------------- both


@pytest.mark.parametrize("name", ["flow", "diffusion"])
def test_shapes_are_checked_at_the_public_boundary(name):
    head = registry.make(name, action_size=2, hidden_sizes=(8,), activation="tanh")
    params = head.init(jax.random.key(0), OBS)
    obs = _obs((4,))
    action, aux = head.sample(params, obs, jax.random.key(1))
    with pytest.raises(AssertionError):
        head.log_likelihood(params, obs, action[..., :1], aux)  # wrong action size
    with pytest.raises(AssertionError):
        head.log_likelihood(params, obs[:3], action, aux)  # batch shapes differ
    with pytest.raises(AssertionError):
        head.log_likelihood(params, obs, action, {k: v[:, :1] if k in ("eps", "chain") else v
                                                  for k, v in aux.items()})  # aux of another shape
    with pytest.raises(ValueError, match="aux"):
        head.log_likelihood(params, obs, action, {})
    chex.assert_shape(head.imitation_loss(params, obs, action, jax.random.key(2)), (4,))


@pytest.mark.parametrize("name", ["flow", "diffusion"])
def test_behaviour_cloning_with_imitation_loss_fits_a_state_dependent_action(name):
    """A few hundred Adam steps on the imitation loss: the mode tracks a = 0.6 * tanh(obs_0)."""
    head = registry.make(name, action_size=1, hidden_sizes=(64, 64), activation="tanh")
    params = head.init(jax.random.key(0), OBS)
    optimizer = optax.adam(3e-3)

    def step(carry, key):
        params, opt_state = carry
        obs_key, loss_key = jax.random.split(key)
        obs = jax.random.normal(obs_key, (256, OBS))
        action = 0.6 * jnp.tanh(obs[:, :1])
        grads = jax.grad(lambda p: head.imitation_loss(p, obs, action, loss_key).mean())(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, jax.random.split(jax.random.key(1), 800)))(
        (params, optimizer.init(params)))
    obs = _obs((256,), key=9)
    error = np.abs(np.asarray(head.mode(params, obs) - 0.6 * jnp.tanh(obs[:, :1])))
    print(name, "BC mode error", error.mean())
    assert error.mean() < 0.1, error.mean()


def test_default_imitation_loss_is_the_negative_log_likelihood():
    head = GaussianHead(2, (8,))
    params = head.init(jax.random.key(0), OBS)
    obs, action = _obs((4,)), jax.random.normal(jax.random.key(3), (4, 2))
    chex.assert_trees_all_close(head.imitation_loss(params, obs, action, jax.random.key(0)),
                                -head.log_likelihood(params, obs, action, {}))


@pytest.mark.parametrize("settings,field", [
    (lambda: FlowSettings(num_steps=0), "num_steps"),
    (lambda: FlowSettings(integrator="rk4"), "integrator"),
    (lambda: FlowSettings(num_mc=0), "num_mc"),
    (lambda: FlowSettings(target="x0"), "target"),
    (lambda: FlowSettings(time_embed_dim=7), "time_embed_dim"),
    (lambda: FlowSettings(squash="clip"), "squash"),
    (lambda: FlowSettings(ratio="mean"), "ratio"),
    (lambda: DiffusionSettings(num_steps=0), "num_steps"),
    (lambda: DiffusionSettings(num_steps=5, finetune_steps=6), "finetune_steps"),
    (lambda: DiffusionSettings(finetune_steps=0), "finetune_steps"),
    (lambda: DiffusionSettings(min_std=0.0), "min_std"),
    (lambda: DiffusionSettings(denoised_clip=-1.0), "denoised_clip"),
    (lambda: DiffusionSettings(mode="ddpm"), "mode"),
])
def test_bad_settings_raise_naming_the_field(settings, field):
    with pytest.raises(ValueError, match=rf"\.{field}="):
        settings()


def test_heads_are_registered_with_their_settings():
    assert {"flow", "diffusion"} <= set(registry.names())
    head = registry.make("diffusion", action_size=3, hidden_sizes=(8,), activation="relu",
                         settings=DiffusionSettings(num_steps=20, finetune_steps=10, min_std=0.2))
    assert isinstance(head, DiffusionHead) and head.num_terms == 10 and head.min_std == 0.2
    head = registry.make("flow", action_size=3, hidden_sizes=(8,), activation="relu",
                         settings=FlowSettings(integrator="midpoint", num_mc=4, target="epsilon"))
    assert isinstance(head, FlowHead) and (head.integrator, head.num_mc, head.target) == ("midpoint", 4, "epsilon")


def test_flow_noise_std_scales_the_source_and_the_cfm_pairs():
    """An untrained flow (velocity ~ 0) returns its source noise: std noise_std; the stored pairs' eps too."""
    head = registry.make("flow", action_size=2, hidden_sizes=(16,), activation="tanh",
                         settings=FlowSettings(noise_std=0.3))
    params = head.init(jax.random.key(0), OBS)
    action, aux = head.sample(params, _obs((4000,)), jax.random.key(1))
    np.testing.assert_allclose(np.std(np.asarray(action), axis=0), 0.3, rtol=0.1)
    np.testing.assert_allclose(np.std(np.asarray(aux["eps"])), 0.3, rtol=0.05)
    with pytest.raises(ValueError, match="noise_std"):
        FlowSettings(noise_std=0.0)


def test_flow_tanh_squash_bounds_actions_and_scores_the_flows_own_sample():
    """squash="tanh" (the FPO reference's rollouts): actions in (-1, 1); the likelihood surrogate scores the
    pre-squash sample stored in aux (tanh's log-det depends on it alone, so it cancels in FPO's ratio)."""
    plain = FlowHead(2, (16,), num_mc=5, target="epsilon", noise_std=2.0)
    head = FlowHead(2, (16,), num_mc=5, target="epsilon", noise_std=2.0, squash="tanh")
    params = head.init(jax.random.key(0), OBS)
    obs = _obs((256,))
    x0, plain_aux = plain.sample(params, obs, jax.random.key(2))
    action, aux = head.sample(params, obs, jax.random.key(2))
    assert float(jnp.abs(x0).max()) > 1.5  # the unsquashed flow leaves the env's bounds ...
    assert float(jnp.abs(action).max()) < 1.0  # ... its tanh does not
    chex.assert_trees_all_close(action, jnp.tanh(x0))
    chex.assert_trees_all_close(aux["pre_tanh"], x0)
    chex.assert_trees_all_close(head.log_likelihood(params, obs, action, aux),
                                plain.log_likelihood(params, obs, x0, plain_aux))
    chex.assert_trees_all_close(head.mode(params, obs), jnp.tanh(plain.mode(params, obs)))
    noise = jax.random.normal(jax.random.key(3), (256, 2))
    chex.assert_trees_all_close(head.from_noise(params, obs, noise), jnp.tanh(plain.from_noise(params, obs, noise)))
    # Without the stored sample (a dataset's actions), tanh is inverted inside (-1, 1).
    inside = jnp.clip(action, -0.99, 0.99)
    key = jax.random.key(4)
    np.testing.assert_allclose(head.imitation_loss(params, obs, inside, key),
                               plain.imitation_loss(params, obs, jnp.arctanh(inside), key), rtol=1e-4, atol=1e-6)


def test_flow_per_pair_ratio_keeps_one_term_per_cfm_pair():
    """ratio="pair": log_likelihood is [..., num_mc] (PPO clips each pair's ratio); their mean is the per-action one."""
    per_action = FlowHead(2, (16,), num_mc=5)
    per_pair = FlowHead(2, (16,), num_mc=5, ratio="pair")
    params = per_action.init(jax.random.key(0), OBS)
    obs = _obs((4,))
    action, aux = per_pair.sample(params, obs, jax.random.key(2))
    terms = per_pair.log_likelihood(params, obs, action, aux)
    chex.assert_shape(terms, (4, 5))
    np.testing.assert_allclose(terms.mean(-1), per_action.log_likelihood(params, obs, action, aux), rtol=1e-6)
