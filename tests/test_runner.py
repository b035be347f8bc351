"""The runner: sweeps as one program equal to separate runs, the chunk iterator,
sweep errors before anything compiles."""

import csv
import json
import os

import jax
import numpy as np
import pytest

import envs
from rljax import agents, compat
from rljax.runner import chunk_sizes, init_runs, train_in_chunks
from rljax.runner.sweep import expand, parse_sweep
from scripts import experiment




def _rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def test_sweep_is_one_program_equal_to_separate_runs(tmp_path):
    ppo = experiment("ppo")
    common = ["--env", "pendulum", "--total-steps", "4096", "--num-envs", "8", "--unroll-length", "64",
              "--seeds", "2", "--chunks", "1", "--no-checkpoints", "--eval-episodes", "4"]
    rates = ["1e-4", "3e-4", "1e-3"]
    swept = ppo.main([*common, "--run-root", str(tmp_path / "sweep"), "--sweep", f"learning-rate={','.join(rates)}"])
    assert swept["chunk_programs_compiled"] == 1  # one program for every value and seed
    sweep_rows = _rows(swept["run_dir"])
    saved = json.load(open(os.path.join(swept["run_dir"], "config.json")))
    assert saved["sweep"] == {"learning_rate": [1e-4, 3e-4, 1e-3]}
    assert os.path.getsize(os.path.join(swept["run_dir"], "curves.png")) > 0
    # Bitwise equal on jax < 0.10 (CPU). Newer XLA rounds a vmapped batch differently with its size
    # (rljax.compat): equal to float rounding per update, which training amplifies, so there only the
    # first updates are compared.
    exact = compat.runs_bitwise_independent_of_batch()
    for rate in rates:
        single = ppo.main([*common, "--run-root", str(tmp_path / rate), "--learning-rate", rate])
        label = f"learning_rate={float(rate):g}"
        single_rows = _rows(single["run_dir"])
        assert len(single_rows) == len(sweep_rows) == 4096 // 512
        for a, b in zip(sweep_rows if exact else sweep_rows[:3], single_rows):
            for metric in ("policy_loss", "value_loss", "approx_kl"):
                np.testing.assert_allclose(float(a[f"{metric}[{label}]"]), float(b[metric]), rtol=2e-4, atol=1e-6)
            for seed in range(2):
                np.testing.assert_allclose(float(a[f"episode_return[{label}]/seed{seed}"]),
                                           float(b[f"episode_return/seed{seed}"]), rtol=1e-4)
        if exact:
            np.testing.assert_allclose(swept["eval_return_per_value"][label], single["eval_return_mean"], rtol=1e-4)
    # Not degenerate: the values learn differently.
    per_value = list(swept["eval_return_per_value"].values())
    assert len(set(np.round(per_value, 3))) == 3


def test_sweep_errors_name_the_field_before_anything_runs(tmp_path):
    cfg = agents.ppo.Config()
    assert parse_sweep(["learning-rate=1e-4,1e-3", "gaussian.init-log-std=-1,0"], cfg) == {
        "learning_rate": [1e-4, 1e-3], "gaussian.init_log_std": [-1.0, 0.0]}
    with pytest.raises(ValueError, match="'num_envs' is structural"):
        parse_sweep(["num-envs=8,16"], cfg)
    with pytest.raises(ValueError, match="has no field 'learning_rat'"):
        parse_sweep(["learning-rat=1e-4"], cfg)
    with pytest.raises(ValueError, match="values must be numbers"):
        parse_sweep(["learning-rate=1e-4,fast"], cfg)
    with pytest.raises(ValueError, match="expected FIELD=v1,v2"):
        parse_sweep(["learning-rate"], cfg)
    with pytest.raises(ValueError, match="learning_rate.*must be > 0"):
        expand(cfg, {"learning_rate": [1e-3, -1.0]})
    configs, labels = expand(cfg, {"learning_rate": [1e-4, 1e-3], "gamma": [0.9, 0.99]})
    assert len(configs) == 4 and labels[1] == "learning_rate=0.0001,gamma=0.99"
    ppo = experiment("ppo")
    with pytest.raises(ValueError, match="structural"):
        ppo.main(["--sweep", "num-epochs=2,4", "--run-root", str(tmp_path)])
    assert not os.listdir(tmp_path)  # nothing was created


def test_chunk_iterator_counts_updates_and_compiles_once_per_size():
    env = envs.make("cartpole")
    cfg = agents.ppo.Config(total_steps=13 * 256, num_envs=8, unroll_length=32)
    # A divisor near the asked size where there is one (one compile); else equal chunks and a remainder.
    assert chunk_sizes(10, 3) == [2] * 5 and chunk_sizes(7, 3) == [1] * 7 and chunk_sizes(0, 3) == []
    assert chunk_sizes(13, 2) == [6, 6, 1]
    state = init_runs(agents.ppo, env, cfg, jax.random.split(jax.random.key(0), 2))
    chunks = list(train_in_chunks(agents.ppo, env, cfg, state, chunk_sizes(cfg.num_updates, 2)))
    assert [c.first_update for c in chunks] == [1, 7, 13]
    assert [c.compile_seconds > 0 for c in chunks] == [True, False, True]
    assert chunks[-1].metrics["env_steps"].shape == (2, 1)
    assert float(chunks[-1].metrics["env_steps"][0, 0]) == 13 * 256
    assert int(np.asarray(chunks[-1].state.update_index)[0]) == 13


def test_write_report_saves_figure_copies_and_summary(tmp_path):
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rljax.runner.report import write_report

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    copy = tmp_path / "copy.png"
    summary = write_report(fig, {"return": 1.5}, str(tmp_path), "figure.png", copy_to=[str(copy)])
    assert summary["figure"] == str(tmp_path / "figure.png") and summary["figure_copy"] == str(copy)
    assert (tmp_path / "figure.png").read_bytes() == copy.read_bytes() and copy.stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
