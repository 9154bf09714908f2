"""metalearn_lite.plots.spread: labels apart, in order, as close as possible to where they were."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metalearn_lite.plots import spread


def test_labels_already_apart_stay_where_they_are():
    np.testing.assert_array_equal(spread([3.0, 0.0, 1.5], gap=1.0), [3.0, 0.0, 1.5])


def test_a_cluster_is_pushed_apart_around_it():
    np.testing.assert_allclose(spread([5.0, 5.0, 5.0], gap=1.0), [5.0, 6.0, 7.0])
    # against an upper bound the cluster moves down instead
    np.testing.assert_allclose(spread([5.0, 5.0, 5.0], gap=1.0, high=5.0), [3.0, 4.0, 5.0])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=1, max_size=30), st.floats(0.1, 3.0))
def test_spread_keeps_order_gap_and_range(y, gap):
    low, high = 0.0, 100.0
    if (len(y) - 1) * gap > high - low:
        return
    out = spread(y, gap, low, high)
    order = np.argsort(np.asarray(y), kind="stable")
    assert np.all(np.diff(out[order]) >= gap - 1e-9)  # at least `gap` apart, in the same order
    assert out.min() >= low - 1e-9 and out.max() <= high + 1e-9
    moved = np.abs(out - np.asarray(y)).max()
    assert moved <= (len(y) - 1) * gap + 1e-9  # no label moves further than the whole stack


def test_impossible_spread_says_why():
    with pytest.raises(ValueError, match="do not fit between 0 and 1"):
        spread([0.2, 0.4, 0.6], gap=1.0, low=0, high=1)
    with pytest.raises(ValueError, match="finite"):
        spread([0.0, float("nan")], gap=1.0)
