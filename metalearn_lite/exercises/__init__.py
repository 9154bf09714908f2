"""A small toolkit for the book's exercises: checkers with hints, and multiple-choice questions.

* :func:`check` runs a reader's function on hidden cases and compares it with a reference
  solution. It answers ✓, or ✗ with the case that failed, what was expected and a hint; a stub
  that still raises ``NotImplementedError`` is "not attempted yet", not an error. Every call gets
  fresh copies of the case's arguments, and a function that has not returned after
  :data:`TIME_LIMIT` seconds is stopped with a ✗.
* :class:`MultipleChoice` is a question whose options answer when clicked, in plain HTML and
  CSS: the same in the built book (no kernel), JupyterLab and Colab.

The chapter-specific exercises live beside this file (``chapter01.py``, …); each one is a
checker plus its reference solution, and the tests check that every checker accepts its
solution and rejects a typical wrong answer.
"""
from __future__ import annotations

import copy
import ctypes
import hashlib
import html
import math
import numbers
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

TIME_LIMIT = 10.0
"""Seconds a reader's function may take on one hidden case before :func:`check` stops it.

Set ``metalearn_lite.exercises.TIME_LIMIT`` higher on a slow machine; ``check(time_limit=...)``
overrides it for one check."""


@dataclass
class Case:
    """One hidden test case: the arguments, and what to tell the reader when it fails."""

    args: tuple
    description: str
    hint: str = ""


class Rejected(Exception):
    """Raised by a checker's wrapper around the reader's function to reject its answer:
    :func:`check` reports ``case N (description): <the message>``, with the case's hint."""


class _Stopped(BaseException):
    """Raised inside a reader's function that ran past the time limit, to end its thread
    (a ``BaseException``, so that an ``except Exception`` in the reader's loop does not catch it)."""


@dataclass
class CheckResult:
    """The outcome of :func:`check`; shows as ✓ or ✗ in a notebook, and is truthy when passed.

    ``case`` is the number of the first failing case (0 if none failed); ``returned`` says whether
    the reader's function returned a value on it, and ``got`` is that value — so that a checker
    can add to the message without running the reader's function again.
    """

    name: str
    passed: bool
    attempted: bool
    message: str
    case: int = field(default=0, repr=False, compare=False)
    returned: bool = field(default=False, repr=False, compare=False)
    got: Any = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "✓" if self.passed else ("…" if not self.attempted else "✗")
        return f"{mark} {self.name}: {self.message}"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else ("#6e7781" if not self.attempted else "#cf222e")
        return f'<p style="color:{colour}; font-weight:600">{html.escape(repr(self))}</p>'


def _dtype_kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "boolean"
    if dtype.is_complex:
        return "complex"
    return "floating-point" if dtype.is_floating_point else "integer"


def _dtype_accepted(got: torch.dtype, expected: torch.dtype) -> bool:
    """Integer and boolean answers need the expected dtype itself; a floating-point one may be of
    another floating-point precision (it is then compared to that precision, see :func:`_tolerance`)."""
    return got == expected or (got.is_floating_point and expected.is_floating_point)


def tensor_problem(got: Any, expected: torch.Tensor) -> str | None:
    """Why ``got`` is not even the right kind of tensor answer for ``expected``, said as "expected
    …, got …": not a tensor (a list, a NumPy array, a number…), another shape, another dtype (float
    labels for int64 ones), NaN or infinite entries where ``expected`` has finite ones. None when
    its form is right (its values may still be wrong). Nothing is converted, reshaped or rounded."""
    want = f"a tensor of shape {tuple(expected.shape)} and dtype {expected.dtype}"
    if not isinstance(got, torch.Tensor):
        fix = ""
        if isinstance(got, (list, tuple)) or type(got).__module__ == "numpy":
            fix = ": return a torch tensor (torch.tensor(...), torch.stack(...), torch.from_numpy(...))"
        return f"expected {want}, got {_kind(got)}{fix}"
    if got.shape != expected.shape:
        return f"expected {want} ({_show(expected)}), got one of shape {tuple(got.shape)} ({_show(got)})"
    if not _dtype_accepted(got.dtype, expected.dtype):
        values = f" ({_values(got)})" if got.numel() <= 6 else ""
        if _dtype_kind(got.dtype) != _dtype_kind(expected.dtype):
            what = f"{_dtype_kind(got.dtype)} values of dtype {got.dtype}{values}"
        else:
            what = f"dtype {got.dtype}{values}"
        return f"expected {want}, got {what}"
    if got.dtype.is_floating_point or got.dtype.is_complex:
        bad = ~torch.isfinite(got.detach()) & torch.isfinite(expected.detach())
        if bool(bad.any()):
            nans = int(torch.isnan(got.detach())[bad].sum())
            kinds = " and ".join(k for k, n in (("NaN", nans), ("infinite", int(bad.sum()) - nans)) if n)
            return f"expected finite values, got {kinds} entries ({int(bad.sum())} of {got.numel()})"
    return None


def _tolerance(got: torch.Tensor, expected: torch.Tensor, atol: float) -> float:
    """``atol``, widened to 16 rounding steps of ``got``'s dtype (times the largest expected
    magnitude, if above 1) when that dtype is less precise than ``expected``'s: float32 values
    of a float64 answer are then accepted when they are right to float32's precision."""
    if not (got.dtype.is_floating_point and expected.dtype.is_floating_point):
        return atol
    eps = torch.finfo(got.dtype).eps
    if eps <= torch.finfo(expected.dtype).eps or expected.numel() == 0:
        return atol
    scale = float(torch.nan_to_num(expected.detach().double(), nan=0.0, posinf=0.0, neginf=0.0).abs().max())
    return max(atol, 16 * eps * max(1.0, scale))


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _same(got: Any, expected: Any, atol: float) -> bool:
    """Whether ``got`` is ``expected``: a tensor of the same shape and dtype (any floating-point
    precision for a floating-point one) with the same values (floats within ``atol``), a number of
    the same kind, a tuple of such values. Nothing is converted into the expected form first."""
    if isinstance(expected, torch.Tensor):
        if tensor_problem(got, expected) is not None:
            return False
        if expected.dtype.is_floating_point:
            tolerance = _tolerance(got, expected, atol)
            return bool(torch.allclose(got.detach().double(), expected.detach().double(), atol=tolerance, rtol=0,
                                       equal_nan=True))
        return bool(torch.equal(got, expected))
    if _is_bool(expected):
        return _is_bool(got) and bool(got) == bool(expected)
    if isinstance(expected, float):
        return (isinstance(got, numbers.Real) and not _is_bool(got) and not isinstance(got, torch.Tensor)
                and abs(got - expected) <= atol)
    if isinstance(expected, int):
        return isinstance(got, numbers.Integral) and not _is_bool(got) and got == expected
    if isinstance(expected, (tuple, list)):
        return isinstance(got, (tuple, list)) and len(got) == len(expected) and all(_same(g, e, atol) for g, e in zip(got, expected))
    return got == expected


def _values(tensor: torch.Tensor) -> list:
    """``tensor.tolist()``, with float32/float16 entries shown to their own precision (0.4, not 0.4000000059604645)."""
    values = tensor.detach().cpu().tolist()
    if tensor.dtype in (torch.float32, torch.float16, torch.bfloat16):
        digits = 7 if tensor.dtype == torch.float32 else 3

        def short(v):
            return [short(x) for x in v] if isinstance(v, list) else float(f"{v:.{digits}g}")
        values = short(values)
    return values


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        text = f"tensor of shape {tuple(value.shape)}" if value.numel() > 12 else f"{_values(value)}"
        return text
    return repr(value)


def _kind(value: Any) -> str:
    """What a value is, for a message: ``None``, ``a tensor of shape (3,)``, ``a str ('abc')``, …"""
    if value is None:
        return "None (nothing was returned: is the `return` missing?)"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}" + (f" ({_values(value)})" if value.numel() <= 4 else "")
    text = repr(value)
    return f"a {type(value).__name__}" + (f" ({text})" if len(text) <= 40 else "")


def _kind_problem(got: Any, expected: Any) -> str | None:
    """Why ``got`` is not even the right kind of answer (a tensor, an int, a number, a tuple of
    them), said as "expected …, got …"; None when it is."""
    if isinstance(expected, torch.Tensor):
        return tensor_problem(got, expected)
    if _is_bool(expected):
        return None if _is_bool(got) else f"expected a bool (True or False), got {_kind(got)}"
    if isinstance(expected, (numbers.Integral, numbers.Real)):
        integral = isinstance(expected, numbers.Integral)
        if (isinstance(got, (numbers.Integral if integral else numbers.Real)) and not _is_bool(got)
                and not isinstance(got, torch.Tensor)):
            if not integral and isinstance(got, float) and not math.isfinite(got) and math.isfinite(expected):
                return f"expected a finite number, got {got!r}"
            return None
        wanted = "an int" if integral else "a number (a Python float)"
        fix = ": convert it with .item()" if isinstance(got, torch.Tensor) and got.numel() == 1 else ""
        return f"expected {wanted}, got {_kind(got)}{fix}"
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {_kind(got)}"
        for number, (g, e) in enumerate(zip(got, expected), 1):
            if problem := _kind_problem(g, e):
                return f"value {number} of the tuple: {problem}"
    return None


def _dtype_problem(got: Any, expected: Any, atol: float) -> str | None:
    """When ``got`` has the right values in the wrong dtype (e.g. float labels where int64 is
    expected), say so; None otherwise. Looks into tuples, value by value."""
    if isinstance(expected, torch.Tensor) and isinstance(got, torch.Tensor):
        if (got.dtype != expected.dtype and got.shape == expected.shape
                and not got.dtype.is_complex and not expected.dtype.is_complex
                and bool(torch.allclose(got.detach().double(), expected.detach().double(),
                                        atol=_tolerance(got, expected, atol), rtol=0))):
            return f"the values are right, but the tensor's dtype is {got.dtype}: return a {expected.dtype} tensor"
    elif isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)) and len(got) == len(expected):
        for number, (g, e) in enumerate(zip(got, expected), 1):
            if problem := _dtype_problem(g, e, atol):
                return f"value {number} of the tuple: {problem}"
    return None


def _call(func: Callable, args: tuple, time_limit: float) -> Any:
    """``func(*args)`` in a thread of its own: its value, or the exception it raised, re-raised.

    Raises :class:`TimeoutError` when it has not returned within ``time_limit`` seconds, after
    asking the thread to stop (an exception raised inside it at its next Python instruction; a
    single long C call, such as a sleep, runs on until it returns). Works the same in Jupyter.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = func(*args)
        except BaseException as error:  # re-raised in the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=target, name=f"exercise check: {getattr(func, '__name__', 'function')}", daemon=True)
    thread.start()
    thread.join(time_limit)
    if thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_Stopped))
        thread.join(1.0)
        still = " It is still running in the background: restart the kernel to stop it." if thread.is_alive() else ""
        raise TimeoutError(
            f"your function did not return within {time_limit:g} s, so it was stopped: is there a loop that never "
            f"ends? (If it only needs longer, set metalearn_lite.exercises.TIME_LIMIT = {4 * time_limit:g}.){still}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def check(
    name: str,
    func: Callable,
    reference: Callable,
    cases: Sequence[Case],
    atol: float = 1e-6,
    compare: Callable[[Any, Any], bool] | None = None,
    slips: Sequence[tuple[Callable, str]] = (),
    time_limit: float | None = None,
) -> CheckResult:
    """Run ``func`` and ``reference`` on every case; ✓ if all agree, else ✗ naming the first failure.

    Each call gets its own deep copy of the case's arguments, so a function that edits its inputs
    in place changes nothing for the reference or the next case. ``func`` runs with a time limit
    (``time_limit`` seconds, by default :data:`TIME_LIMIT`). An answer of the wrong kind (None, a
    string, a dict … where a tensor or an int is expected), or of the right values in the wrong
    dtype, is told so; a comparison that fails with an error counts as a mismatch. ``slips`` are
    typical wrong answers, ``(wrong function, explanation)``: when the reader's result on the
    failing case is what a wrong function computes, the message gives its explanation instead of
    the case's hint.
    """
    if not cases:
        raise ValueError(f"check({name!r}): no hidden cases: a check with nothing to compare would always pass")
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not 0 <= atol < math.inf:
        raise ValueError(f"check({name!r}): atol must be a finite number >= 0, got {atol!r}")
    if not callable(func):
        return CheckResult(name, False, True, f"expected your function itself, got {_kind(func)}: pass the function "
                           f"(check_{name}({name})), not what it returns")
    same = compare or (lambda got, expected: _same(got, expected, atol))
    limit = TIME_LIMIT if time_limit is None else time_limit
    for number, case in enumerate(cases, 1):
        expected = reference(*copy.deepcopy(case.args))
        hint = f" Hint: {case.hint}" if case.hint else ""
        try:
            got = _call(func, copy.deepcopy(case.args), limit)
        except NotImplementedError:
            return CheckResult(name, False, False, "not attempted yet — replace the `raise NotImplementedError` with your code")
        except Rejected as why:  # the checker's wrapper refused the answer, with its own message
            return CheckResult(name, False, True, f"case {number} ({case.description}): {str(why).rstrip('.')}.{hint}", number)
        except TimeoutError as error:
            return CheckResult(name, False, True, f"case {number} ({case.description}): {error}", number)
        except Exception as error:  # the reader's code failed: say where, not a traceback wall
            return CheckResult(name, False, True, f"case {number} ({case.description}) raised {type(error).__name__}: {error}",
                               number)
        if not _agrees(same, got, expected):
            return CheckResult(name, False, True, _failure(number, case, got, expected, atol, same, slips), number, True, got)
    return CheckResult(name, True, True, f"all {len(cases)} hidden cases pass")


def _agrees(same: Callable[[Any, Any], bool], got: Any, expected: Any) -> bool:
    """``same(got, expected)``, False where the comparison itself fails on an odd answer."""
    try:
        return bool(same(got, expected))
    except Exception:
        return False


def _failure(number: int, case: Case, got: Any, expected: Any, atol: float, same: Callable, slips: Sequence) -> str:
    """The ✗ message for a wrong answer: a wrong kind or dtype, else a known slip, else expected vs got."""
    where = f"case {number} ({case.description})"
    hint = f" Hint: {case.hint}" if case.hint else ""
    if problem := _dtype_problem(got, expected, atol):
        return f"{where}: {problem}."
    if problem := _kind_problem(got, expected):
        return f"{where}: {problem}.{hint}"
    for wrong, explanation in slips:
        try:
            if same(got, wrong(*copy.deepcopy(case.args))):
                return f"{where}: {explanation}"
        except Exception:  # a slip that does not apply to this case
            continue
    hint = f" Hint: {case.hint}" if case.hint else ""
    return f"{where}: expected {_show(expected)}, got {_show(got)}.{hint}"


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

    _shown: dict[str, int] = {}  # how often each question's HTML was made in this process (ids stay unique)

    def __init__(self, question: str, options: Sequence[str], answer: int, explanation: str = "") -> None:
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"the question must be a non-empty string, got {question!r}")
        if not isinstance(options, (list, tuple)):
            raise TypeError(f"options must be a list or tuple of strings (one per option), got {type(options).__name__}"
                            f" {options!r}")
        if len(options) < 2 or not all(isinstance(o, str) and o.strip() for o in options):
            raise ValueError(f"options must be at least two non-empty strings, got {list(options)!r}")
        if len(set(options)) != len(options):
            raise ValueError(f"options must differ from one another, got {list(options)!r}")
        if not isinstance(explanation, str):
            raise TypeError(f"explanation must be a string, got {type(explanation).__name__}")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(options):
            raise ValueError(f"answer must index one of the {len(options)} options, got {answer!r}")
        self.question, self.options, self.answer, self.explanation = question, list(options), answer, explanation
        digest = hashlib.sha256(question.encode("utf-8")).digest()
        self.order = list(range(len(self.options)))  # display position -> index into options
        random.Random(digest).shuffle(self.order)

    def grade(self, choice: int | str | None) -> str:
        """✓ or ✗ for ``choice``: an index into ``options`` as written, or a letter as shown (``"B"``).

        Anything else (an index out of range, a negative one, ``True``/``False``, an unknown
        letter) is not graded: the answer says what is accepted.
        """
        if choice is None:
            return "Choose an option first."
        index = self._index(choice)
        if index is None:
            last = chr(64 + len(self.options))
            return (f"{choice!r} is not one of the options: choose a letter A–{last} as shown, or an index "
                    f"0–{len(self.options) - 1} into the options as written.")
        if index == self.answer:
            return f"✓ Correct. {self.explanation}".strip()
        return f"✗ Not quite: “{self.options[index]}” is not it. Think again, or open the answer below."

    def _index(self, choice: Any) -> int | None:
        """The index into ``options`` that ``choice`` (an index or a shown letter) names, or None."""
        if isinstance(choice, str):
            position = ord(choice.strip().upper()) - 65 if len(choice.strip()) == 1 else -1
            return self.order[position] if 0 <= position < len(self.options) else None
        if isinstance(choice, numbers.Integral) and not isinstance(choice, bool) and 0 <= choice < len(self.options):
            return int(choice)
        return None

    def _repr_html_(self) -> str:
        qid = "mcq-" + hashlib.sha256(self.question.encode("utf-8")).hexdigest()[:10]
        shown = MultipleChoice._shown[qid] = MultipleChoice._shown.get(qid, 0) + 1
        if shown > 1:  # the same question shown again on the page: its radio buttons must not be shared
            qid = f"{qid}-{shown}"
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


__all__ = ["TIME_LIMIT", "Case", "CheckResult", "MultipleChoice", "Rejected", "check"]
