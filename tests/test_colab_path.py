"""The Colab path, as far as this machine allows: a runtime without the library installs it from the
chapter's own first cell, then runs the chapter.

A fresh virtual environment gets only what a Colab runtime already has (PyTorch, matplotlib,
ipykernel, ipywidgets, a notebook runner) — not this package. Chapter 4.2's install cell, with its
repository address pointed at this repository (``git+file://``, the committed HEAD), must install
the library with ``%pip``, and every cell of the chapter must then run without an error.
"""
from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import tasks  # noqa: E402

CHAPTER = ROOT / "chapters" / "04_2_matching_networks.ipynb"
COLAB_HAS = [tasks.TORCH, "matplotlib", "ipykernel", "ipywidgets", "nbclient", "numpy", "pillow", "tqdm"]

RUN = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
print("cells run:", sum(c.cell_type == "code" for c in nb.cells), "errors:", len(errors))
"""


def test_install_cell_installs_the_library_in_a_fresh_runtime(tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.fail("this test installs the library from the repository's git HEAD: run it in a git clone")
    env_dir = tmp_path / "colab"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + [tasks.TORCH], check=True)  # first, alone: see tasks.TORCH
    subprocess.run(pip + ["-c", str(tasks.CONSTRAINTS), *COLAB_HAS[1:]], check=True)
    missing = subprocess.run([str(python), "-c", "import metalearn_lite"], capture_output=True, cwd=tmp_path)
    assert missing.returncode != 0, "the fresh runtime must not have the library yet"

    nb = json.loads(CHAPTER.read_text(encoding="utf-8"))
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    first["source"] = tasks.install_cell(f"file://{ROOT}", None).splitlines(keepends=True)
    copy = tmp_path / CHAPTER.name
    copy.write_text(json.dumps(nb), encoding="utf-8")
    workdir = tmp_path / "chapters"  # where a chapter runs from; no library source next to it
    workdir.mkdir()
    result = subprocess.run([str(python), "-c", RUN, str(copy), str(workdir)], capture_output=True, text=True,
                            cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "errors: 0" in result.stdout
    installed = subprocess.run([str(python), "-c", "import metalearn_lite; print(metalearn_lite.__file__)"],
                               capture_output=True, text=True, cwd=workdir)
    assert str(env_dir) in installed.stdout, "the install cell did not install the library into the runtime"
