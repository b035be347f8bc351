"""Which policies can hold two modes: Gaussian, flow and diffusion heads, after behaviour cloning and after RL.

    python experiments/multimodal.py                 # one PNG, a JSON summary

Row 1, behaviour cloning on a 50/50 dataset of actions at -0.6 and +0.6
(constant observation): the Gaussian's maximum-likelihood fit sits between
the modes; flow and diffusion heads put mass on both. Row 2, RL on
``bandit/bimodal`` (equal bumps at +-0.6): Gaussian PPO, FPO (flow) and DPPO
fine-tuning the cloned diffusion policy. Row 3, the same on
``bandit/bimodal_unequal`` (bumps 1.0 at +0.6, 0.8 at -0.6), where RL should
move the mass to the better mode. Rows 4-5, off-policy on ``bandit/bimodal``:
Gaussian SAC; DACER (a diffusion actor trained through its chain on the
critic's Q); DACER with the mode-covering term (``coverage.weight`` 10, a
Q-weighted denoising loss that fits exp(Q / 0.1)), the same config
otherwise; and DACER's actor alone trained through its chain on the exact
reward instead of a learned critic (as many actor steps as the DACER run):
whether the critic is what makes it lose a mode. Every panel is an action histogram of
4000 samples of one seed's policy; the JSON gives, per panel and seed, the
share of samples on the +0.6 side. Writes runs/multimodal/<time>/.
"""

from __future__ import annotations

import dataclasses
import datetime
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tyro

import envs
from rljax import agents, data
from rljax.runner.cli import command_line
from rljax.runner.report import write_report


@dataclasses.dataclass
class Args:
    seeds: int = 2
    """Seeds per panel (one vmapped program each); histograms show seed 0."""
    bc_steps: int = 3000
    """Behaviour-cloning gradient steps."""
    rl_steps: int = 64 * 200
    """Env steps of each on-policy RL run (one-step episodes)."""
    offpolicy_steps: int = 40_000
    """Env steps of each off-policy run (SAC, DACER)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of every panel's policy (off-policy critics: 256 256)."""
    run_root: str = "runs"
    """Folder under which the figure's folder is made (<run-root>/multimodal/<time>)."""


def bimodal_dataset(n: int = 4096, seed: int = 0) -> data.Dataset:
    """Constant observation; actions 50/50 at -0.6 and +0.6 with noise of std 0.05."""
    k1, k2 = jax.random.split(jax.random.key(seed))
    sign = jnp.where(jax.random.bernoulli(k1, 0.5, (n,)), 1.0, -1.0)
    action = (0.6 * sign + 0.05 * jax.random.normal(k2, (n,)))[:, None]
    return data.from_arrays(np.ones((n, 1), np.float32), np.asarray(action), env_name="bandit/bimodal")


def exact_reward_actor(env, cfg: agents.dacer.Config, key: jax.Array, obs: jax.Array) -> jax.Array:
    """DACER's actor (``cfg``'s diffusion head, Adam at its rate) trained on ``-mean(reward(a_theta))`` through
    the whole chain, the reward in place of the critic, for as many actor steps as ``cfg``'s run takes;
    returns its samples at ``obs [N, 1]``: ``[N]``."""
    head = agents.dacer.make_parts(env, cfg).head
    optimizer = optax.adam(cfg.actor_learning_rate)
    batch_obs = jnp.ones((cfg.batch_size, 1))
    actor_steps = cfg.num_updates * cfg.grad_steps_per_update // cfg.policy_delay
    init_key, train_key, sample_key = jax.random.split(key, 3)

    def step(carry, k):
        params, opt_state = carry
        grads = jax.grad(lambda p: -jnp.mean(env.reward(head.sample(p, batch_obs, k)[0][:, 0])))(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), None

    params = head.init(init_key, 1)
    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), jax.random.split(train_key, actor_steps))
    return head.sample(params, obs, sample_key)[0][:, 0]


