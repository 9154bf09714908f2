"""The nbval tolerance plugin: within tolerance passes, a real regression still fails."""
from __future__ import annotations

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.nbval_tolerance import Tolerance, absorb_tolerated, within_tolerance


@pytest.mark.parametrize("stored, fresh, tolerance, ok", [
    ("accuracy 68.5% ± 3.7% (40 episodes)", "accuracy 68.6% ± 3.6% (40 episodes)", Tolerance(abs=0.5), True),
    ("accuracy 68.5%", "accuracy 58.5%", Tolerance(abs=3), False),           # a real regression
    ("loss 1.93 -> 0.34", "loss 1.93 -> 1.90", Tolerance(abs=0.3), False),  # the loss no longer falls
    ("accuracy  9.9%", "accuracy 10.0%", Tolerance(abs=0.5), True),          # padding of fixed-width formats
    ("accuracy 68.5%", "error 68.5%", Tolerance(abs=100), False),           # the words changed
    ("runs: 60% 65%", "runs: 60% 65% 70%", Tolerance(abs=100), False),      # a number more
    ("MSE 2.00", "MSE 2.15", Tolerance(rel=0.1), True),
    ("MSE 2.00", "MSE 2.25", Tolerance(rel=0.1), False),
    ("delta −0.5", "delta -0.4", Tolerance(abs=0.2), True),                 # U+2212 minus
    ("same 1e-3", "same 1.2e-3", Tolerance(abs=1e-3), True),
    ("5-way 1-shot", "5-way 1-shot", Tolerance(), True),
    ("5-way 1-shot", "5-way 2-shot", Tolerance(), False),
    # only measured numbers move: counts, settings and names are exact, however wide the tolerance
    ("5-way 1-shot, 3 inner steps: accuracy 70.5% ± 2.2% (200 episodes)",
     "5-way 5-shot, 9 inner steps: accuracy 70.5% ± 2.2% (205 episodes)", Tolerance(abs=6), False),
    ("5-way 1-shot, 3 inner steps: accuracy 70.5% ± 2.2% (200 episodes)",
     "5-way 1-shot, 3 inner steps: accuracy 74.1% ± 1.9% (200 episodes)", Tolerance(abs=6), True),
    ("ConvNet4: 81.0%", "ConvNet6: 81.0%", Tolerance(abs=6), False),                # digits in a name
    ("small1 and v1.2", "small2 and v1.3", Tolerance(abs=6), False),
    ("12,345 steps", "15,345 steps", Tolerance(abs=6), False),                     # one integer, exact
    ("12,345 steps", "12,345 steps", Tolerance(abs=6), True),
    ("accuracy 71% (95% CI, chance 20%)", "accuracy 71% (99% CI, chance 24%)", Tolerance(abs=6), False),
    ("accuracy 71%", "accuracy 73%", Tolerance(abs=6), False),   # an integer percentage: declare it with "also"
    ("accuracy 71%", "accuracy 73%", Tolerance(abs=6, also=r"accuracy \d+%"), True),
    ("(mean ± 95% CI)", "(mean ± 99% CI)", Tolerance(abs=6), False),               # "mean" is no number
    ("39% ±  4%", "41% ±  3%", Tolerance(abs=3), True),                             # both sides of ±
    ("39% ±  4%", "45% ±  3%", Tolerance(abs=3), False),
    ("correctly: 22 of 25", "correctly: 21 of 25", Tolerance(abs=2, also=r"correctly: \d+"), True),
    ("correctly: 22 of 25", "correctly: 22 of 26", Tolerance(abs=2, also=r"correctly: \d+"), False),
    ("correctly: 22 of 25", "correctly: 18 of 25", Tolerance(abs=2, also=r"correctly: \d+"), False),
    ("accuracy 68.5%", "accuracy 68%", Tolerance(abs=6), False),                    # measured in one, exact in the other
    ("loss 0.51", "loss nan", Tolerance(abs=100), False),
    ("1.0e-3 and 2", "1.0e-3 and 2.0", Tolerance(abs=6), False),
    # lines correspond one to one
    ("a 1.0\nb 2.0\n", "a 1.0\n\nb 2.0\n", Tolerance(abs=6), False),               # a blank line more
    ("a 1.0\n\nb 2.0\n", "a 1.0\nb 2.0\n", Tolerance(abs=6), False),               # ... or less
    ("a 1.0\nb 2.0\n", "a 1.0 b 2.0\n", Tolerance(abs=6), False),                   # two lines merged
    ("a 1.0\nb 2.0\n", "a 1.0\nb 2.0", Tolerance(abs=6), False),                    # the last newline
    ("  k = 0: 19.1%\n  k = 1: 67.0%\n", "  k = 0: 19.4%\n  k = 1: 66.1%\n", Tolerance(abs=1), True),
    ("return  -12.9 before", "return -112.9 before", Tolerance(abs=101), True),      # padding of :6.1f
])
def test_within_tolerance(stored, fresh, tolerance, ok):
    assert within_tolerance(stored, fresh, tolerance) is ok


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=8), st.floats(0, 10))
def test_numbers_moved_by_at_most_abs_pass_and_beyond_fail(numbers, shift):
    tolerance = Tolerance(abs=1.0)
    stored = " and ".join(f"x={n:.3f}" for n in numbers)
    moved = " and ".join(f"x={n + shift:.3f}" for n in numbers)
    ok = within_tolerance(stored, moved, tolerance)
    if shift < 1.0 - 1e-3:  # printed with 3 decimals: within 1e-3 of the limit, rounding decides
        assert ok
    elif shift > 1.0 + 1e-3:
        assert not ok


