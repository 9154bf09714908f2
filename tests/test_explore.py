"""explore(): precomputed states switched by CSS alone, plus an optional live widget."""
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import metalearn_lite as ml  # noqa: E402
from metalearn_lite.explore import MAX_STATES  # noqa: E402

CALLS = []


def draw(task=0, steps=1, colour="k"):
    CALLS.append((task, steps, colour))
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [task, steps], color=colour)
    ax.set_title(f"task {task}, {steps} steps")
    plt.show()


def test_every_combination_is_drawn_once_with_the_fixed_keywords():
    CALLS.clear()
    before = plt.get_fignums()
    explorer = ml.explore(draw, {"task": [0, 1, 2], "steps": [1, 5]}, fixed={"colour": "r"})
    assert sorted(CALLS) == [(t, s, "r") for t in (0, 1, 2) for s in (1, 5)]
    assert plt.get_fignums() == before  # every figure closed
    images = list(explorer.images.values())
    assert len(images) == 6 and all(png.startswith(b"\x89PNG") for png in images)
    assert len(set(images)) == 6  # each state shows something different


def test_html_has_one_button_per_value_and_one_css_rule_per_state():
    page = ml.explore(draw, {"task": [0, 1, 2], "steps": [1, 5]})._repr_html_()
    eid = re.search(r'id="(explore-[0-9a-f]+)"', page).group(1)
    assert "<script" not in page
    assert page.count('type="radio"') == 5 and page.count(" checked>") == 2  # first value of each control
    assert page.count("<img ") == 6
    assert f"#{eid} #{eid}-0-2:checked ~ #{eid}-1-1:checked ~ .ml-states .ml-s-2-1{{display:block}}" in page
    assert 'alt="task = 2, steps = 5"' in page
    chosen = ml.explore(draw, {"task": [0, 1, 2]}, initial={"task": 2})._repr_html_()
    assert re.search(r'id="explore-[0-9a-f]+-0-2" checked>', chosen) and chosen.count(" checked>") == 1


def test_bundle_without_and_with_live_controls():
    import ipywidgets as widgets
    plain = ml.explore(draw, {"task": [0, 1]})._repr_mimebundle_()
    assert set(plain) == {"text/html", "text/plain"}
    live = ml.explore(draw, {"task": [0, 1]}, live={"task": widgets.IntSlider(0, 0, 9)})._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in live and "text/html" in live


def test_too_many_states_or_no_values_is_a_clear_error():
    with pytest.raises(ValueError, match=f"at most {MAX_STATES}"):
        ml.explore(draw, {"task": list(range(10)), "steps": list(range(10))})
    with pytest.raises(ValueError, match="initial must give"):
        ml.explore(draw, {"task": [0, 1]}, initial={"task": 5})
    with pytest.raises(ValueError, match="at least one value"):
        ml.explore(draw, {"task": []})
