"""A small toolkit for the book's exercises: checkers with hints, and multiple-choice questions.

* :func:`check` runs a reader's function on hidden cases and compares it with a reference
  solution. It answers ✓, or ✗ with the case that failed, what was expected and a hint; a stub
  that still raises ``NotImplementedError`` is "not attempted yet", not an error.
* :class:`MultipleChoice` is a question with radio buttons in a live kernel (ipywidgets) and a
  static version in the built book, where the answer sits in a collapsed block.

The chapter-specific exercises live beside this file (``chapter01.py``, …); each one is a
checker plus its reference solution, and the tests check that every checker accepts its
solution and rejects a typical wrong answer.
"""
from __future__ import annotations

import html
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
    """A multiple-choice question: radio buttons in a live kernel, a static list in the book.

    ``answer`` is the index of the right option; ``explanation`` is shown once answered (and in
    the collapsed answer block of the static version). :meth:`grade` checks an answer in code.
    """

    def __init__(self, question: str, options: Sequence[str], answer: int, explanation: str = "") -> None:
        if not 0 <= answer < len(options):
            raise ValueError(f"answer must index one of the {len(options)} options, got {answer}")
        self.question, self.options, self.answer, self.explanation = question, list(options), answer, explanation

    def grade(self, choice: int | None) -> str:
        if choice is None:
            return "Choose an option first."
        if choice == self.answer:
            return f"✓ Correct. {self.explanation}".strip()
        return f"✗ Not quite: “{self.options[choice]}” is not it. Think again, or open the answer below."

    def widget(self):
        """The live version: ipywidgets RadioButtons, a Check button and the feedback line."""
        import ipywidgets as widgets

        choices = widgets.RadioButtons(options=[(o, i) for i, o in enumerate(self.options)], value=None,
                                       layout=widgets.Layout(width="auto"))
        button = widgets.Button(description="Check", button_style="primary")
        feedback = widgets.HTML()

        def on_click(_):
            feedback.value = html.escape(self.grade(choices.value))

        button.on_click(on_click)
        return widgets.VBox([widgets.HTML(f"<b>{html.escape(self.question)}</b>"), choices, button, feedback])

    def _repr_html_(self) -> str:
        """The static version (used by the built book when no kernel is running)."""
        items = "".join(f"<li>{html.escape(o)}</li>" for o in self.options)
        answer = html.escape(f"{chr(65 + self.answer)}. {self.options[self.answer]} — {self.explanation}")
        return (
            f'<div class="ml-mcq"><p><b>{html.escape(self.question)}</b></p><ol type="A">{items}</ol>'
            f"<details><summary>Show the answer</summary><p>{answer}</p></details></div>"
        )

    def _ipython_display_(self) -> None:
        """One output holding both versions: a live frontend renders the widget, and the built
        book or any frontend without a kernel renders the static HTML."""
        from IPython.display import display

        bundle = {"text/html": self._repr_html_(), "text/plain": f"{self.question} (multiple choice)"}
        try:
            bundle.update(self.widget()._repr_mimebundle_())
            bundle["text/plain"] = f"{self.question} (multiple choice)"
        except ImportError:  # no ipywidgets: the static version is all there is
            pass
        display(bundle, raw=True)


__all__ = ["Case", "CheckResult", "MultipleChoice", "check"]
