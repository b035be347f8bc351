"""DACER: diffusion actor-critic with entropy regulator (Wang et al.), a preset over SAC's loop.

The loop, replay, critic updates and targets are SAC's (``rljax.agents.sac``)
with DSAC-T's distributional critic; what differs is the actor (the diffusion
head, trained through its whole denoising chain on ``-min(Q1, Q2)``) and the
entropy seam's regulator (:class:`rljax.agents.dacer.regulator.NoiseScaleRegulator`:
exploration noise scaled by an ``alpha`` that follows a Gaussian-mixture
entropy estimate). ``Config.coverage`` (ours, off by default) adds a
Q-weighted denoising term to the actor loss that keeps equally good modes.

    cfg = agents.dacer.presets.preset("pendulum")
    result = jax.jit(agents.dacer.train, static_argnums=0)(env, cfg, key)
"""

from rljax.agents.dacer import presets
from rljax.agents.dacer.config import Config
from rljax.agents.dacer.mixture import fit_gaussian_mixture, mixture_entropy
from rljax.agents.dacer.regulator import CoverageSettings, NoiseScaleRegulator, NoiseScaleSettings
from rljax.agents.sac.train import TrainState, init, make_parts, make_policy, policy_params, train, update
from rljax.training import Result

__all__ = ["Config", "Result", "TrainState", "presets", "init", "update", "train", "make_policy", "make_parts",
           "policy_params", "NoiseScaleRegulator", "NoiseScaleSettings", "CoverageSettings", "fit_gaussian_mixture",
           "mixture_entropy"]
