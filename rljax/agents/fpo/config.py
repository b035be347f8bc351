"""FPO's preset of PPO's Config: the flow head, FPO's clip, no entropy bonus."""

from __future__ import annotations

from rljax.agents.ppo.config import Config as PPOConfig
from rljax.config import config_dataclass, group, leaf, non_negative, one_of, positive, static
from rljax.policies.flow import FlowSettings


@config_dataclass
class Config(PPOConfig):
    """Flow Policy Optimisation (McAllister et al., "Flow Matching Policy
    Gradients") over PPO's loop: the policy is a flow-matching velocity field
    (``policy="flow"``, settings in ``flow``) whose log-likelihood is minus
    its conditional flow-matching loss at ``flow.num_mc`` (t, eps) pairs drawn
    at the rollout, so PPO's ratio is FPO's ``exp(L_old - L_new)``, clipped
    at ``clip_epsilon`` (0.05, the paper's best). A flow has no entropy, so
    ``entropy_coef`` is 0. The CFM target defaults to the FPO reference's
    epsilon form (``flow.target="velocity"`` for the plain velocity loss).
    Everything else is PPO's (``rljax.agents.ppo``).
    """

    policy: str = static("flow", check=one_of("flow"))
    """FPO's policy: the flow-matching head (settings in ``flow``)."""
    clip_epsilon: float = leaf(0.05, check=positive)
    """Clip of FPO's ratio exp(L_old - L_new) (the paper's best: 0.05)."""
    entropy_coef: float = leaf(0.0, check=non_negative)
    """Must be 0: a flow policy has no entropy."""
    flow: FlowSettings = group(FlowSettings(target="epsilon"))
    """Settings of the flow head: 10 Euler steps, 8 (t, eps) pairs, the reference's epsilon-form target."""
