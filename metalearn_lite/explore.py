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
import inspect
import io
import itertools
import math
from contextlib import contextmanager
from typing import Any, Callable

MAX_STATES = 36  # every state is a PNG in the notebook: keep pages light
_rendered = itertools.count(1)  # explorers shown so far in this process: part of each one's element ids


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


def _state(kwargs: dict) -> str:
    """``a=1, b='x'`` for a message; long values (a tensor, a dataset) shortened."""
    def short(value):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return ", ".join(f"{k}={short(v)}" for k, v in kwargs.items())


def render_png(draw: Callable[..., Any], dpi: float | None = None, **kwargs) -> bytes:
    """PNG bytes of the figure that ``draw(**kwargs)`` draws (and would have shown).

    ``draw`` must draw one matplotlib figure: shown with ``plt.show()``, or left open. A draw
    function that raises, makes no figure (or an empty one) or shows several is an error naming
    the state; the figures it opened are closed either way.
    """
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        with _captured_figures() as shown:
            try:
                draw(**kwargs)
            except Exception as error:
                raise RuntimeError(f"explore: draw({_state(kwargs)}) raised {type(error).__name__}: {error}") from error
        distinct = list({id(f): f for f in shown}.values())
        if len(distinct) > 1:
            raise ValueError(f"explore: draw({_state(kwargs)}) showed {len(distinct)} figures; each state is one image: "
                             "draw everything on one figure (e.g. with subplots) and call plt.show() once")
        new = sorted(set(plt.get_fignums()) - before)
        figure = distinct[0] if distinct else (plt.figure(new[-1]) if new else None)
        if figure is None or not (figure.get_axes() or figure.artists or figure.images or figure.texts or figure.lines):
            raise ValueError(
                f"explore: draw({_state(kwargs)}) drew nothing: the draw function must draw on a matplotlib figure "
                "(e.g. fig, ax = plt.subplots(); ax.plot(...); plt.show()), not only print or return values")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi or plt.rcParams["figure.dpi"], bbox_inches="tight")
        return buffer.getvalue()
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
        for fig in shown:
            plt.close(fig)


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _check_values(name: Any, values: Any) -> list:
    """One control's values as a list; ValueError/TypeError saying what is wrong with them."""
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"explore: each control is named by a keyword of the draw function (a string), got {name!r}")
    if not isinstance(values, (list, tuple, range)):
        raise TypeError(f"explore: control {name!r} needs a list or tuple of the values its buttons offer, got "
                        f"{type(values).__name__} {values!r}" + (f"; for one value write [{values!r}], or put it in "
                                                                  "`fixed`" if isinstance(values, (str, int, float)) else ""))
    values = list(values)
    if not values:
        raise ValueError(f"explore: control {name!r} needs at least one value, got an empty {type(values).__name__}")
    for value in values:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"explore: control {name!r} has the value {value!r}: give finite numbers")
    labels = [_label(v) for v in values]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"explore: control {name!r} has two buttons labelled {repeated[0]!r} ({values}): "
                         "give each value once, and values that print differently")
    return values


def _check_keywords(draw: Callable, names: list[str], fixed: dict, live: list | None = None) -> None:
    """Every control, fixed and live keyword is one that ``draw`` accepts, and none is both control and fixed."""
    both = sorted(set(names) & set(fixed))
    if both:
        raise ValueError(f"explore: {both[0]!r} is both a control and in `fixed`: it can only be one of them")
    bad = [k for k in fixed if not isinstance(k, str)]
    if bad:
        raise TypeError(f"explore: the keys of `fixed` are keywords of the draw function (strings), got {bad[0]!r}")
    try:
        parameters = inspect.signature(draw).parameters.values()
    except (TypeError, ValueError):  # a builtin or C function: no signature to check against
        return
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    accepted = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    for where, keys in (("control", names), ("fixed keyword", list(fixed)), ("live control", list(live or []))):
        unknown = [k for k in keys if k not in accepted]
        if unknown:
            raise ValueError(f"explore: the {where} {unknown[0]!r} is not a parameter of "
                             f"{getattr(draw, '__name__', 'the draw function')}, which takes "
                             f"{', '.join(sorted(accepted)) or 'no keyword arguments'}")


class Explorer:
    """A figure over a grid of control values, precomputed; see :func:`explore`."""

    def __init__(self, draw: Callable[..., Any], controls: dict[str, list], fixed: dict | None = None,
                 live: dict | None = None, title: str = "", dpi: float | None = None,
                 initial: dict | None = None) -> None:
        if not callable(draw):
            raise TypeError(f"explore: the first argument is the draw function, got {type(draw).__name__} {draw!r}")
        if not isinstance(controls, dict) or not controls:
            raise ValueError("explore needs at least one control, each with at least one value: "
                             f"controls={{'name': [value, ...]}}, got {controls!r}")
        if fixed is not None and not isinstance(fixed, dict):
            raise TypeError(f"explore: `fixed` is a dict of keywords that stay put, got {type(fixed).__name__}")
        if not isinstance(title, str):
            raise TypeError(f"explore: title must be a string, got {type(title).__name__} {title!r}")
        if dpi is not None and (isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 0 < dpi < math.inf):
            raise ValueError(f"explore: dpi must be a positive number, got {dpi!r}")
        if initial is not None and not isinstance(initial, dict):
            raise TypeError(f"explore: `initial` is a dict control name -> value, got {type(initial).__name__}")
        if live is not None and (not isinstance(live, dict) or not all(isinstance(k, str) for k in live)):
            raise TypeError(f"explore: `live` maps keywords of the draw function to ipywidgets controls, got {live!r}")
        self.names = list(controls)
        self.values = [_check_values(name, values) for name, values in controls.items()]
        _check_keywords(draw, self.names, dict(fixed or {}), list(live or []))
        states = 1
        for values in self.values:
            states *= len(values)
        if states > MAX_STATES:
            raise ValueError(f"{states} combinations of control values: at most {MAX_STATES} (each is an image in "
                             "the notebook); give fewer values, or fix some in `fixed`")
        self.draw, self.fixed, self.live, self.title = draw, dict(fixed or {}), live, title
        initial = dict(initial or {})

        def position(name, values):  # one of the values itself: True is not 1, nor 1 True
            if name not in initial:
                return 0
            wanted = initial[name]
            for i, value in enumerate(values):
                try:
                    if isinstance(value, bool) == isinstance(wanted, bool) and bool(value == wanted):
                        return i
                except (TypeError, ValueError, RuntimeError):  # an array-valued comparison: not this value
                    continue
            return None

        unknown = set(initial) - set(self.names)
        self.initial = [position(n, v) for n, v in zip(self.names, self.values)]
        if unknown or None in self.initial:
            raise ValueError(f"initial must give each control one of its own values, got {initial}")
        self.images = {
            combo: render_png(draw, dpi=dpi, **self.fixed, **dict(zip(self.names, (v[i] for v, i in zip(self.values, combo)))))
            for combo in itertools.product(*(range(len(v)) for v in self.values))
        }

    def _repr_html_(self) -> str:
        # Unique on the page (the n-th explorer shown in this kernel: two with the same controls and title
        # must not share radio buttons) and the same on every run of the notebook (no random part).
        digest = hashlib.sha256(("|".join(self.names) + repr(self.values) + self.title).encode()).hexdigest()[:10]
        eid = f"explore-{digest}-{next(_rendered)}"
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
