"""The exercise toolkit: ✓ for the reference, ✗ with a specific hint, graceful for stubs."""
import pytest
import torch

from metalearn_lite.exercises import Case, MultipleChoice, check


def reference(x):
    return x.mean(0)


CASES = [Case((torch.ones(3, 2),), "three identical rows"), Case((torch.arange(6.0).reshape(3, 2),), "a 3×2 ramp", "average over rows, not columns")]


def test_reference_passes():
    result = check("mean", reference, reference, CASES)
    assert result and result.attempted and repr(result).startswith("✓")


def test_wrong_answer_names_the_case_expected_value_and_hint():
    result = check("mean", lambda x: x.mean(1), reference, CASES)
    assert not result and result.attempted
    assert "case 1 (three identical rows)" in result.message and "expected [1.0, 1.0]" in result.message
    wrong_second = check("mean", lambda x: x[0] * 0 + 1, reference, CASES)
    assert "case 2 (a 3×2 ramp)" in wrong_second.message and "Hint: average over rows" in wrong_second.message


def test_stub_is_not_attempted_yet_and_errors_are_reported():
    def stub(x):
        raise NotImplementedError

    result = check("mean", stub, reference, CASES)
    assert not result and not result.attempted and "not attempted yet" in result.message
    crash = check("mean", lambda x: x.foo(), reference, CASES)
    assert crash.attempted and "raised AttributeError" in crash.message
    assert "color:#cf222e" in crash._repr_html_()


def test_shape_mismatch_and_numbers():
    assert not check("shape", lambda x: x.mean(0, keepdim=True), reference, CASES)
    assert check("float", lambda a: a + 1e-9, lambda a: a, [Case((0.5,), "a float")])
    assert not check("float", lambda a: a + 0.1, lambda a: a, [Case((0.5,), "a float")])
    assert check("tuple", lambda a: (a, [a]), lambda a: (a, [a]), [Case((1,), "nested")])


def test_multiple_choice_grades_and_renders_both_ways():
    q = MultipleChoice("How many support examples in a 5-way 2-shot episode?", ["2", "5", "10"], 2, "N × K = 10.")
    assert q.grade(2).startswith("✓") and "N × K" in q.grade(2)
    assert q.grade(0).startswith("✗") and q.grade(None) == "Choose an option first."
    static = q._repr_html_()
    assert "<details>" in static and "N × K = 10." in static
    widget = q.widget()
    radio, button, feedback = widget.children[1:]
    radio.value = 1
    button.click()
    assert feedback.value.startswith("✗")
    radio.value = 2
    button.click()
    assert feedback.value.startswith("✓")
    with pytest.raises(ValueError, match="answer must index"):
        MultipleChoice("?", ["a"], 1)
