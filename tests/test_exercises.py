"""The exercise toolkit: ✓ for the reference, ✗ with a specific hint, graceful for stubs."""
import re
import threading
import time

import numpy as np
import pytest
import torch

from metalearn_lite import exercises
from metalearn_lite.exercises import Case, MultipleChoice, Rejected, check


def reference(x):
    return x.mean(0)


CASES = [Case((torch.ones(3, 2),), "three identical rows"), Case((torch.arange(6.0).reshape(3, 2),), "a 3×2 ramp", "average over rows, not columns")]


def test_reference_passes():
    result = check("mean", reference, reference, CASES)
    assert result and result.attempted and repr(result).startswith("✓")


def test_wrong_answer_names_the_case_expected_value_and_hint():
    result = check("mean", lambda x: x.mean(1), reference, CASES)
    assert not result and result.attempted
    assert result.message == ("case 1 (three identical rows): expected a tensor of shape (2,) and dtype torch.float32 "
                              "([1.0, 1.0]), got one of shape (3,) ([1.0, 1.0, 1.0]).")
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


@pytest.mark.parametrize("answer, kind", [
    (None, "got None (nothing was returned: is the `return` missing?)"),
    ("abc", "got a str ('abc')"),
    ({"mean": 1}, "got a dict ({'mean': 1})"),
    ((None, "x"), "got a tuple ((None, 'x')): return a torch tensor (torch.tensor(...), torch.stack(...), torch.from_numpy(...))"),
])
def test_an_answer_of_the_wrong_kind_gets_a_cross_naming_what_was_expected(answer, kind):
    result = check("mean", lambda x: answer, reference, CASES)
    assert not result and result.attempted
    assert result.message == f"case 1 (three identical rows): expected a tensor of shape (2,) and dtype torch.float32, {kind}."
    pair = check("pair", lambda x: (x.mean(0), answer), lambda x: (x.mean(0), x.sum(0)), CASES)
    assert pair.message == ("case 1 (three identical rows): value 2 of the tuple: expected a tensor of shape (2,) and "
                            f"dtype torch.float32, {kind}.")


def test_a_tensor_or_a_bool_where_an_int_is_expected_is_named():
    count = [Case((2, 3), "2 × 3")]
    tensor = check("count", lambda a, b: torch.tensor(a * b), lambda a, b: a * b, count)
    assert tensor.message == "case 1 (2 × 3): expected an int, got a tensor of shape () (6): convert it with .item()."
    assert "expected an int, got a bool (True)" in check("count", lambda a, b: True, lambda a, b: 1, count).message
    assert "expected an int, got a float (6.0)" in check("count", lambda a, b: 6.0, lambda a, b: a * b, count).message
    assert check("count", lambda a, b: np.int64(a * b), lambda a, b: a * b, count)
    number = check("mean", lambda a, b: torch.tensor(a / b), lambda a, b: a / b, count)
    assert "expected a number (a Python float), got a tensor of shape ()" in number.message


def test_right_values_as_float32_pass_and_wrong_ones_do_not():
    cases = [Case((torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 100,), "float64")]
    assert check("mean", lambda x: x.mean(0).float(), reference, cases, atol=1e-8)  # right to float32's precision
    off = check("mean", lambda x: x.mean(0).float() + 1e-2, reference, cases, atol=1e-8)
    assert not off and "expected" in off.message


@pytest.mark.parametrize("answer, message", [
    (lambda x: x.mean(0).tolist(), r"expected a tensor of shape \(3,\) and dtype torch.float64, got a list: return a torch tensor"),
    (lambda x: x.mean(0).numpy(), r"expected a tensor of shape \(3,\) and dtype torch.float64, got a ndarray: return a torch tensor"),
    (lambda x: x.mean(0, keepdim=True), r"expected a tensor of shape \(3,\).*got one of shape \(1, 3\)"),
    (lambda x: x.mean(0).round(), r"expected \[52\.7357.*\], got \[53\.0, -28\.0, -103\.0\]"),  # compared, not rounded
    (lambda x: x.mean(0).long(), r"got integer values of dtype torch.int64"),
    (lambda x: x.mean(0) * float("nan"), r"expected finite values, got NaN entries \(3 of 3\)"),
    (lambda x: x.mean(0) / 0, r"expected finite values, got infinite entries"),
])
def test_nothing_is_converted_into_the_right_answer(answer, message):
    cases = [Case((torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 100,), "float64")]
    result = check("mean", answer, reference, cases, atol=1e-8)
    assert not result and result.attempted
    assert re.search(message, result.message), result.message


