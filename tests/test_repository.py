"""One place for the repository's address: tasks.py writes it into _config.yml and the install cells."""
import json
import re
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
    (tmp_path / "metalearn_lite").mkdir()
    (tmp_path / "metalearn_lite" / "__init__.py").write_text('"""The library."""\n__version__ = "1.2.0"\n')
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## 1.2.0\n\n- More.\n\n## 1.1.0 - 2026-01-02\n\n- Less.\n")
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
    assert 'baseurl: "https://someone.github.io/metalearn-lite/"' in config  # html_baseurl: the Pages address
    assert "REPOSITORY = 'https://github.com/someone/metalearn-lite'" in install_cell(copy_of_book)
    assert tasks.set_repository("https://github.com/someone/metalearn-lite") == []  # nothing left to change
    tasks.set_repository(None)
    config = (copy_of_book / "_config.yml").read_text()
    assert "launch_buttons: {}" in config and "use_repository_button: false" in config
    assert 'baseurl: ""' in config
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
    known = tasks.install_cell("https://github.com/someone/metalearn-lite", None)
    assert run_install_cell(known, monkeypatch, installed=True) == []
    # IPython expands {REPOSITORY} in the magic's line itself
    assert run_install_cell(known, monkeypatch, installed=False) == [("pip", 'install -q "git+{REPOSITORY}"')]
    with pytest.raises(ImportError, match="does not know its repository: run `pip install git"):
        run_install_cell(tasks.install_cell(None, None), monkeypatch, installed=False)


def test_install_cell_prefers_the_release():
    """With a released version the cell installs it by name, address or not (and nothing when installed)."""
    for url in ("https://github.com/someone/metalearn-lite", None):
        cell = tasks.install_cell(url, "1.1.0")
        assert "RELEASE = '1.1.0'" in cell
        namespace = {}
        exec(TransformerManager().transform_cell(cell).replace("import metalearn_lite", "raise ImportError"),
             {"get_ipython": lambda: type("IPython", (), {"run_line_magic": lambda self, name, line:
                                                           namespace.setdefault("calls", []).append((name, line))})()})
        assert namespace["calls"] == [("pip", 'install -q "metalearn-lite=={RELEASE}"')]


def test_pages_url_follows_the_repository():
    assert tasks.pages_url("https://github.com/SomeOne/metalearn-lite") == "https://someone.github.io/metalearn-lite/"
    assert tasks.pages_url("https://github.com/someone/metalearn-lite.git") == "https://someone.github.io/metalearn-lite/"
    assert tasks.pages_url("https://github.com/someone/someone.github.io") == "https://someone.github.io/"
    assert tasks.pages_url("https://gitlab.com/someone/metalearn-lite") is None
    assert tasks.pages_url(None) is None


def test_release_dates_the_changelog_and_pins_the_install_cells(copy_of_book, capsys):
    """An undated version is not released: cells install from the repository; `release` changes both."""
    tasks.set_repository("https://github.com/someone/metalearn-lite")
    assert tasks.version() == "1.2.0" and tasks.released_version() is None  # 1.1.0 is dated, but the code is 1.2.0
    assert "RELEASE = None" in install_cell(copy_of_book)
    assert tasks.release(["--check", "v1.2.0"]) == 1  # not released yet
    assert tasks.release([]) == 0
    assert re.search(r"^## 1\.2\.0 - \d{4}-\d{2}-\d{2}$", (copy_of_book / "CHANGELOG.md").read_text(), re.M)
    assert tasks.released_version() == "1.2.0"
    assert "RELEASE = '1.2.0'" in install_cell(copy_of_book)
    assert "REPOSITORY = 'https://github.com/someone/metalearn-lite'" in install_cell(copy_of_book)
    assert tasks.release(["--check", "v1.2.0"]) == 0
    assert tasks.release(["--check", "v1.1.0"]) == 1  # the tag must be the version
    assert "not v1.2.0" in capsys.readouterr().out
    # the next version in development: the cells go back to the repository when rewritten
    (copy_of_book / "metalearn_lite" / "__init__.py").write_text('__version__ = "1.3.0.dev0"\n')
    tasks.set_repository("https://github.com/someone/metalearn-lite")
    assert "RELEASE = None" in install_cell(copy_of_book)


def test_released_version_is_the_version_of_this_code():
    """The install cells pin a release only when CHANGELOG.md dates the version in metalearn_lite/__init__.py."""
    import metalearn_lite

    assert tasks.version() == metalearn_lite.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## {re.escape(tasks.version())}( - \d{{4}}-\d{{2}}-\d{{2}})?$", changelog, re.M), (
        f"CHANGELOG.md has no heading for {tasks.version()}")


def test_every_chapter_starts_with_the_install_cell_tasks_writes():
    """So that `tasks.py repository URL` finds and rewrites each one (it matches the first line)."""
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    configured = json.loads(config.split("repository:\n  url: ", 1)[1].split("\n", 1)[0]) or None
    for nb in sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        first = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
        assert first == tasks.install_cell(configured, tasks.released_version()).rstrip("\n"), (
            f"{nb.name}: its first code cell is not the install cell; run `python3 tasks.py repository "
            f"--unset` (or `repository URL`) to write it")
