"""A small toolkit for the book's exercises: checkers with hints, and multiple-choice questions.

* :func:`check` runs a reader's function on hidden cases and compares it with a reference
  solution. It answers ✓, or ✗ with the case that failed, what was expected and a hint; a stub
  that still raises ``NotImplementedError`` is "not attempted yet", not an error.
* :class:`MultipleChoice` is a question whose options answer when clicked, in plain HTML and
  CSS: the same in the built book (no kernel), JupyterLab and Colab.

The chapter-specific exercises live beside this file (``chapter01.py``, …); each one is a
checker plus its reference solution, and the tests check that every checker accepts its
solution and rejects a typical wrong answer.
"""
from __future__ import annotations

import hashlib
import html
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch


@dataclass
class Case:
    """One hidden test case: the arguments, and what to tell the reader when it fails."""

    args: tuple
    description: str
    hint: str = ""


@dataclass
class CheckResult:
    """The outcome of :func:`check`; shows as ✓ or ✗ in a notebook, and is truthy when passed."""

    name: str
    passed: bool
    attempted: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "✓" if self.passed else ("…" if not self.attempted else "✗")
        return f"{mark} {self.name}: {self.message}"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else ("#6e7781" if not self.attempted else "#cf222e")
        return f'<p style="color:{colour}; font-weight:600">{html.escape(repr(self))}</p>'


def _same(got: Any, expected: Any, atol: float) -> bool:
    if isinstance(expected, torch.Tensor):
        got = torch.as_tensor(got)
        if got.shape != expected.shape:
            return False
        if expected.dtype.is_floating_point or got.dtype.is_floating_point:
            return bool(torch.allclose(got.double(), expected.double(), atol=atol, rtol=0, equal_nan=True))
        return bool(torch.equal(got, expected))
    if isinstance(expected, float):
        return isinstance(got, (int, float)) and abs(got - expected) <= atol
    if isinstance(expected, (tuple, list)):
        return isinstance(got, (tuple, list)) and len(got) == len(expected) and all(_same(g, e, atol) for g, e in zip(got, expected))
    return got == expected


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        text = f"tensor of shape {tuple(value.shape)}" if value.numel() > 12 else f"{value.tolist()}"
        return text
    return repr(value)


def check(
    name: str,
    func: Callable,
    reference: Callable,
    cases: Sequence[Case],
    atol: float = 1e-6,
    compare: Callable[[Any, Any], bool] | None = None,
    slips: Sequence[tuple[Callable, str]] = (),
) -> CheckResult:
    """Run ``func`` and ``reference`` on every case; ✓ if all agree, else ✗ naming the first failure.

    ``slips`` are typical wrong answers, ``(wrong function, explanation)``: when the reader's
    result on the failing case is what a wrong function computes, the message gives its
    explanation instead of the case's hint.
    """
    same = compare or (lambda got, expected: _same(got, expected, atol))
    for number, case in enumerate(cases, 1):
        expected = reference(*case.args)
        try:
            got = func(*case.args)
        except NotImplementedError:
            return CheckResult(name, False, False, "not attempted yet — replace the `raise NotImplementedError` with your code")
        except Exception as error:  # the reader's code failed: say where, not a traceback wall
            return CheckResult(name, False, True, f"case {number} ({case.description}) raised {type(error).__name__}: {error}")
        if not same(got, expected):
            for wrong, explanation in slips:
                try:
                    if same(got, wrong(*case.args)):
                        return CheckResult(name, False, True, f"case {number} ({case.description}): {explanation}")
                except Exception:  # a slip that does not apply to this case
                    continue
            hint = f" Hint: {case.hint}" if case.hint else ""
            return CheckResult(
                name, False, True,
                f"case {number} ({case.description}): expected {_show(expected)}, got {_show(got)}.{hint}",
            )
    return CheckResult(name, True, True, f"all {len(cases)} hidden cases pass")


