"""Omniglot (Lake, Salakhutdinov & Tenenbaum 2015): 1,623 handwritten characters from 50 alphabets.

Each character was drawn once by each of 20 people; the official release is a set of zip files
of 105x105 black-on-white PNGs, ``<alphabet>/<character>/<drawer>.png``. This module finds
those files (downloading them on request, always checking their md5 checksum), turns every
image into a float array with :func:`preprocess`, and caches the result, so that a set loads in
a fraction of a second after the first time::

    ds = load_omniglot("images_background_small1")   # FewShotDataset, x of shape (2720, 1, 28, 28)

Where the files live: :func:`data_root` (argument, else ``$METALEARN_LITE_DATA``, else
``$XDG_CACHE_HOME/metalearn_lite`` or ``~/.cache/metalearn_lite``); the zips go in its
``omniglot/`` folder and the preprocessed arrays in ``omniglot/processed/``. Download or prepare
everything with ``python -m metalearn_lite.data.prepare`` (or, the same,
``python -m metalearn_lite.data.omniglot``).
"""
from __future__ import annotations

import io
import os
import urllib.error
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..utils import is_integer
from .cache import CACHE_FORMAT, Spec, cached, label_problem
from .dataset import FewShotDataset
from .download import ChecksumError, DataNotFoundError, check_archive, download_file, md5sum

__all__ = [
    "OMNIGLOT_BASE_URL",
    "OMNIGLOT_FILES",
    "OMNIGLOT_IMAGE_SETS",
    "data_root",
    "load_omniglot",
    "omniglot_file",
    "preprocess",
]

OMNIGLOT_BASE_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/"

#: name -> (path under the base URL, md5 checksum) of the official Omniglot files.
OMNIGLOT_FILES: dict[str, tuple[str, str]] = {
    "images_background": ("images_background.zip", "68d2efa1b9178cc56df9314c21c6e718"),
    "images_evaluation": ("images_evaluation.zip", "6b91aef0f799c5bb55b94e3f2daec811"),
    "images_background_small1": ("images_background_small1.zip", "e704a628b5459e08445c13499850abc4"),
    "images_background_small2": ("images_background_small2.zip", "b75a71a51d3b13f821f212756fe481fd"),
    "all_runs": ("one-shot-classification/all_runs.zip", "e8996daecdf12afeeb4a53a179f06b19"),
}

#: The files that hold ``<alphabet>/<character>/<drawer>.png`` image sets (for :func:`load_omniglot`).
OMNIGLOT_IMAGE_SETS = ("images_background", "images_evaluation", "images_background_small1", "images_background_small2")

NATIVE_SIZE = 105
#: Bumped whenever :func:`preprocess` changes, so that old cached arrays are not reused.
PREPROCESS_VERSION = 1


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds the library's data: ``root``, else ``$METALEARN_LITE_DATA``,
    else ``$XDG_CACHE_HOME/metalearn_lite``, else ``~/.cache/metalearn_lite``."""
    if root is None:
        root = os.environ.get("METALEARN_LITE_DATA") or None
    if root is None:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(cache) / "metalearn_lite"
    return Path(root).expanduser()


def _omniglot_dir(root: str | os.PathLike | None) -> Path:
    return data_root(root) / "omniglot"


def _entry(name: str) -> tuple[str, str]:
    if name not in OMNIGLOT_FILES:
        raise ValueError(f"unknown Omniglot file {name!r}; choose one of {sorted(OMNIGLOT_FILES)}")
    return OMNIGLOT_FILES[name]


def omniglot_url(name: str, base_url: str | None = None) -> str:
    """The download URL of file ``name``: ``base_url``, else ``$METALEARN_LITE_OMNIGLOT_URL``,
    else the official repository, followed by the file's path."""
    path, _ = _entry(name)
    base = base_url or os.environ.get("METALEARN_LITE_OMNIGLOT_URL") or OMNIGLOT_BASE_URL
    return base.rstrip("/") + "/" + path


