"""FPO: flow matching policy gradients (McAllister et al.), a preset over PPO's loop.

The loop, rollout, GAE and clipped surrogate are PPO's (``rljax.agents.ppo``);
what differs is the policy head (:class:`rljax.policies.flow.FlowHead`, whose
surrogate log-likelihood makes PPO's ratio FPO's) and the defaults
(:class:`Config`).

    cfg = agents.fpo.Config(total_steps=200_000)
    result = jax.jit(agents.fpo.train, static_argnums=0)(env, cfg, key)
"""

from rljax.agents.fpo import presets
from rljax.agents.fpo.config import Config
from rljax.agents.ppo.train import TrainState, init, make_heads, make_policy, policy_params, train, update
from rljax.training import Result

__all__ = ["Config", "Result", "TrainState", "presets", "init", "update", "train", "make_policy", "make_heads",
           "policy_params"]
