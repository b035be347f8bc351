"""benchmarks/scaling.py refuses bad settings with a ValueError before anything compiles or any worker starts."""

import dataclasses
import subprocess

import pytest
from scripts import load_script

scaling = load_script("benchmarks/scaling.py")


def _no_workers(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a worker started before the arguments were checked")

    monkeypatch.setattr(subprocess, "run", refuse)


@pytest.mark.parametrize("changes, match", [
    ({"agents": ("ppo", "dqn")}, "unknown agent 'dqn'"),
    ({"agents": ()}, "at least one"),
    ({"devices": ("1", "0")}, "'0' is not a positive number"),
    ({"devices": ("-2",)}, "'-2' is not a positive number"),
    ({"devices": ("two",)}, "'two' is not a positive number"),
    ({"devices": ("1", "all")}, "'all' cannot be combined"),
    ({"ppo_num_envs": 6}, "--ppo-num-envs=6 does not split evenly over 4 devices"),
    ({"agents": ("sac",), "sac_num_envs": 6}, "--sac-num-envs=6 does not split evenly over 4 devices"),
    ({"agents": ("sac",), "sac_batch_size": 250, "devices": ("1,4",)}, "--sac-batch-size=250 does not split evenly"),
    ({"repeats": 0}, "--repeats=0"),
    ({"runs": 0}, "--runs=0"),
    ({"updates": -1}, "--updates=-1"),
])
def test_bad_settings_raise_before_any_worker(changes, match, monkeypatch):
    _no_workers(monkeypatch)
    with pytest.raises(ValueError, match=match):
        scaling.main(dataclasses.replace(scaling.Args(), **changes))


def test_device_counts():
    assert scaling.device_counts(scaling.Args(devices=("4", "1,2", "2"))) == [1, 2, 4]
    assert scaling.device_counts(scaling.Args(devices=("all",))) is None


def test_configs_split_over_four_devices():
    args = scaling.Args()
    scaling.check_args(args, [1, 2, 4])
    _, _, ppo = scaling.build(args, "ppo")
    _, _, sac = scaling.build(args, "sac")
    assert ppo.num_envs == 64 and ppo.num_updates == scaling.DEFAULT_UPDATES["ppo"] * args.repeats
    assert (sac.num_envs, sac.batch_size) == (8, 256)
    assert sac.num_updates == scaling.DEFAULT_UPDATES["sac"] * args.repeats


def test_every_flag_has_its_own_one_line_description():
    from tyro import _docstrings

    descriptions = [_docstrings.get_field_docstring(scaling.Args, f.name, ()) for f in dataclasses.fields(scaling.Args)]
    assert all(d and "\n" not in d for d in descriptions)
    assert len(set(descriptions)) == len(descriptions)
