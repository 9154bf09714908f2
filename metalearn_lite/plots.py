"""Small plotting helpers the chapters share.

:func:`book_style` sets the figure style every chapter uses: 110 dpi and text of 7.5–8.5 pt,
with figures drawn at most :data:`MAX_WIDTH` inches wide, so that a figure is shown in the
book's page column at the size it was drawn and its smallest text reads as 8 pt or more.
:func:`spread` moves label positions apart so that no two are closer than a gap, keeping their
order and staying as close as it can to where they were; :func:`label_points` uses it to
label the points of a scatter plot in a column beside the axes, with a thin line from each label
to its point, so that labels of nearby points never overlap.
"""
from __future__ import annotations

import numpy as np

#: the widest figure, in inches, that the book's page column (724 px at a 1280 px window) shows
#: unscaled at 110 dpi, with room for labels that stick out of the axes
MAX_WIDTH = 6.4


def book_style() -> None:
    """The chapters' figure style: 110 dpi; 8 pt text, 8.5 pt titles, 7.5 pt legends."""
    import matplotlib

    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "font.size": 8,
                                "axes.titlesize": 8.5, "legend.fontsize": 7.5})


def spread(y, gap: float, low: float = -np.inf, high: float = np.inf) -> np.ndarray:
    """Positions for labels wanted at ``y``: the same order, at least ``gap`` apart, inside
    ``[low, high]`` where there is room (``(len(y) - 1) * gap <= high - low``).

    A forward pass pushes each label up off the one below it, a backward pass pushes labels
    down off the one above (and below ``high``), then a last forward pass keeps them above
    ``low``. Returns an array in the order of ``y``.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or not np.isfinite(y).all():
        raise ValueError(f"spread() needs a 1-D array of finite positions, got {y!r}")
    if gap < 0 or (len(y) > 1 and (len(y) - 1) * gap > high - low):
        raise ValueError(f"{len(y)} labels {gap} apart do not fit between {low} and {high}: "
                         "give a smaller gap or a wider range")
    order = np.argsort(y, kind="stable")
    out = np.clip(y[order], low, high)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + gap)
    out[-1:] = np.minimum(out[-1:], high)
    for i in range(len(out) - 2, -1, -1):
        out[i] = min(out[i], out[i + 1] - gap)
    out[:1] = np.maximum(out[:1], low)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + gap)
    result = np.empty_like(out)
    result[order] = out
    return result


def label_points(ax, x, y, labels, fontsize: float = 7.5, gap: float | None = None, colors=None):
    """Write ``labels`` in a column just right of ``ax``, each at the height of its point
    ``(x, y)`` moved by :func:`spread` so none overlaps, joined to its point by a thin line.

    ``gap`` is in data units of the y axis (default: one line of text at ``fontsize``, from the
    axes' current height and y range). Call it after the axes' limits are final.
    """
    if not len(x) == len(y) == len(labels):
        raise ValueError(f"label_points() needs as many x, y and labels, got {len(x)}, {len(y)}, {len(labels)}")
    low, high = ax.get_ylim()
    if gap is None:
        height_pt = ax.get_window_extent().height * 72 / ax.figure.dpi
        gap = 1.15 * fontsize / height_pt * (high - low)
    at = spread(y, gap, low, high) if len(y) else np.array([])
    for i, (xi, yi, label, ti) in enumerate(zip(x, y, labels, at)):
        ax.annotate(label, (xi, yi), xytext=(1.02, ti), textcoords=("axes fraction", "data"),
                    fontsize=fontsize, va="center", color=None if colors is None else colors[i],
                    arrowprops=dict(arrowstyle="-", lw=0.4, color="0.6", shrinkA=0, shrinkB=2))
    return at


__all__ = ["MAX_WIDTH", "book_style", "label_points", "spread"]
