"""Cost of generative policy heads: flow and diffusion against the Gaussian head, by number of steps.

    python benchmarks/policy_heads.py                   # 1, 5, 10, 20 integration / denoising steps
    python benchmarks/policy_heads.py --steps 10 --batch 4096

For each head (Gaussian; flow and diffusion at each step count) it measures
(1) sampling throughput: actions/s of a jitted ``sample`` on a batch of
observations (median of ``--repeats`` calls after compiling), and (2) PPO
training throughput on ``pendulum``: env steps/s of PPO with that head
through the runner's chunk iterator (the shared harness: steady steps/s over
chunks after the first, compile seconds the same way as every benchmark),
each with its ratio to the Gaussian head's, taken per round (``--rounds``
passes over all heads, the Gaussian first) and reported as the median over
rounds. Prints one JSON line per head and step count.

With ``--offpolicy`` it also measures (3) the off-policy actor's cost:
gradient steps/s on ``pendulum`` of DACER (the diffusion actor, its chain
backpropagated on every actor step, plus the entropy estimate) at each of
``--dacer-steps`` denoising steps, against the same loop with a tanh-Gaussian
actor (DSAC-T: SAC with the same critic), same networks and batch.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time

import jax
import tyro

import envs
from harness import time_ours
from rljax import agents
from rljax import env as env_lib
from rljax.policies import DiffusionSettings, FlowSettings


@dataclasses.dataclass
class Args:
    steps: tuple[int, ...] = (1, 5, 10, 20)
    """Integration (flow) and denoising (diffusion) steps to measure."""
    batch: int = 1024
    """Observations per sampling call."""
    repeats: int = 20
    """Timed sampling calls (median reported)."""
    ppo_steps: int = 4 * 4096
    """PPO env steps per measurement (4 chunks of 4 updates of 16 envs x 64 steps)."""
    chunks: int = 4
    """Compiled chunks of each timed training run (steady throughput over those after the first)."""
    rounds: int = 3
    """Rounds over all heads; ratios to the Gaussian are per round, medians reported."""
    seed: int = 0
    """Seed of the observations, parameters and training runs."""
    onpolicy: bool = True
    """Measure the on-policy part (sampling and PPO throughput; --no-onpolicy skips it)."""
    offpolicy: bool = False
    """Also measure DACER's gradient steps/s against the tanh-Gaussian actor's (DSAC-T)."""
    dacer_steps: tuple[int, ...] = (5, 10, 20)
    """Denoising steps of DACER's chain to measure."""
    offpolicy_updates: int = 64
    """Updates per off-policy measurement (each 4 env steps, 2 gradient steps; in --chunks chunks)."""


def _config(policy: str, steps: int, total_steps: int) -> agents.ppo.Config:
    return agents.ppo.Config(
        total_steps=total_steps, num_envs=16, unroll_length=64, num_epochs=4, num_minibatches=4, policy=policy,
        entropy_coef=0.0, flow=FlowSettings(num_steps=steps), diffusion=DiffusionSettings(num_steps=steps))


