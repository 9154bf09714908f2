"""One place for the repository's address: tasks.py writes it into _config.yml and the install cells."""
import json
import shutil
import sys
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import tasks  # noqa: E402


@pytest.fixture
def copy_of_book(tmp_path, monkeypatch):
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "chapters").mkdir()
    for nb in sorted((ROOT / "chapters").glob("*.ipynb"))[:2]:
        shutil.copy(nb, tmp_path / "chapters" / nb.name)
    monkeypatch.setattr(tasks, "ROOT", tmp_path)
    return tmp_path


def install_cell(folder):
    nb = json.loads(next((folder / "chapters").glob("*.ipynb")).read_text(encoding="utf-8"))
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


def test_set_repository_writes_config_and_install_cells(copy_of_book):
    changed = tasks.set_repository("https://github.com/someone/metalearn-lite")
    assert copy_of_book / "_config.yml" in changed and len(changed) == 3
    config = (copy_of_book / "_config.yml").read_text()
    assert 'url: "https://github.com/someone/metalearn-lite"' in config and "colab_url:" in config
    assert "use_repository_button: true" in config
    assert "REPOSITORY = 'https://github.com/someone/metalearn-lite'" in install_cell(copy_of_book)
    assert tasks.set_repository("https://github.com/someone/metalearn-lite") == []  # nothing left to change
    tasks.set_repository(None)
    config = (copy_of_book / "_config.yml").read_text()
    assert "launch_buttons: {}" in config and "use_repository_button: false" in config
    assert "REPOSITORY = None" in install_cell(copy_of_book)
    with pytest.raises(SystemExit, match="not an https address"):
        tasks.set_repository("github.com/x y")


def test_committed_book_has_no_placeholder_owner():
    for path in [ROOT / "_config.yml", ROOT / "README.md", *(ROOT / "chapters").glob("*.ipynb")]:
        assert "OWNER" not in path.read_text(encoding="utf-8"), path


def run_install_cell(source, monkeypatch, installed: bool):
    code = TransformerManager().transform_cell(source)
    calls = []

    class FakeIPython:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    if not installed:
        monkeypatch.setitem(sys.modules, "metalearn_lite", None)  # import fails with ImportError
    namespace = {"get_ipython": FakeIPython}
    exec(code, namespace)
    return calls


def test_install_cell_installs_from_the_address_or_says_what_to_do(monkeypatch):
    known = tasks.INSTALL_CELL.format(url="https://github.com/someone/metalearn-lite")
    assert run_install_cell(known, monkeypatch, installed=True) == []
    # IPython expands {REPOSITORY} in the magic's line itself
    assert run_install_cell(known, monkeypatch, installed=False) == [("pip", 'install -q "git+{REPOSITORY}"')]
    with pytest.raises(ImportError, match="does not know its repository: run `pip install git"):
        run_install_cell(tasks.INSTALL_CELL.format(url=None), monkeypatch, installed=False)


def test_every_chapter_starts_with_the_install_cell_tasks_writes():
    """So that `tasks.py repository URL` finds and rewrites each one (it matches the first line)."""
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    configured = json.loads(config.split("repository:\n  url: ", 1)[1].split("\n", 1)[0]) or None
    for nb in sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        first = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
        assert first == tasks.INSTALL_CELL.format(url=configured).rstrip("\n"), (
            f"{nb.name}: its first code cell is not the install cell; run `python3 tasks.py repository "
            f"--unset` (or `repository URL`) to write it")
