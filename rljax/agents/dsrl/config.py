"""DSRL's preset of the shared off-policy Config: SAC over a frozen policy's noise, and that policy's head."""

from __future__ import annotations

from rljax.agents.bc.config import Config as BCConfig
from rljax.agents.sac.config import Config as SACConfig
from rljax.agents.sac.entropy import TemperatureSettings
from rljax.config import config_dataclass, group, leaf, non_negative_int, one_of, positive, static

BASE_HEADS = ("flow", "diffusion")
"""The generative heads DSRL can steer (each has a deterministic noise-to-action map)."""


def _positive_number(value) -> str | None:
    return None if isinstance(value, (int, float)) and value > 0 else "must be a number > 0"


@config_dataclass
class Config(SACConfig):
    """DSRL (Wagenmaker et al., "Steering Your Diffusion Policy with Latent Space RL") over SAC's loop.

    A frozen flow or diffusion policy (the ``base``, e.g. a behaviour clone
    from ``agents.bc``) maps ``(obs, w)`` to an action deterministically
    (the flow's ODE from ``x_1 = noise_std * w``; DDIM from ``x_K = w``).
    SAC learns a tanh-Gaussian policy over the noise ``w = noise_bound * u``,
    ``u in [-1, 1]^A``, with its critic on ``(obs, u)``; the env receives the
    frozen policy's action. The SAC fields below are SAC's, read in that
    noise space (``warmup_steps`` draws ``u`` uniformly, i.e. ``w`` uniform in
    ``[-noise_bound, noise_bound]``).

    ``base`` is the frozen policy's :class:`rljax.agents.bc.Config` (the one
    it was cloned with): its ``policy`` (``flow`` or ``diffusion``), torso,
    head settings and ``normalize_observations`` say how to run the
    parameters given to ``init`` / ``train`` (its training fields are not
    used here).

    Defaults follow the reference's DSRL-SAC (its Gym / Robomimic configs):
    ``noise_bound`` 1.5, 20 gradient steps per env step, Adam 3e-4, batch
    256, tau 0.005, gamma 0.99, twin critics, target entropy 0 (of ``u``, as
    SB3's SAC measures it in its squashed space); its 3x2048 layer-normed
    MLPs are SAC's 2x256 here. ``presets`` has measured per-env settings.
    """

    utd_ratio: float = static(20.0, check=_positive_number)
    """Gradient steps per env step (DSRL's reference: 20)."""
    warmup_steps: int = static(1_000, check=non_negative_int)
    """Env steps with uniformly random noise (u ~ U[-1, 1]) that prefill the replay before learning."""
    policy: str = static("tanh_gaussian", check=one_of("tanh_gaussian"))
    """The actor over the noise: a tanh-Gaussian in [-1, 1]^A, scaled by noise_bound."""

    temperature: TemperatureSettings = group(TemperatureSettings(target_entropy_per_dim=0.0))
    """SAC's temperature over u; target entropy 0 (DSRL's reference)."""

    noise_bound: float = leaf(1.5, check=positive)
    """b: the actor's noise w = b * u lies in [-b, b]^A (the base head's noise units; DSRL's action_magnitude)."""
    base: BCConfig = group(BCConfig(policy="flow"))
    """The agents.bc Config the frozen base policy was cloned with (its flow / diffusion head and torso)."""

    def _check_consistency(self) -> None:
        super()._check_consistency()
        if self.base.policy not in BASE_HEADS:
            raise ValueError(f"{type(self).__module__}.{type(self).__qualname__}.base.policy={self.base.policy!r}: "
                             f"DSRL steers a generative policy through its noise; must be one of {list(BASE_HEADS)}")
