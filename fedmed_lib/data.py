"""Data loaders: scikit-learn's bundled sets, the four heart-disease hospitals, BreastMNIST.

* :func:`load_diabetes` and :func:`load_breast_cancer` wrap scikit-learn's bundled
  copies of the diabetes data (Efron et al., 2004) and the Wisconsin Diagnostic
  Breast Cancer data (Street, Wolberg and Mangasarian, 1993).
* :func:`load_heart_disease` returns the UCI Heart Disease data (Janosi,
  Steinbrunn, Pfisterer and Detrano, 1988; Detrano et al., 1989) split by the
  four hospitals that collected it, the natural partition of the FLamby
  Fed-Heart-Disease benchmark (Ogier du Terrail et al., 2022).
* :func:`load_breastmnist` returns BreastMNIST (Yang et al., "MedMNIST v2", 2023),
  28x28 breast ultrasound images from Al-Dhabyani et al. (2020).

**One label convention.** Every loader of a diagnosis returns ``1`` for the disease
(the positive class) and ``0`` for its absence: malignant tumours in
:func:`load_breast_cancer` and :func:`load_breastmnist` (whose sources code them the
other way round), heart disease present (``num > 0``) in :func:`load_heart_disease`.
:data:`POSITIVE_CLASS` names the positive class of each. Every chapter uses these
labels as returned.

Where the files come from, in this order:

1. the ``data_dir`` argument;
2. the folder named by the environment variable ``FEDMED_DATA_DIR`` (a relative
   path is tried from the working directory, then from the project root, so
   ``FEDMED_DATA_DIR=../shared/data`` works from the repository and from
   ``notebooks/``);
3. the per-user cache :func:`cache_dir` (``$FEDMED_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/fedmed``, else ``~/.cache/fedmed``);
4. if ``download=True``, the canonical source (:data:`HEART_BASE_URL`,
   :data:`BREASTMNIST_URL`). A download goes to a temporary file, is verified,
   and only then is moved into the cache, so a corrupt or truncated download is
   never cached.

Every folder uses the same layout: ``heart_disease/processed.<site>.data`` and
``medmnist/breastmnist.npz``. A file that fails its checks raises ``ValueError``
naming the file and the problem; a file that cannot be found or downloaded raises
:class:`DataNotFoundError` saying what to download and where to put it.
Introduced in :ref:`ch-why-fl`; the heart data in :ref:`ch-four-hospitals`, the
images in :ref:`ch-medical-images`.

:func:`load_chembl2321810` reads the one data set that needs no download at all:
the ChEMBL activity set that ships inside the ``rdkit`` wheel
(``rdkit/Contrib/FreeWilson/data``; ChEMBL data are licensed CC BY-SA 3.0), checked
line by line. Introduced in :ref:`ch-drug-discovery`.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import InputTypeError

__all__ = [
    "CHEMBL2321810_FILES",
    "ActivitySet",
    "BREASTMNIST_FILE",
    "BREASTMNIST_SHAPES",
    "BREASTMNIST_URL",
    "DOWNLOAD_TIMEOUT",
    "DataNotFoundError",
    "HEART_BASE_URL",
    "HEART_FEATURES",
    "HEART_ROWS",
    "HEART_SHA256",
    "HEART_SITES",
    "HEART_SITE_NAMES",
    "POSITIVE_CLASS",
    "cache_dir",
    "heart_file",
    "freewilson_data_dir",
    "load_breast_cancer",
    "load_chembl2321810",
    "load_breastmnist",
    "load_diabetes",
    "load_heart_disease",
]

HEART_SITES: tuple[str, ...] = ("cleveland", "hungarian", "switzerland", "va")
"""The four hospitals of the UCI Heart Disease data, in the book's order (hospital 0..3)."""

HEART_SITE_NAMES: dict[str, str] = {
    "cleveland": "Cleveland",
    "hungarian": "Hungary",
    "switzerland": "Switzerland",
    "va": "Long Beach VA",
}
"""Display names of the four hospitals (for legends and tables)."""

