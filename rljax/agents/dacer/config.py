"""DACER's preset of the shared off-policy Config: a diffusion actor, DSAC-T's critic, noise-scale exploration."""

from __future__ import annotations

from rljax.agents.dacer.regulator import CoverageSettings, NoiseScaleSettings
from rljax.agents.dsac_t.config import Config as DSACTConfig
from rljax.config import config_dataclass, group, one_of, static
from rljax.policies.diffusion import DiffusionSettings


@config_dataclass
class Config(DSACTConfig):
    """DACER (Wang et al., "Diffusion Actor-Critic with Entropy Regulator")
    over SAC's loop with DSAC-T's critic and its refinements (the critic,
    delays and learning rates of :class:`rljax.agents.dsac_t.Config`).

    The actor is a diffusion policy (``policy="diffusion"``, settings in
    ``diffusion``): its action is the end of the denoising chain and the
    actor loss ``-min(Q1, Q2)(s, a_theta)`` is backpropagated through every
    step. It has no log-likelihood, so no entropy term enters the actor loss or
    the TD target; exploration is the regulator's (``entropy="noise_scale"``,
    settings in ``noise_scale``): Gaussian noise of std ``0.15 alpha`` on the
    actions sent to the env, ``alpha`` adapted against a Gaussian-mixture
    entropy estimate. Next actions come from the policy itself, as in the
    reference (``target_policy=False``). ``coverage`` (ours, off by default)
    adds a Q-weighted denoising loss that keeps equally good modes apart
    (:mod:`rljax.agents.dacer.regulator`).

    Defaults are the reference's where it has them (20 denoising steps,
    alpha 3 at Adam rate 3e-2 towards entropy -0.9 |A|, 200 samples and 3
    mixture components per estimate); the denoising chain's schedule is the
    diffusion head's cosine one, whose last step's std is clipped at
    ``diffusion.min_std = 1e-3`` (the reference's last step is noiseless).
    One departure (ours): where the clip of a step's ``x0_hat`` to the action
    box binds, the actor's gradient is passed on when it points back inside
    (``diffusion.clip_gradient="inward"``). With the exact, zero gradient
    there, an actor whose ``x0_hat`` all leave the box can never return: one
    of 4 seeds on ``brax/inverted_pendulum`` ended at a constant action of +1
    with an actor gradient of exactly 0.
    """

    policy: str = static("diffusion", check=one_of("diffusion"))
    """DACER's actor: the diffusion head (settings in ``diffusion``)."""
    entropy: str = static("noise_scale", check=one_of("noise_scale"))
    """DACER's exploration regulator (settings in ``noise_scale``)."""
    target_policy: bool = static(False, check=one_of(True, False))
    """Next actions from the policy itself (the reference), not a Polyak copy."""

    diffusion: DiffusionSettings = group(DiffusionSettings(num_steps=20, min_std=1e-3,
                                                           clip_gradient="inward"))
    """Settings of the diffusion actor: 20 denoising steps (DACER), last-step std 1e-3, inward clip gradient."""
    noise_scale: NoiseScaleSettings = group(NoiseScaleSettings())
    """Exploration noise and its alpha: std 0.15 alpha, alpha from 3 at Adam 3e-2 every 5,000 actor steps."""
    coverage: CoverageSettings = group(CoverageSettings())
    """Mode-covering actor term (ours, not the paper's; off at weight 0): fits exp(Q / temperature) by denoising."""

    def _check_consistency(self) -> None:
        super()._check_consistency()
        if self.noise_scale.entropy_states > self.batch_size:
            raise ValueError(f"{type(self).__module__}.{type(self).__qualname__}.noise_scale.entropy_states="
                             f"{self.noise_scale.entropy_states}: must be <= batch_size ({self.batch_size}), the "
                             f"states it is drawn from")
