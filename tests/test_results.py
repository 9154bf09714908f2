"""Reading benchmark reports: missing files, broken files, and how results are printed."""
import json

import pytest

from metalearn_lite.results import LAKE_ANCHORS, format_result, load_report


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
