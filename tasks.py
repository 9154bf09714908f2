#!/usr/bin/env python3
"""The project's Makefile, in plain Python (standard library only).

    python3 tasks.py book    set up the environment, build the book into _build/html
    python3 tasks.py test    set up the environment, run pytest (tests/ + chapter notebooks)
    python3 tasks.py lab     open JupyterLab on chapters/
    python3 tasks.py clean   delete build outputs and caches (--venv: also .venv/)

Which environment: an already-active one is respected -- $VIRTUAL_ENV, or a conda
environment other than `base` ($CONDA_PREFIX) -- otherwise .venv/ in the repository is
created and used. Installing is skipped while a stamp file in that environment matches
a hash of pyproject.toml (plus this script's pins); edit pyproject.toml, or run
`clean --venv`, to install again. Extra arguments after `test` go to pytest, after
`lab` to JupyterLab (e.g. --no-browser).
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TORCH = "torch==2.13.0"  # installed first, alone: an unpinned torch pulls a multi-GB CUDA build
EXTRAS = ".[book,test]"
SANITIZE = "chapters/nbval_sanitize.cfg"


def run(cmd: list, env_dir: Path | None = None, check: bool = True) -> int:
    """Print a command, run it from the repo root (with env_dir 'activated'), return its status."""
    print(f"\n==> {shlex.join(str(c) for c in cmd)}", flush=True)
    env = dict(os.environ)
    if env_dir is not None:
        env["VIRTUAL_ENV"] = str(env_dir)
        env["PATH"] = str(bin_dir(env_dir)) + os.pathsep + env.get("PATH", "")
    start = time.monotonic()
    try:
        code = subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)
    except KeyboardInterrupt:
        code = 130
    print(f"    ({time.monotonic() - start:.0f} s, exit {code})", flush=True)
    if check and code != 0:
        sys.exit(code)
    return code


def bin_dir(env_dir: Path) -> Path:
    for sub in ("bin", "Scripts", "."):  # venv on POSIX, venv on Windows, conda on Windows
        if (env_dir / sub / ("python.exe" if os.name == "nt" else "python")).exists():
            return env_dir / sub
    return env_dir / ("Scripts" if os.name == "nt" else "bin")


def tool(env_dir: Path, name: str) -> Path:
    return bin_dir(env_dir) / (name + (".exe" if os.name == "nt" else ""))


def environment() -> Path:
    """The active virtual/conda environment if there is one, else .venv/ (created if missing)."""
    if os.environ.get("VIRTUAL_ENV"):
        env_dir = Path(os.environ["VIRTUAL_ENV"])
        print(f"Using the active virtual environment {env_dir}")
    elif os.environ.get("CONDA_PREFIX") and os.environ.get("CONDA_DEFAULT_ENV", "base") != "base":
        env_dir = Path(os.environ["CONDA_PREFIX"])
        print(f"Using the active conda environment {env_dir}")
    else:
        env_dir = ROOT / ".venv"
        if not tool(env_dir, "python").exists():
            run([sys.executable, "-m", "venv", env_dir])
    return env_dir


def setup() -> Path:
    """Make sure the environment has torch and this package with its book and test extras."""
    env_dir = environment()
    python = tool(env_dir, "python")
    stamp = env_dir / ".metalearn-lite-installed"
    key = hashlib.sha256(
        ((ROOT / "pyproject.toml").read_bytes() + f"{TORCH}|{EXTRAS}|{ROOT}".encode())
    ).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == key:
        print(f"{env_dir.name}: up to date with pyproject.toml (skipping pip install)")
        return env_dir
    if subprocess.call([str(python), "-c", "import torch"], stderr=subprocess.DEVNULL) != 0:
        run([python, "-m", "pip", "install", TORCH], env_dir)
    run([python, "-m", "pip", "install", "-e", EXTRAS], env_dir)
    stamp.write_text(key + "\n")
    return env_dir


def book() -> int:
    env_dir = setup()
    # --all: an incremental build does not repeat the warnings of unchanged pages, and
    # would pass where a fresh one fails (notebooks are not executed, so this is cheap).
    run([tool(env_dir, "jupyter-book"), "build", ".", "--all", "--warningiserror", "--keep-going"], env_dir)
    index = ROOT / "_build" / "html" / "index.html"
    print(f"\nThe book is built. Open it in a browser:\n    {index.as_uri()}")
    return 0


def test(pytest_args: list[str]) -> int:
    env_dir = setup()
    cmd = [tool(env_dir, "python"), "-m", "pytest", "tests"]
    if any((ROOT / "chapters").glob("*.ipynb")):
        cmd += ["chapters", "--nbval", "--nbval-current-env", "--nbval-sanitize-with", SANITIZE]
    return run(cmd + pytest_args, env_dir, check=False)


def lab(lab_args: list[str]) -> int:
    env_dir = setup()
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # e.g. in a container; JupyterLab refuses root otherwise
        lab_args = ["--allow-root", *lab_args]
    return run([tool(env_dir, "python"), "-m", "jupyter", "lab", "chapters", *lab_args], env_dir, check=False)


def clean(args: list[str]) -> int:
    paths = [ROOT / p for p in ("_build", ".pytest_cache", ".hypothesis", "build")]
    paths += ROOT.glob("*.egg-info")
    for folder in ("metalearn_lite", "tests", "benchmarks", "chapters", "book"):
        paths += (ROOT / folder).rglob("__pycache__")
        paths += (ROOT / folder).rglob(".ipynb_checkpoints")
    if "--venv" in args:
        paths.append(ROOT / ".venv")
    for path in paths:
        if path.exists():
            print(f"==> rm -r {path.relative_to(ROOT)}")
            shutil.rmtree(path)
    return 0


def main(argv: list[str]) -> int:
    args = argv[1:]
    commands = {"book": book, "test": lambda: test(args), "lab": lambda: lab(args), "clean": lambda: clean(args)}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 0 if argv[:1] in (["-h"], ["--help"], ["help"]) else 2
    if argv[0] == "book" and args:
        print("`book` takes no arguments")
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
