"""The repository's scripts (``experiments/``, ``benchmarks/``) as modules, for tests that drive them."""

import importlib.util
import os
import sys
from types import ModuleType

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))


def load_script(path: str) -> ModuleType:
    """The script at ``path`` (relative to the repository root, e.g. ``"experiments/ppo.py"``), imported."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"{name}_script", os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module's namespace
    spec.loader.exec_module(module)
    return module


def experiment(name: str) -> ModuleType:
    """``experiments/<name>.py``, imported."""
    return load_script(f"experiments/{name}.py")
