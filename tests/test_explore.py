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
    eid = re.search(r'id="(explore-[0-9a-f]+-[0-9]+)"', page).group(1)
    assert "<script" not in page
    assert page.count('type="radio"') == 5 and page.count(" checked>") == 2  # first value of each control
    assert page.count("<img ") == 6
    assert f"#{eid} #{eid}-0-2:checked ~ #{eid}-1-1:checked ~ .ml-states .ml-s-2-1{{display:block}}" in page
    assert 'alt="task = 2, steps = 5"' in page
    chosen = ml.explore(draw, {"task": [0, 1, 2]}, initial={"task": 2})._repr_html_()
    assert re.search(r'id="explore-[0-9a-f]+-[0-9]+-0-2" checked>', chosen) and chosen.count(" checked>") == 1


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


def _ids(page):
    return re.findall(r' id="([^"]+)"', page)


def test_two_explorers_with_the_same_controls_and_title_share_no_id():
    first, second = (ml.explore(draw, {"task": [0, 1]}, title="same") for _ in range(2))
    page = first._repr_html_() + second._repr_html_()
    ids = _ids(page)
    assert len(ids) == len(set(ids)) == 2 * 3  # the explorer and its two buttons, twice
    names = re.findall(r' name="([^"]+)"', page)
    assert len(set(names)) == 2  # one radio group each: a click on one leaves the other alone
    for eid in re.findall(r'<div class="ml-explore" id="([^"]+)"', page):
        assert page.count(f"#{eid} ") >= 3  # each one's CSS is scoped to its own id
    again = _ids(first._repr_html_())
    assert not set(again) & set(ids)  # shown twice, the same explorer gets fresh ids too


def test_ids_are_the_same_on_every_run_of_a_notebook(monkeypatch):
    import itertools

    import sys

    module = sys.modules["metalearn_lite.explore"]  # the module (metalearn_lite.explore is the function)

    runs = []
    for _ in range(2):  # a fresh kernel: the count starts again, and nothing else varies
        monkeypatch.setattr(module, "_rendered", itertools.count(1))
        runs.append([_ids(ml.explore(draw, {"task": [0, 1]})._repr_html_()) for _ in range(2)])
    assert runs[0] == runs[1] and runs[0][0] != runs[0][1]


@pytest.mark.parametrize("controls, error, message", [
    ({"colour": "red"}, TypeError, r"control 'colour' needs a list or tuple .* got str 'red'; for one value write \['red'\]"),
    ({"task": 3}, TypeError, r"control 'task' needs a list or tuple .* got int 3"),
    ({"task": {0, 1}}, TypeError, r"control 'task' needs a list or tuple .* got set"),
    ({"task": ()}, ValueError, r"control 'task' needs at least one value"),
    ({}, ValueError, r"needs at least one control"),
    ([("task", [0])], ValueError, r"needs at least one control"),
    ({3: [0, 1]}, TypeError, r"each control is named by a keyword of the draw function \(a string\), got 3"),
    ({"task": [0.1, 0.1000001]}, ValueError, r"two buttons labelled '0.1'"),
    ({"task": [1, 1]}, ValueError, r"two buttons labelled '1'"),
    ({"task": [float("nan")]}, ValueError, r"give finite numbers"),
    ({"tsak": [0, 1]}, ValueError, r"the control 'tsak' is not a parameter of draw, which takes colour, steps, task"),
])
def test_bad_controls_are_refused_with_what_is_wrong(controls, error, message):
    with pytest.raises(error, match=message):
        ml.explore(draw, controls)


def test_bad_fixed_keywords_and_options_are_refused():
    with pytest.raises(ValueError, match=r"the fixed keyword 'color' is not a parameter of draw"):
        ml.explore(draw, {"task": [0, 1]}, fixed={"color": "r"})
    with pytest.raises(ValueError, match=r"'task' is both a control and in `fixed`"):
        ml.explore(draw, {"task": [0, 1]}, fixed={"task": 2})
    with pytest.raises(ValueError, match=r"initial must give"):
        ml.explore(draw, {"task": [1, 2]}, initial={"task": True})  # True == 1, but is not one of the values
    with pytest.raises(ValueError, match=r"initial must give"):
        ml.explore(draw, {"task": [1, 2]}, initial={"steps": 1})
    with pytest.raises(TypeError, match=r"title must be a string"):
        ml.explore(draw, {"task": [0]}, title=3)
    with pytest.raises(ValueError, match=r"dpi must be a positive number"):
        ml.explore(draw, {"task": [0]}, dpi=0)
    with pytest.raises(TypeError, match=r"the first argument is the draw function"):
        ml.explore({"task": [0]}, draw)
    assert ml.explore(lambda **kw: draw(**kw), {"task": [0]}, fixed={"steps": 2})  # **kwargs: anything goes


def test_a_draw_function_that_draws_nothing_raises_and_leaves_no_figure_open():
    before = plt.get_fignums()
    with pytest.raises(ValueError, match=r"draw\(task=0\) drew nothing: the draw function must draw on a matplotlib figure"):
        ml.explore(lambda task: print(task), {"task": [0, 1]})
    with pytest.raises(ValueError, match=r"drew nothing"):
        ml.explore(lambda task: (plt.figure(), plt.show()), {"task": [0, 1]})  # an empty figure
    assert plt.get_fignums() == before


def test_a_draw_function_that_raises_or_shows_two_figures_names_the_state():
    def broken(task):
        plt.subplots()
        if task == 1:
            raise KeyError("no such task")
        plt.show()

    before = plt.get_fignums()
    with pytest.raises(RuntimeError, match=r"draw\(task=1\) raised KeyError: 'no such task'"):
        ml.explore(broken, {"task": [0, 1]})

    def two(task):
        for _ in range(2):
            plt.figure()
            plt.plot([task])
            plt.show()

    with pytest.raises(ValueError, match=r"draw\(task=0\) showed 2 figures; each state is one image"):
        ml.explore(two, {"task": [0]})
    assert plt.get_fignums() == before


def test_a_figure_left_open_without_show_is_used():
    def no_show(task):
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.plot([0, task])

    before = plt.get_fignums()
    explorer = ml.explore(no_show, {"task": [0, 1]})
    assert all(png.startswith(b"\x89PNG") for png in explorer.images.values()) and plt.get_fignums() == before


def test_labels_that_are_not_strings():
    page = ml.explore(draw, {"colour": ["r", "g"], "steps": [1, 2.5]})._repr_html_()
    assert ">2.5</label>" in page and ">r</label>" in page
    escaped = ml.explore(lambda colour: draw(colour="k"), {"colour": ["a<b>", None, True]})._repr_html_()
    assert ">a&lt;b&gt;</label>" in escaped and ">None</label>" in escaped and ">True</label>" in escaped


def test_live_controls_must_be_keywords_of_draw():
    import ipywidgets as widgets
    with pytest.raises(ValueError, match=r"the live control 'stepz' is not a parameter of draw"):
        ml.explore(draw, {"task": [0, 1]}, live={"stepz": widgets.IntSlider(1, 1, 9)})
    with pytest.raises(TypeError, match=r"`live` maps keywords of the draw function to ipywidgets controls"):
        ml.explore(draw, {"task": [0, 1]}, live=[widgets.IntSlider(1, 1, 9)])


def test_initial_accepts_an_equal_number_of_another_type():
    import numpy as np
    page = ml.explore(draw, {"task": [np.int64(0), np.int64(1)]}, initial={"task": 1})._repr_html_()
    assert re.search(r'id="explore-[0-9a-f]+-[0-9]+-0-1" checked>', page)
