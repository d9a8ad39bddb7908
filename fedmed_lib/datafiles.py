"""Data files: where the book's data sets are looked for, downloaded and verified.

One job: find a data file in the folders the reader may have put it in, or download
it from its canonical source into a per-user cache, verifying it before anything is
cached. :mod:`fedmed_lib.data` uses this for the UCI Heart Disease files and
BreastMNIST; its loaders decide what "verified" means for each file.

Where the files come from, in this order:

1. the ``data_dir`` argument of a loader;
2. the folder named by the environment variable ``FEDMED_DATA_DIR`` (a relative
   path is tried from the working directory, then from the project root, so
   ``FEDMED_DATA_DIR=../shared/data`` works from the repository and from
   ``notebooks/``);
3. the per-user cache :func:`cache_dir` (``$FEDMED_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/fedmed``, else ``~/.cache/fedmed``);
4. if the loader is called with ``download=True``, the canonical source. A download
   goes to a temporary file, is verified, and only then is moved into the cache, so
   a corrupt or truncated download is never cached.

A file that cannot be found or downloaded raises :class:`DataNotFoundError` saying
what to download and where to put it. Introduced in :ref:`ch-four-hospitals`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from fedmed_lib._validate import InputTypeError

__all__ = ["DOWNLOAD_TIMEOUT", "DataNotFoundError", "cache_dir"]

DOWNLOAD_TIMEOUT = 15.0
"""Seconds to wait for the server before a download gives up."""

_PROJECT_ROOT = Path(__file__).resolve().parents[1]


class DataNotFoundError(FileNotFoundError):
    """A data file is in none of the searched folders and could not be downloaded.

    Introduced in :ref:`ch-four-hospitals`.

    The message names the URL to download and the exact path to save it to, and
    the ``FEDMED_DATA_DIR`` alternative.
    """


def cache_dir() -> Path:
    """Return the per-user cache folder for downloaded data.

    ``$FEDMED_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/fedmed``, else
    ``~/.cache/fedmed``. The folder is not created until something is downloaded.
    Introduced in :ref:`ch-four-hospitals`.
    """
    explicit = os.environ.get("FEDMED_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "fedmed"


def _env_data_dir() -> Path | None:
    value = os.environ.get("FEDMED_DATA_DIR")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and not path.exists() and (_PROJECT_ROOT / path).exists():
        return _PROJECT_ROOT / path
    return path


def _check_options(data_dir: object, download: object) -> None:
    """Check the arguments shared by the loaders (before any file is touched)."""
    if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
        raise InputTypeError(
            f"data_dir must be a folder path (str or pathlib.Path) or None, got "
            f"{type(data_dir).__name__}"
        )
    if isinstance(data_dir, str) and not data_dir.strip():
        raise ValueError("data_dir is an empty string; pass None to use the default folders")
    if not isinstance(download, bool):
        raise InputTypeError(f"download must be True or False, got {download!r}")


def _search_dirs(data_dir: str | Path | None) -> list[Path]:
    dirs = [] if data_dir is None else [Path(data_dir).expanduser()]
    env = _env_data_dir()
    if env is not None:
        dirs.append(env)
    dirs.append(cache_dir())
    return dirs


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def _download(url: str, target: Path, verify: Callable[[Path], object]) -> None:
    """Download ``url`` to a temporary file, ``verify`` it, then move it to ``target``.

    Network failures raise :class:`DataNotFoundError`; a truncated download or one that
    ``verify`` rejects raises ``ValueError`` and leaves nothing in the cache.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                    expected = response.headers.get("Content-Length")
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                        size += len(block)
            except http.client.IncompleteRead as err:
                raise ValueError(
                    f"download of {url} is truncated: the connection closed after "
                    f"{size} bytes; nothing was cached, try again"
                ) from err
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                reason = getattr(err, "reason", err)
                raise DataNotFoundError(f"could not download {url} ({reason})") from err
        if expected is not None and size != int(expected):
            raise ValueError(
                f"download of {url} is truncated: got {size} bytes, the server announced "
                f"{expected}; nothing was cached, try again"
            )
        try:
            verify(tmp)
        except ValueError as err:
            raise ValueError(f"downloaded file from {url} rejected, nothing cached: {err}") from err
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _locate(
    relpath: str,
    *,
    url: str,
    data_dir: str | Path | None,
    download: bool,
    verify: Callable[[Path], object],
) -> Path:
    """Return the first existing copy of ``relpath``, downloading it if allowed."""
    dirs = _search_dirs(data_dir)
    for d in dirs:
        if (d / relpath).is_file():
            return d / relpath
    target = cache_dir() / relpath
    searched = ", ".join(str(d) for d in dirs)
    advice = (
        f"Download {url} and save it as {target}, or set FEDMED_DATA_DIR to a folder "
        f"that contains {relpath} (searched: {searched})."
    )
    if not download:
        raise DataNotFoundError(f"{relpath} not found and download=False. {advice}")
    try:
        _download(url, target, verify)
    except DataNotFoundError as err:
        raise DataNotFoundError(f"{err}. {advice}") from err
    return target
