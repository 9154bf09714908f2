"""The Omniglot caches are checked on every read, rebuilt with a warning when they cannot be
trusted, written atomically, and skipped (with a warning) where they cannot be written."""
from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from metalearn_lite.data import cache
from metalearn_lite.data.cache import arrays_sha256
from metalearn_lite.data.lake import load_lake_runs
from metalearn_lite.data.omniglot import _cache_path, load_omniglot

pytestmark = pytest.mark.usefixtures("offline_omniglot")

SET = "images_background_small1"


@pytest.fixture
def fresh_root(omniglot_root, tmp_path) -> Path:
    """A data root holding copies of small1 and all_runs, and no cache yet."""
    (tmp_path / "omniglot").mkdir()
    for filename in (f"{SET}.zip", "all_runs.zip"):
        shutil.copyfile(omniglot_root / "omniglot" / filename, tmp_path / "omniglot" / filename)
    return tmp_path


@pytest.fixture
def reference(omniglot_root):
    return load_omniglot(SET, root=omniglot_root, progress=False)


def load_quietly(root: Path, name: str = SET):
    """Load with every warning an error: a good cache is read without a word."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_lake_runs(root) if name == "all_runs" else load_omniglot(name, root=root, download=False)


def rebuilt(root: Path, problem: str, name: str = SET):
    """Load, expecting a warning that names the cache file and ``problem``; then check that the
    rebuilt file reads back without a warning."""
    path = _cache_path(root, name, 28)
    with pytest.warns(UserWarning, match=re.escape(str(path)) + r" cannot be used: .*" + problem + r".*rebuilding it from the zip"):
        loaded = load_lake_runs(root) if name == "all_runs" else load_omniglot(name, root=root, download=False)
    load_quietly(root, name)
    return loaded


def stored(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def test_empty_cache_file_is_rebuilt(fresh_root, reference):
    path = _cache_path(fresh_root, SET, 28)
    path.parent.mkdir()
    path.write_bytes(b"")
    assert torch.equal(rebuilt(fresh_root, "unreadable").x, reference.x)


def test_truncated_cache_file_is_rebuilt(fresh_root, reference):
    load_quietly(fresh_root)
    path = _cache_path(fresh_root, SET, 28)
    path.write_bytes(path.read_bytes()[:1000])
    assert torch.equal(rebuilt(fresh_root, "unreadable").x, reference.x)


@pytest.mark.parametrize("keep", [["y", "class_names", "alphabets"], ["x", "y", "class_names", "alphabets"]], ids=["no x", "no check entries"])
def test_cache_file_missing_entries_is_rebuilt(fresh_root, reference, keep):
    load_quietly(fresh_root)
    path = _cache_path(fresh_root, SET, 28)
    arrays = stored(path)
    np.savez(path, **{k: arrays[k] for k in keep})
    assert torch.equal(rebuilt(fresh_root, "incomplete").y, reference.y)


def _zeros(a):
    a["x"] = np.zeros_like(a["x"])


def _shuffled_labels(a):
    a["y"] = np.random.default_rng(0).permutation(a["y"])


def _uint8(a):
    a["x"] = (a["x"] * 255).astype(np.uint8)


def _wrong_shape(a):
    a["x"] = np.ascontiguousarray(a["x"][:, :, :27, :27])


def _uint8_checksum_redone(a):
    _uint8(a)
    a["_sha256"] = np.array(arrays_sha256({k: v for k, v in a.items() if not k.startswith("_")}))


def _labels_out_of_range_checksum_redone(a):
    a["y"] = a["y"] + 1
    a["_sha256"] = np.array(arrays_sha256({k: v for k, v in a.items() if not k.startswith("_")}))


def _other_source(a):
    a["_source_md5"] = np.array("0" * 32)


def _old_format(a):
    a["_format"] = np.array(1)


FORGERIES = {
    "all zeros": (_zeros, "do not match the sha256 stored with them"),
    "shuffled labels": (_shuffled_labels, "do not match the sha256 stored with them"),
    "uint8": (_uint8, re.escape("x has dtype uint8, expected float32")),
    "wrong shape": (_wrong_shape, re.escape("x has shape (2720, 1, 27, 27), expected (M, 1, 28, 28) with M = 2720")),
    "uint8, checksum redone": (_uint8_checksum_redone, "x has dtype uint8, expected float32"),
    "labels out of range, checksum redone": (_labels_out_of_range_checksum_redone, "y has labels from 1 to 136, expected 0 to 135"),
    "other source": (_other_source, "built from a file with md5 0+, expected e704a628b5459e08445c13499850abc4"),
    "old format": (_old_format, "cache format 1, expected 2"),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_cache_is_rebuilt(fresh_root, reference, forgery):
    forge, problem = FORGERIES[forgery]
    load_quietly(fresh_root)
    path = _cache_path(fresh_root, SET, 28)
    arrays = stored(path)
    forge(arrays)
    np.savez(path, **arrays)
    ds = rebuilt(fresh_root, problem)
    assert torch.equal(ds.x, reference.x) and torch.equal(ds.y, reference.y) and ds.class_names == reference.class_names


def test_forged_lake_cache_is_rebuilt(fresh_root, omniglot_root):
    reference = load_lake_runs(omniglot_root)
    load_quietly(fresh_root, "all_runs")
    path = _cache_path(fresh_root, "all_runs", 28)
    arrays = stored(path)
    arrays["query_y"] = np.ascontiguousarray(arrays["query_y"][:, ::-1])
    np.savez(path, **arrays)
    runs = rebuilt(fresh_root, "do not match the sha256", "all_runs")
    assert all(torch.equal(a.query_y, b.query_y) for a, b in zip(runs, reference))


def test_read_only_folder_without_cache_loads_in_memory(fresh_root, reference, monkeypatch):
    folder = fresh_root / "omniglot"
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: fail the way the OS would
            def denied(parent, name):
                raise PermissionError(errno.EACCES, "Permission denied", str(parent))

            monkeypatch.setattr(cache, "temporary_file", denied)
        path = _cache_path(fresh_root, SET, 28)
        match = re.escape(f"the cache {path} could not be written (PermissionError") + ".*built in memory.*writable"
        with pytest.warns(UserWarning, match=match):
            ds = load_omniglot(SET, root=fresh_root, download=False)
        assert torch.equal(ds.x, reference.x)
        assert not path.exists() and not [p for p in folder.rglob("*") if p.name.startswith(".")]
    finally:
        folder.chmod(stat.S_IRWXU)


def _failing_savez(error):
    def savez(f, **arrays):
        f.write(b"half a cache")
        raise error

    return savez


def test_failed_write_leaves_no_file(fresh_root, reference, monkeypatch):
    processed = fresh_root / "omniglot" / "processed"
    monkeypatch.setattr(cache.np, "savez", _failing_savez(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.warns(UserWarning, match="could not be written.*No space left on device"):
        assert torch.equal(load_omniglot(SET, root=fresh_root, download=False).x, reference.x)
    assert list(processed.iterdir()) == []
    monkeypatch.setattr(cache.np, "savez", _failing_savez(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        load_omniglot(SET, root=fresh_root, download=False)
    assert list(processed.iterdir()) == []
