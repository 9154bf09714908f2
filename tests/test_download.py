"""Downloads are checked and atomic, archives are checked before extraction, missing data is explained.

Network tests use a local HTTP server on 127.0.0.1 (``http_server`` in conftest.py), never the internet.
"""
from __future__ import annotations

import hashlib
import io
import urllib.error
import zipfile
from pathlib import Path

import pytest

from metalearn_lite.data import download, omniglot
from metalearn_lite.data.download import (
    ChecksumError,
    DataNotFoundError,
    UnsafeArchiveError,
    download_file,
    md5sum,
    safe_extract,
)
from metalearn_lite.data.omniglot import OMNIGLOT_FILES, omniglot_file

pytestmark = pytest.mark.usefixtures("offline_omniglot")


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A zip file with exactly these member names (no sanitising) and contents."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def files_in(folder: Path) -> list[str]:
    """Everything under ``folder``, hidden temporary files included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def served_zip(http_server) -> tuple[str, bytes, str]:
    """(url, bytes, md5) of a small zip on the local server."""
    data = make_zip(http_server.folder / "tiny.zip", {"tiny/a.txt": b"hello", "tiny/b/c.txt": b"world" * 1000}).read_bytes()
    return http_server.url + "tiny.zip", data, hashlib.md5(data).hexdigest()


def test_md5sum_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 1000
    (tmp_path / "f").write_bytes(data)
    assert md5sum(tmp_path / "f") == hashlib.md5(data).hexdigest()


def test_download_success(tmp_path, served_zip, capsys):
    url, data, md5 = served_zip
    dest = tmp_path / "out" / "nested" / "tiny.zip"
    assert download_file(url, dest, md5.upper(), progress=False) == dest
    assert dest.read_bytes() == data
    assert files_in(dest.parent) == ["tiny.zip"]  # no temporary file left
    assert capsys.readouterr().err == ""  # progress=False is silent


def test_download_404_leaves_nothing(tmp_path, http_server):
    dest = tmp_path / "out" / "missing.zip"
    with pytest.raises(urllib.error.HTTPError) as info:
        download_file(http_server.url + "missing.zip", dest, "0" * 32, progress=False)
    assert info.value.code == 404
    assert files_in(dest.parent) == []


def test_download_wrong_checksum_is_discarded(tmp_path, served_zip):
    url, _, md5 = served_zip
    dest = tmp_path / "tiny.zip"
    dest.write_bytes(b"previous version")
    wrong = "f" * 32
    with pytest.raises(ChecksumError) as info:
        download_file(url, dest, wrong, progress=False)
    message = str(info.value)
    assert md5 in message and wrong in message and url in message
    assert dest.read_bytes() == b"previous version"  # the old file is untouched
    assert files_in(tmp_path) == ["served", "served/tiny.zip", "tiny.zip"]


def test_truncated_download_leaves_nothing(tmp_path, http_server):
    dest = tmp_path / "out" / "big.zip"
    with pytest.raises(ConnectionError, match="stopped after 1000 of 100000 bytes"):
        download_file(http_server.url + "truncated/big.zip", dest, "0" * 32, progress=False)
    assert files_in(dest.parent) == []


def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch):
    class Interrupted(io.BytesIO):
        headers = {"Content-Length": "200000"}

        def read(self, size=-1):
            if self.tell():  # Ctrl-C after the first chunk
                raise KeyboardInterrupt
            return super().read(size)

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Interrupted(b"x" * 200000))
    with pytest.raises(KeyboardInterrupt):
        download_file("http://127.0.0.1:1/big.zip", tmp_path / "big.zip", "0" * 32, progress=False)
    assert files_in(tmp_path) == []


def test_safe_extract(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", {"top/a.txt": b"a", "top/sub/b.txt": b"b"})
    dest = tmp_path / "extracted"
    assert safe_extract(archive, dest) == dest
    assert (dest / "top" / "a.txt").read_bytes() == b"a"
    assert (dest / "top" / "sub" / "b.txt").read_bytes() == b"b"
    assert files_in(tmp_path) == ["extracted", "extracted/top", "extracted/top/a.txt", "extracted/top/sub", "extracted/top/sub/b.txt", "ok.zip"]
    with pytest.raises(FileExistsError, match="already exists"):
        safe_extract(archive, dest)


@pytest.mark.parametrize(
    "bad_name",
    ["../evil.txt", "top/../../evil.txt", "/tmp/evil.txt", "..\\evil.txt", "top\\..\\..\\evil.txt", "C:/evil.txt", "c:evil.txt"],
)
def test_unsafe_archive_is_refused_and_nothing_written(tmp_path, bad_name):
    # a harmless member first: refusing must happen before anything is written
    archive = make_zip(tmp_path / "bad.zip", {"top/fine.txt": b"ok", bad_name: b"pwned"})
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(UnsafeArchiveError) as info:
        safe_extract(archive, workdir / "extracted")
    assert repr(bad_name) in str(info.value) and "Nothing was extracted" in str(info.value)
    assert files_in(workdir) == []
    assert files_in(tmp_path) == ["bad.zip", "work"]


def test_missing_file_offline_names_file_url_and_folder(tmp_path, unreachable_url):
    with pytest.raises(DataNotFoundError) as info:
        omniglot_file("images_background_small1", root=tmp_path, base_url=unreachable_url, progress=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "images_background_small1.zip" in message
    assert unreachable_url + "images_background_small1.zip" in message
    assert str(tmp_path / "omniglot") in message
    assert "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/images_background_small1.zip" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # one error, not a chain
    assert files_in(tmp_path) in ([], ["omniglot"])


def test_missing_file_download_false(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        omniglot_file("all_runs", root=tmp_path, download=False)
    message = str(info.value)
    assert "all_runs.zip" in message
    assert "one-shot-classification/all_runs.zip" in message  # the URL (here: the unreachable test mirror)
    assert str(tmp_path / "omniglot") in message and "download=True" in message


def test_default_url_is_official(monkeypatch):
    monkeypatch.delenv("METALEARN_LITE_OMNIGLOT_URL")
    assert omniglot.omniglot_url("all_runs") == "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/one-shot-classification/all_runs.zip"
    assert omniglot.omniglot_url("images_evaluation", base_url="http://mirror/x/") == "http://mirror/x/images_evaluation.zip"


def test_omniglot_file_downloads_from_mirror(tmp_path, http_server, monkeypatch):
    """The whole download path: URL from $METALEARN_LITE_OMNIGLOT_URL, md5 checked, file kept."""
    (http_server.folder / "one-shot-classification").mkdir()
    data = make_zip(http_server.folder / "one-shot-classification" / "all_runs.zip", {"run01/class_labels.txt": b""}).read_bytes()
    monkeypatch.setitem(OMNIGLOT_FILES, "all_runs", ("one-shot-classification/all_runs.zip", hashlib.md5(data).hexdigest()))
    monkeypatch.setenv("METALEARN_LITE_OMNIGLOT_URL", http_server.url)
    path = omniglot_file("all_runs", root=tmp_path, progress=False)
    assert path == tmp_path / "omniglot" / "all_runs.zip" and path.read_bytes() == data
    assert omniglot_file("all_runs", root=tmp_path, download=False) == path  # found and verified


def test_omniglot_file_404_and_wrong_checksum_from_mirror(tmp_path, http_server, monkeypatch):
    monkeypatch.setenv("METALEARN_LITE_OMNIGLOT_URL", http_server.url)
    with pytest.raises(DataNotFoundError, match="HTTP Error 404"):
        omniglot_file("images_background_small2", root=tmp_path, progress=False)
    make_zip(http_server.folder / "images_background_small2.zip", {"images_background_small2/x.txt": b"not omniglot"})
    with pytest.raises(ChecksumError):
        omniglot_file("images_background_small2", root=tmp_path, progress=False)
    assert files_in(tmp_path / "omniglot") == []


def test_wrong_checksum_on_disk_is_not_used(tmp_path):
    bad = tmp_path / "omniglot" / "images_background_small1.zip"
    bad.parent.mkdir()
    bad.write_bytes(b"truncated")
    with pytest.raises(ChecksumError) as info:
        omniglot_file("images_background_small1", root=tmp_path, download=False)
    message = str(info.value)
    assert str(bad) in message and "Delete it" in message and OMNIGLOT_FILES["images_background_small1"][1] in message