HEART_FEATURES: tuple[str, ...] = (
    "age", "sex", "cp", "trestbps", "chol", "fbs", "restecg",
    "thalach", "exang", "oldpeak", "slope", "ca", "thal",
)
"""The 13 UCI feature columns, in file order (the 14th column, ``num``, is the target)."""

HEART_ROWS: dict[str, int] = {"cleveland": 303, "hungarian": 294, "switzerland": 123, "va": 200}
"""Number of patients in each hospital's file."""

HEART_SHA256: dict[str, str] = {
    "cleveland": "a74b7efa387bc9d108d7d0115d831fe9b414b29ae7124f331b622b4efa0427c8",
    "hungarian": "d1ad108f785768cd3d7e82dc522e6f5a61eea93cccfb3a46ee8076f73fc3d796",
    "switzerland": "834a405ccf5b66ab4056bb77794adc8df0b7125186454c0a1d002d33c6c3b314",
    "va": "e7c93d8d0d2acdadfa4c5e8de768e2191e7f618b952e29623f1f0d5949ff6b8f",
}
"""sha256 of each ``processed.<site>.data`` file; checked on every load."""

HEART_BASE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/heart-disease/"
"""Canonical source of the heart files (UCI data set 45, CC BY 4.0)."""

BREASTMNIST_URL = "https://zenodo.org/records/10519652/files/breastmnist.npz"
"""Canonical source of BreastMNIST (MedMNIST v2 on Zenodo, CC BY 4.0)."""

BREASTMNIST_FILE = "medmnist/breastmnist.npz"
"""Path of BreastMNIST inside a data folder."""

BREASTMNIST_SHAPES: dict[str, tuple[int, ...]] = {
    "train_images": (546, 28, 28),
    "train_labels": (546,),
    "val_images": (78, 28, 28),
    "val_labels": (78,),
    "test_images": (156, 28, 28),
    "test_labels": (156,),
}
"""Keys and shapes of what :func:`load_breastmnist` returns (labels flattened)."""

DOWNLOAD_TIMEOUT = 15.0
"""Seconds to wait for the server before a download gives up."""

_PROJECT_ROOT = Path(__file__).resolve().parents[1]


class DataNotFoundError(FileNotFoundError):
    """A data file is in none of the searched folders and could not be downloaded.

    Introduced in :ref:`ch-four-hospitals`.

    The message names the URL to download and the exact path to save it to, and
    the ``FEDMED_DATA_DIR`` alternative.
    """


# --- scikit-learn's bundled data ------------------------------------------------------


