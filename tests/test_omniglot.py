"""Omniglot (Lake et al. 2015) loads as documented, once from the zip and then from the cache."""
from __future__ import annotations

import hashlib
import io
import shutil
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from metalearn_lite.data import omniglot
from metalearn_lite.data.cache import CACHE_FORMAT
from metalearn_lite.data.download import ChecksumError, UnsafeArchiveError
from metalearn_lite.data.omniglot import OMNIGLOT_FILES, data_root, load_omniglot, preprocess

pytestmark = pytest.mark.usefixtures("offline_omniglot")

# from /work/shared/data/omniglot/README.md (the official "minimal" background sets)
SMALL_SETS = {
    "images_background_small1": (2720, 136, ["Balinese", "Early_Aramaic", "Greek", "Korean", "Latin"]),
    "images_background_small2": (3120, 156, ["Greek", "Japanese_(katakana)", "Latin", "Sanskrit", "Tagalog"]),
}


def png_bytes(pixels: np.ndarray) -> bytes:
    """A 1-bit PNG like Omniglot's: True = white paper, False = black ink."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert("1").save(buffer, format="PNG")
    return buffer.getvalue()


def test_preprocess_ink_is_one():
    paper = np.full((105, 105), 255, dtype=np.uint8)
    paper[30:60, 15:90] = 0  # a black bar
    native = preprocess(png_bytes(paper), image_size=105)
    assert native.dtype == np.float32 and native.shape == (105, 105)
    assert set(np.unique(native)) == {0.0, 1.0} and native.sum() == 30 * 75
    small = preprocess(png_bytes(paper), image_size=28)
    assert small.shape == (28, 28) and small.min() >= 0 and small.max() <= 1
    with pytest.raises(ValueError, match="positive integer"):
        preprocess(png_bytes(paper), image_size=0)


def box_blocks(n: int = 105, m: int = 28) -> list[np.ndarray]:
    """The input pixels (along one axis) that PIL's BOX filter averages into each output pixel:
    those whose centre lies in the output pixel's footprint ``(i * n / m, (i + 1) * n / m]``."""
    centres = np.arange(n) + 0.5
    return [np.flatnonzero((centres > i * n / m) & (centres <= (i + 1) * n / m)) for i in range(m)]


def area_weights(n: int = 105, m: int = 28) -> np.ndarray:
    """``(m, n)``: the fraction of output pixel i's footprint (along one axis) that input pixel j covers."""
    edges = np.arange(m + 1) * n / m
    j = np.arange(n)
    return np.clip(np.minimum(edges[1:, None], j + 1) - np.maximum(edges[:-1, None], j), 0, None) / (n / m)


def test_box_resize_is_a_block_mean_not_an_exact_area_average(omniglot_root):
    """What preprocess's docstring says about 105 -> 28 px, measured."""
    blocks = box_blocks()
    assert sorted({len(b) for b in blocks}) == [3, 4]
    assert [b.tolist() for b in blocks if len(b) == 3][:3] == [[8, 9, 10], [23, 24, 25], [38, 39, 40]]
    block_mean = np.zeros((28, 105))
    for i, b in enumerate(blocks):
        block_mean[i, b] = 1 / len(b)
    exact = area_weights()
    paper = np.where(np.random.default_rng(0).random((105, 105)) < 0.3, 0, 255).astype(np.uint8)
    ink = preprocess(png_bytes(paper), 105).astype(np.float64)
    assert np.abs(preprocess(png_bytes(paper), 28) - block_mean @ ink @ block_mean.T).max() < 1e-6
    # the largest possible difference from an exact area average, over all images in [0, 1]
    bound = max(np.clip(np.outer(exact[i], exact[k]) - np.outer(block_mean[i], block_mean[k]), 0, None).sum()
                for i in range(28) for k in range(28))
    assert bound == pytest.approx(0.36)
    # ... and on the drawings of small1; each input pixel's share of the total ink
    with zipfile.ZipFile(omniglot_root / "omniglot" / "images_background_small1.zip") as archive:
        pngs = [archive.read(n) for n in archive.namelist() if n.endswith(".png")]
    worst, totals = 0.0, []
    for png in pngs:
        native = preprocess(png, 105).astype(np.float64)
        small = preprocess(png, 28)
        worst = max(worst, np.abs(small - exact @ native @ exact.T).max())
        totals.append(small.sum() * (105 / 28) ** 2 / native.sum())
    assert 0.25 < worst < 0.28 and worst <= bound
    assert 0.92 < min(totals) < 1 < max(totals) < 1.13
    weight = (105 / 28) ** 2 / np.array([len(a) * len(b) for a in blocks for b in blocks])
    assert weight.min() == pytest.approx(0.88, abs=0.005) and weight.max() == pytest.approx(1.5625)


