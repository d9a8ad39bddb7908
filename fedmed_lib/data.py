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

The files are looked for in the ``data_dir`` argument, then in ``FEDMED_DATA_DIR``,
then in the per-user cache, and with ``download=True`` downloaded from their
canonical source (:data:`HEART_BASE_URL`, :data:`BREASTMNIST_URL`) and verified
before they are cached: :mod:`fedmed_lib.datafiles` does this (its
:func:`~fedmed_lib.datafiles.cache_dir`, :data:`~fedmed_lib.datafiles.DOWNLOAD_TIMEOUT`
and :class:`~fedmed_lib.datafiles.DataNotFoundError` stay importable from here).
Every folder uses the same layout: ``heart_disease/processed.<site>.data`` and
``medmnist/breastmnist.npz``. A file that fails its checks raises ``ValueError``
naming the file and the problem; a file that cannot be found or downloaded raises
:class:`~fedmed_lib.datafiles.DataNotFoundError` saying what to download and where
to put it.

The ChEMBL activity set of :ref:`ch-drug-discovery` needs no download: its loader
:func:`~fedmed_lib.chem_data.load_chembl2321810` lives in :mod:`fedmed_lib.chem_data`
and stays importable from here.
Introduced in :ref:`ch-why-fl`; the heart data in :ref:`ch-four-hospitals`, the
images in :ref:`ch-medical-images`.
"""

from __future__ import annotations

import functools
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import InputTypeError
from fedmed_lib.chem_data import CHEMBL2321810_FILES as CHEMBL2321810_FILES
from fedmed_lib.chem_data import ActivitySet as ActivitySet
from fedmed_lib.chem_data import freewilson_data_dir as freewilson_data_dir
from fedmed_lib.chem_data import load_chembl2321810 as load_chembl2321810
from fedmed_lib.datafiles import DOWNLOAD_TIMEOUT as DOWNLOAD_TIMEOUT
from fedmed_lib.datafiles import DataNotFoundError as DataNotFoundError
from fedmed_lib.datafiles import _check_options, _locate, _sha256
from fedmed_lib.datafiles import cache_dir as cache_dir

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


# --- UCI heart disease ----------------------------------------------------------------


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