def test_a_number_where_a_tensor_is_expected_and_the_reverse_are_crosses():
    scalar = [Case((torch.tensor([1.0, 2.0], dtype=torch.float64) / 3,), "a scalar")]
    as_float = check("total", lambda x: x.sum().item(), lambda x: x.sum(), scalar, atol=1e-12)
    assert as_float.message == "case 1 (a scalar): expected a tensor of shape () and dtype torch.float64, got a float (1.0)."
    assert "expected a finite number, got nan" in check("f", lambda a: float("nan"), lambda a: a, [Case((0.5,), "a float")]).message
    truth = [Case((2,), "two")]
    assert "expected a bool (True or False), got a int (1)" in check("even", lambda n: 1, lambda n: n % 2 == 0, truth).message
    assert not check("even", lambda n: torch.tensor(True), lambda n: n % 2 == 0, truth)
    assert check("even", lambda n: np.bool_(True), lambda n: n % 2 == 0, truth)


@pytest.mark.parametrize("answer, message", [
    (lambda x: x.argsort().float() + 0.4, r"dtype torch.int64, got floating-point values of dtype torch.float32 \(\[1.4, 2.4, 0.4\]\)"),
    (lambda x: x.argsort().int(), r"the values are right, but the tensor's dtype is torch.int32: return a torch.int64 tensor"),
    (lambda x: x.argsort() == 1, r"got boolean values of dtype torch.bool"),
])
def test_labels_of_another_dtype_are_crosses(answer, message):
    labels = [Case((torch.tensor([3, 1, 2]),), "three labels")]
    result = check("argsort", answer, lambda x: x.argsort(), labels)
    assert not result and re.search(message, result.message), result.message


def test_right_values_in_the_wrong_dtype_are_told_so():
    def strict(got, expected):
        return isinstance(got, torch.Tensor) and got.dtype == expected.dtype and torch.equal(got, expected)

    labels = [Case((torch.tensor([3, 1, 2]),), "three labels")]
    result = check("argsort", lambda x: x.argsort().float(), lambda x: x.argsort(), labels, compare=strict)
    assert result.message == ("case 1 (three labels): the values are right, but the tensor's dtype is torch.float32: "
                              "return a torch.int64 tensor.")


def test_a_comparison_that_fails_on_an_odd_answer_is_a_cross():
    def fragile(got, expected):
        return bool(torch.equal(torch.as_tensor(got), expected))

    result = check("mean", lambda x: [None], reference, CASES, compare=fragile)
    assert not result and result.attempted and "expected a tensor of shape (2,) and dtype torch.float32, got a list" in result.message


def test_each_call_gets_fresh_copies_of_the_cases():
    shared = [Case((torch.arange(6.0).reshape(3, 2),), "a 3×2 ramp")]

    def edits_in_place(x):
        x.zero_()
        return x.mean(0)

    assert not check("mean", edits_in_place, reference, shared)
    assert torch.equal(shared[0].args[0], torch.arange(6.0).reshape(3, 2))
    # so a later wrong answer is still told apart
    assert not check("mean", lambda x: torch.zeros(2), reference, shared)


def test_a_function_that_never_returns_is_stopped_by_the_time_limit():
    def endless(x):
        while True:
            try:
                time.sleep(0.001)
            except Exception:  # a reader's catch-all does not keep it alive
                pass

    start = time.monotonic()
    result = check("mean", endless, reference, CASES, time_limit=0.3)
    assert time.monotonic() - start < 5
    assert not result and result.attempted and result.case == 1
    assert "did not return within 0.3 s, so it was stopped" in result.message
    assert not any("exercise check" in t.name for t in threading.enumerate())  # its thread ended
    assert exercises.TIME_LIMIT == 10.0  # the default, and a slow answer within it passes
    assert check("mean", lambda x: (time.sleep(0.05), x.mean(0))[1], reference, CASES)


def test_a_checkers_wrapper_can_reject_an_answer_with_its_own_message():
    def wrapped(x):
        raise Rejected("your function returned a set.")

    result = check("mean", wrapped, reference, CASES)
    assert result.message == "case 1 (three identical rows): your function returned a set."
    assert "Hint: average over rows" in check("mean", wrapped, reference, CASES[1:]).message


def test_a_failing_result_keeps_what_the_reader_returned():
    result = check("mean", lambda x: x.mean(1), reference, CASES)
    assert result.case == 1 and result.returned and torch.equal(result.got, torch.ones(3))
    raised = check("mean", lambda x: x.foo(), reference, CASES)
    assert raised.case == 1 and not raised.returned


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
    for bad in (2, -1, True, 1.0):
        with pytest.raises(ValueError, match="answer must index"):
            MultipleChoice("?", ["a", "b"], bad)