@pytest.mark.parametrize("spec", [{}, {"abs": -1}, {"abs": "3"}, {"atol": 1}, {"abs": float("nan")}, 3, {"rel": True},
                                  {"also": r"\d+ of"}, {"abs": 1, "also": ""}, {"abs": 1, "also": 3}, None,
                                  {"abs": 1, "also": "("}, {"abs": 1, "also": ".*"}, {"abs": 1, "also": r"\d*"},
                                  {"abs": float("inf")}, {"abs": 1, "ABS": 2}, {"abs": 10**400},
                                  {"abs": 1, "also": "a{99999999999}"}, {"abs": [1]}])
def test_bad_tolerance_metadata_is_a_clear_error(spec):
    with pytest.raises(ValueError, match=r"ch\.ipynb cell 2: .*tolerance"):
        Tolerance.from_metadata(spec, "ch.ipynb cell 2")


def test_a_pattern_that_matches_everything_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match=r"must not match the empty string.*only the numbers that vary"):
        Tolerance.from_metadata({"abs": 1, "also": ".*"}, "ch.ipynb cell 2")


def test_good_metadata():
    assert Tolerance.from_metadata({"abs": 2, "also": r"\d+ of 25"}) == Tolerance(abs=2.0, also=r"\d+ of 25")
    assert Tolerance.from_metadata({"rel": 0.1}) == Tolerance(rel=0.1)


def test_absorb_replaces_only_what_is_within_tolerance_and_leaves_inputs_alone():
    stored = [nbformat.v4.new_output("stream", name="stdout", text="acc 50.0%\n"),
              nbformat.v4.new_output("execute_result", data={"text/plain": "score 1.0", "text/html": "<b>1.0</b>"})]
    fresh = [nbformat.v4.new_output("stream", name="stdout", text="acc 50.4%\n"),
             nbformat.v4.new_output("execute_result", data={"text/plain": "score 9.0", "text/html": "<b>1.2</b>"})]
    out = absorb_tolerated(fresh, stored, Tolerance(abs=0.5))
    assert out[0]["text"] == "acc 50.0%\n"
    assert out[1]["data"] == {"text/plain": "score 9.0", "text/html": "<b>1.0</b>"}
    assert fresh[0]["text"] == "acc 50.4%\n" and fresh[1]["data"]["text/html"] == "<b>1.2</b>"


