"""Shared test settings: float32 everywhere unless a test scopes float64 itself."""

import os

# Tests run on CPU, including on machines that have an accelerator.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