def test_multiple_choice_grades_letters_as_shown_and_refuses_what_is_not_an_option():
    q = MultipleChoice("How many support examples in a 5-way 2-shot episode?", ["2", "5", "10"], 2, "N × K = 10.")
    shown = chr(65 + q.order.index(q.answer))
    assert q.grade(shown).startswith("✓") and q.grade(shown.lower()).startswith("✓")
    assert q.grade(np.int64(2)).startswith("✓")
    wrong = chr(65 + q.order.index(0))
    assert q.grade(wrong).startswith("✗") and "“2”" in q.grade(wrong)
    for bad in (True, False, -1, 3, 1.0, "D", "AB", "", [2]):
        answer = q.grade(bad)
        assert answer == (f"{bad!r} is not one of the options: choose a letter A–C as shown, or an index 0–2 into "
                          "the options as written."), bad


def test_multiple_choice_order_varies_between_questions():
    positions = [MultipleChoice(f"question {i}", list("abcd"), 0).order.index(0) for i in range(40)]
    assert len(set(positions)) == 4  # the right answer is not always in one place


def _book_questions() -> dict[str, MultipleChoice]:
    import importlib
    import pkgutil

    import metalearn_lite.exercises as package

    questions = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        questions.update({f"{info.name}.{name}": value for name, value in vars(module).items()
                          if isinstance(value, MultipleChoice)})
    return questions


def test_the_books_questions_have_no_length_or_position_tell():
    """A reader who always picks the longest option, or always the same letter, must not do well."""
    questions = _book_questions()
    assert len(questions) >= 16
    longest, ratios = [], {}
    for name, q in questions.items():
        lengths = [len(option) for option in q.options]
        longest_wrong = max(length for i, length in enumerate(lengths) if i != q.answer)
        ratios[name] = lengths[q.answer] / longest_wrong
        longest.append(lengths[q.answer] > longest_wrong)
    assert sum(longest) <= 0.4 * len(questions), f"the right option is the longest in {sum(longest)} questions"
    assert max(ratios.values()) <= 1.25, {k: round(v, 2) for k, v in ratios.items() if v > 1.25}
    shown_at = [q.order.index(q.answer) for q in questions.values()]
    assert max(shown_at.count(p) for p in set(shown_at)) <= 0.4 * len(questions), shown_at


def test_chapters_with_coding_exercises_say_how_to_run_them_live():
    import json
    from pathlib import Path

    for nb in sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        if any(".check_" in "".join(c["source"]) for c in cells if c["cell_type"] == "code"):
            text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
            assert "live copy of this page" in text and "tasks.py lab" in text, nb.name


def test_check_refuses_no_cases_and_a_bad_atol_and_names_a_result_passed_for_the_function():
    with pytest.raises(ValueError, match=r"no hidden cases: a check with nothing to compare would always pass"):
        check("mean", reference, reference, [])
    with pytest.raises(ValueError, match=r"atol must be a finite number >= 0, got -1"):
        check("mean", reference, reference, CASES, atol=-1)
    result = check("mean", reference(torch.ones(3, 2)), reference, CASES)
    assert not result and result.attempted
    assert result.message.startswith("expected your function itself, got a tensor of shape (2,)")
    assert "pass the function (check_mean(mean)), not what it returns" in result.message


@pytest.mark.parametrize("question, options, message", [
    ("Which?", "abc", r"options must be a list or tuple of strings"),
    ("Which?", ["only one"], r"at least two non-empty strings"),
    ("Which?", ["a", 2], r"at least two non-empty strings"),
    ("Which?", ["a", ""], r"at least two non-empty strings"),
    ("Which?", ["a", "a"], r"must differ from one another"),
    ("", ["a", "b"], r"question must be a non-empty string"),
])
def test_multiple_choice_refuses_malformed_questions(question, options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        MultipleChoice(question, options, 0)


def test_the_same_question_shown_twice_shares_no_id():
    question = MultipleChoice("A question shown twice on one page?", ["yes", "no"], 0)
    first, second = question._repr_html_(), question._repr_html_()
    ids = re.findall(r' id="([^"]+)"', first) + re.findall(r' id="([^"]+)"', second)
    assert len(ids) == len(set(ids)) == 6
    assert re.search(r'id="mcq-[0-9a-f]{10}"', first) and re.search(r'id="mcq-[0-9a-f]{10}-2"', second)
