"""A command line that explains itself: every flag of the experiment scripts has its own one-line
description in ``--help``; no MuJoCo Warp notice on import; scripts write into the repository only
when asked (``--docs-copy``)."""

import dataclasses
import importlib.util
import io
import os
import re
import subprocess
import sys
import typing

import pytest
import tyro
from tyro import _docstrings

from rljax import _warp_notice
from scripts import experiment, load_script

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))

# (script, arguments before --help): every command line of the experiment scripts built from a Config.
COMMANDS = [
    ("ppo", []), ("sac", []), ("dsac_t", []), ("dacer", []), ("fpo", []), ("fpo", ["compare"]),
    ("apg", []), ("apg", ["--env", "contact/push"]), ("shac", []), ("shac", ["--env", "contact/push"]),
    ("dppo", []), ("dsrl", []),
]




def _help(name, prefix, monkeypatch, capsys):
    """The script's ``--help`` text (one column, unwrapped by the test) and the dataclass tyro parsed."""
    parsed = []
    real_cli = tyro.cli

    def recording_cli(cls, *args, **kwargs):
        parsed.append(cls)
        return real_cli(cls, *args, **kwargs)

    monkeypatch.setattr(tyro, "cli", recording_cli)
    monkeypatch.setenv("COLUMNS", "100")  # one column of panels, so each description reads in one piece
    module = experiment(name)
    argv = [*prefix, "--help"]
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(argv) if hasattr(module, "parse_args") else module.main(argv)
    assert exit_info.value.code == 0
    assert len(parsed) == 1
    return capsys.readouterr().out, parsed[0]


def _flat(annotation) -> bool:
    """A field tyro shows without a prefix (``tyro.conf.arg(name="")``: the Config and run options)."""
    return typing.get_origin(annotation) is typing.Annotated and any(
        getattr(marker, "name", None) == "" for marker in typing.get_args(annotation)[1:])


def _description(cls, field, annotation):
    """What tyro shows for a field: ``tyro.conf.arg(help=...)``, else its docstring (or comment)."""
    if typing.get_origin(annotation) is typing.Annotated:
        for marker in typing.get_args(annotation)[1:]:
            if getattr(marker, "help", None):
                return marker.help
    return _docstrings.get_field_docstring(cls, field.name, ())


def _options(cls, prefix=""):
    """``(dotted name, description, is a group)`` of every field tyro turns into a flag or a group."""
    hints = typing.get_type_hints(cls, include_extras=True)
    for field in dataclasses.fields(cls):
        annotation = hints[field.name]
        inner = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
        if dataclasses.is_dataclass(inner):
            if _flat(annotation):
                yield from _options(inner, prefix)
            else:
                yield prefix + field.name, _description(cls, field, annotation), True
                yield from _options(inner, f"{prefix}{field.name}.")
        else:
            yield prefix + field.name, _description(cls, field, annotation), False


def _words(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("name,prefix", COMMANDS, ids=[" ".join([n, *p]) for n, p in COMMANDS])
def test_every_flag_has_its_own_one_line_description(name, prefix, monkeypatch, capsys):
    text, cls = _help(name, prefix, monkeypatch, capsys)
    shown = _words(text)
    options = list(_options(cls))
    assert len(options) >= 5
    fields_by_description = {}
    for dotted, description, is_group in options:
        assert description and description.strip(), f"{name} {prefix}: --{dotted} has no description"
        assert "\n" not in description, f"{name} {prefix}: --{dotted}'s description is not one line"
        fields_by_description.setdefault(description, set()).add(dotted.rsplit(".", 1)[-1])
        if not is_group:
            flag = "--" + dotted.replace("_", "-")
            assert re.search(re.escape(flag) + r"[\s,]", text), f"{name} {prefix}: {flag} not in --help"
        assert _words(description) in shown, f"{name} {prefix}: --{dotted}'s description not in --help"
    shared = {d: sorted(f) for d, f in fields_by_description.items() if len(f) > 1}
    assert not shared, f"{name} {prefix}: different fields share a description: {shared}"


@pytest.mark.parametrize("path", [
    "experiments/kappa_sweep.py", "experiments/multimodal.py", "experiments/sysid.py", "experiments/trajopt.py",
    "benchmarks/contact_vs_mjx.py", "benchmarks/policy_heads.py", "benchmarks/ppo_throughput.py",
    "benchmarks/ppo_vs_rejax.py", "benchmarks/sac_throughput.py", "benchmarks/scaling.py"])
def test_other_scripts_describe_every_flag(path, monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))  # the benchmarks import their harness
    module = load_script(path)
    options = list(_options(module.Args))
    for dotted, description, _ in options:
        assert description and "\n" not in description, f"{path}: --{dotted}: {description!r}"
    descriptions = [description for _, description, _ in options]
    assert len(set(descriptions)) == len(descriptions), f"{path}: fields share a description"


