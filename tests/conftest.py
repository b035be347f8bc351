"""Shared test settings: float32 everywhere unless a test scopes float64 itself."""

import atexit
import os
import shutil
import tempfile

# Tests run on CPU, including on machines that have an accelerator.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# One persistent compilation cache for the run, shared with the experiment scripts the tests
# start as subprocesses: many tests compile the same runner programs again (a stopped run and
# its resume, a sweep and its separate runs). Set JAX_COMPILATION_CACHE_DIR to keep one.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache_dir = tempfile.mkdtemp(prefix="rljax-tests-xla-cache-")
    atexit.register(shutil.rmtree, _cache_dir, True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache_dir
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
