"""metalearn_lite.diagrams: the conceptual figures of chapter 3 fit the page, carry the book's
symbols, and keep every label inside the figure and clear of every other label."""
import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from metalearn_lite import diagrams  # noqa: E402
from metalearn_lite.plots import MAX_WIDTH  # noqa: E402

# the symbols each picture must show, as the mathtext the book's notation page writes
EXPECTED = {
    "gradient_family": [
        r"$\theta$", r"$\phi_1$", r"$\phi_2$", r"$\phi_3$", r"$\mathcal{T}_1$",
        r"\nabla_\theta\mathcal{L}_{S_i}(\theta)", r"\nabla_\phi \mathcal{L}_{\mathcal{Q}_i}(\phi_i)",
        r"\nabla^2_\theta\mathcal{L}_{S_i}(\theta)", "first-order", r"\beta",
    ],
    "metric_family": [
        r"$f_\theta$", r"$c_1$", r"$c_2$", r"$c_3$", r"$f_\theta(\hat{x})$", r"$g_\theta(x_i)$",
        r"a(\hat{x}, x_i)", r"$\hat{y} = ", "Prototypical Networks", "Matching Networks",
        r"support set $S$", r"query $\hat{x}$",
    ],
    "memory_family": [
        "controller", r"$M_t", r"$w^r_t$", r"$w^w_t$", r"$k_t$", r"$a_t$", r"$r_t$",
        "slow weights $W$", r"$W^*_i = m(\nabla_i)$", r"W^* = ", "meta learner $m$",
        r"$u(x'_i)$",
    ],
}


@pytest.fixture(params=sorted(EXPECTED), scope="module")
def drawn(request):
    fig = getattr(diagrams, request.param)()
    fig.canvas.draw()
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    yield request.param, fig, texts
    plt.close(fig)


def test_a_figure_no_wider_than_the_page(drawn):
    _, fig, _ = drawn
    assert isinstance(fig, Figure)
    assert fig.get_size_inches()[0] <= MAX_WIDTH + 1e-9


def test_shown_in_a_notebook_no_wider_than_the_column(drawn):
    """The inline backend saves with bbox_inches="tight" (content plus 0.1 in of padding)."""
    import io

    _, fig, _ = drawn
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    width = int.from_bytes(buffer.getvalue()[16:20], "big")  # the PNG's IHDR chunk
    assert width <= 724, f"{width} px, wider than the book's 724 px column"


def test_the_symbols_are_labelled(drawn):
    name, _, texts = drawn
    shown = "\n".join(t.get_text() for t in texts)
    missing = [s for s in EXPECTED[name] if s not in shown]
    assert not missing, f"{name} lacks the labels {missing}"


def test_text_is_legible(drawn):
    _, _, texts = drawn
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < 7.5]
    assert not small, f"text under 7.5 pt: {small}"


def test_no_label_outside_the_figure(drawn):
    _, fig, texts = drawn
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    outside = []
    for t in texts:
        box = t.get_window_extent(renderer)
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5:
            outside.append(t.get_text())
    assert not outside, f"labels outside the figure: {outside}"


def test_no_two_labels_overlap(drawn):
    _, fig, texts = drawn
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    clashes = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
               if box_a.overlaps(box_b)]
    assert not clashes, f"overlapping labels: {clashes}"


def test_exported_with_the_library():
    import metalearn_lite as ml

    assert ml.diagrams is diagrams
    assert set(diagrams.__all__) == set(EXPECTED)
