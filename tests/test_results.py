"""Reading benchmark reports: missing files, broken files, and how results are printed."""
import json

import pytest

from html.parser import HTMLParser

from metalearn_lite.results import LAKE_ANCHORS, Table, format_result, load_report


def test_missing_report_is_none(tmp_path):
    assert load_report(tmp_path / "not_run_yet.json") is None


def test_report_round_trip(tmp_path):
    report = {"config": {"method": "protonet"}, "training": {"seconds": 60.0, "steps": 10},
              "results": {"5way_1shot": {"mean": 0.9523, "ci95": 0.0047}, "lake_20way_1shot": {"error": 0.1275}}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    assert load_report(path) == report


@pytest.mark.parametrize("text, message", [("{not json", "not valid JSON"), ('{"config": {}}', "not a benchmark report")])
def test_broken_report_names_the_file(tmp_path, text, message):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_report(path)
    assert "broken.json" in str(info.value)


def test_format_result():
    assert format_result({"mean": 0.9523, "ci95": 0.0047}) == "95.2% ± 0.5%"
    assert format_result({"error": 0.1275}) == "12.8%"
    assert format_result({"error": 0.1275}, digits=2) == "12.75%"
    assert format_result({"skipped": "5-way head"}) == "—"
    assert format_result(None) == "—"


def test_anchors_are_the_published_minimal_condition():
    assert LAKE_ANCHORS["small1"] == {"deep ConvNet": 0.240, "BPL": 0.043}
    assert LAKE_ANCHORS["small2"] == {"deep ConvNet": 0.223, "BPL": 0.040}


def test_table_as_text_aligns_columns_and_right_aligns_numbers():
    table = Table(["method", "accuracy", "steps"], [["MAML", "88.8% ± 0.8%", 4800], ["Reptile", "—", 550]],
                  notes=["* a note"])
    assert str(table).split("\n") == [
        "method       accuracy  steps",
        "----------------------------",
        "MAML     88.8% ± 0.8%   4800",
        "Reptile             —    550",
        "* a note",
    ]
    assert repr(table) == str(table)


class _Cells(HTMLParser):
    """The text of every <th>/<td>, row by row, and each cell's style."""

    def __init__(self):
        super().__init__()
        self.rows, self.styles, self._in_cell = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td"):
            self.rows[-1].append("")
            self.styles.append(dict(attrs).get("style"))
            self._in_cell = True

    def handle_endtag(self, tag):
        self._in_cell = self._in_cell and tag not in ("th", "td")

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data


def test_table_as_html_holds_the_same_cells_escaped():
    rows = [["<b>not bold</b> & co", "1.0"], ["x", ""]]
    html = Table(["name", "value"], rows)._repr_html_()
    assert "<b>" not in html and "&lt;b&gt;" in html
    parser = _Cells()
    parser.feed(html)
    assert parser.rows == [["name", "value"], *rows]
    assert parser.styles[:2] == ["text-align:left", "text-align:right; white-space:nowrap"]


def test_table_rejects_a_row_of_the_wrong_length():
    with pytest.raises(ValueError, match="row 1 has 1 cells but the header has 2"):
        Table(["a", "b"], [["1", "2"], ["3"]])
