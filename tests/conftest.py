"""Shared test fixtures.

Omniglot data
    ``omniglot_root`` is the data root holding the three small official Omniglot files: the
    library's usual root (``$METALEARN_LITE_DATA`` if set, else ``~/.cache/metalearn_lite``).
    Files missing there are copied from ``../shared/data/omniglot`` next to the repository when
    that folder exists; otherwise the tests fail, saying how to get the files.

Network
    Tests never touch the internet. ``offline_omniglot`` points the Omniglot download URL at a
    closed local port; ``http_server`` serves a temporary folder on 127.0.0.1.

Timings
    Each chapter notebook's nbval time is written to ``_build/chapter_times.json`` and printed
    at the end of the run (chapters over 180 s are flagged, not failed), with the book's build
    and browser-check times (``book_timings``, filled by ``test_book.py``).
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

# Test workloads are small: one intra-op thread is as fast, steadier on a busy machine, and
# gives the same floating-point reductions everywhere (chapters set the same).
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_OMNIGLOT = REPO_ROOT.parent / "shared" / "data" / "omniglot"
SMALL_OMNIGLOT_FILES = ("images_background_small1", "images_background_small2", "all_runs")


@pytest.fixture(scope="session")
def omniglot_root() -> Path:
    """The data root, with the small Omniglot zips in its ``omniglot/`` folder (copied, never linked)."""
    from metalearn_lite.data.omniglot import OMNIGLOT_FILES, data_root

    root = data_root()
    folder = root / "omniglot"
    missing = []
    for name in SMALL_OMNIGLOT_FILES:
        filename = Path(OMNIGLOT_FILES[name][0]).name
        dest = folder / filename
        if dest.exists():
            continue
        source = SHARED_OMNIGLOT / filename
        if not source.exists():
            missing.append(filename)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{filename}.{os.getpid()}.copy"
        shutil.copyfile(source, partial)
        os.replace(partial, dest)
    if missing:
        pytest.fail(
            f"Omniglot files {missing} are not in {folder} and there is no {SHARED_OMNIGLOT} to copy them from; "
            "run `python -m metalearn_lite.data.omniglot` to download them, or set METALEARN_LITE_DATA "
            "to a folder whose omniglot/ subfolder holds them"
        )
    return root


def _closed_port_url() -> str:
    """``http://127.0.0.1:<port>/`` for a port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def unreachable_url() -> str:
    return _closed_port_url()


@pytest.fixture
def offline_omniglot(monkeypatch: pytest.MonkeyPatch, unreachable_url: str) -> str:
    """Make every Omniglot download in the test go to an unreachable local address."""
    monkeypatch.setenv("METALEARN_LITE_OMNIGLOT_URL", unreachable_url)
    return unreachable_url


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder; ``/truncated/...`` promises 100 kB and sends 1 kB, then hangs up."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/truncated/"):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@dataclass
class LocalServer:
    url: str  # ends with "/"
    folder: Path  # the files it serves


@pytest.fixture
def http_server(tmp_path: Path):
    """An HTTP server on 127.0.0.1 (background thread) serving the folder ``tmp_path/served``."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield LocalServer(f"http://127.0.0.1:{server.server_address[1]}/", folder)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)



#: small2's alphabets that small1 lacks: "new alphabets" for learners meta-trained on small1.
UNSEEN_ALPHABETS = ["Japanese_(katakana)", "Sanskrit", "Tagalog"]


@pytest.fixture(scope="session")
def omniglot(omniglot_root):
    """(meta-train, meta-test): small1, and the classes of small2's alphabets that small1 lacks."""
    import metalearn_lite as ml

    train = ml.load_omniglot("images_background_small1", progress=False)
    test, _ = ml.load_omniglot("images_background_small2", progress=False).split_by_alphabet(UNSEEN_ALPHABETS)
    assert not set(test.alphabet_names()) & set(train.alphabet_names())
    return train, test

# -- timings of the chapter notebooks and of the book checks ----------------------------------

CHAPTER_TIME_LIMIT_S = 180  # a chapter slower than this is flagged in the summary (not failed)
CHAPTER_TIMES = REPO_ROOT / "_build" / "chapter_times.json"


class _Timings:
    """Adds up each chapter notebook's nbval time (all its cells, kernel start included), writes
    them to _build/chapter_times.json and prints them, with the book's build and browser-check
    times, at the end of the run.

    A plugin object rather than plain hooks: hooks in tests/conftest.py only see the items
    under tests/, and nbval's items live under chapters/.
    """

    def __init__(self) -> None:
        self.chapters: dict[str, dict] = {}
        self.book: dict = {}  # filled by tests/test_book.py: build_s, pages_s

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = report.nodeid.split("::")[0]
        if not path.endswith(".ipynb"):
            return
        entry = self.chapters.setdefault(path, {"seconds": 0.0, "cells": 0, "failed_cells": 0})
        entry["seconds"] = round(entry["seconds"] + report.duration, 2)
        entry["cells"] += report.when == "call"
        entry["failed_cells"] += report.failed

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.chapters:
            CHAPTER_TIMES.parent.mkdir(parents=True, exist_ok=True)
            CHAPTER_TIMES.write_text(
                json.dumps({"limit_s": CHAPTER_TIME_LIMIT_S, "chapters": self.chapters}, indent=2) + "\n"
            )

    def pytest_terminal_summary(self, terminalreporter) -> None:
        write = terminalreporter.write_line
        if self.chapters:
            terminalreporter.section("chapter times (nbval)")
            for path, entry in self.chapters.items():
                slow = entry["seconds"] > CHAPTER_TIME_LIMIT_S
                flag = f"  SLOW: over {CHAPTER_TIME_LIMIT_S} s" if slow else ""
                write(f"{entry['seconds']:8.1f} s  {path} ({entry['cells']} cells){flag}", yellow=slow)
            write(f"written to {CHAPTER_TIMES.relative_to(REPO_ROOT)}")
        if self.book:
            terminalreporter.section("book")
            if "build_s" in self.book:
                write(f"{self.book['build_s']:8.1f} s  build (tasks.build_book)")
            pages = self.book.get("pages_s", {})
            if pages:
                slowest = max(pages, key=pages.get)
                write(f"{sum(pages.values()):8.1f} s  {len(pages)} pages checked in Chromium "
                      f"(slowest: {slowest}, {pages[slowest]:.1f} s); screenshots in _build/screenshots/")
            links = self.book.get("links")
            if links:  # test_every_link_anchor_and_reference_resolves
                write(f"{links['local links']:8d} local links ({links['anchors']} with an anchor) on {links['pages']} "
                      f"pages resolve; {links['citations']} citations, {links['doc_refs']} page references linked")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Timings(), "metalearn_lite_timings")


@pytest.fixture(scope="session")
def book_timings(pytestconfig: pytest.Config) -> dict:
    """Where tests/test_book.py records the build time and each page's browser-check time."""
    return pytestconfig.pluginmanager.get_plugin("metalearn_lite_timings").book
