"""Careful downloading and unpacking: checksums, no half-written files, no unsafe archives.

Three rules, so that a dataset folder is never left in a state that silently gives wrong
results:

* a download streams into a temporary file next to its destination, hashing as it goes, and is
  renamed into place only once its md5 checksum matches; on any failure (wrong checksum, lost
  connection, Ctrl-C) the temporary file is removed;
* an archive is checked member by member *before* anything is written: absolute paths, drive
  letters, backslashes and ``..`` components are refused (the "zip slip" attack);
* an archive is unpacked into a temporary sibling folder that is renamed into place at the end.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

__all__ = [
    "ChecksumError",
    "DataNotFoundError",
    "UnsafeArchiveError",
    "check_archive",
    "download_file",
    "md5sum",
    "safe_extract",
    "temporary_file",
]

_CHUNK = 1 << 16


class ChecksumError(ValueError):
    """A file's md5 checksum is not the expected one (corrupted, truncated or a different file)."""


class UnsafeArchiveError(ValueError):
    """An archive has a member that would be written outside the destination folder."""


class DataNotFoundError(FileNotFoundError):
    """A data file is missing and could not (or must not) be downloaded."""


def md5sum(path: str | os.PathLike) -> str:
    """The md5 checksum of a file, as 32 lowercase hex digits (read in chunks)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def temporary_file(folder: str | os.PathLike, name: str) -> tuple[int, Path]:
    """Create a new hidden file ``.<name>.<random>.part`` in ``folder``; return (fd, path).

    Unlike ``tempfile.mkstemp`` the file gets the usual permissions (``0o666`` less the
    umask), so that a file renamed into place from it is as readable as any other.
    """
    while True:
        path = Path(folder) / f".{name}.{secrets.token_hex(4)}.part"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), path
        except FileExistsError:
            continue


def download_file(
    url: str,
    dest: str | os.PathLike,
    md5: str,
    progress: bool = True,
    timeout: float = 60,
) -> Path:
    """Download ``url`` to ``dest`` and check that its md5 checksum is ``md5``.

    The bytes go to a temporary file in ``dest``'s folder (created if needed) and are hashed
    on the way; only a complete file with the right checksum is renamed to ``dest``. Whatever
    goes wrong (HTTP error, lost connection, timeout, wrong checksum, KeyboardInterrupt) the
    temporary file is removed and the exception is raised: nothing half-written remains.
    Errors from :mod:`urllib` (``urllib.error.URLError``, an ``OSError``) pass through;
    a wrong checksum raises :class:`ChecksumError`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file(dest.parent, dest.name)
    try:
        digest = hashlib.md5()
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name, disable=not progress) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise ConnectionError(
                f"the download of {url} stopped after {received} of {total} bytes; "
                "nothing was kept, try again (check your connection)"
            )
        actual = digest.hexdigest()
        if actual != md5.lower():
            raise ChecksumError(
                f"the file downloaded from {url} has md5 {actual}, expected {md5.lower()}; "
                f"it was discarded and {dest} was not written. The server may have sent an error page "
                "or a different version of the file: check the URL (or mirror) and try again"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_reason(name: str) -> str | None:
    """Why the archive member ``name`` may not be extracted, or ``None`` if it is safe."""
    if not name:
        return "has an empty name"
    if "\x00" in name:
        return "contains a NUL character"
    if "\\" in name:
        return "contains a backslash (on Windows it would be a folder separator)"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    if ".." in name.split("/"):
        return "has a '..' component that climbs out of the destination folder"
    return None


def check_archive(archive: zipfile.ZipFile, source: str | os.PathLike | None = None) -> list[str]:
    """Check every member name of ``archive`` and return the names if all are safe.

    Raises :class:`UnsafeArchiveError` listing the offending members otherwise. Call it before
    reading or extracting anything, so that a bad archive is refused as a whole.
    """
    names = archive.namelist()
    bad = [(n, r) for n in names if (r := _unsafe_reason(n)) is not None]
    if bad:
        shown = "; ".join(f"{n!r} {r}" for n, r in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise UnsafeArchiveError(
            f"refusing to use the archive {source or archive.filename}: member {shown}{more}. "
            "Nothing was extracted. The file is corrupted or was tampered with: delete it and "
            "download it again from the official source"
        )
    return names


def safe_extract(zip_path: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract the zip file ``zip_path`` into the new folder ``dest`` and return ``dest``.

    All member names are checked first (:func:`check_archive`); if any is unsafe,
    :class:`UnsafeArchiveError` is raised and nothing is written. The members are extracted
    into a temporary folder next to ``dest`` that is renamed to ``dest`` only when complete,
    so ``dest`` either does not exist or holds the whole archive. ``dest`` must not exist yet.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    with zipfile.ZipFile(zip_path) as archive:
        check_archive(archive, zip_path)
        if dest.exists():
            raise FileExistsError(
                f"cannot extract {zip_path} into {dest}: it already exists. "
                "Delete it first (or choose another folder) to extract again"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.part"
        tmp.mkdir()  # usual permissions (unlike tempfile.mkdtemp's 0o700)
        try:
            archive.extractall(tmp)
            os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest
