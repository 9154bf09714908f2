r"""nbval with declared numeric tolerances: the chapters' trained results, compared the right way.

nbval compares a notebook's stored outputs with fresh ones *exactly*. That is right for
deterministic outputs (shapes, closed forms, finite-difference checks) and wrong for results of
training or sampling: another CPU (another instruction set, another BLAS code path) rounds
differently, and after a few hundred optimiser steps an accuracy of 68.5% becomes 68.6%.

A cell whose measured numbers may legitimately move declares by how much, in its metadata (not
in its source, so readers never see it)::

    {"tolerance": {"abs": 3.0}}             # each measured number may move by up to 3.0
    {"tolerance": {"abs": 0.5, "rel": 0.1}} # ... by up to max(0.5, 10% of the stored value)
    {"tolerance": {"abs": 2, "also": "\\d+ of 25"}}  # ... and so may the integers this pattern matches

Only *measured* numbers move; everything else in the cell's output is compared exactly:

* A number written with a decimal point or an exponent (``68.5``, ``-0.``, ``1e-3``) is measured:
  that is how the chapters print results.
* So is an integer on either side of ``±`` between two numbers (``39% ± 4%``; in ``mean ± 95% CI``
  the 95 is not, since ``mean`` is no number).
* Every other integer is a count, a setting or part of a name and must match exactly:
  ``5-way 1-shot``, ``3 inner steps``, ``(200 episodes)``, ``95% CI``, ``chance 20%``, ``12,345``
  (thousands separators make one integer), and digits inside a name (``ConvNet4``, ``small1``).
* A cell declares the integers that do vary (steps reached in a time budget, a count of queries
  classified correctly, an integer percentage of a result) with ``"also"``: a regular expression
  searched in each line of the output; a number that lies wholly inside one of its matches is
  measured. The pattern cannot match the empty string (``".*"`` is refused): name what varies.

For such a cell, a fresh text output (a stream, ``text/plain`` or ``text/html``) matches its
stored counterpart when both have the same number of lines (no blank line more or less, no two
lines merged) and, line by line, the same text between numbers (runs of white space count as
one space and the ends of a line are stripped, so ``" 9.9%"`` and ``"10.0%"`` line up), the
same numbers in the same places, each measured or exact in both, exact ones written identically
and measured ones within the tolerance. Then nbval's own comparison runs as usual, so a
difference beyond the tolerance — a learner that scores 10 points lower, a loss that no longer
falls, a sentence or a setting that changed — is reported by nbval exactly as before. Cells
without the key are compared exactly, as nbval always does. A malformed ``tolerance`` (unknown
key, negative or non-finite bound, a pattern that does not compile...) fails that cell's test
with a message naming the notebook and the cell; the cell still runs, so the rest of the
notebook is tested as usual.

Loaded for every pytest run in the repository by the root ``conftest.py``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest

# A name (letters first; the digits inside it belong to it: ConvNet4, small1, v1.2) or a number as
# Python formats one: optional sign (ASCII or U+2212), digits (maybe with thousands separators),
# decimals, exponent.
TOKEN = re.compile(
    r"(?P<name>[^\W\d]\w*(?:\.\d+)*)"
    r"|(?P<number>[-+\u2212]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
)
PLUS_MINUS = re.compile(r"\s*%?\s*±\s*")  # what stands between the two numbers of "68.5% ± 3.7%"
TEXT_MIMETYPES = ("text/plain", "text/html")
KEYS = ("abs", "rel", "also")


@dataclass(frozen=True)
class Tolerance:
    """How far each measured number of a cell's output may move: ``|new - old| <= max(abs, rel * |old|)``.

    ``also`` (a regular expression, or ``None``) marks further numbers as measured: those inside
    one of its matches in a line.
    """

    abs: float = 0.0
    rel: float = 0.0
    also: str | None = None

    def __post_init__(self):
        if self.also is not None:
            object.__setattr__(self, "_pattern", re.compile(self.also))

    @classmethod
    def from_metadata(cls, spec, where: str = "cell") -> Tolerance:
        """The tolerance a cell's ``metadata["tolerance"]`` declares; ValueError naming ``where`` if malformed."""
        usage = ('write e.g. "tolerance": {"abs": 2} or {"abs": 0.5, "rel": 0.1, "also": "<regex>"}')
        if not isinstance(spec, dict) or not (set(spec) & {"abs", "rel"}) or set(spec) - set(KEYS):
            raise ValueError(
                f'{where}: metadata "tolerance" must be a dict with "abs" and/or "rel" (and optionally '
                f'"also"), got {spec!r}; {usage}'
            )
        values = {}
        for key in ("abs", "rel"):
            if key not in spec:
                continue
            value = spec[key]
            try:
                finite = isinstance(value, (int, float)) and math.isfinite(value)
            except OverflowError:  # an int too large for a float
                finite = False
            if isinstance(value, bool) or not finite or value < 0:
                raise ValueError(f'{where}: tolerance "{key}" must be a finite number >= 0, got {value!r}; {usage}')
            values[key] = float(value)
        if "also" in spec:
            pattern = spec["also"]
            if not isinstance(pattern, str) or not pattern:
                raise ValueError(
                    f'{where}: tolerance "also" must be a non-empty regular expression (a string), got {pattern!r}'
                )
            try:
                compiled = re.compile(pattern)
            except (re.error, OverflowError, RecursionError) as error:
                raise ValueError(f'{where}: tolerance "also" is not a valid regular expression ({error}): {pattern!r}') from None
            if compiled.fullmatch(""):
                raise ValueError(
                    f'{where}: tolerance "also" must not match the empty string, got {pattern!r}: it would make '
                    "every number of the cell tolerant; write a pattern that matches only the numbers that vary"
                )
            values["also"] = pattern
        return cls(**values)

    def allows(self, old: float, new: float) -> bool:
        return abs(new - old) <= max(self.abs, self.rel * abs(old)) + 1e-12

    def measured_spans(self, line: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._pattern.finditer(line) if m.end() > m.start()] if self.also else []


