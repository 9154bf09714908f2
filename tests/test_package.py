"""The package as PyPI would get it: `python -m build` makes an sdist and a wheel, `twine check`
passes, the wheel holds the library and only the library, and -- installed into a fresh virtual
environment with nothing but pip, PyTorch, the wheel's own dependencies and ipywidgets (which the
chapter imports itself for its live controls) -- it runs a chapter.

The archives are built once per session by ``tasks.build_dist`` (the function behind
``python3 tasks.py dist`` and the release workflow), into a temporary folder. The contents of
the wheel are written to ``_build/package.txt``.

The chapter (4.1, MAML: no data to download, no benchmark results to read) runs as a script, not
in a kernel: its code cells, with IPython's own input transformer turning magics into calls,
executed one after another by the fresh environment's Python from a folder outside the
repository. A kernel would need ipykernel and a Jupyter client in that environment, and they would
bring along packages (packaging, psutil, pyzmq, tornado, ...) that could hide a dependency the
wheel forgot to declare; as a script, the chapter sees the wheel, what it declares and ipywidgets. Its ``claim`` calls
check the results the text states, so a chapter that runs is a chapter that still holds.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import tasks  # noqa: E402

CHAPTER = ROOT / "chapters" / "04_1_maml.ipynb"
CHAPTER_NEEDS = ["ipywidgets"]  # imported by the chapter's own cells (live controls), not by the library
WHEEL_MAX_BYTES = 1 << 20  # the library is ~200 KB of Python: a megabyte means something else got in

# Runs the chapter's code cells (a JSON list of transformed sources) in one namespace, as a kernel
# would; `%matplotlib inline` becomes the Agg backend, `%%time` runs its cell, other magics fail.
RUNNER = r"""
import json, sys, time
import matplotlib
matplotlib.use("Agg")

class Shell:
    def run_line_magic(self, name, line):
        if name != "matplotlib":
            raise RuntimeError(f"%{name} {line}: this script runs the chapter without a kernel")

    def run_cell_magic(self, name, line, body):
        if name != "time":
            raise RuntimeError(f"%%{name}: this script runs the chapter without a kernel")
        exec(compile(body, "<%%time cell>", "exec"), namespace)

def display(*objects, **kwargs):
    for obj in objects:
        print(repr(obj)[:200])

namespace = {"__name__": "__main__", "get_ipython": Shell, "display": display}
cells = json.load(open(sys.argv[1], encoding="utf-8"))
start = time.monotonic()
for index, source in enumerate(cells):
    exec(compile(source, f"<code cell {index}>", "exec"), namespace)
import metalearn_lite
print(f"cells run: {len(cells)} in {time.monotonic() - start:.0f} s")
print(f"library: {metalearn_lite.__version__} from {metalearn_lite.__file__}")
"""


@pytest.fixture(scope="session")
def archives(tmp_path_factory) -> tuple[Path, Path]:
    """(sdist, wheel), built and checked by tasks.build_dist (build, twine check --strict, contents)."""
    start = time.monotonic()
    try:
        sdist, wheel = tasks.build_dist(outdir=tmp_path_factory.mktemp("dist"))
    except SystemExit as error:
        pytest.fail(f"building or checking the package failed: {error}")
    with zipfile.ZipFile(wheel) as archive:
        listing = [f"{info.file_size:9d}  {info.filename}" for info in archive.infolist()]
    report = ROOT / "_build" / "package.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(
        "\n".join(listing) + f"\n\n{wheel.name}: {wheel.stat().st_size} bytes\n{sdist.name}: {sdist.stat().st_size} bytes\n"
        f"built and checked in {time.monotonic() - start:.0f} s\n", encoding="utf-8")
    return sdist, wheel


def test_wheel_holds_the_library_only(archives):
    sdist, wheel = archives
    assert tasks.dist_problems(sdist, wheel) == []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"metalearn_lite-{tasks.version()}.dist-info/METADATA").decode()
    assert "metalearn_lite/__init__.py" in names and "metalearn_lite/gradient/maml.py" in names
    assert not any(n.endswith((".ipynb", ".json", ".zip", ".npz", ".md")) for n in names), names
    assert wheel.stat().st_size < WHEEL_MAX_BYTES
    assert f"Version: {tasks.version()}" in metadata and "License-Expression: MIT" in metadata
    assert "Description-Content-Type: text/markdown" in metadata  # the README, as PyPI shows it


def test_sdist_holds_no_book_tests_or_data(archives):
    sdist, _ = archives
    with tarfile.open(sdist) as archive:
        names = [m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile()]
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "PKG-INFO"} <= set(names)
    assert not [n for n in names if n.startswith(("chapters/", "tests/", "benchmarks/", "book/", "data/", "_"))]


def test_version_is_written_in_one_place():
    """pyproject.toml reads metalearn_lite.__version__; no other file states it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "metalearn_lite.__version__"}
    stated = [p.relative_to(ROOT).as_posix() for p in (ROOT / "metalearn_lite").rglob("*.py")
              if "__version__ =" in p.read_text(encoding="utf-8")]
    assert stated == ["metalearn_lite/__init__.py"]


def test_wheel_runs_a_chapter_in_a_fresh_environment(archives, tmp_path):
    _, wheel = archives
    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = tasks.tool(env_dir, "python")
    # nothing of this repository's environment leaks in: no PYTHONPATH, no active environment
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["MPLBACKEND"] = "Agg"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + [tasks.TORCH], check=True, env=env, cwd=tmp_path)  # first, alone: see tasks.TORCH
    subprocess.run(pip + ["-c", str(tasks.CONSTRAINTS), str(wheel), *CHAPTER_NEEDS], check=True, env=env, cwd=tmp_path)
    frozen = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, env=env).stdout
    assert not re.search(r"^(ipykernel|jupyter[-_]client|nbclient)==", frozen, re.I | re.M), frozen

    from IPython.core.inputtransformer2 import TransformerManager

    nb = json.loads(CHAPTER.read_text(encoding="utf-8"))
    cells = [TransformerManager().transform_cell("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code"]
    (tmp_path / "cells.json").write_text(json.dumps(cells), encoding="utf-8")
    (tmp_path / "run_chapter.py").write_text(RUNNER, encoding="utf-8")
    workdir = tmp_path / "reader"  # outside the repository: nothing to import from a source tree
    workdir.mkdir()
    result = subprocess.run([str(python), str(tmp_path / "run_chapter.py"), str(tmp_path / "cells.json")],
                            capture_output=True, text=True, cwd=workdir, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"cells run: {len(cells)}" in result.stdout
    library = re.search(r"^library: (\S+) from (.+)$", result.stdout, re.M)
    assert library and library.group(1) == tasks.version()
    assert Path(library.group(2)).resolve().is_relative_to(env_dir.resolve()), "the chapter did not use the wheel"