def load_diabetes() -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Return the diabetes regression data (442 patients, 10 features).

    The features are scikit-learn's mean-centred, scaled version (Efron et al.,
    2004); the target is a disease-progression score one year after baseline.
    Introduced in :ref:`ch-loss`.

    Returns
    -------
    X, y, feature_names
        ``X`` float64 of shape (442, 10), ``y`` float64 of shape (442,).
    """
    from sklearn import datasets

    bunch = datasets.load_diabetes()
    return (
        np.asarray(bunch.data, dtype=np.float64),
        np.asarray(bunch.target, dtype=np.float64),
        [str(f) for f in bunch.feature_names],
    )


def load_breast_cancer() -> tuple[NDArray[np.float64], NDArray[np.int64], list[str]]:
    """Return the Wisconsin Diagnostic Breast Cancer data (569 patients, 30 features).

    Labels follow the book's convention, the positive class is the disease:
    ``1 = malignant`` (212 patients), ``0 = benign`` (357). scikit-learn codes them
    the other way round (``target == 0`` is malignant); this loader flips them.
    Features are raw (not standardised). Introduced in :ref:`ch-why-fl`.

    Returns
    -------
    X, y, feature_names
        ``X`` float64 of shape (569, 30), ``y`` int64 0/1 of shape (569,).
    """
    from sklearn import datasets

    bunch = datasets.load_breast_cancer()
    return (
        np.asarray(bunch.data, dtype=np.float64),
        1 - np.asarray(bunch.target, dtype=np.int64),
        [str(f) for f in bunch.feature_names],
    )


POSITIVE_CLASS: dict[str, str] = {
    "load_breast_cancer": "malignant",
    "load_breastmnist": "malignant",
    "load_heart_disease": "heart disease (num > 0)",
}
"""What label ``1`` means for each loader of a diagnosis: always the disease."""


# --- where files live -----------------------------------------------------------------


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


def heart_file(site: str) -> str:
    """Return the relative path of one hospital's file, e.g. ``heart_disease/processed.va.data``.

    Introduced in :ref:`ch-four-hospitals`.

    Raises
    ------
    ValueError
        If ``site`` is not one of :data:`HEART_SITES`
        (:class:`~fedmed_lib._validate.InputTypeError` if it is not a string).
    """
    if not isinstance(site, str):
        raise InputTypeError(
            f"site must be a heart-disease site name (one of {HEART_SITES}), got "
            f"{type(site).__name__}"
        )
    if site not in HEART_SITES:
        raise ValueError(f"unknown heart-disease site {site!r}; choose one of {HEART_SITES}")
    return f"heart_disease/processed.{site}.data"


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


# --- UCI heart disease ----------------------------------------------------------------


def _parse_heart(path: Path, site: str) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Parse one ``processed.<site>.data`` file and check its shape and checksum."""
    try:
        text = path.read_text(encoding="ascii")
    except (UnicodeDecodeError, OSError) as err:
        raise ValueError(f"{path}: not a readable text file ({err})") from err
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    rows = []
    for i, line in enumerate(lines, start=1):
        fields = line.split(",")
        if len(fields) != 14:
            raise ValueError(
                f"{path}: line {i} has {len(fields)} columns, expected 14 "
                "(13 features and num); the file is corrupt or truncated"
            )
        try:
            rows.append([np.nan if f.strip() == "?" else float(f) for f in fields])
        except ValueError as err:
            raise ValueError(f"{path}: line {i} has a non-numeric value ({err})") from err
    if len(rows) != HEART_ROWS[site]:
        raise ValueError(
            f"{path}: {len(rows)} rows, expected {HEART_ROWS[site]} for site {site!r}; "
            "the file is truncated or is another site's file"
        )
    digest = _sha256(path)
    if digest != HEART_SHA256[site]:
        raise ValueError(
            f"{path}: sha256 checksum mismatch (got {digest}, expected {HEART_SHA256[site]})"
        )
    table = np.asarray(rows, dtype=np.float64)
    num = table[:, 13]
    if np.isnan(num).any() or not np.isin(num, [0, 1, 2, 3, 4]).all():
        raise ValueError(f"{path}: column 14 (num) must hold 0..4 in every row")
    return table[:, :13].copy(), (num > 0).astype(np.int64)


def load_heart_disease(
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    sites: Sequence[str] | None = None,
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.int64]]]:
    """Return the UCI Heart Disease data of the four hospitals, one ``(X, y)`` per site.

    Introduced in :ref:`ch-four-hospitals`.

    Parameters
    ----------
    data_dir
        A folder holding ``heart_disease/processed.<site>.data``; searched first.
    download
        Download missing files from :data:`HEART_BASE_URL` into :func:`cache_dir`.
    sites
        Read only these hospitals' files (default: all of :data:`HEART_SITES`); a
        hospital in a real federation reads its own file and no other
        (:ref:`ch-flower`).

    Returns
    -------
    dict
        ``site -> (X, y)`` in :data:`HEART_SITES` order. ``X`` is float64 of shape
        (n, 13) with columns :data:`HEART_FEATURES` and ``NaN`` where the file has
        ``?``; values are otherwise raw (Switzerland records ``chol`` as 0).
        ``y`` is int64, ``1`` when ``num > 0`` (heart disease), else ``0``.

    Raises
    ------
    ValueError
        A file has the wrong number of columns or rows, or a wrong checksum
        (the message names the file); or an argument is malformed: ``sites`` not a
        list of known site names (a single string is refused), ``data_dir`` not a
        path, ``download`` not a bool.
    DataNotFoundError
        A file is nowhere to be found and cannot be downloaded (the message names
        the URL and the path to save it to).
    """
    _check_options(data_dir, download)
    if sites is not None and (
        isinstance(sites, str | bytes) or not isinstance(sites, Sequence)
    ):
        hint = f" (did you mean [{sites!r}]?)" if isinstance(sites, str) else ""
        raise InputTypeError(
            f"sites must be a list of site names, got {type(sites).__name__}{hint}"
        )
    wanted = list(HEART_SITES) if sites is None else list(sites)
    if any(not isinstance(s, str) for s in wanted):
        raise InputTypeError(f"sites must hold site names (str), got {wanted!r}")
    unknown = [s for s in wanted if s not in HEART_SITES]
    if unknown or not wanted:
        raise ValueError(f"unknown or no heart-disease sites {unknown}; choose from {HEART_SITES}")
    out = {}
    for site in wanted:
        relpath = heart_file(site)
        path = _locate(
            relpath,
            url=HEART_BASE_URL.rstrip("/") + "/" + relpath.split("/")[-1],
            data_dir=data_dir,
            download=download,
            verify=functools.partial(_parse_heart, site=site),
        )
        out[site] = _parse_heart(path, site)
    return out


