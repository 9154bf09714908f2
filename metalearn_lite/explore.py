"""Interactive figures that work with and without a kernel.

:func:`explore` draws a figure for every combination of a few control values when the notebook
runs, and shows them in one HTML output with buttons that switch between them: plain HTML and
CSS (radio buttons and the ``:checked`` selector, no script), so it works in the built book
with no kernel, in JupyterLab and in Colab. Given ``live`` ipywidgets controls, the same output
also carries a live widget that redraws for any value; a live frontend shows the widget, and
the built book (which prefers the HTML, see ``nb_mime_priority_overrides`` in ``_config.yml``)
shows the precomputed states.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
from contextlib import contextmanager
from typing import Any, Callable

MAX_STATES = 36  # every state is a PNG in the notebook: keep pages light


@contextmanager
def _captured_figures():
    """Collect the figures a drawing function makes instead of showing them."""
    import matplotlib.pyplot as plt

    shown, show = [], plt.show

    def capture(*args, **kwargs):
        shown.append(plt.gcf())

    plt.show = capture
    try:
        yield shown
    finally:
        plt.show = show


def render_png(draw: Callable[..., Any], dpi: float | None = None, **kwargs) -> bytes:
    """PNG bytes of the figure that ``draw(**kwargs)`` draws (and would have shown)."""
    import matplotlib.pyplot as plt

    with _captured_figures() as shown:
        draw(**kwargs)
    figure = shown[-1] if shown else plt.gcf()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi or plt.rcParams["figure.dpi"], bbox_inches="tight")
    for fig in {id(f): f for f in [*shown, figure]}.values():
        plt.close(fig)
    return buffer.getvalue()


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class Explorer:
    """A figure over a grid of control values, precomputed; see :func:`explore`."""

    def __init__(self, draw: Callable[..., Any], controls: dict[str, list], fixed: dict | None = None,
                 live: dict | None = None, title: str = "", dpi: float | None = None,
                 initial: dict | None = None) -> None:
        if not controls or any(len(values) == 0 for values in controls.values()):
            raise ValueError("explore needs at least one control, each with at least one value")
        self.names = list(controls)
        self.values = [list(values) for values in controls.values()]
        states = 1
        for values in self.values:
            states *= len(values)
        if states > MAX_STATES:
            raise ValueError(f"{states} combinations of control values: at most {MAX_STATES} (each is an image in "
                             "the notebook); give fewer values, or fix some in `fixed`")
        self.draw, self.fixed, self.live, self.title = draw, dict(fixed or {}), live, title
        initial = dict(initial or {})
        unknown = set(initial) - set(self.names)
        if unknown or any(initial[n] not in v for n, v in zip(self.names, self.values) if n in initial):
            raise ValueError(f"initial must give each control one of its own values, got {initial}")
        self.initial = [v.index(initial[n]) if n in initial else 0 for n, v in zip(self.names, self.values)]
        self.images = {
            combo: render_png(draw, dpi=dpi, **self.fixed, **dict(zip(self.names, (v[i] for v, i in zip(self.values, combo)))))
            for combo in itertools.product(*(range(len(v)) for v in self.values))
        }

    def _repr_html_(self) -> str:
        digest = hashlib.sha256(("|".join(self.names) + repr(self.values) + self.title).encode()).hexdigest()[:10]
        eid = f"explore-{digest}"
        parts, rules = [], []
        for c, (name, values) in enumerate(zip(self.names, self.values)):
            parts.append(f'<span class="ml-control">{html.escape(name)}</span>')
            for i, value in enumerate(values):
                checked = " checked" if i == self.initial[c] else ""
                parts.append(f'<input type="radio" class="ml-choice" name="{eid}-{c}" id="{eid}-{c}-{i}"{checked}>'
                             f'<label for="{eid}-{c}-{i}">{html.escape(_label(value))}</label>')
            parts.append('<br class="ml-break">')
        images = []
        for combo, png in self.images.items():
            key = "-".join(map(str, combo))
            alt = ", ".join(f"{n} = {_label(v[i])}" for n, v, i in zip(self.names, self.values, combo))
            images.append(f'<img class="ml-state ml-s-{key}" alt="{html.escape(alt)}" '
                          f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')
            chain = " ~ ".join(f"#{eid}-{c}-{i}:checked" for c, i in enumerate(combo))
            rules.append(f"#{eid} {chain} ~ .ml-states .ml-s-{key}{{display:block}}")
        css = (f"#{eid}{{margin:.5em 0 1em}}#{eid} .ml-state{{display:none;max-width:100%;height:auto}}"
               f"#{eid} .ml-choice{{position:absolute;opacity:0;width:1px;height:1px}}"
               f"#{eid} .ml-control{{display:inline-block;min-width:5em;font-weight:600}}"
               f"#{eid} label{{display:inline-block;margin:.15em;padding:.1em .55em;border:1px solid #8c959f;"
               f"border-radius:4px;cursor:pointer}}"
               f"#{eid} .ml-choice:checked+label{{background:#0969da;color:#fff;border-color:#0969da}}"
               f"#{eid} .ml-choice:focus-visible+label{{outline:2px solid #0969da}}" + "".join(rules))
        title = f'<p class="ml-explore-title">{html.escape(self.title)}</p>' if self.title else ""
        return (f'<div class="ml-explore" id="{eid}"><style>{css}</style>{title}{"".join(parts)}'
                f'<div class="ml-states">{"".join(images)}</div></div>')

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        states = " × ".join(f"{len(v)} {n}" for n, v in zip(self.names, self.values))
        bundle = {"text/html": self._repr_html_(), "text/plain": f"<Explorer: {states} precomputed states>"}
        if self.live:
            try:
                import ipywidgets as widgets
            except ImportError:  # no ipywidgets: the precomputed states are all there is
                return bundle
            controls = list(self.live.values())
            rows = [widgets.HBox(controls[i:i + 2]) for i in range(0, len(controls), 2)]
            output = widgets.interactive_output(lambda **kw: self.draw(**{**self.fixed, **kw}), self.live)
            bundle.update(widgets.VBox([*rows, output])._repr_mimebundle_())
            bundle["text/plain"] = f"<Explorer: {states} precomputed states, live controls>"
        return bundle


def explore(draw: Callable[..., Any], controls: dict[str, list], fixed: dict | None = None,
            live: dict | None = None, title: str = "", dpi: float | None = None,
            initial: dict | None = None) -> Explorer:
    """An interactive figure: ``draw(**fixed, **state)`` for every combination of ``controls``.

    ``controls`` maps a keyword of ``draw`` to the few values the buttons offer (their product is
    drawn now, at most 36 figures); ``fixed`` holds keywords that stay put. ``live``, optional,
    maps keywords to ipywidgets controls for a live version in a kernel (any value, redrawn on
    change). ``draw`` draws one matplotlib figure and calls ``plt.show()``, as the chapters'
    ``show_*`` functions do. ``initial`` picks the value each control shows first (default: its
    first). Display the result (last expression of a cell).
    """
    return Explorer(draw, controls, fixed=fixed, live=live, title=title, dpi=dpi, initial=initial)
