"""DSAC-T's preset of the shared off-policy Config: its critic, delays and reference defaults."""

from __future__ import annotations

import math

from rljax.agents.sac.config import Config as SACConfig
from rljax.agents.sac.entropy import TemperatureSettings
from rljax.config import config_dataclass, group, leaf, one_of, positive, positive_sizes, static
from rljax.nets import ACTIVATIONS
from rljax.policies.tanh_gaussian import TanhGaussianSettings


@config_dataclass
class Config(SACConfig):
    """DSAC-T (Duan et al.) over SAC's loop: twin Gaussian distributional critic
    with DSAC-T's loss (``critic="gaussian"``, settings in ``gaussian``), next
    actions from a Polyak target policy, and policy / temperature / target
    updates every ``policy_delay = 2`` critic updates.

    Defaults are the reference's: 3x256 GELU MLPs, Adam 1e-4 (Q and policy),
    initial alpha e (log-alpha 1, as the reference repo), gamma 0.99, batch
    256, tau 0.005 (also the running-std rate), log-std in [-20, 0.5], buffer
    1e6, 10k warm-up steps; with one exception: the temperature's Adam rate is
    3e-3, not the reference's 3e-4. Adam moves log-alpha by about its rate per
    update whatever the reward scale, so at 3e-4 alpha needs ~15k temperature
    updates to cross the two decades that rewards scaled by 0.1 call for from
    alpha = e; at 3e-3 it reaches its equilibrium within ~2k updates at every
    scale tested. ``temperature.learning_rate=3e-4`` restores the reference.
    ``unroll_length`` defaults to 2 so each update makes a whole number of
    delayed groups at one gradient step per env step.
    ``gaussian.huber_ratio=True`` selects the reference repository's newer
    Huber-ratio critic loss.

    Rewards are normalised (``normalize_rewards=True``): divided by their std
    over the warm-up's random-action transitions, a constant fixed at
    ``init``. DSAC-T's claim of insensitivity to the reward scale rests on its
    critic's scale-free refinements, but its networks still have to output
    values at the returns' scale (Q about -7e3 at rewards x 100 on pendulum,
    grown from a unit-scale initialisation by Adam's bounded steps) and its
    loss's ``eps`` is a constant in reward units: at x 100 one seed's training
    returns swung between -34 and -840 late in the run, and four seeds ended
    at -435 against about -150 at x 1. With the warm-up normalisation every
    reward scale gives learning the same numbers (README's table: x 0.01 to
    x 100 within 0.05 per seed).
    """

    unroll_length: int = static(2, check=positive)
    """Steps per env per update (2: one delayed group per update at utd 1)."""
    policy_hidden_sizes: tuple[int, ...] = static((256, 256, 256), check=positive_sizes)
    """Hidden layer widths of the actor."""
    critic_hidden_sizes: tuple[int, ...] = static((256, 256, 256), check=positive_sizes)
    """Hidden layer widths of each critic."""
    activation: str = static("gelu", check=one_of(*ACTIVATIONS))
    """Activation of actor and critics."""
    critic: str = static("gaussian", check=one_of("gaussian"))
    """DSAC-T's twin Gaussian distributional critic (settings in ``gaussian``)."""
    policy_delay: int = static(2, check=positive)
    """Critic steps per actor / temperature / target step."""
    target_policy: bool = static(True, check=one_of(True, False))
    """Next actions come from a Polyak-averaged target policy."""
    normalize_rewards: bool = static(True, check=one_of(True, False))
    """Divide rewards by their std over the warm-up's random transitions, so any reward scale learns alike."""

    actor_learning_rate: float = leaf(1e-4, check=positive)
    """Adam rate of the actor."""
    critic_learning_rate: float = leaf(1e-4, check=positive)
    """Adam rate of the critics."""

    tanh_gaussian: TanhGaussianSettings = group(TanhGaussianSettings(log_std_max=0.5))
    """Settings of the tanh_gaussian policy head (log-std in [-20, 0.5])."""
    temperature: TemperatureSettings = group(TemperatureSettings(init=math.e, learning_rate=3e-3))
    """Temperature: initial alpha e; Adam rate 3e-3 (the reference's 3e-4 adapts too slowly to reward scale)."""