# --- BreastMNIST ----------------------------------------------------------------------


def _read_breastmnist(path: Path) -> dict[str, NDArray[np.generic]]:
    """Load a BreastMNIST ``.npz`` and check its keys, shapes and dtypes."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npz file, corrupt or truncated ({err})") from err
    if set(arrays) != set(BREASTMNIST_SHAPES):
        raise ValueError(
            f"{path}: wrong keys {sorted(arrays)}, expected {sorted(BREASTMNIST_SHAPES)}"
        )
    out: dict[str, NDArray[np.generic]] = {}
    for key, shape in BREASTMNIST_SHAPES.items():
        a = arrays[key]
        if key.endswith("_images"):
            if a.shape != shape or a.dtype != np.uint8:
                raise ValueError(
                    f"{path}: {key} has shape {a.shape} and dtype {a.dtype}, "
                    f"expected {shape} uint8"
                )
            out[key] = a
        else:
            if a.shape not in (shape, (shape[0], 1)) or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(
                    f"{path}: {key} has shape {a.shape} and dtype {a.dtype}, "
                    f"expected {(shape[0], 1)} integers"
                )
            labels = a.reshape(-1).astype(np.int64)
            if not np.isin(labels, [0, 1]).all():
                raise ValueError(f"{path}: {key} must hold only 0 and 1")
            # MedMNIST codes 0 = malignant, 1 = normal/benign; the book's convention
            # is that the positive class is the disease, so the loader flips them.
            out[key] = 1 - labels
    return out


def load_breastmnist(
    *, data_dir: str | Path | None = None, download: bool = True
) -> dict[str, NDArray[np.generic]]:
    """Return BreastMNIST: 780 breast-ultrasound images of 28x28 pixels, official split.

    Labels follow the book's convention, the positive class is the disease:
    ``1 = malignant``, ``0 = normal or benign`` (the MedMNIST file codes them the other
    way round; this loader flips them). Introduced in
    :ref:`ch-medical-images`.

    Parameters
    ----------
    data_dir
        A folder holding ``medmnist/breastmnist.npz``; searched first.
    download
        Download the file from :data:`BREASTMNIST_URL` into :func:`cache_dir` if missing.

    Returns
    -------
    dict
        ``train_images`` (546, 28, 28) uint8, ``train_labels`` (546,) int64, and the
        same for ``val_*`` (78) and ``test_*`` (156); see :data:`BREASTMNIST_SHAPES`.

    Raises
    ------
    ValueError
        The file is not a valid ``.npz`` or has wrong keys, shapes or dtypes, or
        ``data_dir`` is not a path or ``download`` not a bool.
    DataNotFoundError
        The file is nowhere to be found and cannot be downloaded.
    """
    _check_options(data_dir, download)
    # Checksums: MedMNIST publishes an MD5 of its official file, but the shared copy
    # used in CI was re-saved (same arrays, different bytes), so no single checksum
    # fits every legitimate copy. Every file, downloaded or local, is instead checked
    # for its exact keys, shapes and dtypes before it is cached or returned.
    path = _locate(
        BREASTMNIST_FILE,
        url=BREASTMNIST_URL,
        data_dir=data_dir,
        download=download,
        verify=_read_breastmnist,
    )
    return _read_breastmnist(path)


# --- the ChEMBL activity set that ships with RDKit (chapter 17) -------------------

CHEMBL2321810_FILES = ("CHEMBL2321810.smi", "CHEMBL2321810_act.csv")
"""The two files of the set, in ``rdkit/Contrib/FreeWilson/data``."""


@dataclass(frozen=True)
class ActivitySet:
    """Compounds and one activity value each, as read by :func:`load_chembl2321810`.

    Attributes
    ----------
    smiles
        One SMILES string per compound, in file order.
    ids
        The compound identifiers of the files (strings), in the same order.
    y
        The activity values (float64, log scale: higher is more active).
    source
        The folder the files were read from.
    """

    smiles: list[str]
    ids: list[str]
    y: NDArray[np.float64]
    source: Path


def freewilson_data_dir() -> Path:
    """Return RDKit's ``Contrib/FreeWilson/data`` folder (installed with the ``rdkit`` wheel)."""
    import rdkit

    return Path(rdkit.__file__).resolve().parent / "Contrib" / "FreeWilson" / "data"


