"""Conceptual diagrams of the three families of meta-learning, drawn in code.

Each function returns a matplotlib :class:`~matplotlib.figure.Figure` at most
:data:`metalearn_lite.plots.MAX_WIDTH` inches wide, with text of 7.5 pt or more, so that the
book rebuilds the pictures with its chapters and they read at the page width. The labels use
the book's symbols (``book/notation.md``):

* :func:`gradient_family` — MAML in parameter space: the inner steps
  :math:`\\theta \\to \\phi_i` of three tasks, the query gradients at :math:`\\phi_i`, and the
  outer step with and without the Jacobian of the inner step (first-order MAML); beside it,
  the path of the meta-gradient back through the inner step;
* :func:`metric_family` — the embedding :math:`f_\\theta` of support and query images, the
  prototypes :math:`c_k` of Prototypical Networks, and the attention
  :math:`a(\\hat{x}, x_i)` of Matching Networks (line width = weight);
* :func:`memory_family` — MANN's controller, external memory :math:`M_t` and read and write
  heads, and Meta Networks' slow weights :math:`W` with the fast weights :math:`W^*_i` a
  meta learner :math:`m` makes from the support examples' loss gradients.

The numbers behind the pictures (the tasks' curvatures, the embeddings, the attention) are
computed, not drawn by hand: the arrows of :func:`gradient_family` are the exact steps on
three quadratic tasks, and the line widths of :func:`metric_family` are a softmax of scaled
cosines. The small helpers :func:`_box` and :func:`_arrow` draw the boxes and arrows of the
block diagrams.
"""
from __future__ import annotations

import numpy as np

from .plots import MAX_WIDTH

__all__ = ["gradient_family", "metric_family", "memory_family"]

#: the figures' width, in inches: the notebook's inline backend crops to the drawn content and
#: pads it by 0.1 in on each side, so content that spans the figure must be 0.2 in narrower
#: than the page column (:data:`metalearn_lite.plots.MAX_WIDTH`) to be shown unscaled
WIDTH = MAX_WIDTH - 0.2
#: text size of the diagrams' labels, in points (the book's smallest is 7.5)
FONT = 8.0
#: text size of the panels' titles
TITLE = 8.5

_FORWARD = "0.15"  # forward computation: near black
_BACKWARD = "tab:red"  # gradients flowing back
_CLASS_COLOURS = ("tab:blue", "tab:orange", "tab:green")


def _figure(height: float):
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(WIDTH, height))


def _panel(fig, rect, title: str | None = None, xlim=(0, 1), ylim=(0, 1)):
    """An axes without frame or ticks, in data units ``xlim`` × ``ylim``."""
    ax = fig.add_axes(rect)
    ax.set(xlim=xlim, ylim=ylim, xticks=[], yticks=[])
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=TITLE, pad=3)
    return ax


def _box(ax, x, y, text, width, height, fc="white", ec="0.3", fontsize=FONT, **kw):
    """A rounded box centred on ``(x, y)`` (data units), with ``text`` in its middle."""
    from matplotlib.patches import FancyBboxPatch

    pad = 0.012
    ax.add_patch(FancyBboxPatch((x - width / 2 + pad, y - height / 2 + pad),
                                width - 2 * pad, height - 2 * pad,
                                boxstyle=f"round,pad={pad}", fc=fc, ec=ec, lw=0.8))
    return ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, **kw)


def _arrow(ax, start, end, text=None, colour=_FORWARD, offset=(0.0, 0.0), style="-|>",
           ls="-", lw=1.0, ha="center", va="center", shrink=0.0, fontsize=FONT, rad=0.0):
    """An arrow from ``start`` to ``end``; ``text``, if given, at its middle plus ``offset``."""
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle=style, color=colour, lw=lw, ls=ls,
                                shrinkA=shrink, shrinkB=shrink, mutation_scale=9,
                                connectionstyle=f"arc3,rad={rad}"))
    if text is None:
        return None
    mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
    return ax.text(mx, my, text, ha=ha, va=va, fontsize=fontsize, color=colour)


