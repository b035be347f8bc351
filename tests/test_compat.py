"""rljax.compat: jax version parsing and the brax-trainer guard of the anchor benchmarks."""

import jax
import pytest

from rljax import compat


@pytest.mark.parametrize("text, expected", [
    ("0.9.2", (0, 9, 2)), ("0.12.0.1", (0, 12, 0, 1)), ("0.10.0.dev20260101", (0, 10, 0)),
    ("0.9.2+cuda13", (0, 9, 2)), ("0.11.0rc1", (0, 11, 0)),
])
def test_jax_version_parses_releases_and_suffixes(text, expected):
    assert compat.jax_version(text) == expected


def test_jax_version_defaults_to_the_installed_jax():
    assert compat.jax_version() == compat.jax_version(jax.__version__)
    assert compat.jax_version() >= (0, 9, 2)


def test_brax_trainer_guard_exits_2_on_jax_0_10_and_newer(monkeypatch, capsys):
    assert compat.brax_trainers_supported("0.9.2") and not compat.brax_trainers_supported("0.10.0")
    monkeypatch.setattr(jax, "__version__", "0.12.0.1")
    with pytest.raises(SystemExit) as exit_info:
        compat.require_brax_trainers("benchmarks/ppo_throughput.py")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "jax 0.12.0.1" in err and "device_put_replicated" in err and "requirements-anchors.txt" in err
    monkeypatch.setattr(jax, "__version__", "0.9.2")
    compat.require_brax_trainers("benchmarks/ppo_throughput.py")  # returns


def test_bitwise_batch_invariance_is_claimed_only_for_cpu_before_jax_0_10(monkeypatch):
    monkeypatch.setattr(jax, "__version__", "0.12.0.1")
    assert not compat.runs_bitwise_independent_of_batch()
    monkeypatch.setattr(jax, "__version__", "0.9.2")
    assert compat.runs_bitwise_independent_of_batch() == (jax.default_backend() == "cpu")
