"""The one-shot benchmark of Lake et al. (2015): 20 runs of 20-way 1-shot, error = wrong / 400."""
from __future__ import annotations

import ast
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from metalearn_lite.baselines import NearestNeighbour
from metalearn_lite.data import lake, omniglot, prepare
from metalearn_lite.data.lake import LakeResult, LakeRun, _read_runs, evaluate_lake, load_lake_runs

pytestmark = pytest.mark.usefixtures("offline_omniglot")


def test_twenty_runs_of_twenty(omniglot_root):
    runs = load_lake_runs(omniglot_root, progress=False)
    assert [r.name for r in runs] == [f"run{i:02d}" for i in range(1, 21)]
    for run in runs:
        assert run.support_x.shape == run.query_x.shape == (20, 1, 28, 28)
        assert run.support_x.dtype == torch.float32 and 0 < run.query_x.mean() < 0.2  # ink = 1
        assert torch.equal(run.support_y, torch.arange(20))
        assert run.query_y.dtype == torch.int64 and sorted(run.query_y.tolist()) == list(range(20))
    # run01/class_labels.txt starts "run01/test/item01.png run01/training/class08.png"
    assert runs[0].query_y[:3].tolist() == [7, 8, 1]
    episode = runs[0].episode()
    assert torch.equal(episode.query_y, runs[0].query_y) and episode.n_way == 20


def test_pixel_nearest_neighbour_beats_chance(omniglot_root):
    result = evaluate_lake(NearestNeighbour(), load_lake_runs(omniglot_root))
    assert isinstance(result, LakeResult)
    assert len(result.errors) == 20 and result.total == 400
    assert result.error == result.wrong / 400 == pytest.approx(sum(result.errors) / 20)
    assert result.error < 0.88  # chance is 19/20 = 95% error; pixel 1-NN makes about 79%
    assert json.loads(json.dumps(result.to_dict()))["wrong"] == result.wrong
    assert f"{result.error:.1%}" in str(result) and "Lake" in str(result)


def test_evaluator_on_made_up_runs():
    """Queries that are exact copies of the support images: pixel 1-NN is never wrong."""
    g = torch.Generator().manual_seed(0)
    runs = []
    for r in range(3):
        support = torch.rand(5, 1, 8, 8, generator=g)
        order = torch.randperm(5, generator=g)
        runs.append(LakeRun(support, torch.arange(5), support[order], order, f"run{r}"))
    assert evaluate_lake(NearestNeighbour(), runs).error == 0.0

    class AlwaysZero:  # always answers class 0: right once per run
        def adapt(self, support_x, support_y):
            return lambda query_x: torch.eye(5)[0].expand(len(query_x), 5)

    result = evaluate_lake(AlwaysZero(), runs)
    assert result.errors == [0.8] * 3 and result.wrong == 12 and result.total == 15


def test_evaluator_errors():
    run = LakeRun(torch.zeros(2, 1, 4, 4), torch.arange(2), torch.zeros(2, 1, 4, 4), torch.arange(2), "run")
    with pytest.raises(TypeError, match="adapt"):
        evaluate_lake(lambda x: x, [run])

    class WrongShape:
        def adapt(self, support_x, support_y):
            return lambda query_x: torch.zeros(len(query_x), 3)

    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        evaluate_lake(WrongShape(), [run])


def test_cache_is_keyed_by_image_size_and_replaces_the_zip(omniglot_root, tmp_path, monkeypatch):
    (tmp_path / "omniglot").mkdir()
    shutil.copyfile(omniglot_root / "omniglot" / "all_runs.zip", tmp_path / "omniglot" / "all_runs.zip")
    small = load_lake_runs(tmp_path, image_size=14, progress=False)
    assert small[0].support_x.shape == (20, 1, 14, 14)
    reference = load_lake_runs(omniglot_root)
    assert torch.equal(load_lake_runs(tmp_path)[5].query_x, reference[5].query_x)
    assert len(list((tmp_path / "omniglot" / "processed").glob("all_runs-*.npz"))) == 2
    (tmp_path / "omniglot" / "all_runs.zip").unlink()
    monkeypatch.setattr(omniglot, "md5sum", lambda path: pytest.fail("the cache should make hashing unnecessary"))
    again = load_lake_runs(tmp_path, image_size=14, download=False)
    assert all(torch.equal(a.support_x, b.support_x) and torch.equal(a.query_y, b.query_y) for a, b in zip(small, again))