def omniglot_file(
    name: str,
    root: str | os.PathLike | None = None,
    download: bool = True,
    base_url: str | None = None,
    progress: bool = True,
) -> Path:
    """The path of the official zip file ``name`` (a key of :data:`OMNIGLOT_FILES`), checked.

    A missing file is downloaded into ``<root>/omniglot/`` when ``download`` is true; if that is
    not allowed or fails (offline, server unreachable), :class:`DataNotFoundError` says which
    file is missing, where to download it and where to put it. A present file is checked against
    its md5 checksum (a few milliseconds per megabyte); a wrong one raises :class:`ChecksumError`
    and is not used. The loaders call this only when they build their cache, so later loads
    neither read nor hash the zip.
    """
    path_in_repo, md5 = _entry(name)
    folder = _omniglot_dir(root)
    dest = folder / Path(path_in_repo).name
    url = omniglot_url(name, base_url)
    if dest.exists():
        actual = md5sum(dest)
        if actual != md5:
            raise ChecksumError(
                f"{dest} has md5 {actual} but the official {dest.name} has md5 {md5}: it is corrupted, "
                f"truncated or a different file, so it was not used. Delete it and run again to "
                f"download it afresh (or download it by hand from {url})"
            )
        return dest
    official = OMNIGLOT_BASE_URL + path_in_repo
    source = url if url == official else f"{url} (official copy: {official})"
    how = (
        f"Download it by hand from {source}, md5 {md5}, and put it in {folder}/, "
        "or set METALEARN_LITE_DATA to a folder whose omniglot/ subfolder holds it"
    )
    if not download:
        raise DataNotFoundError(f"Omniglot file {dest.name} is not in {folder} and download=False. {how}, or call again with download=True")
    try:
        return download_file(url, dest, md5, progress=progress)
    except (urllib.error.URLError, OSError) as err:
        reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", err)
        raise DataNotFoundError(
            f"Omniglot file {dest.name} is not in {folder} and could not be downloaded from {url} ({reason}). "
            f"{how}, or set METALEARN_LITE_OMNIGLOT_URL to a mirror"
        ) from None


def preprocess(png: bytes | str | os.PathLike | Image.Image, image_size: int = 28) -> np.ndarray:
    """One Omniglot image as a float32 ``(image_size, image_size)`` array in [0, 1], ink = 1.

    The PNGs are 105x105 black ink on white; they are inverted so that ink is 1 and background
    0, then shrunk with PIL's BOX filter. That filter gives every input pixel to exactly one
    output pixel (the one whose footprint holds the input pixel's centre) and makes each output
    pixel the plain mean of its input pixels; it never overshoots [0, 1] (no ringing around
    strokes, unlike LANCZOS). When ``105 / image_size`` is not an integer the blocks differ in
    size, so this is not an exact area average: at 28 px (105 / 28 = 3.75) the blocks are 4 or
    3 pixels wide and high (columns and rows 8-10, 23-25, 38-40, ... make the 3-pixel ones), an
    output pixel differs from the exact fraction of its footprint that is inked by at most 0.36
    (0.27 on the images of ``images_background_small1``), and the total ink, times
    ``(105 / 28) ** 2``, is kept only roughly (each input pixel counts 0.88 to 1.56 times; 0.93
    to 1.13 times the true total on those images). At ``image_size=105`` the image is left at
    its native resolution (binary values).
    """
    image_size = _check_size(image_size)
    if isinstance(png, Image.Image):
        image = png
    else:
        image = Image.open(io.BytesIO(png) if isinstance(png, bytes) else png)
    ink = 1.0 - np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    if ink.shape != (image_size, image_size):
        ink = np.asarray(Image.fromarray(ink).resize((image_size, image_size), Image.Resampling.BOX))
    return np.clip(ink, 0.0, 1.0).astype(np.float32, copy=False)


def _check_size(image_size: int) -> int:
    """``image_size`` (a Python or NumPy integer >= 1) as a Python int."""
    if not is_integer(image_size) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer (e.g. 28, or 105 for the native size), got {image_size!r}")
    return int(image_size)


def _cache_path(root: str | os.PathLike | None, name: str, image_size: int) -> Path:
    _, md5 = _entry(name)
    return _omniglot_dir(root) / "processed" / f"{name}-{md5[:12]}-{image_size}px-v{PREPROCESS_VERSION}-f{CACHE_FORMAT}.npz"


def _cached(
    root: str | os.PathLike | None,
    name: str,
    image_size: int,
    build: Callable[[], dict[str, np.ndarray]],
    spec: Spec,
    check: Callable[[dict[str, np.ndarray]], str | None],
) -> dict[str, np.ndarray]:
    """The arrays of file ``name`` at ``image_size`` px from their checked cache (see
    :func:`metalearn_lite.data.cache.cached`), else ``build()``, then cached."""
    return cached(_cache_path(root, name, image_size), build, _entry(name)[1], spec, check)


