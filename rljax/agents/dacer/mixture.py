"""Entropy of an action distribution known only through samples: a Gaussian-mixture fit.

A diffusion policy has no closed-form density. DACER (Wang et al.) estimates
its entropy at a state by fitting a Gaussian mixture (3 components, full
covariances) to actions sampled there. The fit here is expectation
maximisation in JAX, so it runs inside the compiled training program (the
reference calls scikit-learn through a host callback). The entropy of the
fitted mixture is then estimated by Monte Carlo on the same samples,
``H ~ -(1/N) sum_i log p_gmm(x_i)``, rather than by the reference's upper bound
``H(w) + sum_k w_k H(N_k)``, which counts overlapping components as separate
modes (three components fitted to one Gaussian overstate its entropy by up to
``log 3``).
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import distrax
import jax
import jax.numpy as jnp


class Mixture(NamedTuple):
    """A Gaussian mixture: ``weights [K]``, ``means [K, A]``, ``covariances [K, A, A]``."""

    weights: jax.Array
    means: jax.Array
    covariances: jax.Array

    def distribution(self) -> distrax.MixtureSameFamily:
        return distrax.MixtureSameFamily(
            mixture_distribution=distrax.Categorical(probs=self.weights),
            components_distribution=distrax.MultivariateNormalFullCovariance(self.means, self.covariances))


def _component_log_probs(mixture: Mixture, samples: jax.Array) -> jax.Array:
    """``log w_k + log N(x_i; mu_k, S_k)``: ``[N, K]``."""
    components = distrax.MultivariateNormalFullCovariance(mixture.means, mixture.covariances)
    return jnp.log(mixture.weights) + components.log_prob(samples[:, None, :])


def _k_means(samples: jax.Array, key: jax.Array, num_clusters: int, num_iterations: int = 10) -> jax.Array:
    """Cluster labels ``[N]`` of ``samples [N, A]``: Lloyd's iterations from farthest-point seeds (the first
    a random sample, each next the sample farthest from those chosen)."""
    def seed(centres, i):
        distance = jnp.min(jnp.sum(jnp.square(samples[:, None] - centres[None]), axis=-1)
                           + jnp.where(jnp.arange(num_clusters) < i, 0.0, jnp.inf)[None], axis=1)
        return centres.at[i].set(samples[jnp.argmax(distance)]), None

    first = samples[jax.random.randint(key, (), 0, samples.shape[0])]
    centres = jax.lax.scan(seed, jnp.broadcast_to(first, (num_clusters,) + first.shape),
                           jnp.arange(1, num_clusters))[0]

    def labels_of(centres):
        return jnp.argmin(jnp.sum(jnp.square(samples[:, None] - centres[None]), axis=-1), axis=1)

    def lloyd(centres, _):
        one_hot = jax.nn.one_hot(labels_of(centres), num_clusters, dtype=samples.dtype)
        counts = jnp.sum(one_hot, axis=0)[:, None]
        return jnp.where(counts > 0, one_hot.T @ samples / jnp.maximum(counts, 1.0), centres), None

    return labels_of(jax.lax.scan(lloyd, centres, None, length=num_iterations)[0])


def fit_gaussian_mixture(samples: jax.Array, key: jax.Array, num_components: int = 3, num_iterations: int = 20,
                         min_variance: float = 1e-4) -> Mixture:
    """EM fit of a ``num_components`` full-covariance mixture to ``samples [N, A]``.

    Starts, as scikit-learn does, from a k-means partition of the samples
    (:func:`_k_means`): EM from equal broad components separates modes slowly.
    ``min_variance`` is added to every covariance's diagonal (scikit-learn's
    ``reg_covar``): clipped actions pile up on the bounds, where a component
    would otherwise collapse to a point.
    """
    chex.assert_rank(samples, 2)
    n, a = samples.shape
    if num_components > n:
        raise ValueError(f"num_components={num_components}: must be <= the number of samples ({n})")
    ridge = min_variance * jnp.eye(a, dtype=samples.dtype)

    def m_step(responsibilities: jax.Array) -> Mixture:  # [N, K] -> the mixture they weight
        counts = jnp.sum(responsibilities, axis=0) + 1e-8 * n                               # [K]
        means = responsibilities.T @ samples / counts[:, None]
        deviations = samples[None, :, :] - means[:, None, :]                                # [K, N, A]
        covariances = jnp.einsum("nk,kni,knj->kij", responsibilities, deviations, deviations) / counts[:, None, None]
        return Mixture(weights=counts / jnp.sum(counts), means=means, covariances=covariances + ridge)

    mixture = m_step(jax.nn.one_hot(_k_means(samples, key, num_components), num_components, dtype=samples.dtype))

    def em_step(mixture: Mixture, _) -> tuple[Mixture, None]:
        return m_step(jax.nn.softmax(_component_log_probs(mixture, samples), axis=1)), None

    return jax.lax.scan(em_step, mixture, None, length=num_iterations)[0]


def mixture_entropy(samples: jax.Array, key: jax.Array, num_components: int = 3, num_iterations: int = 20,
                    min_variance: float = 1e-4) -> jax.Array:
    """Entropy estimate ``[]`` of the distribution behind ``samples [N, A]``: a Gaussian mixture is fitted
    (:func:`fit_gaussian_mixture`) and its density averaged over the samples, ``-mean_i log p(x_i)``."""
    mixture = fit_gaussian_mixture(samples, key, num_components, num_iterations, min_variance)
    return -jnp.mean(jax.nn.logsumexp(_component_log_probs(mixture, samples), axis=1))