def _imports(path) -> set[str]:
    """The modules ``path`` imports, outside its ``if __name__ == "__main__":`` block, as absolute names."""
    package = ["metalearn_lite", "data"]
    found = set()
    todo = [ast.parse(path.read_text())]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) + 1 - node.level]) + "." if node.level else ""
            found.add(base + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        todo.extend(ast.iter_child_nodes(node))
    return found


def test_omniglot_does_not_import_lake():
    """lake.py builds on omniglot.py; the command that prepares both lives in prepare.py."""
    data = Path(omniglot.__file__).parent
    assert "metalearn_lite.data.omniglot" in _imports(data / "lake.py")
    assert not {"metalearn_lite.data.lake", "metalearn_lite.data.prepare"} & _imports(data / "omniglot.py")
    assert prepare.load_lake_runs is lake.load_lake_runs


def test_prepare_command(omniglot_root, tmp_path, capsys):
    (tmp_path / "omniglot").mkdir()
    shutil.copyfile(omniglot_root / "omniglot" / "all_runs.zip", tmp_path / "omniglot" / "all_runs.zip")
    prepare.main(["all_runs", "--root", str(tmp_path), "--image-size", "14"])
    assert "all_runs: 20 one-shot runs at 14px" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="failed: images_background_small2"):
        prepare.main(["images_background_small2", "--root", str(tmp_path)])


def test_label_files_have_the_documented_format(omniglot_root):
    """Every line of every class_labels.txt is ``runRR/test/itemNN.png runRR/training/classMM.png``."""
    with zipfile.ZipFile(omniglot_root / "omniglot" / "all_runs.zip") as archive:
        files = sorted(n for n in archive.namelist() if n.endswith("class_labels.txt"))
        assert files == [f"run{r:02d}/class_labels.txt" for r in range(1, 21)]
        for name in files:
            run = name.split("/")[0]
            text = archive.read(name).decode()
            lines = text.split("\n")
            assert lines[-1] == "" and "\r" not in text  # LF line ends, the last line ended too
            pairs = [re.fullmatch(rf"{run}/test/item(\d\d)\.png {run}/training/class(\d\d)\.png", line) for line in lines[:-1]]
            assert all(pairs), name
            assert [int(p[1]) for p in pairs] == list(range(1, 21))
            assert sorted(int(p[2]) for p in pairs) == list(range(1, 21))
        first = archive.read("run01/class_labels.txt").decode().splitlines()[0]
    assert first == "run01/test/item01.png run01/training/class08.png"
    assert f"    {first}\n" in lake.__doc__


def test_label_line_naming_another_run_is_refused(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.full((105, 105), 255, np.uint8)).convert("1").save(buffer, format="PNG")
    blank = buffer.getvalue()
    path = tmp_path / "all_runs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member in ("run01/training/class01.png", "run01/test/item01.png", "run02/training/class01.png", "run02/test/item01.png"):
            archive.writestr(member, blank)
        archive.writestr("run01/class_labels.txt", "run01/test/item01.png run01/training/class01.png\n")
        archive.writestr("run02/class_labels.txt", "run02/test/item01.png run01/training/class01.png\n")
    with pytest.raises(ValueError, match=r"unexpected line 'run02/test/item01.png run01/training/class01.png' in run02/class_labels.txt"):
        _read_runs(path, 28)
