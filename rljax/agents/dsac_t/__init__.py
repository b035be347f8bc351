"""DSAC-T: distributional soft actor-critic with three refinements (Duan et al.).

A preset over SAC's off-policy loop (``rljax.agents.sac``): the loop, replay,
actor, temperature and target updates are SAC's; what differs is the
critic head (:class:`rljax.critics.gaussian.GaussianCritic`, which holds the
three refinements: expected value substitution, twin value distributions,
variance-based gradient adjustment), the delayed updates and the defaults
(:class:`Config`).

    cfg = agents.dsac_t.Config(total_steps=30_000, warmup_steps=2_000)
    result = jax.jit(agents.dsac_t.train, static_argnums=0)(env, cfg, key)
"""

from rljax.agents.dsac_t import presets
from rljax.agents.dsac_t.config import Config
from rljax.agents.sac.train import TrainState, init, make_parts, make_policy, policy_params, train, update
from rljax.critics.gaussian import dsac_t_huber_ratio_loss, dsac_t_loss
from rljax.training import Result

__all__ = ["Config", "Result", "TrainState", "presets", "init", "update", "train", "make_policy", "make_parts",
           "policy_params", "dsac_t_loss", "dsac_t_huber_ratio_loss"]
