"""Federated preprocessing: global means, standard deviations and imputation values.

Before four hospitals can train one model they must put their features on the
same scale and fill in the values they did not record. Pooling the rows to
compute a mean is exactly what federated learning forbids, but the mean and the
variance are functions of a few *sums*: each site sends, per feature, the number
of observed values ``c_k``, their sum ``s_k`` and their sum of squares ``q_k``
(and how many values are missing), and the server combines them into

``mean = sum_k s_k / sum_k c_k`` and
``var = (sum_k q_k - c * mean**2) / (c - ddof)`` with ``c = sum_k c_k``,

which equal the statistics of the pooled data exactly (up to rounding). This is
the "federated preprocessing" step of the Fed-Heart-Disease benchmark (Ogier du
Terrail et al., "FLamby: Datasets and Benchmarks for Cross-Silo Federated
Learning in Realistic Healthcare Settings", NeurIPS 2022) on the UCI Heart
Disease data (Janosi et al., 1988; Detrano et al., 1989). Introduced in
:ref:`ch-four-hospitals`.

Missing values are ``NaN``. Sites never send rows, only the arrays of a
:class:`SiteStats`; the server returns a :class:`GlobalStats` that every site
uses with :func:`standardize_impute`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def _who(site: int | str) -> str:
    return f"site {site!r}" if isinstance(site, str) else f"site {site}"


def _check_matrix(X: np.ndarray, *, site: int | str) -> Array:
    """Return ``X`` as a float 2-D array with at least one row; NaN allowed, Inf not."""
    who = _who(site)
    try:
        A = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{who}: X is not numeric ({err})") from err
    if A.ndim != 2:
        raise ValueError(f"{who}: X must be 2-D (n_samples, n_features), got shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError(f"{who}: empty data (X has 0 rows)")
    if A.shape[1] == 0:
        raise ValueError(f"{who}: X has no feature columns")
    if np.isinf(A).any():
        raise ValueError(f"{who}: X contains Inf (mark missing values with NaN)")
    return A


@dataclass(frozen=True)
class SiteStats:
    """What one site sends to the server: per-feature counts and sums, never rows.

    Introduced in :ref:`ch-four-hospitals`.

    Attributes
    ----------
    site
        The site's name or index (used in error messages).
    num_examples
        Number of rows (patients) at the site.
    count
        Number of observed (non-missing) values of each feature.
    total
        Sum of the observed values of each feature.
    total_sq
        Sum of the squares of the observed values of each feature.
    """

    site: int | str
    num_examples: int
    count: Array
    total: Array
    total_sq: Array

    @property
    def n_missing(self) -> Array:
        """Number of missing values of each feature (``num_examples - count``)."""
        return np.asarray(self.num_examples - self.count, dtype=np.float64)


@dataclass(frozen=True)
class GlobalStats:
    """The server's combination of all sites' :class:`SiteStats`.

    Introduced in :ref:`ch-four-hospitals`.

    Attributes
    ----------
    num_examples
        Total number of rows over all sites.
    count
        Observed values of each feature over all sites.
    mean
        Global mean of each feature over its observed values (also the
        imputation value).
    std
        Global standard deviation with ``ddof`` degrees of freedom removed.
    ddof
        ``0`` for the population convention (``np.nanstd``, scikit-learn's
        ``StandardScaler``), ``1`` for the sample convention.
    """

    num_examples: int
    count: Array
    mean: Array
    std: Array
    ddof: int

    @property
    def missing_fraction(self) -> Array:
        """Fraction of missing values of each feature over all sites."""
        return np.asarray(1.0 - self.count / self.num_examples, dtype=np.float64)


def site_statistics(X: np.ndarray, *, site: int | str = 0) -> SiteStats:
    """Compute one site's summary statistics (run *at* the site).

    Introduced in :ref:`ch-four-hospitals`.

    Parameters
    ----------
    X
        The site's feature matrix, shape ``(n_samples, n_features)``, with ``NaN``
        for missing values.
    site
        The site's name or index, used in error messages.

    Returns
    -------
    SiteStats
        Counts, sums and sums of squares of the observed values of each feature.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, has no rows or columns, or contains Inf; the message
        names the site.

    Examples
    --------
    >>> import numpy as np
    >>> s = site_statistics(np.array([[1.0], [np.nan], [3.0]]), site="A")
    >>> s.count, s.total, s.total_sq, s.n_missing
    (array([2.]), array([4.]), array([10.]), array([1.]))
    """
    A = _check_matrix(X, site=site)
    observed = ~np.isnan(A)
    filled = np.where(observed, A, 0.0)
    return SiteStats(
        site=site,
        num_examples=int(A.shape[0]),
        count=observed.sum(axis=0).astype(np.float64),
        total=filled.sum(axis=0),
        total_sq=(filled**2).sum(axis=0),
    )


def _check_site_stats(s: SiteStats, n_features: int | None) -> None:
    if not isinstance(s, SiteStats):
        raise ValueError(f"expected a SiteStats from every site, got {type(s).__name__}")
    who = _who(s.site)
    if isinstance(s.num_examples, bool) or int(s.num_examples) != s.num_examples:
        raise ValueError(f"{who}: num_examples must be an integer, got {s.num_examples!r}")
    if s.num_examples <= 0:
        raise ValueError(f"{who}: num_examples must be positive, got {s.num_examples}")
    shapes = {np.shape(s.count), np.shape(s.total), np.shape(s.total_sq)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"{who}: count, total and total_sq must be 1-D of equal length")
    width = np.shape(s.count)[0]
    if n_features is not None and width != n_features:
        raise ValueError(
            f"{who}: statistics for {width} features, the first site sent {n_features}"
        )
    for name in ("count", "total", "total_sq"):
        if not np.all(np.isfinite(getattr(s, name))):
            raise ValueError(f"{who}: {name} contains NaN or Inf")
    if np.any(s.count < 0) or np.any(s.count > s.num_examples):
        raise ValueError(f"{who}: count must lie between 0 and num_examples={s.num_examples}")
    # Cauchy-Schwarz: s^2 <= c q for any real numbers; a violation means corrupt statistics.
    slack = 1e-9 * np.maximum(1.0, s.count * s.total_sq)
    if np.any(s.total**2 > s.count * s.total_sq + slack):
        bad = int(np.argmax(s.total**2 - s.count * s.total_sq))
        raise ValueError(
            f"{who}: feature {bad} has total**2 > count * total_sq, "
            "which no real data can produce (corrupt statistics?)"
        )


def combine(stats: Sequence[SiteStats], *, ddof: int = 0) -> GlobalStats:
    """Combine the sites' statistics into global means and standard deviations (the server).

    Introduced in :ref:`ch-four-hospitals`.

    Parameters
    ----------
    stats
        One :class:`SiteStats` per site, as returned by :func:`site_statistics`.
    ddof
        Degrees of freedom removed from the count in the variance: ``0`` (default)
        matches ``np.nanstd`` on the pooled data, ``1`` matches ``np.nanstd(..., ddof=1)``.

    Returns
    -------
    GlobalStats
        Equal (up to rounding) to the statistics of the concatenated rows.

    Raises
    ------
    ValueError
        If the list is empty, a site's statistics are malformed (naming the site),
        the sites disagree on the number of features, or a feature has at most
        ``ddof`` observed values over all sites.
    """
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
    if len(stats) == 0:
        raise ValueError("no site statistics to combine: the list is empty")
    width: int | None = None
    for s in stats:
        _check_site_stats(s, width)
        width = int(np.shape(s.count)[0])
    count = np.sum([s.count for s in stats], axis=0)
    total = np.sum([s.total for s in stats], axis=0)
    total_sq = np.sum([s.total_sq for s in stats], axis=0)
    too_few = np.flatnonzero(count <= ddof)
    if too_few.size:
        raise ValueError(
            f"feature {int(too_few[0])} has {int(count[too_few[0]])} observed values over all "
            f"sites; at least {ddof + 1} are needed"
        )
    mean = total / count
    var = np.maximum(total_sq - count * mean**2, 0.0) / (count - ddof)
    return GlobalStats(
        num_examples=int(sum(s.num_examples for s in stats)),
        count=count,
        mean=mean,
        std=np.sqrt(var),
        ddof=ddof,
    )


def standardize_impute(
    X: np.ndarray, global_stats: GlobalStats, *, site: int | str = 0
) -> Array:
    """Standardise ``X`` with the global statistics and impute missing values (at a site).

    Each value becomes ``(x - mean) / std``; a missing value is imputed with the
    global mean, i.e. it becomes ``0`` after standardisation. Introduced in
    :ref:`ch-four-hospitals`.

    Parameters
    ----------
    X
        The site's feature matrix with ``NaN`` for missing values (not modified).
    global_stats
        The server's :class:`GlobalStats` from :func:`combine`.
    site
        The site's name or index, used in error messages.

    Raises
    ------
    ValueError
        If ``X`` is malformed or has a different number of features than the
        statistics (naming the site), or a feature has zero standard deviation.
    """
    A = _check_matrix(X, site=site)
    if A.shape[1] != global_stats.mean.shape[0]:
        raise ValueError(
            f"{_who(site)}: X has {A.shape[1]} features, the global statistics "
            f"have {global_stats.mean.shape[0]}"
        )
    constant = np.flatnonzero(~(global_stats.std > 0))
    if constant.size:
        raise ValueError(
            f"feature {int(constant[0])} has zero standard deviation over all sites; "
            "drop it before standardising"
        )
    Z = (A - global_stats.mean) / global_stats.std
    return np.asarray(np.where(np.isnan(A), 0.0, Z), dtype=np.float64)


def mark_missing(
    X: np.ndarray, columns: Sequence[int], *, value: float = 0.0, site: int | str = 0
) -> Array:
    """Return a copy of ``X`` where ``value`` in the given columns is replaced by ``NaN``.

    For codes that mean "not measured", e.g. Switzerland's cholesterol of 0 in the
    UCI Heart Disease data. Introduced in :ref:`ch-four-hospitals`.

    Raises
    ------
    ValueError
        If ``X`` is malformed or a column index is out of range (naming the site).
    """
    A = _check_matrix(X, site=site).copy()
    for j in columns:
        if not 0 <= int(j) < A.shape[1]:
            raise ValueError(f"{_who(site)}: column {j} out of range for {A.shape[1]} features")
        A[A[:, j] == value, j] = np.nan
    return A