# ---------------------------------------------------------------------------------------------
# gradient-based


def _quadratic_tasks():
    """Three 2-D quadratic tasks ``L_i(θ) = ½ (θ − o_i)ᵀ A_i (θ − o_i)``: optima ``o_i``, and
    curvatures ``A_i`` (support and query losses are the same here, for the picture)."""
    def rotation(deg):
        r = np.deg2rad(deg)
        return np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])

    optima = np.array([[-2.0, 1.6], [2.1, 1.5], [0.6, -2.2]])
    curvatures = [rotation(d) @ np.diag(e) @ rotation(d).T
                  for d, e in ((30, (2.4, 0.7)), (-40, (2.2, 0.6)), (80, (2.3, 0.8)))]
    return optima, curvatures


def gradient_family():
    """MAML's picture, drawn from an exact computation on three quadratic tasks.

    Left: parameter space. Each task :math:`\\mathcal{T}_i` has its own low-loss region
    (level sets of :math:`\\mathcal{L}_i`). One inner step of size :math:`\\alpha` goes from
    the shared initialisation :math:`\\theta` down each task's support-loss gradient to
    :math:`\\phi_i`; at :math:`\\phi_i` the query loss has gradient
    :math:`g_i = \\nabla_\\phi \\mathcal{L}_{\\mathcal{Q}_i}(\\phi_i)`. MAML's outer step
    follows :math:`\\sum_i (I - \\alpha \\nabla^2_\\theta \\mathcal{L}_{S_i}(\\theta))\\, g_i`,
    the query gradients carried back through the inner step; first-order MAML follows
    :math:`\\sum_i g_i`, dropping the Jacobian — a different direction.
    Right: the same as a computation, forward (black) and backward (red).
    """
    fig = _figure(3.5)
    optima, curvatures = _quadratic_tasks()
    alpha, beta = 0.3, 1.5
    theta = np.array([0.6, -0.1])
    eye = np.eye(2)

    ax = fig.add_axes((0.04, 0.06, 0.46, 0.82))
    ax.set_title("parameter space (one inner step per task)", fontsize=TITLE, pad=3)
    grid = np.stack(np.meshgrid(np.linspace(-3.6, 3.6, 161), np.linspace(-3.6, 3.6, 161)), -1)
    meta_grad, first_order = np.zeros(2), np.zeros(2)
    for i, (o, A) in enumerate(zip(optima, curvatures)):
        colour = _CLASS_COLOURS[i]
        d = grid - o
        ax.contour(grid[..., 0], grid[..., 1], 0.5 * np.einsum("...i,ij,...j", d, A, d),
                   levels=[0.1, 0.5], colors=[colour], linewidths=0.7, alpha=0.7)
        phi = theta - alpha * A @ (theta - o)  # φ_i = θ − α ∇L_{S_i}(θ)
        g = A @ (phi - o)  # g_i = ∇_φ L_{𝒬_i}(φ_i)
        meta_grad += (eye - alpha * A) @ g  # through the inner step's Jacobian
        first_order += g
        ax.annotate("", phi, theta, arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.2,
                                                    shrinkA=3, shrinkB=0, mutation_scale=9))
        ax.plot(*phi, "o", color=colour, ms=4)
        ax.annotate("", phi - 0.9 * g, phi,
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=0.9, ls=(0, (2, 1.5)),
                                    shrinkA=0, shrinkB=0, mutation_scale=8))
        # the label of φ_i on the side away from θ, of T_i beyond its region
        away = (phi - theta) / np.linalg.norm(phi - theta)
        ax.text(*(phi + 0.42 * np.array([-away[1], away[0]]) * (1 if i != 1 else -1)),
                f"$\\phi_{i + 1}$", fontsize=FONT, color=colour, ha="center", va="center")
        ax.plot(*o, "*", color=colour, ms=7)
        ax.text(o[0] + 0.5, o[1] + (0.45 if i < 2 else -0.4),
                f"$\\mathcal{{T}}_{i + 1}$", fontsize=FONT, color=colour, ha="center",
                va="center")
    for step, colour, ls in ((meta_grad, _BACKWARD, "-"), (first_order, "0.45", (0, (3, 2)))):
        ax.annotate("", theta - beta * step, theta,
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.6, ls=ls, shrinkA=0,
                                    shrinkB=0, mutation_scale=10))
    ax.plot(*theta, "ko", ms=5, zorder=5)
    ax.text(theta[0] - 0.25, theta[1] + 0.3, "$\\theta$", fontsize=FONT + 1, ha="right")
    ax.set(xlim=(-3.6, 3.6), ylim=(-3.6, 3.6), aspect="equal", xticks=[], yticks=[])
    ax.set_xlabel("$\\theta_1$", fontsize=FONT, labelpad=1)
    ax.set_ylabel("$\\theta_2$", fontsize=FONT, labelpad=1)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color="0.3", lw=1.2, marker=">", ms=4, label="inner step $\\theta \\to \\phi_i$"),
        Line2D([], [], color="0.3", lw=0.9, ls=(0, (2, 1.5)), label="$-g_i$, query gradient"),
        Line2D([], [], color=_BACKWARD, lw=1.6, label="outer step, MAML"),
        Line2D([], [], color="0.45", lw=1.6, ls=(0, (3, 2)), label="outer step, first-order"),
    ]
    ax.legend(handles=handles, fontsize=7.5, loc="lower left", frameon=True, framealpha=0.9,
              borderpad=0.3, handlelength=1.8, labelspacing=0.25)

    # right: the computation
    ax = _panel(fig, (0.53, 0.02, 0.46, 0.86), "the meta-gradient, for task $\\mathcal{T}_i$")
    xf = 0.3  # the forward column
    nodes = {"theta": 0.9, "phi": 0.6, "loss": 0.3}
    _box(ax, xf, nodes["theta"], "$\\theta$", 0.22, 0.1, fc="0.93")
    _box(ax, xf, nodes["phi"], "$\\phi_i$", 0.22, 0.1, fc="0.93")
    _box(ax, xf, nodes["loss"], "$\\mathcal{L}_{\\mathcal{Q}_i}(\\phi_i)$", 0.34, 0.1, fc="0.93")
    _arrow(ax, (xf - 0.05, nodes["theta"] - 0.05), (xf - 0.05, nodes["phi"] + 0.05),
           "$-\\alpha\\nabla_\\theta\\mathcal{L}_{S_i}(\\theta)$", offset=(-0.03, 0.0), ha="right")
    _arrow(ax, (xf - 0.05, nodes["phi"] - 0.05), (xf - 0.05, nodes["loss"] + 0.05),
           "on $\\mathcal{Q}_i$", offset=(-0.03, 0.0), ha="right")
    _arrow(ax, (xf + 0.08, nodes["loss"] + 0.05), (xf + 0.08, nodes["phi"] - 0.05),
           "$g_i = \\nabla_\\phi \\mathcal{L}_{\\mathcal{Q}_i}(\\phi_i)$", colour=_BACKWARD,
           offset=(0.03, 0.0), ha="left")
    _arrow(ax, (xf + 0.08, nodes["phi"] + 0.05), (xf + 0.08, nodes["theta"] - 0.05),
           "$\\times\\,(I - \\alpha\\nabla^2_\\theta\\mathcal{L}_{S_i}(\\theta))$",
           colour=_BACKWARD, offset=(0.03, 0.07), ha="left")
    ax.text(xf + 0.14, nodes["phi"] + 0.09, "the Jacobian $\\partial\\phi_i / \\partial\\theta$;",
            fontsize=FONT, color=_BACKWARD, ha="left", va="center")
    ax.text(xf + 0.14, nodes["phi"] + 0.035, "first-order: $\\approx I$, dropped",
            fontsize=FONT, color="0.4", ha="left", va="center")
    ax.text(0.0, 0.13, "outer step, over a meta-batch of tasks:", fontsize=FONT, ha="left",
            va="center")
    ax.text(0.0, 0.04, "$\\theta \\leftarrow \\theta - \\beta\\,\\nabla_\\theta \\Sigma_i\\,"
            " \\mathcal{L}_{\\mathcal{Q}_i}(\\phi_i)$", fontsize=FONT, ha="left",
            va="center", color=_BACKWARD)
    return fig


# ---------------------------------------------------------------------------------------------
# metric-based


def _glyph(ax, x, y, w, h, kind, colour):
    """A thumbnail 'image' centred on ``(x, y)``, ``w`` × ``h`` in data units: a framed
    square with one stroke shape per class (kind 3: the query, a variant of class 0)."""
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, fc="white", ec=colour, lw=1.0))
    t = np.linspace(0, 2 * np.pi, 40)
    sx, sy = 0.3 * w, 0.3 * h
    if kind == 0:
        ax.plot(x + sx * np.cos(t), y + sy * np.sin(t), color="0.2", lw=1)
    elif kind == 1:
        ax.plot([x - sx, x + sx], [y - sy, y + sy], color="0.2", lw=1)
        ax.plot([x - sx, x + sx], [y + sy, y - sy], color="0.2", lw=1)
    elif kind == 2:
        ax.plot([x - sx, x, x + sx, x - sx], [y - sy, y + sy, y - sy, y - sy], color="0.2", lw=1)
    else:
        ax.plot(x + sx * np.cos(t), y + 0.8 * sy * np.sin(t), color="0.2", lw=1)
        ax.plot([x - 0.2 * sx, x + 0.6 * sx], [y + 0.2 * sy, y + 0.9 * sy], color="0.2", lw=1)