def sampling(env, cfg: agents.ppo.Config, args: Args) -> dict:
    head, _ = agents.ppo.make_heads(env, cfg)
    obs = jax.random.normal(jax.random.key(args.seed), (args.batch, env_lib.observation_size(env)))
    params = head.init(jax.random.key(args.seed + 1), obs.shape[-1])
    sample = jax.jit(lambda p, o, k: head.sample(p, o, k)[0])
    t = time.perf_counter()
    compiled = sample.lower(params, obs, jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t
    seconds = []
    for i in range(args.repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(params, obs, jax.random.key(i)))
        seconds.append(time.perf_counter() - t)
    return {"actions_per_s": args.batch / statistics.median(seconds), "sample_compile_s": compile_s}


def _measure(env, head: str, steps: int, args: Args) -> dict:
    cfg = _config(head, max(steps, 1), args.ppo_steps)
    result = sampling(env, cfg, args)
    ppo = time_ours(agents.ppo, env, cfg, args.chunks, args.seed, eval_episodes=4)
    return {**result, "ppo_steps_per_s": ppo["steps_per_s"], "ppo_compile_s": ppo["compile_s"]}


def _offpolicy_config(module, steps: int, updates: int):
    cfg = module.Config(total_steps=2_000 + 4 * updates, num_envs=4, unroll_length=1, utd_ratio=0.5,
                        warmup_steps=2_000, buffer_size=100_000)
    return cfg.replace(diffusion=cfg.diffusion.replace(num_steps=steps)) if module is agents.dacer else cfg


def _measure_offpolicy(env, actor: str, steps: int, args: Args) -> dict:
    module = agents.dacer if actor == "dacer" else agents.dsac_t
    cfg = _offpolicy_config(module, max(steps, 1), args.offpolicy_updates)
    run = time_ours(module, env, cfg, args.chunks, args.seed, eval_episodes=1)
    return {"grad_steps_per_s": run["steps_per_s"] * cfg.utd_ratio, "compile_s": run["compile_s"]}


def offpolicy(env, args: Args) -> list[dict]:
    """DACER's gradient steps/s at each chain length against DSAC-T's, per round, medians reported."""
    cases = [("tanh_gaussian", 0)] + [("dacer", k) for k in args.dacer_steps]
    rounds = [{case: _measure_offpolicy(env, *case, args) for case in cases} for _ in range(args.rounds)]
    lines = []
    for case in cases:
        runs = [r[case] for r in rounds]
        per_round = [r[case]["grad_steps_per_s"] / r[("tanh_gaussian", 0)]["grad_steps_per_s"] for r in rounds]
        result = {"benchmark": "policy_heads_offpolicy", "actor": case[0], "steps": case[1], "rounds": args.rounds,
                  **{key: statistics.median(run[key] for run in runs) for key in runs[0]},
                  "grad_steps_per_s_vs_tanh_gaussian": statistics.median(per_round),
                  "grad_steps_per_s_vs_tanh_gaussian_per_round": per_round,
                  "device": jax.devices()[0].platform}
        print(json.dumps(result), flush=True)
        lines.append(result)
    return lines


def main(args: Args) -> list[dict]:
    if args.rounds < 1:
        raise ValueError(f"--rounds={args.rounds}: must be >= 1")
    if args.offpolicy_updates < 1 or args.offpolicy_updates % args.chunks:
        raise ValueError(f"--offpolicy-updates={args.offpolicy_updates}: must be a positive multiple of "
                         f"--chunks={args.chunks}")
    env = envs.make("pendulum")
    lines = onpolicy(env, args) if args.onpolicy else []
    if args.offpolicy:
        lines += offpolicy(env, args)
    return lines


def onpolicy(env, args: Args) -> list[dict]:
    """Sampling and PPO throughput of each head and step count against the Gaussian's, medians over rounds."""
    cases = [("gaussian", 0)] + [(head, k) for head in ("flow", "diffusion") for k in args.steps]
    # Each round measures every case, the Gaussian first; a case's ratio is taken against its own
    # round's Gaussian, and the medians over rounds are reported (the machine's load drifts).
    rounds = [{case: _measure(env, *case, args) for case in cases} for _ in range(args.rounds)]
    lines = []
    for case in cases:
        runs = [r[case] for r in rounds]
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        result = {"benchmark": "policy_heads", "head": case[0], "steps": case[1], "rounds": args.rounds, **median}
        for key in ("actions_per_s", "ppo_steps_per_s"):
            per_round = [r[case][key] / r[("gaussian", 0)][key] for r in rounds]
            result[f"{key}_vs_gaussian"] = statistics.median(per_round)
            result[f"{key}_vs_gaussian_per_round"] = per_round
        result["device"] = jax.devices()[0].platform
        print(json.dumps(result), flush=True)
        lines.append(result)
    return lines


if __name__ == "__main__":
    main(tyro.cli(Args, description=__doc__))