def load_chembl2321810(*, data_dir: str | Path | None = None) -> ActivitySet:
    """Read and check the ChEMBL activity set shipped with RDKit's Free-Wilson contribution.

    Introduced in :ref:`ch-drug-discovery`.

    Parameters
    ----------
    data_dir
        Folder holding ``CHEMBL2321810.smi`` and ``CHEMBL2321810_act.csv``; defaults to
        :func:`freewilson_data_dir`.

    Returns
    -------
    ActivitySet
        SMILES, identifiers and activity values, in the order of the SMILES file.

    Raises
    ------
    FileNotFoundError
        If a file is missing (RDKit not installed with its ``Contrib`` folder).
    ValueError
        If a line is malformed, an identifier is repeated or present in one file
        only, a SMILES does not parse, or a value is not a finite number in [0, 14].
    """
    from rdkit import Chem, rdBase

    folder = Path(data_dir) if data_dir is not None else freewilson_data_dir()
    smi_path, act_path = (folder / name for name in CHEMBL2321810_FILES)
    for path in (smi_path, act_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: install the rdkit wheel, which ships it")
    smiles, ids = [], []
    for lineno, line in enumerate(smi_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f"{smi_path.name} line {lineno}: expected 'SMILES id', got {line!r}")
        smiles.append(fields[0])
        ids.append(fields[1])
    with act_path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0] != ["Name", "Act"]:
        raise ValueError(f"{act_path.name}: expected the header 'Name,Act'")
    act: dict[str, float] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise ValueError(f"{act_path.name} line {lineno}: expected 'id,value', got {row!r}")
        if row[0] in act:
            raise ValueError(f"{act_path.name} line {lineno}: compound {row[0]} appears twice")
        try:
            value = float(row[1])
        except ValueError as err:
            raise ValueError(f"{act_path.name} line {lineno}: {row[1]!r} is not a number") from err
        if not (np.isfinite(value) and 0.0 <= value <= 14.0):
            raise ValueError(f"{act_path.name} line {lineno}: activity {value} outside [0, 14]")
        act[row[0]] = value
    if len(set(ids)) != len(ids):
        raise ValueError(f"{smi_path.name}: a compound identifier appears twice")
    only_smi, only_act = sorted(set(ids) - set(act)), sorted(set(act) - set(ids))
    if only_smi or only_act:
        raise ValueError(
            f"the files disagree: {len(only_smi)} ids only in {smi_path.name} "
            f"(e.g. {only_smi[:3]}), {len(only_act)} only in {act_path.name} (e.g. {only_act[:3]})"
        )
    with rdBase.BlockLogs():  # a bad SMILES is reported below, not logged to stderr
        bad = [i for s, i in zip(smiles, ids, strict=True) if Chem.MolFromSmiles(s) is None]
    if bad:
        raise ValueError(f"{smi_path.name}: the SMILES of compound(s) {bad[:3]} do not parse")
    y = np.array([act[i] for i in ids], dtype=np.float64)
    return ActivitySet(smiles=smiles, ids=ids, y=y, source=folder)
