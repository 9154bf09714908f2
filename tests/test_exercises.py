"""The exercise toolkit: ✓ for the reference, ✗ with a specific hint, graceful for stubs."""
import re

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


def mcq_rows(q):
    """(label text, feedback text) per option, in display order, from the question's HTML."""
    page = q._repr_html_()
    labels = re.findall(r'<label for="[^"]+">(.*?)</label><div class="ml-fb (ml-right|ml-wrong)">(.*?)</div>', page)
    return [(re.sub("<[^>]+>", "", label), kind, re.sub("<[^>]+>", "", fb)) for label, kind, fb in labels]


def test_multiple_choice_grades_and_renders_one_html_output():
    q = MultipleChoice("How many support examples in a 5-way 2-shot episode?", ["2", "5", "10"], 2, "N × K = 10.")
    assert q.grade(2).startswith("✓") and "N × K" in q.grade(2)
    assert q.grade(0).startswith("✗") and q.grade(None) == "Choose an option first."
    page = q._repr_html_()
    assert "<details>" in page and "N × K = 10." in page and "<script" not in page
    rows = mcq_rows(q)
    assert [label.split(". ", 1)[1] for label, *_ in rows] == [q.options[i] for i in q.order]
    assert [kind for _, kind, _ in rows].count("ml-right") == 1
    (right,) = [(label, fb) for label, kind, fb in rows if kind == "ml-right"]
    assert right[0].endswith(". 10") and right[1] == "✓ Correct. N × K = 10."
    assert sorted(q.order) == [0, 1, 2]
    assert MultipleChoice(q.question, q.options, q.answer).order == q.order  # same order on every run
    # the feedback of a clicked option is shown by CSS alone, scoped to this question
    qid = re.search(r'id="(mcq-[0-9a-f]+)"', page).group(1)
    assert f"#{qid} .ml-choice:checked+label+.ml-fb{{display:block}}" in page
    bundle = q._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    for bad in (1, -1, True, 1.0):
        with pytest.raises(ValueError, match="answer must index"):
            MultipleChoice("?", ["a"], bad)


def test_multiple_choice_order_varies_between_questions():
    positions = [MultipleChoice(f"question {i}", list("abcd"), 0).order.index(0) for i in range(40)]
    assert len(set(positions)) == 4  # the right answer is not always in one place