def _embedding():
    """2-D stand-ins for the embeddings: three classes of two support examples, one query."""
    support = np.array([[0.20, 0.85], [0.38, 0.95],  # class 1
                        [0.95, 0.30], [0.90, 0.55],  # class 2
                        [-0.55, 0.75], [-0.80, 0.50]])  # class 3
    labels = np.array([0, 0, 1, 1, 2, 2])
    query = np.array([0.45, 0.72])
    return support, labels, query


def metric_family():
    """Prototypical and Matching Networks on one embedding.

    Left: the embedding :math:`f_\\theta` maps the support images (framed in their class's
    colour) and the query :math:`\\hat{x}` to points; the prototype :math:`c_k` of class
    :math:`k` is the mean of its support embeddings, and the query is scored by its distance
    :math:`d(f_\\theta(\\hat{x}), c_k)` to each. Right: a Matching Network compares the query
    with every support embedding :math:`g_\\theta(x_i)` instead; the line to each has width
    proportional to the attention :math:`a(\\hat{x}, x_i)`, a softmax over the support set of
    the scaled cosines :math:`s\\cos(f_\\theta(\\hat{x}), g_\\theta(x_i))` (here :math:`s = 5`),
    and the prediction is the attention-weighted vote of the support labels.
    """
    height, panel_h = 2.45, 0.84
    fig = _figure(height)
    support, labels, query = _embedding()
    # the images: squares, in an axes of 1 × 1 data units that is not square
    ax = _panel(fig, (0.0, 0.02, 0.16, panel_h), "images")
    w = 0.26
    h = w * 0.16 * WIDTH / (panel_h * height)
    for k in range(3):
        for j in range(2):
            _glyph(ax, 0.3 + 0.4 * j, 0.9 - 0.19 * k, w, h, k, _CLASS_COLOURS[k])
    ax.text(0.5, 0.39, "support set $S$", fontsize=FONT, ha="center", va="center")
    _glyph(ax, 0.5, 0.2, w, h, 3, "black")
    ax.text(0.5, 0.04, "query $\\hat{x}$", fontsize=FONT, ha="center", va="center")

    # left: prototypes
    # equal scales on both axes, so that angles (the cosines) look right
    xlim = (-1.05, 1.25)
    span = (xlim[1] - xlim[0]) * panel_h * height / (0.38 * WIDTH)
    lims = dict(xlim=xlim, ylim=(1.25 - span, 1.25))
    ax = _panel(fig, (0.21, 0.02, 0.38, panel_h), "Prototypical Networks", **lims)
    ax.annotate("", xy=(-1.0, 0.6), xytext=(-1.35, 0.6), annotation_clip=False,
                arrowprops=dict(arrowstyle="-|>", color=_FORWARD, lw=1.2, mutation_scale=10))
    ax.text(-1.2, 0.68, "$f_\\theta$", fontsize=FONT + 1, ha="center", va="bottom")
    prototypes = np.array([support[labels == k].mean(0) for k in range(3)])
    for k in range(3):
        pts = support[labels == k]
        colour = _CLASS_COLOURS[k]
        ax.plot(*pts.T, "o", color=colour, ms=5, mfc="white", mew=1.2)
        for p in pts:
            ax.plot(*np.stack([p, prototypes[k]]).T, color=colour, lw=0.6, alpha=0.6)
        ax.plot(*prototypes[k], "*", color=colour, ms=10)
    offsets = [(-0.1, 0.12), (0.15, -0.12), (0.0, 0.12)]
    for k, (dx, dy) in enumerate(offsets):
        ax.text(prototypes[k, 0] + dx, prototypes[k, 1] + dy, f"$c_{k + 1}$", fontsize=FONT,
                color=_CLASS_COLOURS[k], ha="center", va="center")
    for k in range(3):
        ax.plot(*np.stack([query, prototypes[k]]).T, color="0.25", lw=0.8, ls=(0, (2, 1.5)))
    ax.plot(*query, "kD", ms=4.5)
    ax.text(query[0] + 0.06, query[1] - 0.11, "$f_\\theta(\\hat{x})$", fontsize=FONT,
            ha="left", va="center")
    ax.text(0.1, -0.05, "dashed: $d(f_\\theta(\\hat{x}), c_k)$", fontsize=FONT, ha="center")
    ax.text(0.1, -0.32, "$c_k$ = mean of class $k$'s $f_\\theta(x_i)$", fontsize=FONT,
            ha="center")

    # right: attention
    ax = _panel(fig, (0.61, 0.02, 0.38, panel_h), "Matching Networks", **lims)
    cos = support @ query / np.linalg.norm(support, axis=1) / np.linalg.norm(query)
    attention = np.exp(5 * cos) / np.exp(5 * cos).sum()
    for i, (p, a) in enumerate(zip(support, attention)):
        ax.plot(*np.stack([query, p]).T, color=_CLASS_COLOURS[labels[i]], lw=0.4 + 9 * a,
                alpha=0.75, solid_capstyle="round")
        ax.plot(*p, "o", color=_CLASS_COLOURS[labels[i]], ms=5, mfc="white", mew=1.2)
    for i, (dx, dy) in ((0, (-0.2, 0.06)), (1, (0.05, 0.1)), (3, (0.13, 0.08))):
        ax.text(support[i, 0] + dx, support[i, 1] + dy, f"{attention[i]:.2f}",
                fontsize=7.5, color=_CLASS_COLOURS[labels[i]], ha="center", va="center")
    ax.plot(*query, "kD", ms=4.5)
    ax.text(query[0] + 0.06, query[1] - 0.11, "$f_\\theta(\\hat{x})$", fontsize=FONT,
            ha="left", va="center")
    ax.text(-0.68, 0.33, "$g_\\theta(x_i)$", fontsize=FONT, ha="center", va="center",
            color=_CLASS_COLOURS[2])
    ax.text(0.1, -0.05, "line width: $a(\\hat{x}, x_i)$, $\\Sigma_i\\, a(\\hat{x}, x_i) = 1$",
            fontsize=FONT, ha="center")
    ax.text(0.1, -0.32, "$\\hat{y} = \\Sigma_i\\, a(\\hat{x}, x_i)\\, y_i$", fontsize=FONT,
            ha="center")
    return fig


# ---------------------------------------------------------------------------------------------
# memory-based


def memory_family():
    """MANN and Meta Networks: where each keeps what it learns from the support set.

    Left (MANN, Santoro et al. 2016): at step :math:`t` the controller (an LSTM) reads
    :math:`x_t` with the previous label :math:`y_{t-1}`, emits a key :math:`k_t` and a write
    vector :math:`a_t`; the write head puts :math:`a_t` into the rows of the external memory
    :math:`M_t` chosen by :math:`w^w_t` (LRUA: least used, or last read), the read head
    returns :math:`r_t = \\sum_i w^r_t(i) M_t(i)` with :math:`w^r_t` a softmax of cosines to
    the key, and the output reads :math:`[h_t, r_t]`. Right (Meta Networks, Munkhdalai & Yu
    2017): the base learner :math:`b` with slow weights :math:`W` gives each support
    example's loss gradient :math:`\\nabla_i`; the meta learner :math:`m` turns it into fast
    weights :math:`W^*_i`, stored under the key :math:`u(x'_i)`; a query :math:`x` mixes them
    by attention, :math:`W^* = \\sum_i a_i W^*_i`, and is classified with slow + fast
    weights, :math:`\\hat{y} = b(W, W^*, x)`.
    """
    from matplotlib.patches import Rectangle

    fig = _figure(3.4)

    # left: MANN
    ax = _panel(fig, (0.0, 0.01, 0.49, 0.88), "MANN: controller and external memory")
    cx, cy = 0.19, 0.45  # the controller
    _box(ax, cx, cy, "controller\n(LSTM), $h_t$", 0.34, 0.16, fc="#e8eef7")
    _arrow(ax, (cx, 0.13), (cx, cy - 0.08))
    ax.text(cx, 0.09, "input $x_t$, $y_{t-1}$", fontsize=FONT, ha="center", va="center")
    _arrow(ax, (cx, cy + 0.08), (cx, 0.75))
    ax.text(0.02, 0.8, "predicts $y_t$: $W_o[h_t, r_t]$", fontsize=FONT, ha="left",
            va="center")
    # the memory matrix: rows = slots i, with the read and write weights beside each row
    slots, width = 8, 5
    x0, y0, cw, ch = 0.62, 0.18, 0.055, 0.075
    bar = 0.075
    values = np.random.default_rng(3).uniform(0.2, 0.9, (slots, width))
    read = np.array([0.03, 0.07, 0.62, 0.12, 0.04, 0.06, 0.04, 0.02])
    write = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.9, 0.0])
    for i in range(slots):
        bottom = y0 + (slots - 1 - i) * ch
        for j in range(width):
            ax.add_patch(Rectangle((x0 + j * cw, bottom), cw, ch,
                                   fc=str(0.55 + 0.4 * values[i, j]), ec="white", lw=0.5))
        for left, weight, colour in ((x0 - 0.012 - bar, read[i], _BACKWARD),
                                     (x0 + width * cw + 0.012, write[i], "tab:blue")):
            ax.add_patch(Rectangle((left, bottom + 0.008), bar, ch - 0.016, fc="0.94",
                                   ec="none"))
            ax.add_patch(Rectangle((left, bottom + 0.008), bar * weight / 0.9, ch - 0.016,
                                   fc=colour, ec="none", alpha=0.85))
    top = y0 + slots * ch
    ax.text(x0 + width * cw / 2, top + 0.045, "memory $M_t$, rows: slots $i$", fontsize=FONT,
            ha="center", va="center")
    ax.text(x0 - 0.012 - bar / 2, top + 0.12, "read $w^r_t$", fontsize=FONT,
            color=_BACKWARD, ha="center", va="center")
    ax.text(x0 + width * cw + 0.012 + bar / 2, top + 0.12, "write $w^w_t$", fontsize=FONT,
            color="tab:blue", ha="center", va="center")
    # the heads: a key goes out and a read vector comes back; the write vector goes in
    yr = y0 + (slots - 0.5 - 2) * ch  # the row read most
    _arrow(ax, (cx + 0.17, cy + 0.05), (x0 - 0.1, yr), colour=_BACKWARD, rad=-0.2)
    ax.text(0.37, 0.66, "key $k_t$", fontsize=FONT, color=_BACKWARD, ha="center",
            va="center")
    _arrow(ax, (x0 - 0.1, yr - 0.07), (cx + 0.17, cy - 0.03), colour=_BACKWARD,
           ls=(0, (2, 1.5)), rad=0.15)
    ax.text(0.47, 0.4, "$r_t$", fontsize=FONT, color=_BACKWARD, ha="center", va="center")
    yw = y0 + (slots - 0.5 - 6) * ch
    _arrow(ax, (cx + 0.1, cy - 0.08), (x0 + width * cw + 0.012 + bar, yw - 0.05),
           colour="tab:blue", rad=0.3)
    ax.text(0.72, 0.1, "write vector $a_t$ (LRUA)", fontsize=FONT, color="tab:blue",
            ha="center", va="center")
    ax.text(0.02, 0.01, "memory emptied at the start of every episode", fontsize=7.5,
            color="0.35", ha="left", va="center")

    # right: Meta Networks
    ax = _panel(fig, (0.51, 0.01, 0.49, 0.88), "Meta Networks: slow and fast weights")
    _box(ax, 0.2, 0.88, "support\n$(x'_i, y'_i)$", 0.3, 0.15, fc="0.95")
    _box(ax, 0.72, 0.88, "base learner $b$\nslow weights $W$", 0.5, 0.15, fc="#e8eef7")
    _arrow(ax, (0.35, 0.88), (0.47, 0.88))
    _box(ax, 0.72, 0.6, "meta learner $m$", 0.42, 0.1, fc="#fdebd9")
    _arrow(ax, (0.72, 0.8), (0.72, 0.65), "$\\nabla_i = \\nabla_W \\ell$", offset=(0.03, 0.0),
           ha="left")
    _box(ax, 0.72, 0.36, "fast weights\n$W^*_i = m(\\nabla_i)$", 0.46, 0.15, fc="#fdebd9")
    _arrow(ax, (0.72, 0.55), (0.72, 0.44))
    _box(ax, 0.2, 0.36, "keys\n$u(x'_i)$", 0.3, 0.15, fc="0.95")
    _arrow(ax, (0.2, 0.8), (0.2, 0.44), "$u$", offset=(-0.03, 0.0), ha="right")
    _arrow(ax, (0.35, 0.36), (0.49, 0.36), style="-", ls=(0, (2, 1.5)))
    _box(ax, 0.2, 0.1, "query $x$", 0.3, 0.1, fc="0.95")
    _arrow(ax, (0.2, 0.15), (0.2, 0.28), "$a_i$", offset=(-0.03, 0.0), ha="right")
    _arrow(ax, (0.35, 0.1), (0.46, 0.1))
    _box(ax, 0.72, 0.1, "$\\hat{y} = b(W, W^*, x)$", 0.5, 0.1, fc="#e8eef7")
    _arrow(ax, (0.72, 0.28), (0.72, 0.15), "$W^* = \\Sigma_i\\, a_i W^*_i$", offset=(0.03, 0.0),
           ha="left")
    return fig