def main(args: Args) -> dict:
    dataset = bimodal_dataset()
    obs = jnp.ones((4000, 1))
    keys = jax.random.split(jax.random.key(0), args.seeds)
    rl = dict(total_steps=args.rl_steps, num_envs=64, unroll_length=1, num_epochs=4, num_minibatches=2,
              policy_hidden_sizes=args.hidden_sizes, gamma=0.0, anneal_learning_rate=False, learning_rate=3e-4)
    dppo_cfg = agents.dppo.Config(**rl, clip_epsilon=0.2, clip_epsilon_base=0.1)
    fpo_cfg = agents.fpo.Config(**rl, clip_epsilon=0.05)
    ppo_cfg = agents.ppo.Config(**rl, entropy_coef=0.0)
    bc_cfgs = {head: agents.bc.Config(policy=head, total_steps=args.bc_steps,
                                      steps_per_update=min(500, max(args.bc_steps, 1)),
                                      policy_hidden_sizes=args.hidden_sizes, diffusion=dppo_cfg.diffusion)
               for head in ("gaussian", "flow", "diffusion")}
    if args.seeds < 1:
        raise ValueError(f"--seeds={args.seeds}: must be >= 1")
    if args.offpolicy_steps <= 1000:
        raise ValueError(f"--offpolicy-steps={args.offpolicy_steps}: must exceed the 1000 warm-up steps")
    out_dir = os.path.join(args.run_root, "multimodal", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=False)
    panels: dict[str, np.ndarray] = {}

    for head, cfg in bc_cfgs.items():

        def clone(key, cfg=cfg):
            result = agents.bc.train(dataset, cfg, key)
            return agents.bc.make_policy(dataset, cfg, result.params)(obs, jax.random.fold_in(key, 1))[:, 0], \
                result.params

        panels[f"BC {head}"], params = jax.jit(jax.vmap(clone))(keys)
        if head == "diffusion":
            cloned_diffusion = params

    for env_name in ("bandit/bimodal", "bandit/bimodal_unequal"):
        env = envs.make(env_name)
        for label, module, cfg, start in (("PPO gaussian", agents.ppo, ppo_cfg, None),
                                          ("FPO flow", agents.fpo, fpo_cfg, None),
                                          ("DPPO from BC", agents.dppo, dppo_cfg, cloned_diffusion)):
            def rl_run(key, start, module=module, cfg=cfg):
                result = module.train(env, cfg, key, start)
                return module.make_policy(env, cfg, result.params)(obs, jax.random.fold_in(key, 1))[:, 0]

            panels[f"{label}, {env_name}"] = jax.jit(jax.vmap(rl_run))(keys, start)

    env = envs.make("bandit/bimodal")
    offpolicy = dict(total_steps=args.offpolicy_steps, num_envs=16, unroll_length=1, warmup_steps=1000,
                     buffer_size=20_000, gamma=0.0, utd_ratio=0.25, batch_size=128,
                     policy_hidden_sizes=args.hidden_sizes, critic_hidden_sizes=(256, 256), critic_learning_rate=1e-3)
    sac_cfg = agents.sac.Config(**offpolicy, actor_learning_rate=1e-3)
    sac_cfg = sac_cfg.replace(temperature=sac_cfg.temperature.replace(learning_rate=3e-3))
    dacer_cfg = agents.dacer.Config(**offpolicy, policy_delay=4, actor_learning_rate=1e-3)
    dacer_cfg = dacer_cfg.replace(diffusion=dacer_cfg.diffusion.replace(num_steps=10))
    covering_cfg = dacer_cfg.replace(coverage=agents.dacer.CoverageSettings(weight=10.0, temperature=0.1))
    for label, module, cfg in (("SAC gaussian", agents.sac, sac_cfg), ("DACER diffusion", agents.dacer, dacer_cfg),
                               ("DACER + mode covering", agents.dacer, covering_cfg)):
        def off_policy_run(key, module=module, cfg=cfg):
            result = module.train(env, cfg, key)
            return module.make_policy(env, cfg, result.params)(obs, jax.random.fold_in(key, 1))[:, 0]

        panels[f"{label}, bandit/bimodal"] = jax.jit(jax.vmap(off_policy_run))(keys)
    panels["DACER actor on the exact reward"] = jax.jit(jax.vmap(
        lambda key: exact_reward_actor(env, dacer_cfg, key, obs)))(keys)

    share = {name: np.mean(np.asarray(a) > 0, axis=1).round(3).tolist() for name, a in panels.items()}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(panels) // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(10, 2.5 * rows), sharex=True)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (name, actions) in zip(axes.flat, panels.items()):
        ax.hist(np.clip(np.asarray(actions[0]), -1, 1), bins=np.linspace(-1, 1, 61), color="C0")
        for mode in (-0.6, 0.6):
            ax.axvline(mode, color="gray", ls=":", lw=1)
        ax.set_title(f"{name}\n+0.6 side: {share[name][0]:.0%}", fontsize=8)
        ax.set_yticks([])
    for ax in axes.flat[len(panels) - 3:len(panels)]:
        ax.set_xlabel("action")
        ax.xaxis.set_tick_params(labelbottom=True)
    fig.suptitle("action histograms: behaviour cloning on a 50/50 dataset (top), on-policy RL on the bandits, "
                 "off-policy RL on bandit/bimodal (bottom rows)", fontsize=9)
    summary = {"share_on_plus_side_per_seed": share, "seeds": args.seeds}
    return write_report(fig, summary, out_dir, "multimodal.png", dpi=110)


if __name__ == "__main__":
    command_line(lambda argv: main(tyro.cli(Args, args=argv, description=__doc__)))