@dataclass(frozen=True)
class _Number:
    text: str  # as written
    measured: bool

    @property
    def value(self) -> float:
        return float(self.text.replace(",", "").replace("\u2212", "-"))


def _split_line(line: str, tolerance: Tolerance) -> tuple[list[str], list[_Number]]:
    """One line's text between numbers (white space folded, ends stripped) and its numbers, in order."""
    found = [m for m in TOKEN.finditer(line) if m.lastgroup == "number"]
    spans = tolerance.measured_spans(line)
    pieces, numbers, start = [], [], 0
    for match in found:
        pieces.append(" ".join(line[start:match.start()].split()))
        text = match.group()
        measured = ("." in text or "e" in text.lower()
                    or any(a <= match.start() and match.end() <= b for a, b in spans))
        numbers.append(_Number(text, measured))
        start = match.end()
    pieces.append(" ".join(line[start:].split()))
    for i in range(len(found) - 1):  # "68.5% ± 3.7%", "39% ± 4%": both sides of ± are measured
        if PLUS_MINUS.fullmatch(line[found[i].end():found[i + 1].start()]):
            numbers[i] = _Number(numbers[i].text, True)
            numbers[i + 1] = _Number(numbers[i + 1].text, True)
    return pieces, numbers


def _numbers_match(old: _Number, new: _Number, tolerance: Tolerance) -> bool:
    if old.measured != new.measured:
        return False
    if not old.measured:
        return old.text == new.text
    return tolerance.allows(old.value, new.value)


def within_tolerance(stored: str, fresh: str, tolerance: Tolerance) -> bool:
    """True when ``fresh`` is ``stored``, line for line, up to white space and measured numbers that
    moved within ``tolerance`` (see the module's docstring for which numbers are measured)."""
    stored_lines, fresh_lines = stored.split("\n"), fresh.split("\n")
    if len(stored_lines) != len(fresh_lines):
        return False
    for old_line, new_line in zip(stored_lines, fresh_lines):
        old_text, old_numbers = _split_line(old_line, tolerance)
        new_text, new_numbers = _split_line(new_line, tolerance)
        if old_text != new_text or len(old_numbers) != len(new_numbers):
            return False
        if not all(_numbers_match(old, new, tolerance) for old, new in zip(old_numbers, new_numbers)):
            return False
    return True


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def absorb_tolerated(fresh_outputs: list, stored_outputs: list, tolerance: Tolerance, sanitize=lambda s: s) -> list:
    """``fresh_outputs`` with every text that matches its stored counterpart within ``tolerance``
    replaced by the stored text (copies; the inputs are not modified).

    Outputs are paired in order within each kind (``stream`` by name, rich outputs by MIME type);
    texts are compared after ``sanitize`` (nbval's sanitizer: timings, addresses...). Whatever does
    not match is left as it is, for nbval to report.
    """
    def keyed(outputs):
        slots: dict[tuple, list] = {}
        for index, output in enumerate(outputs):
            if output.get("output_type") == "stream":
                slots.setdefault(("stream", output.get("name")), []).append((index, "text"))
            for mime in TEXT_MIMETYPES:
                if mime in output.get("data", {}):
                    slots.setdefault(("data", mime), []).append((index, mime))
        return slots

    result = [_copy(output) for output in fresh_outputs]
    stored_slots = keyed(stored_outputs)
    for key, fresh_places in keyed(result).items():
        for (i, field), (j, stored_field) in zip(fresh_places, stored_slots.get(key, [])):
            fresh = result[i]["text"] if field == "text" else result[i]["data"][field]
            stored = stored_outputs[j]["text"] if field == "text" else stored_outputs[j]["data"][stored_field]
            if within_tolerance(sanitize(_text(stored)), sanitize(_text(fresh)), tolerance):
                if field == "text":
                    result[i]["text"] = _text(stored)
                else:
                    result[i]["data"][field] = _text(stored)
    return result


def _copy(output):
    copied = type(output)(output)  # nbformat's NotebookNode is a dict subclass
    if "data" in copied:
        copied["data"] = type(copied["data"])(copied["data"])
    return copied


def _tolerant_compare(item, tolerance: Tolerance):
    """A compare_outputs for one nbval cell: absorb tolerated differences, then nbval's comparison."""
    exact_compare = item.compare_outputs  # the bound method of nbval's IPyNbCell

    def compare_outputs(test, ref, skip_compare=None):
        return exact_compare(absorb_tolerated(test, ref, tolerance, item.sanitize), ref, skip_compare)

    return compare_outputs


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items) -> None:
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: no notebook items to adjust
        return
    for item in items:
        if isinstance(item, IPyNbCell) and "tolerance" in item.cell.metadata:
            where = f"{item.fspath.basename} cell {item.cell_num}"
            try:
                tolerance = Tolerance.from_metadata(item.cell.metadata["tolerance"], where)
            except Exception as error:  # noqa: BLE001 - whatever is wrong, this cell's test fails; the run goes on
                item.runtest = _failing_runtest(item, str(error))
                continue
            item.compare_outputs = _tolerant_compare(item, tolerance)  # this item only


def _failing_runtest(item, message: str):
    """A runtest that executes the cell (later cells rely on its state) and then fails with ``message``."""
    run_exactly = item.runtest

    def runtest():
        try:
            run_exactly()
        except Exception:  # noqa: BLE001 - the malformed metadata is what this test reports
            pass
        item.raise_cell_error(f"invalid tolerance metadata: {message}")

    return runtest
