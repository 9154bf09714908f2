"""nbval with declared numeric tolerances: the chapters' trained results, compared the right way.

nbval compares a notebook's stored outputs with fresh ones *exactly*. That is right for
deterministic outputs (shapes, closed forms, finite-difference checks) and wrong for results of
training or sampling: another CPU (another instruction set, another BLAS code path) rounds
differently, and after a few hundred optimiser steps an accuracy of 68.5% becomes 68.6%.

A cell whose numbers may legitimately move declares by how much, in its metadata (not in its
source, so readers never see it)::

    {"tolerance": {"abs": 3.0}}             # each number may move by up to 3.0
    {"tolerance": {"abs": 0.5, "rel": 0.1}} # ... by up to max(0.5, 10% of the stored value)

For such a cell, a fresh text output (a stream, ``text/plain`` or ``text/html``) matches its
stored counterpart when both split into the same text between numbers (runs of white space
count as one space, so ``" 9.9%"`` and ``"10.0%"`` line up) and every pair of numbers, taken in
order, lies within the tolerance. Then nbval's own comparison runs as usual, so a difference
beyond the tolerance — a learner that scores 10 points lower, a loss that no longer falls, a
sentence that changed — is reported by nbval exactly as before. Cells without the key are
compared exactly, as nbval always does.

Loaded for every pytest run in the repository by the root ``conftest.py``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest

# A number as Python formats one: optional sign (ASCII or U+2212), digits, decimals, exponent.
NUMBER = re.compile(r"[-+\u2212]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
TEXT_MIMETYPES = ("text/plain", "text/html")


@dataclass(frozen=True)
class Tolerance:
    """How far each number of a cell's output may move: ``|new - old| <= max(abs, rel * |old|)``."""

    abs: float = 0.0
    rel: float = 0.0

    @classmethod
    def from_metadata(cls, spec, where: str = "cell") -> Tolerance:
        if not isinstance(spec, dict) or not spec or set(spec) - {"abs", "rel"}:
            raise ValueError(f'{where}: metadata "tolerance" must be a dict with keys "abs" and/or "rel", got {spec!r}')
        values = {}
        for key, value in spec.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f'{where}: tolerance "{key}" must be a finite number >= 0, got {value!r}')
            values[key] = float(value)
        return cls(**values)

    def allows(self, old: float, new: float) -> bool:
        return abs(new - old) <= max(self.abs, self.rel * abs(old)) + 1e-12


def _split(text: str) -> tuple[list[str], list[float]]:
    """The text between numbers (white space folded) and the numbers, in order."""
    pieces, numbers, start = [], [], 0
    for match in NUMBER.finditer(text):
        pieces.append(" ".join(text[start:match.start()].split()))
        numbers.append(float(match.group().replace("\u2212", "-")))
        start = match.end()
    pieces.append(" ".join(text[start:].split()))
    return pieces, numbers


def within_tolerance(stored: str, fresh: str, tolerance: Tolerance) -> bool:
    """True when ``fresh`` is ``stored`` up to white space and numbers that moved within ``tolerance``."""
    stored_text, stored_numbers = _split(stored)
    fresh_text, fresh_numbers = _split(fresh)
    return (stored_text == fresh_text and len(stored_numbers) == len(fresh_numbers)
            and all(tolerance.allows(old, new) for old, new in zip(stored_numbers, fresh_numbers)))


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
            tolerance = Tolerance.from_metadata(item.cell.metadata["tolerance"], where)
            item.compare_outputs = _tolerant_compare(item, tolerance)  # this item only
