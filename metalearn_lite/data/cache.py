"""The cache of preprocessed arrays behind the Omniglot loaders: checked on every read, written atomically.

A cache file is an ``.npz`` holding a loader's arrays and three entries that let a later read
decide whether it can be trusted:

* ``_format``: :data:`CACHE_FORMAT`, the layout of the file;
* ``_source_md5``: the md5 checksum of the official zip the arrays were built from;
* ``_sha256``: :func:`arrays_sha256` of the arrays (their names, dtypes, shapes and bytes).

:func:`cached` rebuilds the arrays from the zip, with a warning naming the file and the
problem, when the file is unreadable (empty, truncated, not an ``.npz``), lacks an entry or has
unexpected ones, has another format or source, has an array of the wrong dtype or shape (see
:data:`Spec`), or its arrays no longer match the stored checksum (changed after it was
written: zeroed, relabelled, converted). The rebuilt file replaces the bad one.

Writes go to a temporary file in the same folder, renamed into place with :func:`os.replace`
and removed on any failure, so a crash never leaves a partial cache. When the cache cannot be
written (a read-only data folder, a full disk), the arrays built in memory are used, with a
warning that says why; every later load then rebuilds them from the zip.
"""
from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.lib.npyio import NpzFile

from .download import temporary_file

__all__ = ["CACHE_FORMAT", "Spec", "arrays_sha256", "cached", "label_problem", "spec_problem"]

#: Bumped whenever the layout of a cache file changes.
CACHE_FORMAT = 2

#: What a loader stores: array name -> (dtype, shape). The dtype is a NumPy dtype name, or
#: ``"str"`` for any unicode string dtype; each shape entry is an int (that size exactly) or a
#: letter (any size, the same wherever the letter appears).
Spec = dict[str, tuple[str, tuple[int | str, ...]]]

_META = ("_format", "_source_md5", "_sha256")
#: The warnings point at the code that called the loader: cached <- omniglot._cached <- loader <- caller.
_CALLER = 4


class _BadCache(Exception):
    """A cache file that cannot be used; the message says why."""


def arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """A sha256 over every array's name, dtype, shape and bytes, in name order (hex digits)."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def spec_problem(arrays: dict[str, np.ndarray], spec: Spec) -> str | None:
    """What is wrong with the dtypes and shapes of ``arrays`` given ``spec`` (None if nothing)."""
    sizes: dict[str, int] = {}
    for key, (dtype, shape) in spec.items():
        array = arrays[key]
        right_dtype = array.dtype.kind == "U" if dtype == "str" else array.dtype == np.dtype(dtype)
        if not right_dtype:
            return f"{key} has dtype {array.dtype}, expected {dtype}"
        wanted = ", ".join(map(str, shape))
        if array.ndim != len(shape):
            return f"{key} has shape {array.shape}, expected ({wanted})"
        for size, want in zip(array.shape, shape):
            if size != (sizes.setdefault(want, size) if isinstance(want, str) else want):
                bound = ", ".join(f"{k} = {v}" for k, v in sizes.items())
                return f"{key} has shape {array.shape}, expected ({wanted}) with {bound}"
    return None


def label_problem(labels: np.ndarray, name: str, classes: int) -> str | None:
    """What is wrong with class labels ``labels`` that should lie in ``[0, classes)`` (None if nothing)."""
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        return f"{name} has labels from {labels.min()} to {labels.max()}, expected 0 to {classes - 1}"
    return None


def _read(path: Path, source_md5: str, spec: Spec, check: Callable[[dict[str, np.ndarray]], str | None]) -> dict[str, np.ndarray]:
    """The arrays of the cache file ``path``, checked; :class:`_BadCache` says why they cannot be used."""
    try:
        stored = np.load(path, allow_pickle=False)
        if not isinstance(stored, NpzFile):
            raise _BadCache(f"it holds a single {type(stored).__name__}, not an .npz archive of arrays")
        with stored:
            arrays = {k: stored[k] for k in stored.files}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise _BadCache(f"it is unreadable ({type(err).__name__}: {err})") from None
    missing = [k for k in (*_META, *spec) if k not in arrays]
    extra = sorted(set(arrays) - set(_META) - set(spec))
    if missing or extra:
        raise _BadCache(f"it is incomplete or not a cache of this loader (missing {missing}, unexpected {extra})")
    meta = {k: arrays.pop(k) for k in _META}
    if meta["_format"].tolist() != CACHE_FORMAT:
        raise _BadCache(f"it has cache format {meta['_format']}, expected {CACHE_FORMAT}")
    if str(meta["_source_md5"]) != source_md5:
        raise _BadCache(f"it was built from a file with md5 {meta['_source_md5']}, expected {source_md5}")
    problem = spec_problem(arrays, spec) or check(arrays)
    if problem:
        raise _BadCache(problem)
    if arrays_sha256(arrays) != str(meta["_sha256"]):
        raise _BadCache("its arrays do not match the sha256 stored with them (they were changed after it was written)")
    return arrays


def _write(path: Path, arrays: dict[str, np.ndarray], source_md5: str) -> None:
    """Save ``arrays`` and their check entries at ``path``: a temporary file in the same folder
    renamed into place, removed on any failure."""
    meta = {"_format": np.array(CACHE_FORMAT), "_source_md5": np.array(source_md5), "_sha256": np.array(arrays_sha256(arrays))}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays, **meta)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cached(
    path: Path,
    build: Callable[[], dict[str, np.ndarray]],
    source_md5: str,
    spec: Spec,
    check: Callable[[dict[str, np.ndarray]], str | None] = lambda arrays: None,
) -> dict[str, np.ndarray]:
    """The arrays cached at ``path``, else ``build()`` saved there (see the module's docstring).

    ``source_md5`` is the md5 of the zip ``build`` reads, ``spec`` the arrays' dtypes and shapes,
    and ``check(arrays)`` returns what else is wrong with arrays that fit the spec (e.g. labels
    out of range), or None.
    """
    if path.exists():
        try:
            return _read(path, source_md5, spec, check)
        except _BadCache as bad:
            warnings.warn(f"the cached file {path} cannot be used: {bad}; rebuilding it from the zip", stacklevel=_CALLER)
    arrays = build()
    try:
        _write(path, arrays, source_md5)
    except OSError as err:
        warnings.warn(
            f"the cache {path} could not be written ({type(err).__name__}: {err}), so the arrays built in memory "
            f"are used and every load rebuilds them from the zip; make {path.parent} writable or set "
            "METALEARN_LITE_DATA to a writable folder",
            stacklevel=_CALLER,
        )
    return arrays
