"""Multi-host runs: two processes x 2 fake CPU devices joined by jax.distributed (CPU collectives) train
PPO through ``experiments/ppo.py`` and agree with one process on 4 devices; only process 0 writes."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from rljax import checkpoint, distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PPO = [os.path.join(ROOT, "experiments", "ppo.py"), "--env", "cartpole", "--seeds", "2", "--num-envs", "8",
       "--unroll-length", "16", "--num-minibatches", "2", "--num-epochs", "2", "--policy-hidden-sizes", "16",
       "--value-hidden-sizes", "16", "--chunks", "2", "--eval-episodes", "1", "--mesh", "2x2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _env(devices: int) -> dict[str, str]:
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID):
        env.pop(name, None)
    return env


def _start(args: list[str], devices: int, log: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *PPO, *args], env=_env(devices), stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, cwd=ROOT)


def _two_processes(args: list[str], tmp_path, tag: str) -> list[subprocess.Popen]:
    port = _free_port()
    return [_start([*args, "--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)],
                   2, str(tmp_path / f"{tag}{i}.log")) for i in range(2)]


def _wait(procs: list[subprocess.Popen], tmp_path, tags: list[str], timeout: float = 600) -> None:
    for proc, tag in zip(procs, tags):
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            code = "timeout"
        if code != 0:
            logs = "\n".join(f"--- {t}\n{(tmp_path / f'{t}.log').read_text()[-3000:]}" for t in tags)
            pytest.fail(f"{tag} exited with {code}:\n{logs}")


def _rows(run_root) -> list[dict[str, float]]:
    folders = list((run_root / "ppo").iterdir())
    assert len(folders) == 1, f"expected one run folder, got {folders}"
    with open(folders[0] / "metrics.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _assert_same_curves(rows: list[dict[str, float]], reference: list[dict[str, float]], rtol: float = 1e-4,
                        atol: float = 1e-5) -> None:
    assert [r["update"] for r in rows] == [r["update"] for r in reference]
    for column in ("env_steps", "episode_return/seed0", "episode_return/seed1", "policy_loss", "value_loss"):
        got = np.array([r[column] for r in rows])
        want = np.array([r[column] for r in reference])
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=column)


def test_two_processes_train_like_one(tmp_path):
    # 6 updates: one process's all-reduce and gloo's across processes add in another order, and
    # cartpole's episode ends amplify that float noise after some ten updates.
    updates = ["--total-steps", str(6 * 16 * 8)]
    one = _start([*updates, "--run-root", str(tmp_path / "one")], 4, str(tmp_path / "one.log"))
    two = _two_processes([*updates, "--run-root", str(tmp_path / "two")], tmp_path, "two")
    _wait([one, *two], tmp_path, ["one", "two0", "two1"])

    _assert_same_curves(_rows(tmp_path / "two"), _rows(tmp_path / "one"))
    folder = next((tmp_path / "two" / "ppo").iterdir())
    config = json.loads((folder / "config.json").read_text())
    assert "coordinator" not in config["options"]  # how it was launched is not part of the run
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["step_000000000003", "step_000000000006"]
    summary = json.loads((folder / "summary.json").read_text())
    assert len(summary["eval_return_per_seed"]) == 2
    first, second = (tmp_path / "two0.log").read_text(), (tmp_path / "two1.log").read_text()
    assert "over 2 processes" in first and "update     6/6" in first
    assert "update" not in second and "final deterministic" not in second  # process 1 is silent


@pytest.mark.slow
def test_signal_to_one_host_stops_both_and_resume_equals_the_run_that_never_stopped(tmp_path):
    whole = ["--total-steps", str(2**16), "--chunks", "32"]  # 512 updates in chunks of 16
    straight = _two_processes([*whole, "--run-root", str(tmp_path / "straight")], tmp_path, "straight")
    stopped = _two_processes([*whole, "--run-root", str(tmp_path / "two")], tmp_path, "stopped")
    deadline = time.time() + 600
    while time.time() < deadline and stopped[1].poll() is None:
        if any((p / checkpoint.MANIFEST).exists() for p in tmp_path.glob("two/*/*/checkpoints/step_*")):
            break
        time.sleep(0.05)
    stopped[1].send_signal(signal.SIGTERM)  # process 1 only: process 0 must learn of it and stop too
    codes = [p.wait(timeout=600) for p in stopped]
    assert codes == [128 + signal.SIGTERM] * 2, (tmp_path / "stopped0.log").read_text()[-2000:]
    assert "stopped by a signal to another process" in (tmp_path / "stopped0.log").read_text()
    _wait(straight, tmp_path, ["straight0", "straight1"])
    folder = next((tmp_path / "two" / "ppo").iterdir())
    stopped_at = checkpoint.step_of(checkpoint.latest(str(folder / "checkpoints")))
    assert stopped_at < 512

    resumed = _two_processes([*whole, "--resume", str(folder)], tmp_path, "resumed")
    _wait(resumed, tmp_path, ["resumed0", "resumed1"])
    assert f"resumed from {folder / 'checkpoints'}" in (tmp_path / "resumed0.log").read_text()
    rows, reference = _rows(tmp_path / "two"), _rows(tmp_path / "straight")
    assert len(rows) == 512
    _assert_same_curves(rows, reference, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"coordinator": "localhost"}, "HOST:PORT"),
    ({"coordinator": "localhost:1234"}, "needs num-processes and process-id"),
    ({"coordinator": "localhost:1234", "num_processes": 2, "process_id": 2}, "process-id=2"),
    ({"coordinator": "localhost:1234", "num_processes": 0, "process_id": 0}, "num-processes=0"),
    ({"num_processes": 2, "process_id": 1}, "need a coordinator"),
    ({"coordinator": "localhost:1234", "num_processes": "two", "process_id": 0}, "expected an integer"),
])
def test_bad_launch_options_are_named(kwargs, message, monkeypatch):
    for name in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=message):
        distributed.initialize(**kwargs)


def test_single_process_is_a_no_op(monkeypatch):
    for name in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID):
        monkeypatch.delenv(name, raising=False)
    assert distributed.initialize() is False
    assert distributed.is_primary()
    assert distributed.any_process(True) and not distributed.any_process(False)
    assert distributed.broadcast_text("runs/x") == "runs/x"
    tree = {"a": np.arange(3.0)}
    np.testing.assert_array_equal(distributed.to_host(tree)["a"], tree["a"])
