"""The library's shared argument checks (metalearn_lite.utils): NumPy scalars are accepted
wherever Python numbers are, bools, NaN, strings and out-of-range values are refused by name."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalearn_lite.utils import check_int, check_number, check_seed


@given(st.integers(-10, 10), st.integers(-3, 3), st.sampled_from([int, np.int64, np.int32, np.uint8]))
def test_check_int_accepts_python_and_numpy_integers_at_or_above_the_minimum(value, minimum, kind):
    if kind is np.uint8 and value < 0:
        return
    if value >= minimum:
        out = check_int("n", kind(value), minimum)
        assert out == value and type(out) is int
    else:
        with pytest.raises(ValueError, match=r"^n must be (a positive integer|an integer >= -?\d+), got"):
            check_int("n", kind(value), minimum)


@pytest.mark.parametrize("bad", [True, 2.0, "3", None, np.float64(2.0), [2]])
def test_check_int_refuses_what_is_not_an_integer(bad):
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        check_int("steps", bad)


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([float, np.float32, np.float64]))
def test_check_number_default_is_positive_and_finite(value, kind):
    with np.errstate(over="ignore"):
        v = kind(value)
    if math.isfinite(float(v)) and float(v) > 0:
        out = check_number("lr", v)
        assert out == float(v) and type(out) is float
    else:
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            check_number("lr", v)


def test_check_number_closed_interval_and_message():
    assert check_number("gamma", 0, 0, 1, low_open=False, high_open=False) == 0.0
    assert check_number("gamma", np.float32(1), 0, 1, low_open=False, high_open=False) == 1.0
    for bad in (-0.1, 1.5, math.nan, True, "0.5"):
        with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 1\], got"):
            check_number("gamma", bad, 0, 1, low_open=False, high_open=False)


def test_check_seed():
    assert check_seed("seed", None) is None
    assert check_seed("seed", np.int64(7)) == 7 and type(check_seed("seed", np.int64(7))) is int
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match="seed must be an integer >= 0 or None"):
            check_seed("seed", bad)
