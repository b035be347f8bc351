"""NaN/Inf detection names the update (and seed) where it happened."""

import numpy as np
import pytest

from rljax.training import check_finite


def test_check_finite_passes_clean_metrics():
    check_finite({"nonfinite": np.zeros((2, 5)), "loss": np.ones((2, 5))})


def test_check_finite_names_seed_and_update():
    flags = np.zeros((3, 6))
    flags[2, 4] = 1.0
    with pytest.raises(FloatingPointError, match="seed 2, update 14"):
        check_finite({"nonfinite": flags, "loss": np.ones((3, 6))}, first_update=10)
