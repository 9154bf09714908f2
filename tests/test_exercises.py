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
