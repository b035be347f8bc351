"""Behaviour-cloning hyperparameters."""

from __future__ import annotations

from rljax.config import (ConfigBase, config_dataclass, group, leaf, one_of, positive, positive_sizes, static)
from rljax.nets import ACTIVATIONS
from rljax.policies import registry as policies
from rljax.policies.diffusion import DiffusionSettings
from rljax.policies.flow import FlowSettings
from rljax.policies.gaussian import GaussianSettings


@config_dataclass
class Config(ConfigBase):
    """Behaviour cloning: fit a policy head to a dataset's ``(obs, action)`` pairs.

    Each ``update`` makes ``steps_per_update`` Adam steps on minibatches of
    ``batch_size`` pairs drawn uniformly from the dataset, minimising the
    head's ``imitation_loss`` (maximum likelihood for the Gaussian head,
    conditional flow matching for ``flow``, epsilon prediction for
    ``diffusion``). The head's settings live in its group, as in PPO, so the
    cloned parameters load into a PPO / FPO / DPPO Config with the same head,
    torso and settings.
    """

    total_steps: int = static(20_000, check=positive)
    """Gradient steps in all."""
    steps_per_update: int = static(500, check=positive)
    """Gradient steps per update (the runner's unit of progress and logs)."""
    batch_size: int = static(256, check=positive)
    """Pairs per gradient step."""
    policy: str = static("gaussian", check=policies.HEADS.check)
    """The head to fit: gaussian, flow or diffusion (any registered continuous head)."""
    policy_hidden_sizes: tuple[int, ...] = static((64, 64), check=positive_sizes)
    """Hidden layer widths of the head's torso."""
    activation: str = static("tanh", check=one_of(*ACTIVATIONS))
    """Activation of the torso."""
    normalize_observations: bool = static(True, check=one_of(True, False))
    """Normalise observations by the dataset's statistics (kept with the params, as PPO's normaliser)."""

    learning_rate: float = leaf(1e-3, check=positive)
    """Adam learning rate (cosine-decayed to 10% over the run)."""
    max_grad_norm: float = leaf(1.0, check=positive)
    """Global gradient-norm clip."""

    gaussian: GaussianSettings = group(GaussianSettings())
    """Settings of the gaussian head."""
    flow: FlowSettings = group(FlowSettings())
    """Settings of the flow head."""
    diffusion: DiffusionSettings = group(DiffusionSettings())
    """Settings of the diffusion head."""

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.steps_per_update

    def _check_consistency(self) -> None:
        if self.total_steps < self.steps_per_update:
            raise ValueError(f"bc.Config.total_steps={self.total_steps}: must be >= steps_per_update "
                             f"({self.steps_per_update})")
        if policies.get(self.policy).discrete:
            raise ValueError(f"bc.Config.policy={self.policy!r}: behaviour cloning here fits continuous heads")

    def check_env(self, dataset) -> None:
        """``dataset`` must be an :class:`rljax.data.Dataset` with at least one batch of pairs."""
        from rljax.data import Dataset

        if not isinstance(dataset, Dataset):
            raise ValueError(f"bc trains on an rljax.data.Dataset, got {type(dataset).__name__}")
        if dataset.size < self.batch_size:
            raise ValueError(f"bc.Config.batch_size={self.batch_size}: larger than the dataset ({dataset.size} pairs)")
