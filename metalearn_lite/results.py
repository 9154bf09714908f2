"""Reading the benchmark scripts' results files, for the chapters' comparison tables.

The Omniglot benchmarks (``benchmarks/*_omniglot.py``) write one JSON report per run into
``benchmarks/results/``: ``config`` (every option), ``training`` (``seconds`` of CPU time — the
budget —, ``steps``, ``episodes``), ``history`` and ``results`` (``"5way_1shot"`` etc.: ``mean``
and ``ci95`` of the accuracy, or ``{"skipped": why}``; ``"lake_20way_1shot"``: ``error``). The
chapters read them with :func:`load_report` and print them with :func:`format_result`, so no
number in the book is typed by hand.

:data:`LAKE_ANCHORS` are the published errors on Lake et al.'s 20 one-shot runs for the same
*minimal* training condition (one small background set), from Lake, Salakhutdinov & Tenenbaum
(2015), *Science* 350:1332 (supplementary material).
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

#: error on the 20 runs after training on ``images_background_small1`` / ``small2`` (Lake et al. 2015)
LAKE_ANCHORS = {
    "small1": {"deep ConvNet": 0.240, "BPL": 0.043},
    "small2": {"deep ConvNet": 0.223, "BPL": 0.040},
}
#: people's error on the 20 runs (Lake et al. 2015)
LAKE_PEOPLE_ERROR = 0.045
#: the episode settings of the shared protocol, in the order the tables show them
SETTINGS = ("5way_1shot", "5way_5shot", "20way_1shot")

#: Printed under every table of benchmark runs: what a budget in CPU minutes does and does not fix.
BUDGET_NOTE = ("Budgets are CPU minutes of one thread, so a faster or slower CPU does more or fewer steps in the "
               "same budget: the steps column says where each of these runs ended.")


def load_report(path: str | Path) -> dict[str, Any] | None:
    """The JSON report at ``path``, or None if there is none (not run yet, or not on this machine).

    A file that exists but is not a benchmark report raises ``ValueError`` naming it.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); rerun the benchmark that writes it") from None
    if not isinstance(report, dict):
        raise ValueError(f"{path} is not a benchmark report: it holds a JSON {type(report).__name__}, not an object "
                         f"with 'config', 'training' and 'results'; rerun the benchmark that writes it")
    missing = {"config", "training", "results"} - set(report)
    if missing:
        raise ValueError(f"{path} is not a benchmark report: it lacks {sorted(missing)}")
    return report


def format_result(result: dict[str, Any] | None, digits: int = 1) -> str:
    """``'95.2% ± 0.5%'`` for an accuracy, ``'12.8%'`` for a Lake error, ``'—'`` for a setting
    that was skipped (the model cannot run it) or is absent."""
    if result is None or "skipped" in result:
        return "—"
    keys = ("error",) if "error" in result else ("mean", "ci95")
    for key in keys:
        value = result.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ValueError(f"a result needs a number under {key!r}, got {value!r} in {result!r}: the results file is "
                             f"not one the benchmarks write (or the run diverged); rerun the benchmark")
    if "error" in result:
        return f"{result['error']:.{digits}%}"
    return f"{result['mean']:.{digits}%} ± {result['ci95']:.{digits}%}"


class Table:
    """A table of strings: HTML in a notebook or the book, where it wraps to the page column,
    and aligned plain text everywhere else (``print(table)``, ``str``, the ``text/plain`` output).

    ``rows`` is a list of rows, each as long as ``header``; cells are converted with ``str``.
    A column whose cells all look like numbers (start with a digit, a sign, ``—`` or are empty)
    is right-aligned and never wrapped. ``notes`` are lines printed under the table.
    """

    def __init__(self, header, rows, notes=()):
        self.header = [str(h) for h in header]
        self.rows = [[str(c) for c in row] for row in rows]
        self.notes = [str(n) for n in notes]
        for i, row in enumerate(self.rows):
            if len(row) != len(self.header):
                raise ValueError(f"row {i} has {len(row)} cells but the header has {len(self.header)}: "
                                 f"{row!r}; give one cell per column (an empty string for none)")
        self.numeric = [all(not r[j] or r[j][0].isdigit() or r[j][0] in "+-−—" for r in self.rows)
                        for j in range(len(self.header))]

    def __str__(self) -> str:
        widths = [max([len(h)] + [len(r[j]) for r in self.rows]) for j, h in enumerate(self.header)]
        def line(cells):
            return "  ".join(c.rjust(w) if num else c.ljust(w)
                             for c, w, num in zip(cells, widths, self.numeric)).rstrip()
        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        return "\n".join([line(self.header), rule] + [line(r) for r in self.rows] + self.notes)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        def cells(row, tag):
            align = ("text-align:left", "text-align:right; white-space:nowrap")  # numbers never wrap
            return "".join(f'<{tag} style="{align[num]}">{html.escape(c)}</{tag}>'
                           for c, num in zip(row, self.numeric))
        body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in self.rows)
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (f'<table class="ml-table"><thead><tr>{cells(self.header, "th")}</tr></thead>'
                f"<tbody>{body}</tbody></table>{notes}")


__all__ = ["LAKE_ANCHORS", "LAKE_PEOPLE_ERROR", "SETTINGS", "Table", "format_result", "load_report"]