class MultipleChoice:
    """A multiple-choice question that works wherever the reader is, from one HTML output.

    Clicking an option shows at once whether it is right, with the explanation: plain HTML and
    CSS (radio buttons and the ``:checked`` selector, no script and no kernel), so the same output
    works in the built book, in JupyterLab and in Colab. A collapsed "Show the answer" block
    follows (the student edition of the book removes it, and the explanations with it).

    ``answer`` is the index of the right option in ``options`` as written. The options are shown
    in a shuffled order fixed by the question's text (the same on every run and machine), so the
    right answer has no favourite position. :meth:`grade` checks an answer in code, by index into
    ``options`` as written.
    """

    def __init__(self, question: str, options: Sequence[str], answer: int, explanation: str = "") -> None:
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(options):
            raise ValueError(f"answer must index one of the {len(options)} options, got {answer!r}")
        self.question, self.options, self.answer, self.explanation = question, list(options), answer, explanation
        digest = hashlib.sha256(question.encode("utf-8")).digest()
        self.order = list(range(len(self.options)))  # display position -> index into options
        random.Random(digest).shuffle(self.order)

    def grade(self, choice: int | None) -> str:
        if choice is None:
            return "Choose an option first."
        if choice == self.answer:
            return f"✓ Correct. {self.explanation}".strip()
        return f"✗ Not quite: “{self.options[choice]}” is not it. Think again, or open the answer below."

    def _repr_html_(self) -> str:
        qid = "mcq-" + hashlib.sha256(self.question.encode("utf-8")).hexdigest()[:10]
        rows = []
        for position, index in enumerate(self.order):
            letter, option = chr(65 + position), html.escape(self.options[index])
            if index == self.answer:
                feedback = (f'<div class="ml-fb ml-right">✓ Correct.'
                            f' <span class="ml-explanation">{html.escape(self.explanation)}</span></div>')
            else:
                feedback = f'<div class="ml-fb ml-wrong">✗ Not quite: “{option}” is not it. Think again.</div>'
            rows.append(f'<input type="radio" name="{qid}" id="{qid}-{position}" class="ml-choice">'
                        f'<label for="{qid}-{position}"><b>{letter}.</b> {option}</label>{feedback}')
        right = self.order.index(self.answer)
        answer = html.escape(f"{chr(65 + right)}. {self.options[self.answer]} — {self.explanation}")
        return (
            f'<div class="ml-mcq" id="{qid}"><style>{_MCQ_CSS.replace("#Q", "#" + qid)}</style>'
            f'<p class="ml-question"><b>{html.escape(self.question)}</b></p>{"".join(rows)}'
            f"<details><summary>Show the answer</summary><p>{answer}</p></details></div>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/html": self._repr_html_(), "text/plain": f"{self.question} (multiple choice)"}


# Scoped to one question (#Q is replaced by its id). Each option is a block of its own, so long
# options wrap inside their box and never over the next one.
_MCQ_CSS = (
    "#Q{margin:.5em 0 1em}"
    "#Q .ml-choice{position:absolute;opacity:0;width:1px;height:1px}"
    "#Q label{display:block;margin:.3em 0;padding:.35em .6em;border:1px solid #8c959f;border-radius:6px;"
    "cursor:pointer;line-height:1.4}"
    "#Q label:hover{border-color:#0969da}"
    "#Q .ml-choice:focus-visible+label{outline:2px solid #0969da}"
    "#Q .ml-choice:checked+label{border-color:#0969da;border-width:2px}"
    "#Q .ml-fb{display:none;margin:0 0 .5em .6em;font-weight:600}"
    "#Q .ml-fb .ml-explanation{font-weight:400}"
    "#Q .ml-right{color:#1a7f37}#Q .ml-wrong{color:#cf222e}"
    "#Q .ml-choice:checked+label+.ml-fb{display:block}"
)


__all__ = ["Case", "CheckResult", "MultipleChoice", "check"]