def _image_set_spec(image_size: int) -> Spec:
    """What :func:`_read_image_set` returns: M images of C classes."""
    return {
        "x": ("float32", ("M", 1, image_size, image_size)),
        "y": ("int64", ("M",)),
        "class_names": ("str", ("C",)),
        "alphabets": ("str", ("C",)),
    }


def _image_set_problem(arrays: dict[str, np.ndarray]) -> str | None:
    """What is wrong with the labels of image-set arrays that fit :func:`_image_set_spec` (None if nothing)."""
    return label_problem(arrays["y"], "y", len(arrays["class_names"]))


def _read_image_set(zip_path: Path, image_size: int) -> dict[str, np.ndarray]:
    """Preprocess every ``<alphabet>/<character>/<drawer>.png`` of an Omniglot image-set zip."""
    with zipfile.ZipFile(zip_path) as archive:
        names = check_archive(archive, zip_path)
        pngs = [n for n in names if n.lower().endswith(".png") and not any(p.startswith((".", "__MACOSX")) for p in n.split("/"))]
        by_class: dict[tuple[str, str], list[str]] = {}
        for member in pngs:
            parts = member.split("/")
            if len(parts) < 3:
                raise ValueError(f"{zip_path}: member {member!r} is not <alphabet>/<character>/<image>.png; is this an Omniglot image set?")
            by_class.setdefault((parts[-3], parts[-2]), []).append(member)
        if not by_class:
            raise ValueError(f"{zip_path} holds no PNG images; is this an Omniglot image set?")
        classes = sorted(by_class)
        x = np.empty((len(pngs), 1, image_size, image_size), dtype=np.float32)
        y = np.empty(len(pngs), dtype=np.int64)
        i = 0
        for c, key in enumerate(classes):
            for member in sorted(by_class[key]):
                x[i, 0] = preprocess(archive.read(member), image_size)
                y[i] = c
                i += 1
    return {
        "x": x,
        "y": y,
        "class_names": np.array([f"{a}/{ch}" for a, ch in classes]),
        "alphabets": np.array([a for a, _ in classes]),
    }


def load_omniglot(
    name: str = "images_background_small1",
    root: str | os.PathLike | None = None,
    image_size: int = 28,
    rotations: bool = False,
    download: bool = True,
    progress: bool = True,
) -> FewShotDataset:
    """An official Omniglot image set (Lake et al. 2015) as a :class:`FewShotDataset`.

    ``x`` is float32 ``(M, 1, image_size, image_size)`` in [0, 1] with ink = 1 (see
    :func:`preprocess`), ``y`` the int64 class ids; classes are sorted by alphabet then character
    and named like ``"Greek/character07"``, with ``alphabets[c]`` the alphabet of class ``c``.
    The first call checks the zip's md5 (downloading it if needed, see :func:`omniglot_file`),
    refuses unsafe archive members, preprocesses every image and caches the arrays in
    ``<root>/omniglot/processed/``; later calls just read and check that file (a cache that is
    unreadable, incomplete or altered is rebuilt with a warning, and a folder where it cannot
    be written gives a warning and arrays built in memory: see
    :mod:`metalearn_lite.data.cache`). With ``rotations=True``
    each character rotated by 90, 180 and 270 degrees is a new class (4x the classes).
    """
    if name not in OMNIGLOT_IMAGE_SETS:
        hint = " (the one-shot benchmark runs: use metalearn_lite.data.lake.load_lake_runs)" if name == "all_runs" else ""
        raise ValueError(f"{name!r} is not an Omniglot image set{hint}; choose one of {list(OMNIGLOT_IMAGE_SETS)}")
    image_size = _check_size(image_size)

    def build() -> dict[str, np.ndarray]:
        return _read_image_set(omniglot_file(name, root, download=download, progress=progress), image_size)

    arrays = _cached(root, name, image_size, build, _image_set_spec(image_size), _image_set_problem)
    dataset = FewShotDataset(
        x=torch.from_numpy(arrays["x"]),
        y=torch.from_numpy(arrays["y"]),
        class_names=arrays["class_names"].tolist(),
        alphabets=arrays["alphabets"].tolist(),
        name=f"omniglot/{name}",
    )
    return dataset.with_rotations() if rotations else dataset


if __name__ == "__main__":  # the command that prepares every file lives in prepare.py (it also needs lake.py)
    from metalearn_lite.data.prepare import main

    main()
