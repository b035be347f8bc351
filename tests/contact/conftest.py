"""Contact tests run in float64 inside a scoped ``jax.enable_x64`` context.

The context is entered per test and restored afterwards, so float32 test
modules in the same pytest process are unaffected.
"""

import jax
import pytest


@pytest.fixture(autouse=True)
def x64():
    before = jax.config.jax_enable_x64
    with jax.enable_x64(True):
        yield
    assert jax.config.jax_enable_x64 == before