# -- the plugin inside a real nbval run -----------------------------------------------------------

def _cell(source: str, stored_text: str, tolerance: dict | None = None, html: bool = False):
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    if html:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": stored_text, "text/plain": "<IPython.core.display.HTML object>"})]
    else:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored_text)]
    if tolerance is not None:
        cell.metadata["tolerance"] = tolerance
    return cell


CASES = [  # (cell source, stored output, tolerance, passes)
    ('print("accuracy 68.6% (40 episodes)")', "accuracy 68.5% (40 episodes)\n", {"abs": 0.5}, True),
    ('print("accuracy 58.6% (40 episodes)")', "accuracy 68.5% (40 episodes)\n", {"abs": 3}, False),
    ('print("error 68.6%")', "accuracy 68.6%\n", {"abs": 3}, False),
    ('print("accuracy 68.6%")', "accuracy 68.5%\n", None, False),           # no tolerance: exact, as nbval
    ('print("MSE 0.74")', "MSE 0.70\n", {"rel": 0.1}, True),
    ('from IPython.display import HTML, display; display(HTML("<b>87.1%</b>"))', "<b>87.3%</b>", {"abs": 1}, True),
    ('print("shape (5, 3)")', "shape (5, 3)\n", {"abs": 1}, True),
    ('print("5-way 5-shot, 9 inner steps: 70.5% (205 episodes)")', "5-way 1-shot, 3 inner steps: 70.5% (200 episodes)\n",
     {"abs": 6}, False),
    ('print("ConvNet6: 70.5%")', "ConvNet4: 70.5%\n", {"abs": 6}, False),
    ('print("15,345 steps")', "12,345 steps\n", {"abs": 6}, False),
    ('print("a 1.0\\n\\nb 2.0")', "a 1.0\nb 2.0\n", {"abs": 6}, False),
    ('print("a 1.0 b 2.0")', "a 1.0\nb 2.0\n", {"abs": 6}, False),
    ('print("1190 steps in the budget: 68.6%")', "1204 steps in the budget: 68.5%\n",
     {"abs": 20, "also": r"\d+ steps in the budget"}, True),
]


def test_plugin_in_nbval(pytester: pytest.Pytester):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [_cell(source, stored, tol, html="HTML" in source) for source, stored, tol, _ in CASES]
    nbformat.write(nb, pytester.path / "chapter.ipynb")
    result = pytester.runpytest("--nbval", "--nbval-current-env", "-p", "tests.nbval_tolerance", "chapter.ipynb")
    outcomes = {r.nodeid.split("::")[-1]: r.passed for r in result.reprec.getreports("pytest_runtest_logreport")
                if r.when == "call"}
    assert outcomes == {f"Cell {i}": ok for i, (*_, ok) in enumerate(CASES)}
    assert "accuracy 58.6%" in result.stdout.str()  # nbval's own report shows the regression


@pytest.mark.parametrize("spec, message", [
    ({"abs": -1}, 'bad.ipynb cell 1: tolerance "abs" must be a finite number >= 0, got -1'),
    ({"abs": 1, "also": "("}, 'bad.ipynb cell 1: tolerance "also" is not a valid regular expression'),
    ({"abs": 1, "also": ".*"}, 'bad.ipynb cell 1: tolerance "also" must not match the empty string'),
    ("abs 2", 'bad.ipynb cell 1: metadata "tolerance" must be a dict'),
])
def test_bad_metadata_fails_that_cell_not_the_run(pytester: pytest.Pytester, spec, message):
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell('x = 1; print("1")', "1\n"), _cell('print(x + 1)', "2\n", spec), _cell('print(x + 2)', "3\n")]
    nbformat.write(nb, pytester.path / "bad.ipynb")
    result = pytester.runpytest("--nbval", "--nbval-current-env", "-p", "tests.nbval_tolerance", "bad.ipynb")
    out = result.stdout.str()
    assert "INTERNALERROR" not in out
    result.assert_outcomes(passed=2, failed=1)
    assert "invalid tolerance metadata: " + message in out