@pytest.mark.parametrize("name", sorted(SMALL_SETS))
def test_small_sets(omniglot_root, name):
    images, classes, alphabets = SMALL_SETS[name]
    ds = load_omniglot(name, root=omniglot_root, progress=False)
    assert ds.x.shape == (images, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.y.shape == (images,) and ds.y.dtype == torch.int64
    assert ds.num_classes == classes and (ds.class_sizes() == 20).all()
    assert ds.alphabet_names() == alphabets
    assert ds.x.min() >= 0 and ds.x.max() <= 1
    assert 0.02 < ds.x.mean() < 0.2  # ink = 1 on a mostly empty page
    pairs = [tuple(n.split("/")) for n in ds.class_names]
    assert pairs == sorted(pairs) and len(set(ds.class_names)) == classes
    assert all(a == alphabet for (a, _), alphabet in zip(pairs, ds.alphabets))
    assert "Greek/character07" in ds.class_names
    # each class's images are distinct drawings
    first = ds.x[ds.indices_by_class[0]]
    assert not torch.equal(first[0], first[1])


def test_second_load_reads_the_cache_not_the_zip(omniglot_root, monkeypatch):
    first = load_omniglot("images_background_small1", root=omniglot_root, progress=False)
    assert list((omniglot_root / "omniglot" / "processed").glob("images_background_small1-*-28px-*.npz"))

    def forbidden(*args, **kwargs):
        raise AssertionError("the zip was read or hashed although the cache exists")

    for reader in ("omniglot_file", "md5sum", "_read_image_set"):
        monkeypatch.setattr(omniglot, reader, forbidden)
    again = load_omniglot("images_background_small1", root=omniglot_root, download=False)
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)
    assert first.class_names == again.class_names and first.alphabets == again.alphabets


def test_cold_load_builds_cache_atomically(omniglot_root, tmp_path):
    shutil.copytree(omniglot_root / "omniglot", tmp_path / "omniglot", ignore=shutil.ignore_patterns("processed", "*small2*", "all_runs*"))
    reference = load_omniglot("images_background_small1", root=omniglot_root)
    ds = load_omniglot("images_background_small1", root=tmp_path, image_size=28, progress=False)
    assert torch.equal(ds.x, reference.x)
    processed = sorted(p.name for p in (tmp_path / "omniglot" / "processed").iterdir())
    md5 = OMNIGLOT_FILES["images_background_small1"][1]
    assert processed == [f"images_background_small1-{md5[:12]}-28px-v{omniglot.PREPROCESS_VERSION}-f{CACHE_FORMAT}.npz"]  # no temp file left
    # the zip is no longer needed once the cache exists
    (tmp_path / "omniglot" / "images_background_small1.zip").unlink()
    assert torch.equal(load_omniglot("images_background_small1", root=tmp_path, download=False).x, reference.x)


def test_rotations_give_four_times_the_classes(omniglot_root):
    ds = load_omniglot("images_background_small1", root=omniglot_root)
    rotated = load_omniglot("images_background_small1", root=omniglot_root, rotations=True)
    assert rotated.num_classes == 4 * ds.num_classes and len(rotated) == 4 * len(ds)
    c = ds.num_classes  # class c + C is class c turned by 90 degrees
    assert torch.equal(rotated.x[rotated.y == c][0], torch.rot90(ds.x[ds.y == 0][0], 1, dims=(-2, -1)))


def test_split_by_alphabet_is_disjoint(omniglot_root):
    ds = load_omniglot("images_background_small2", root=omniglot_root)
    train, test = ds.split_by_alphabet(["Greek", "Latin"])
    assert set(train.alphabets) == {"Greek", "Latin"}
    assert set(train.alphabets).isdisjoint(test.alphabets)
    assert set(train.class_names).isdisjoint(test.class_names)
    assert train.num_classes + test.num_classes == ds.num_classes and len(train) + len(test) == len(ds)


def test_corrupted_zip_is_refused_and_not_cached(tmp_path):
    (tmp_path / "omniglot").mkdir()
    (tmp_path / "omniglot" / "images_background_small2.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ChecksumError, match="Delete it"):
        load_omniglot("images_background_small2", root=tmp_path, download=False)
    assert not (tmp_path / "omniglot" / "processed").exists() or not any((tmp_path / "omniglot" / "processed").iterdir())


def test_loader_refuses_unsafe_archive(tmp_path, monkeypatch):
    folder = tmp_path / "omniglot"
    folder.mkdir()
    path = folder / "images_background_small1.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images_background_small1/Greek/character01/a.png", png_bytes(np.full((105, 105), 255, np.uint8)))
        archive.writestr(zipfile.ZipInfo("../../escape.png"), b"")
    # pretend this is the official file, so that it passes the checksum and reaches the member check
    monkeypatch.setitem(OMNIGLOT_FILES, "images_background_small1", ("images_background_small1.zip", hashlib.md5(path.read_bytes()).hexdigest()))
    with pytest.raises(UnsafeArchiveError, match="escape.png"):
        load_omniglot("images_background_small1", root=tmp_path, download=False)
    assert sorted(p.name for p in folder.iterdir()) == ["images_background_small1.zip"]


def test_bad_names_and_sizes():
    with pytest.raises(ValueError, match="load_lake_runs"):
        load_omniglot("all_runs")
    with pytest.raises(ValueError, match="images_background_small1"):
        load_omniglot("images_background_small3")
    with pytest.raises(ValueError, match="positive integer"):
        load_omniglot(image_size=-1)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("METALEARN_LITE_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert data_root() == tmp_path / "home" / ".cache" / "metalearn_lite"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "metalearn_lite"
    monkeypatch.setenv("METALEARN_LITE_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