def test_every_config_field_is_described():
    """Every Config and settings group, reachable from a script or not (bc, dsrl's base, ...)."""
    import pkgutil

    import rljax
    from rljax.config import ConfigBase

    for module in pkgutil.walk_packages(rljax.__path__, "rljax."):
        importlib.import_module(module.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    configs = set(subclasses(ConfigBase))
    assert len(configs) >= 15
    for cls in configs:
        descriptions = {}
        for field in dataclasses.fields(cls):
            description = _docstrings.get_field_docstring(cls, field.name, ())
            where = f"{cls.__module__}.{cls.__qualname__}.{field.name}"
            assert description and "\n" not in description, f"{where}: {description!r}"
            descriptions.setdefault(description, []).append(field.name)
        shared = {d: f for d, f in descriptions.items() if len(f) > 1}
        assert not shared, f"{cls.__module__}.{cls.__qualname__}: fields share a description: {shared}"


# Simulates an install without the optional warp-lang package (the playground extra brings it).
_WITHOUT_WARP = """
import importlib.abc, sys
class NoWarp(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "warp" or name.startswith("warp."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoWarp())
"""


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", _WITHOUT_WARP + code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_no_warp_notice_on_import():
    # The notice MuJoCo MJX prints when warp is missing, as every command printed it before:
    assert "Failed to import warp: No module named 'warp'" in _python("import mujoco.mjx")
    out = _python("import envs, rljax, mujoco.mjx.warp as w; assert not w.WARP_INSTALLED; print('imported')")
    assert "Failed to import" not in out and "imported" in out


def test_warp_notice_filter_drops_that_notice_only():
    out = io.StringIO()
    quiet = _warp_notice.DropWarpNotice(out)
    print("Failed to import warp:", ModuleNotFoundError("No module named 'warp'"), file=quiet)
    print("Failed to import mujoco_warp: No module named 'warp'", file=quiet)
    print("Failed to import warp: CUDA driver version is insufficient", file=quiet)  # an installed warp failing
    print("Failed to import mujoco_warp: No module named 'numba'", file=quiet)
    quiet.write("other output\nunfinished")
    quiet.flush()
    assert out.getvalue() == ("Failed to import warp: CUDA driver version is insufficient\n"
                              "Failed to import mujoco_warp: No module named 'numba'\nother output\nunfinished")


def test_apg_writes_into_docs_only_when_asked(tmp_path):
    apg = experiment("apg")
    docs = os.path.join(ROOT, "docs") + os.sep
    default = apg.figure_paths(str(tmp_path), tyro.cli(apg.Args, args=[]).docs_copy)
    assert default == [os.path.join(str(tmp_path), "apg_vs_ppo.png")]
    assert not any(os.path.abspath(p).startswith(docs) for p in default)
    asked = apg.figure_paths(str(tmp_path), tyro.cli(apg.Args, args=["--docs-copy"]).docs_copy)
    assert asked == [default[0], os.path.join(ROOT, "docs", "apg_vs_ppo.png")]
