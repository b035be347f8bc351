"""Operations: resume in place after SIGTERM/SIGINT, checked checkpoints with fallback, every
command-line error before a run folder exists, periodic evaluation, numbers that agree, W&B."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

from rljax import checkpoint
from rljax.runner.chunks import Chunk
from rljax.runner.run import _steps_per_second, _value
from rljax.runner.sink import MetricsSink
from rljax.training import check_finite
from scripts import experiment

ROOT = os.path.join(os.path.dirname(__file__), "..")




def _rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def _only_run_dir(root):
    (name,) = os.listdir(root)
    (env,) = os.listdir(os.path.join(root, name))
    return os.path.join(root, name, env)


def _raw(path):
    with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(path)


def _assert_same_arrays(a, b):
    import jax

    jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def _stop_after_first_checkpoint(script, args, run_root, signals):
    """Start ``script`` in a subprocess, send ``signals`` once its first checkpoint exists; returns
    (exit code, output)."""
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "experiments", script), *args,
                                "--run-root", str(run_root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=ROOT)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        found = [p for p in run_root.glob("*/*/checkpoints/step_*") if (p / checkpoint.MANIFEST).exists()]
        if found:
            break
        time.sleep(0.05)
    for number in signals:
        process.send_signal(number)
        time.sleep(0.05)
    output, _ = process.communicate(timeout=300)
    return process.returncode, output


@pytest.mark.parametrize("script, args, sent", [
    ("ppo.py", ["--env", "cartpole", "--total-steps", str(2**19), "--chunks", "32", "--seeds", "2",
                "--eval-episodes", "2", "--eval-every", "8"], signal.SIGTERM),
    ("sac.py", ["--env", "pendulum", "--total-steps", "3000", "--warmup-steps", "500", "--chunks", "10",
                "--seeds", "2", "--eval-episodes", "2", "--eval-every", "5"], signal.SIGINT),
], ids=["ppo-cartpole-sigterm", "sac-pendulum-sigint"])
def test_stopped_and_resumed_in_place_equals_the_run_that_never_stopped(tmp_path, script, args, sent):
    code, output = _stop_after_first_checkpoint(script, args, tmp_path / "stopped", [sent])
    assert code == 128 + sent, output
    assert f"stopped by {signal.Signals(sent).name} after update" in output and "--resume" in output
    run_dir = _only_run_dir(tmp_path / "stopped")
    stopped_at = checkpoint.step_of(checkpoint.latest(os.path.join(run_dir, "checkpoints")))
    module = experiment(script[:-3])
    resumed = module.main(["--resume", run_dir])
    assert resumed["run_dir"] == run_dir and resumed["resumed_at_update"] == stopped_at
    whole = module.main([*args, "--run-root", str(tmp_path / "whole")])
    assert stopped_at < len(_rows(whole["run_dir"]))  # it was stopped before the end
    rows, whole_rows = _rows(run_dir), _rows(whole["run_dir"])
    assert [int(r["update"]) for r in rows] == list(range(1, len(whole_rows) + 1))  # one row per update
    assert rows == whole_rows  # every metric of every update, the periodic evaluations included
    assert sum(r["eval_return"] != "nan" for r in rows) >= 2
    assert resumed["eval_return_per_seed"] == whole["eval_return_per_seed"]
    final = os.path.basename(checkpoint.latest(os.path.join(run_dir, "checkpoints")))
    _assert_same_arrays(_raw(os.path.join(run_dir, "checkpoints", final)),
                        _raw(os.path.join(whole["run_dir"], "checkpoints", final)))  # params, replay, keys
    assert module.main(["--resume", run_dir])["eval_return_mean"] == resumed["eval_return_mean"]  # finished: no-op


def test_second_signal_stops_at_once_and_the_last_checkpoint_stays_good(tmp_path):
    args = ["--env", "cartpole", "--total-steps", str(2**20), "--chunks", "64", "--seeds", "2"]
    code, output = _stop_after_first_checkpoint("ppo.py", args, tmp_path, [signal.SIGTERM, signal.SIGTERM])
    assert code == 128 + signal.SIGTERM, output
    run_dir = _only_run_dir(tmp_path)
    good = checkpoint.newest_good(os.path.join(run_dir, "checkpoints"))
    assert good is not None and checkpoint.verify(good)


# ---------------------------------------------------------------- checked checkpoints, fallback

def _damage_truncate(path):
    data = max((os.path.join(r, n) for r, _, ns in os.walk(os.path.join(path, "d")) for n in ns), key=os.path.getsize)
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)


def _damage_random_bytes(path):
    data = max((os.path.join(r, n) for r, _, ns in os.walk(os.path.join(path, "d")) for n in ns), key=os.path.getsize)
    with open(data, "r+b") as f:
        f.seek(min(64, os.path.getsize(data) // 4))
        f.write(np.random.default_rng(0).bytes(min(4096, os.path.getsize(data) // 2)))


def _damage_metadata(path):
    with open(os.path.join(path, "_METADATA"), "w") as f:
        f.write("{ not json")


def _killed_during_write(path):
    # What a kill between orbax's rename and the manifest leaves; a kill earlier leaves a tmp folder.
    os.remove(os.path.join(path, checkpoint.MANIFEST))
    shutil.copytree(path, path + ".orbax-checkpoint-tmp-1234")


@pytest.fixture(scope="module")
def run_with_three_checkpoints(tmp_path_factory):
    args = ["--env", "cartpole", "--total-steps", "8192", "--num-envs", "8", "--seeds", "2", "--chunks", "4",
            "--keep-checkpoints", "3", "--eval-episodes", "2", "--run-root", str(tmp_path_factory.mktemp("three"))]
    return experiment("ppo").main(args)


@pytest.mark.parametrize("damage, why", [
    (_damage_truncate, "truncated"), (_damage_random_bytes, "corrupted"), (_damage_metadata, "_METADATA"),
    (_killed_during_write, "interrupted")], ids=["truncated", "random-bytes", "metadata", "killed-write"])
def test_damaged_checkpoint_is_named_and_resume_falls_back_to_the_previous_good_one(
        tmp_path, run_with_three_checkpoints, damage, why, capsys):
    whole = run_with_three_checkpoints
    run_dir = str(tmp_path / "run")
    shutil.copytree(whole["run_dir"], run_dir)
    ckpts = os.path.join(run_dir, "checkpoints")
    names = sorted(os.listdir(ckpts))
    assert [checkpoint.step_of(n) for n in names] == [16, 24, 32]
    good_before = {n: checkpoint.verify(os.path.join(ckpts, n))["files"] for n in names[:2]}
    damage(os.path.join(ckpts, names[-1]))
    capsys.readouterr()
    with pytest.raises(checkpoint.CheckpointError, match=f"{names[-1]}.*{why}"):
        checkpoint.restore(os.path.join(ckpts, names[-1]), None)
    resumed = experiment("ppo").main(["--resume", run_dir])
    out = capsys.readouterr().out.replace("\n", "")
    assert names[-1] in out and "trying the previous one" in out
    assert resumed["resumed_at_update"] == 24
    assert resumed["eval_return_per_seed"] == whole["eval_return_per_seed"]  # the same run, re-done from 24
    assert _rows(run_dir) == _rows(whole["run_dir"])
    for name, files in good_before.items():  # no good checkpoint was deleted or overwritten
        assert checkpoint.verify(os.path.join(ckpts, name))["files"] == files
    assert checkpoint.verify(os.path.join(ckpts, names[-1]))  # saved anew
    assert not [n for n in os.listdir(ckpts) if "tmp" in n]  # stale temporary folders are cleaned


def test_zero_size_leaves_round_trip(tmp_path):
    # MJX's contact fields of a contact-free model (playground's cartpoles) are [..., 0, ...]; orbax refuses them.
    import jax
    import jax.numpy as jnp
    state = {"contacts": jnp.zeros((64, 0, 5), jnp.float32), "ids": np.zeros((3, 0), np.int32),
             "x": jnp.arange(4.0), "key": jax.random.key(3)}
    path = checkpoint.save(str(tmp_path), 7, state)
    restored = checkpoint.restore(path, like=jax.tree.map(jnp.zeros_like, state))
    assert restored["contacts"].shape == (64, 0, 5) and restored["contacts"].dtype == np.float32
    assert restored["ids"].shape == (3, 0) and restored["ids"].dtype == np.int32
    np.testing.assert_array_equal(restored["x"], np.arange(4.0))
    np.testing.assert_array_equal(jax.random.key_data(restored["key"]), jax.random.key_data(state["key"]))


def test_no_good_checkpoint_refuses_before_anything_compiles(tmp_path):
    ppo = experiment("ppo")
    run = ppo.main(["--total-steps", "4096", "--seeds", "1", "--chunks", "2", "--keep-checkpoints", "1",
                    "--eval-episodes", "1", "--run-root", str(tmp_path)])["run_dir"]
    (only,) = os.listdir(os.path.join(run, "checkpoints"))
    _damage_metadata(os.path.join(run, "checkpoints", only))
    with pytest.raises(ValueError, match="no good checkpoint.*_METADATA"):
        ppo.main(["--resume", run])


# ---------------------------------------------------------------- check before you build

def _errors():
    def changed(flag, value):
        return lambda run: ["--resume", run, flag, value]
    return [
        ("ppo", lambda run: ["--env", "cartpol"], "unknown env 'cartpol'"),
        ("sac", lambda run: ["--env", "cartpole"], "needs a continuous action space"),
        ("ppo", lambda run: ["--seeds", "0"], "seeds=0"),
        ("ppo", lambda run: ["--chunks", "0"], "chunks=0"),
        ("ppo", lambda run: ["--eval-every", "-1"], "eval-every=-1"),
        ("ppo", lambda run: ["--learning-rate", "-1"], "learning_rate"),
        ("ppo", lambda run: ["--sweep", "num-epochs=2,4"], "structural"),
        ("ppo", lambda run: ["--sweep", "learning-rate=1e-4,1e-3", "--sweep", "gamma=0.9,0.99"], "more than once"),
        ("ppo", lambda run: ["--resume", run + "-missing"], "no such folder"),
        ("ppo", lambda run: ["--resume", os.path.dirname(run)], "not a run folder"),
        ("sac", lambda run: ["--resume", run], "trained rljax.agents.ppo"),
        ("ppo", changed("--learning-rate", "1e-3"), "learning_rate: 0.0003 -> 0.001"),
        ("ppo", changed("--env", "pendulum"), "env: 'cartpole' -> 'pendulum'"),
        ("ppo", changed("--seeds", "3"), "seeds: 1 -> 3"),
        ("ppo", changed("--sweep", "learning-rate=1e-4,1e-3"), "sweep"),
        ("ppo", lambda run: ["--env", "bandit/bimodal", "--render"], "render"),
        ("ppo", lambda run: ["--mesh", "2y2"], "expected SEEDSxDATA"),
        ("ppo", lambda run: ["--mesh", "2x2"], "needs 4 devices"),
    ]


@pytest.fixture(scope="module")
def finished_ppo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("finished")
    return experiment("ppo").main(["--total-steps", "2048", "--seeds", "1", "--chunks", "1", "--eval-episodes", "1",
                                    "--run-root", str(root)])["run_dir"]


@pytest.mark.parametrize("script, argv, message", _errors(), ids=[e[2][:28] for e in _errors()])
def test_command_line_errors_come_before_a_run_folder_exists(tmp_path, finished_ppo_run, script, argv, message):
    module = experiment(script)
    root = tmp_path / "runs"
    before = sorted(os.listdir(os.path.dirname(finished_ppo_run)))
    started = time.perf_counter()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        module.main([*argv(finished_ppo_run), "--run-root", str(root)])
    assert not root.exists()  # no run folder was made
    assert sorted(os.listdir(os.path.dirname(finished_ppo_run))) == before
    assert time.perf_counter() - started < 10  # nothing compiled


def test_wandb_missing_is_a_clear_error_before_a_run_folder(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("no wandb")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(ValueError, match="--wandb needs the wandb package: pip install wandb"):
        experiment("ppo").main(["--wandb", "rljax-test", "--run-root", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()


def test_wandb_offline_logs_every_update(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    summary = experiment("ppo").main(["--total-steps", "4096", "--seeds", "1", "--chunks", "2", "--eval-episodes",
                                       "1", "--wandb", "rljax-test", "--run-root", str(tmp_path)])
    runs = list((os.path.join(summary["run_dir"], "wandb", d) for d in os.listdir(
        os.path.join(summary["run_dir"], "wandb")) if d.startswith("offline-run-")))
    assert len(runs) == 1 and any(n.endswith(".wandb") for n in os.listdir(runs[0]))
    with open(os.path.join(summary["run_dir"], "wandb_id.txt")) as f:
        assert runs[0].endswith(f.read().strip())


# ---------------------------------------------------------------- numbers that agree

def _chunk(first_update, size, nonfinite_at=None, runs=2):
    metrics = {"env_steps": np.tile(np.arange(first_update, first_update + size, dtype=np.float32) * 100, (runs, 1)),
               "episode_return": np.full((runs, size), np.nan), "nonfinite": np.zeros((runs, size))}
    if nonfinite_at is not None:
        metrics["nonfinite"][1, nonfinite_at] = 1.0
    return Chunk(state=None, metrics=metrics, first_update=first_update, size=size, seconds=1.0, compile_seconds=0.0)


def test_nan_error_names_the_update_the_csv_names(tmp_path):
    sink = MetricsSink(str(tmp_path), [""], seeds=2)
    sink.add(_chunk(1, 8))
    bad = _chunk(9, 8, nonfinite_at=2)
    sink.add(bad, updates=3)
    sink.close()
    with pytest.raises(FloatingPointError, match="seed 1, update 11 "):
        check_finite(bad.metrics, first_update=bad.first_update)
    rows = _rows(str(tmp_path))
    assert rows[-1]["update"] == "11" and float(rows[-1]["nonfinite"]) == 0.5 and len(rows) == 11  # 1 of 2 seeds


def test_steps_per_second_counts_only_the_chunk_it_times():
    warmup_then = [{"env_steps": 2000.0 + 4 * u} for u in range(1, 6)]  # a 2000-step prefill in init
    assert _steps_per_second(warmup_then, warmup_then, runs=1, seconds=1.0).strip() == "20"
    one = [{"env_steps": 2004.0}]
    assert _steps_per_second(one, one, runs=1, seconds=1.0).strip() == "-"  # unknowable, not 2004
    resumed = [{"env_steps": 100.0 * u} for u in range(1, 11)]  # rows read back from the CSV
    assert _steps_per_second(resumed, resumed[-2:], runs=2, seconds=2.0).strip() == "200"
    assert _value(float("nan"), "9.2f").strip() == "-" and _value(1.5, "9.2f").strip() == "1.50"


def test_periodic_evaluation_lands_in_csv_and_curve_and_render_writes_the_replay(tmp_path):
    summary = experiment("ppo").main(["--total-steps", "8192", "--num-envs", "8", "--seeds", "2", "--chunks", "4",
                                       "--eval-every", "2", "--eval-episodes", "2", "--no-checkpoints", "--render",
                                       "--run-root", str(tmp_path)])
    assert summary["replay"] == os.path.join(summary["run_dir"], "replay.html") and os.path.exists(summary["replay"])
    rows = _rows(summary["run_dir"])
    evaluated = [int(r["update"]) for r in rows if r["eval_return"] != "nan"]
    assert evaluated == [16, 32]
    assert all(np.isfinite(float(rows[u - 1]["eval_return"])) for u in evaluated)
    for u in evaluated:  # each seed's evaluation is on the row too, and the mean is theirs
        per_seed = [float(rows[u - 1][f"eval_return/seed{s}"]) for s in range(2)]
        np.testing.assert_allclose(np.mean(per_seed), float(rows[u - 1]["eval_return"]), rtol=1e-6)
    assert rows[0]["eval_return/seed0"] == "nan"
    assert json.load(open(os.path.join(summary["run_dir"], "summary.json")))["eval_return_mean"] > 0


# ---------------------------------------------------------------- env keyword arguments

def test_preset_env_kwargs_are_recorded_and_a_resume_keeps_them(tmp_path):
    # A preset's envs.make kwargs (SHAC's hopper posture reward, say) go into config.json; a resume
    # rebuilds the same env from there, and a different env is refused by name.
    from rljax import agents
    from rljax.agents.ppo.presets import preset
    from rljax.runner import cli
    from rljax.runner.resume import differences, load_run

    def ppo(argv, kwargs):
        return cli(agents.ppo, "ppo", preset, None, default_env="pendulum", argv=argv,
                   env_kwargs_for_env=lambda name: kwargs if name == "pendulum" else {})

    common = ["--seeds", "1", "--eval-episodes", "1", "--num-envs", "4", "--unroll-length", "16"]
    run = ppo(["--total-steps", "128", "--chunks", "1", *common, "--run-root", str(tmp_path)],
              {"max_torque": 1.5})["run_dir"]
    saved = load_run(run)
    assert saved.env_kwargs == {"max_torque": 1.5} and saved.backend is None
    # The resume takes the run's own kwargs, whatever the preset says now.
    resumed = ppo(["--resume", run, "--total-steps", "256"], {"max_torque": 9.0})
    assert resumed["run_dir"] == run and load_run(run).env_kwargs == {"max_torque": 1.5}
    now = dict(agent_name=saved.agent, env_name=saved.env, backend=None, config=saved.config, sweep={},
               options=saved.options)
    assert differences(saved, env_kwargs={"max_torque": 1.5}, **now) == []
    assert differences(saved, env_kwargs={}, **now) == ["env_kwargs: {'max_torque': 1.5} -> {}"]
    # Folders written before env kwargs were recorded read as none.
    with open(os.path.join(run, "config.json")) as f:
        record = json.load(f)
    del record["env_kwargs"]
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump(record, f)
    assert load_run(run).env_kwargs == {}


def test_env_parameters_with_defaults_are_recorded_and_a_changed_default_is_named_on_resume(tmp_path, capsys):
    import envs
    from rljax.runner.resume import load_run

    argv = ["--seeds", "1", "--eval-episodes", "1", "--num-envs", "4", "--unroll-length", "16", "--chunks", "1"]
    run = experiment("ppo").main(["--env", "pendulum", "--total-steps", "128", *argv,
                                  "--run-root", str(tmp_path)])["run_dir"]
    saved = load_run(run)
    assert saved.env_parameters == envs.parameters("pendulum") and saved.env_parameters["gravity"] == 10.0
    assert saved.env_parameters_at_start is None
    # As if the run had started under an older default: the resume names it and keeps the old record.
    with open(os.path.join(run, "config.json")) as f:
        record = json.load(f)
    record["env_parameters"]["gravity"] = 9.0
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump(record, f)
    capsys.readouterr()
    experiment("ppo").main(["--resume", run, "--total-steps", "256"])
    assert "env parameter gravity: 9.0 -> 10.0" in " ".join(capsys.readouterr().out.split())
    resumed = load_run(run)
    assert resumed.env_parameters["gravity"] == 10.0 and resumed.env_parameters_at_start["gravity"] == 9.0
    experiment("ppo").main(["--resume", run, "--total-steps", "384"])  # nothing changed since: no warning
    assert "env parameter" not in capsys.readouterr().out
    assert load_run(run).env_parameters_at_start["gravity"] == 9.0
    # brax envs: their constructor's defaults, the backend given, and values JSON holds strictly.
    hopper = envs.parameters("brax/hopper", backend="mjx")
    assert hopper["backend"] == "mjx" and hopper["healthy_z_range"] == [0.7, "inf"]
    json.dumps(hopper, allow_nan=False)
    with pytest.raises(ValueError, match="does not take \\['foo'\\]"):
        envs.parameters("pendulum", foo=1)


def test_env_kwargs_that_config_json_cannot_hold_are_refused_before_a_run_folder(tmp_path):
    import envs
    from rljax import agents
    from rljax.runner import RunOptions, run

    for kwargs, message in [({"backend": "spring"}, "run\\(..., backend=...\\)"),
                            ({"max_torque": object()}, "must be JSON-able")]:
        with pytest.raises(ValueError, match=message):
            run(agents.ppo, envs.make("pendulum"), agents.ppo.Config(), RunOptions(run_root=str(tmp_path)),
                env_name="pendulum", env_kwargs=kwargs)
    with pytest.raises(ValueError, match="env_parameters=.*must be JSON-able"):
        run(agents.ppo, envs.make("pendulum"), agents.ppo.Config(), RunOptions(run_root=str(tmp_path)),
            env_name="pendulum", env_parameters={"gravity": object()})
    assert not os.listdir(tmp_path)
