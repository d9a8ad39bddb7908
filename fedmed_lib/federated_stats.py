"""Federated preprocessing: global means, standard deviations and imputation values.

Before four hospitals can train one model they must put their features on the
same scale and fill in the values they did not record. Pooling the rows to
compute a mean is exactly what federated learning forbids, but the mean and the
variance of the pooled data follow from a few numbers per client and feature: the
number of observed values ``c_k``, their mean ``mean_k`` and the sum of their
squared deviations from it, ``M2_k = sum_i (x_ki - mean_k)^2`` (and how many
values are missing). The server merges two groups ``a`` and ``b`` with the
parallel formula of Chan, Golub and LeVeque ("Algorithms for computing the sample
variance: analysis and recommendations", The American Statistician 37(3), 1983)::

    c = c_a + c_b,   delta = mean_b - mean_a,
    mean = mean_a + delta * c_b / c,
    M2 = M2_a + M2_b + delta**2 * c_a * c_b / c,

and ``var = M2 / (c - ddof)``. Unlike the textbook ``(sum q_k - c mean**2) / c``
of the chapter, no two large numbers are subtracted: with values near ``1e8`` and
a standard deviation of 1 the sums of squares lose every digit, while this form does
not. Each client computes its own ``(mean_k, M2_k)`` with the corrected two-pass
algorithm of the same paper.

One more number per feature keeps the last digits. A float64 mean near ``1e8`` is
rounded by up to half a unit in the last place (``7e-9``), and the spread between the
clients' means turns that rounding into a relative error of the standard deviation
of up to about ``ulp(|mean|) / (2 std)`` (``7e-9`` at ``1e8`` for a standard deviation
of 1). So each client also sends what the rounding removed, ``mean_residual = exact
mean - mean`` (the mean as a double-double number: Dekker, "A floating-point technique
for extending the available precision", Numerische Mathematik 18, 1971), and the
server carries it through every merge with Knuth's error-free addition
(``two_sum``). The federated standard deviation then matches the exact one of the
pooled values (computed with fractions in the tests) to a few parts in ``1e16`` at
offsets from 1 to ``1e15``, 300 clients included.

This is the "federated preprocessing" step of the Fed-Heart-Disease benchmark
(Ogier du Terrail et al., "FLamby: Datasets and Benchmarks for Cross-Silo Federated
Learning in Realistic Healthcare Settings", NeurIPS 2022) on the UCI Heart Disease
data (Janosi et al., 1988; Detrano et al., 1989). Introduced in
:ref:`ch-four-hospitals`.

Missing values are ``NaN``. Clients never send rows, only the arrays of a
:class:`ClientStats`; the server returns a :class:`GlobalStats` that every client
uses with :func:`standardize_impute`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fedmed_lib._validate import InputTypeError, check_int, check_number, client_label
from fedmed_lib.types import Array


def _who(client: object) -> str:
    return client_label(client)  # type: ignore[arg-type]


def _check_client_label(client: object) -> None:
    if isinstance(client, bool | np.bool_) or not isinstance(client, str | numbers.Integral):
        raise InputTypeError(
            f"client must be a name (str) or an index (int), got {type(client).__name__}"
        )


def _check_matrix(X: object, *, client: object) -> Array:
    """Return ``X`` as a float 2-D array with at least one row and column; NaN allowed, Inf not."""
    _check_client_label(client)
    who = _who(client)
    if X is None or isinstance(X, str | bytes):
        raise InputTypeError(f"{who}: X must be a numeric array, got {type(X).__name__}")
    try:
        A = np.asarray(X)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{who}: X is not a rectangular numeric array ({err})") from err
    if A.dtype == np.bool_:
        raise InputTypeError(f"{who}: X must be numeric, got a boolean array")
    if np.issubdtype(A.dtype, np.complexfloating):
        raise InputTypeError(f"{who}: X must be real, got a complex array")
    if not (np.issubdtype(A.dtype, np.integer) or np.issubdtype(A.dtype, np.floating)):
        raise InputTypeError(f"{who}: X must be a numeric array, got dtype {A.dtype}")
    A = A.astype(np.float64, copy=False)
    if A.ndim != 2:
        raise ValueError(f"{who}: X must be 2-D (n_samples, n_features), got shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError(f"{who}: empty data (X has 0 rows)")
    if A.shape[1] == 0:
        raise ValueError(f"{who}: X has no feature columns")
    if np.isinf(A).any():
        raise ValueError(f"{who}: X contains Inf (mark missing values with NaN)")
    return A


def _stat_array(value: object, *, who: str, name: str) -> Array:
    """Check a 1-D finite real array of per-feature statistics (no bool, complex, str, object)."""
    if value is None or isinstance(value, str | bytes):
        raise InputTypeError(f"{who}: {name} must be a numeric array, got {type(value).__name__}")
    try:
        a = np.asarray(value)
    except ValueError as err:
        raise ValueError(f"{who}: {name} is not a rectangular numeric array ({err})") from err
    if a.dtype == np.bool_ or not (
        np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
    ):
        raise InputTypeError(f"{who}: {name} must be a real numeric array, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if a.ndim != 1:
        raise ValueError(f"{who}: count, mean and m2 must be 1-D of equal length; {name} has "
                         f"shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{who}: {name} contains NaN or Inf")
    return a


@dataclass(frozen=True, init=False)
class ClientStats:
    """What one client sends to the server: per-feature count, mean and M2, never rows.

    Introduced in :ref:`ch-four-hospitals`.

    Build it with :func:`client_statistics`, or as
    ``ClientStats(client, num_examples, count, mean=..., m2=...)`` (optionally with
    ``mean_residual=...``). The older form with raw sums,
    ``ClientStats(client, num_examples, count, total, total_sq)``, is still accepted
    (e.g. from a message that carries sums); it is converted to mean and M2, which
    loses precision for values far from zero.

    Attributes
    ----------
    client
        The client's name or index (used in error messages).
    num_examples
        Number of rows (patients) the client holds.
    count
        Number of observed (non-missing) values of each feature.
    mean
        Mean of the observed values of each feature (``0`` where none is observed).
    m2
        Sum of squared deviations ``sum_i (x_i - mean)^2`` of the observed values of
        each feature (``0`` where none is observed).
    mean_residual
        What rounding the mean to float64 removed, ``exact mean - mean``: at most half
        a unit in the last place of ``mean`` (``0`` where it is not known, e.g. for a
        ClientStats built from raw sums). The server uses it to keep the global
        standard deviation accurate far from zero (see the module docstring).
    """

    client: int | str
    num_examples: int
    count: Array
    mean: Array
    m2: Array
    mean_residual: Array

    def __init__(
        self,
        client: int | str,
        num_examples: int,
        count: Array,
        total: Array | None = None,
        total_sq: Array | None = None,
        *,
        mean: Array | None = None,
        m2: Array | None = None,
        mean_residual: Array | None = None,
    ) -> None:
        if mean is None and m2 is None:
            if total is None or total_sq is None:
                raise InputTypeError(
                    f"{_who(client)}: ClientStats needs mean= and m2= (or the raw sums total "
                    "and total_sq)"
                )
            if mean_residual is not None:
                raise InputTypeError(
                    f"{_who(client)}: mean_residual= goes with mean= and m2=, not with raw sums"
                )
            mean, m2 = _from_sums(client, count, total, total_sq)
        elif total is not None or total_sq is not None or mean is None or m2 is None:
            raise InputTypeError(
                f"{_who(client)}: give ClientStats either mean= and m2=, or total and total_sq"
            )
        if mean_residual is None:  # unknown: the mean is taken as exact
            mean_residual = _zeros_like(mean)
        object.__setattr__(self, "client", client)
        object.__setattr__(self, "num_examples", num_examples)
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "m2", m2)
        object.__setattr__(self, "mean_residual", mean_residual)

    @property
    def total(self) -> Array:
        """Sum of the observed values of each feature (``count * mean``)."""
        return np.asarray(self.count * self.mean, dtype=np.float64)

    @property
    def total_sq(self) -> Array:
        """Sum of the squares of the observed values (``m2 + count * mean**2``)."""
        return np.asarray(self.m2 + self.count * self.mean**2, dtype=np.float64)

    @property
    def n_missing(self) -> Array:
        """Number of missing values of each feature (``num_examples - count``)."""
        return np.asarray(self.num_examples - self.count, dtype=np.float64)


def _zeros_like(value: object) -> Array:
    """Zeros of the shape of ``value`` (no values if it has none; combine checks it later)."""
    try:
        return np.zeros(np.shape(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return np.zeros(0)


def _two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """Knuth's error-free addition: ``s + e == a + b`` exactly, with ``s = fl(a + b)``."""
    s = a + b
    b_virtual = s - a
    e = (a - (s - b_virtual)) + (b - b_virtual)
    return s, e


def _from_sums(
    client: object, count: object, total: object, total_sq: object
) -> tuple[Array, Array]:
    """Convert raw sums ``(count, total, total_sq)`` into ``(mean, m2)``, checking them."""
    who = _who(client)
    c = _stat_array(count, who=who, name="count")
    s = _stat_array(total, who=who, name="total")
    q = _stat_array(total_sq, who=who, name="total_sq")
    if not c.shape == s.shape == q.shape:
        raise ValueError(f"{who}: count, total and total_sq must be 1-D of equal length")
    if np.any(c < 0):
        raise ValueError(f"{who}: count must not be negative")
    # Cauchy-Schwarz: s^2 <= c q for any real numbers; a violation means corrupt statistics.
    slack = 1e-9 * np.maximum(1.0, c * q)
    if np.any(s**2 > c * q + slack):
        bad = int(np.argmax(s**2 - c * q))
        raise ValueError(
            f"{who}: feature {bad} has total**2 > count * total_sq, "
            "which no real data can produce (corrupt statistics?)"
        )
    observed = c > 0
    mean = np.divide(s, c, out=np.zeros_like(s), where=observed)
    m2 = np.where(observed, np.maximum(q - s * mean, 0.0), 0.0)
    return mean, m2


def client_statistics(X: np.ndarray, *, client: int | str = 0) -> ClientStats:
    """Compute one client's summary statistics (run *at* the client).

    The mean and the sum of squared deviations of each feature's observed values,
    by the corrected two-pass algorithm of Chan, Golub and LeVeque (1983): the mean,
    then the deviations from it, corrected by their (tiny) sum. That correction also
    gives the part of the mean that float64 rounds off (``mean_residual``). Introduced
    in :ref:`ch-four-hospitals`.

    Parameters
    ----------
    X
        The client's feature matrix, shape ``(n_samples, n_features)``, with ``NaN``
        for missing values (not modified).
    client
        The client's name or index, used in error messages.

    Returns
    -------
    ClientStats
        Count, mean, M2 and the mean's rounding residual of the observed values of
        each feature.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, has no rows or columns, contains Inf, or holds values
        so large that their squared deviations overflow float64; the message names
        the client. :class:`~fedmed_lib._validate.InputTypeError` (also a
        ``TypeError``) if ``X`` is not a real numeric array or ``client`` is neither a
        string nor an integer.

    Examples
    --------
    >>> import numpy as np
    >>> s = client_statistics(np.array([[1.0], [np.nan], [3.0]]), client="A")
    >>> s.count, s.mean, s.m2, s.n_missing
    (array([2.]), array([2.]), array([2.]), array([1.]))
    """
    A = _check_matrix(X, client=client)
    observed = ~np.isnan(A)
    count = observed.sum(axis=0).astype(np.float64)
    has = count > 0
    with np.errstate(over="ignore", invalid="ignore"):
        # Divide by a power of two near the largest magnitude (exact), so the sum cannot overflow.
        peak = np.max(np.where(observed, np.abs(A), 0.0), axis=0)
        scale = np.ldexp(1.0, np.frexp(np.where(peak > 0, peak, 1.0))[1] - 1)
        first = scale * np.divide(
            np.where(observed, A / scale, 0.0).sum(axis=0), count,
            out=np.zeros_like(count), where=has,
        )
        # Corrected two-pass: deviations from the first mean, corrected by their sum.
        dev = np.where(observed, A - first, 0.0)
        dev_sum = dev.sum(axis=0)
        # mean + residual = first + dev_sum / count, the residual being what float64 rounds off
        mean, residual = _two_sum(
            first, np.divide(dev_sum, count, out=np.zeros_like(count), where=has)
        )
        m2 = (dev**2).sum(axis=0) - np.divide(
            dev_sum**2, count, out=np.zeros_like(count), where=has
        )
    bad = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(m2) & np.isfinite(residual)))
    if bad.size:
        raise ValueError(
            f"{_who(client)}: feature {int(bad[0])} has values too far apart for float64 "
            "(their squared deviations overflow); rescale the feature"
        )
    return ClientStats(client, int(A.shape[0]), count, mean=mean, m2=np.maximum(m2, 0.0),
                       mean_residual=np.where(has, residual, 0.0))


# (count, mean, mean_residual, M2) per feature; the exact mean is mean + mean_residual
Moments = tuple[Array, Array, Array, Array]


def _check_client_stats(s: object, n_features: int | None) -> Moments:
    """Validate one client's statistics; return ``(count, mean, mean_residual, m2)``."""
    if not isinstance(s, ClientStats):
        raise InputTypeError(f"expected a ClientStats from every client, got {type(s).__name__}")
    who = _who(s.client)
    n = s.num_examples
    if isinstance(n, bool | np.bool_) or not isinstance(n, numbers.Integral):
        raise InputTypeError(f"{who}: num_examples must be an integer, got {n!r}")
    if n <= 0:
        raise ValueError(f"{who}: num_examples must be positive, got {n}")
    count = _stat_array(s.count, who=who, name="count")
    mean = _stat_array(s.mean, who=who, name="mean")
    m2 = _stat_array(s.m2, who=who, name="m2")
    if not count.shape == mean.shape == m2.shape:
        raise ValueError(f"{who}: count, mean and m2 must be 1-D of equal length")
    width = count.shape[0]
    if width == 0:
        raise ValueError(f"{who}: statistics for 0 features")
    if n_features is not None and width != n_features:
        raise ValueError(
            f"{who}: statistics for {width} features, the first client sent {n_features}"
        )
    if np.any(count < 0) or np.any(count > n) or np.any(count != np.floor(count)):
        raise ValueError(f"{who}: count must be whole numbers between 0 and num_examples={n}")
    if np.any(m2[count == 0] != 0):
        raise ValueError(f"{who}: m2 must be 0 for a feature with no observed value")
    if np.any(m2 < 0):
        bad = int(np.argmax(m2 < 0))
        raise ValueError(
            f"{who}: feature {bad} has a negative sum of squared deviations (m2), "
            "which no real data can produce (corrupt statistics?)"
        )
    residual = _stat_array(s.mean_residual, who=who, name="mean_residual")
    if residual.shape != mean.shape:
        raise ValueError(
            f"{who}: mean_residual has shape {residual.shape}, mean has {mean.shape}"
        )
    if np.any(residual[count == 0] != 0):
        raise ValueError(f"{who}: mean_residual must be 0 for a feature with no observed value")
    too_big = np.flatnonzero(np.abs(residual) > np.spacing(np.abs(mean)))
    if too_big.size:
        raise ValueError(
            f"{who}: feature {int(too_big[0])} has a mean_residual larger than one unit in "
            "the last place of its mean (it is only the rounding error of the mean)"
        )
    return count, mean, residual, m2


def _merge(a: Moments, b: Moments) -> Moments:
    """Chan, Golub and LeVeque's pairwise update of ``(count, mean, residual, M2)``.

    The means are double-double numbers (``mean + residual``): ``delta`` and the new
    mean are formed with error-free additions, so the rounding of a float64 mean never
    enters the between-group term ``delta**2 * c_a * c_b / c``.
    """
    ca, ma, ra, m2a = a
    cb, mb, rb, m2b = b
    c = ca + cb
    hi, lo = _two_sum(mb, -ma)
    delta = hi + (lo + (rb - ra))  # (mb + rb) - (ma + ra), correct to working precision
    frac = np.divide(cb, c, out=np.zeros_like(c), where=c > 0)  # c_b / c
    hi, lo = _two_sum(ma, delta * frac)
    mean, residual = _two_sum(hi, lo + ra)  # renormalised: |residual| <= ulp(mean) / 2
    both = (ca > 0) & (cb > 0)
    mean = np.where(ca == 0, mb, np.where(cb == 0, ma, mean))
    residual = np.where(ca == 0, rb, np.where(cb == 0, ra, residual))
    between = np.where(both, delta**2 * ca * frac, 0.0)
    return c, mean, residual, m2a + m2b + between


def combine(stats: Sequence[ClientStats], *, ddof: int = 0) -> GlobalStats:
    """Combine the clients' statistics into global means and standard deviations (the server).

    Merges the clients' ``(count, mean, M2)`` pairwise, in a balanced tree, with the
    parallel formula of Chan, Golub and LeVeque (1983), carrying each mean's rounding
    residual (``mean_residual``) through the merges; see the module docstring.
    Introduced in :ref:`ch-four-hospitals`.

    Parameters
    ----------
    stats
        One :class:`ClientStats` per client, as returned by :func:`client_statistics`.
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
        If the list is empty, a client's statistics are malformed (naming the client),
        the clients disagree on the number of features, a feature has at most
        ``ddof`` observed values over all clients, or the combined variance overflows.
    """
    if isinstance(ddof, bool | np.bool_) or ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
    if stats is None or isinstance(stats, str | bytes | ClientStats) or not isinstance(
        stats, Sequence
    ):
        raise InputTypeError(
            f"stats must be a list of ClientStats (one per client), got {type(stats).__name__}"
        )
    if len(stats) == 0:
        raise ValueError("no client statistics to combine: the list is empty")
    width: int | None = None
    level: list[Moments] = []
    for s in stats:
        level.append(_check_client_stats(s, width))
        width = int(level[-1][0].shape[0])
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        while len(level) > 1:  # a balanced tree of pairwise merges
            level = [
                _merge(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                for i in range(0, len(level), 2)
            ]
    count, mean, _, m2 = level[0]
    too_few = np.flatnonzero(count <= ddof)
    if too_few.size:
        raise ValueError(
            f"feature {int(too_few[0])} has {int(count[too_few[0]])} observed values over all "
            f"clients; at least {ddof + 1} are needed"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        std = np.sqrt(m2 / (count - ddof))
    overflow = np.flatnonzero(~np.isfinite(std) | ~np.isfinite(mean))
    if overflow.size:
        raise ValueError(
            f"feature {int(overflow[0])}: the clients' values are too far apart for float64 "
            "(the combined variance overflows); rescale the feature"
        )
    return GlobalStats(
        num_examples=int(sum(s.num_examples for s in stats)),
        count=count,
        mean=mean,
        std=std,
        ddof=ddof,
    )


@dataclass(frozen=True)
class GlobalStats:
    """The server's combination of all clients' :class:`ClientStats`.

    Introduced in :ref:`ch-four-hospitals`.

    Attributes
    ----------
    num_examples
        Total number of rows over all clients.
    count
        Observed values of each feature over all clients.
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
        """Fraction of missing values of each feature over all clients."""
        return np.asarray(1.0 - self.count / self.num_examples, dtype=np.float64)


def _check_global_stats(global_stats: object) -> tuple[Array, Array]:
    if not isinstance(global_stats, GlobalStats):
        raise InputTypeError(
            f"global_stats must be the GlobalStats returned by combine, got "
            f"{type(global_stats).__name__}"
        )
    who = "global_stats"
    mean = _stat_array(global_stats.mean, who=who, name="mean")
    std = _stat_array(global_stats.std, who=who, name="std")
    if mean.shape != std.shape:
        raise ValueError(f"global_stats: mean has shape {mean.shape}, std has {std.shape}")
    return mean, std


def standardize_impute(
    X: np.ndarray,
    global_stats: GlobalStats,
    *,
    client: int | str = 0,
    site: int | str | None = None,
) -> Array:
    """Standardise ``X`` with the global statistics and impute missing values (at a client).

    Each value becomes ``(x - mean) / std``; a missing value is imputed with the
    global mean, i.e. it becomes ``0`` after standardisation. Introduced in
    :ref:`ch-four-hospitals`.

    Parameters
    ----------
    X
        The client's feature matrix with ``NaN`` for missing values (not modified).
    global_stats
        The server's :class:`GlobalStats` from :func:`combine`.
    client
        The client's name or index, used in error messages.
    site
        The former name of ``client`` (kept so that older code runs); if given, it
        is used instead of ``client``.

    Raises
    ------
    ValueError
        If ``X`` is malformed or has a different number of features than the
        statistics (naming the client), the statistics are not finite, or a feature
        has zero standard deviation.
    """
    if site is not None:
        client = site
    A = _check_matrix(X, client=client)
    mean, std = _check_global_stats(global_stats)
    if A.shape[1] != mean.shape[0]:
        raise ValueError(
            f"{_who(client)}: X has {A.shape[1]} features, the global statistics "
            f"have {mean.shape[0]}"
        )
    constant = np.flatnonzero(~(std > 0))
    if constant.size:
        raise ValueError(
            f"feature {int(constant[0])} has zero standard deviation over all clients; "
            "drop it before standardising"
        )
    with np.errstate(over="ignore"):
        Z = (A - mean) / std
    if np.isinf(Z).any():
        raise ValueError(f"{_who(client)}: standardised values overflow float64")
    return np.asarray(np.where(np.isnan(A), 0.0, Z), dtype=np.float64)


def mark_missing(
    X: np.ndarray, columns: Sequence[int], *, value: float = 0.0, client: int | str = 0
) -> Array:
    """Return a copy of ``X`` where ``value`` in the given columns is replaced by ``NaN``.

    For codes that mean "not measured", e.g. Switzerland's cholesterol of 0 in the
    UCI Heart Disease data. Introduced in :ref:`ch-four-hospitals`.

    Raises
    ------
    ValueError
        If ``X`` is malformed, ``columns`` is not a list (or 1-D array) of integer
        column indices within range (naming the client), or ``value`` is not a finite
        real number.
    """
    A = _check_matrix(X, client=client).copy()
    code = check_number(value, name="value")
    if isinstance(columns, np.ndarray) and columns.ndim == 1:
        columns = columns.tolist()
    if columns is None or isinstance(columns, str | bytes) or not isinstance(columns, Sequence):
        raise InputTypeError(
            f"{_who(client)}: columns must be a list of column indices, got "
            f"{type(columns).__name__}"
        )
    cols = [check_int(j, name=f"{_who(client)}: column") for j in columns]
    for j in cols:
        if not 0 <= j < A.shape[1]:
            raise ValueError(f"{_who(client)}: column {j} out of range for {A.shape[1]} features")
    for j in cols:
        A[A[:, j] == code, j] = np.nan
    return A


def site_statistics(X: np.ndarray, *, site: int | str = 0) -> ClientStats:
    """Compute :func:`client_statistics` under its former name (``site`` is its ``client``).

    Kept so that older code runs; the API says client, as Flower does. Introduced in
    :ref:`ch-four-hospitals`.
    """
    return client_statistics(X, client=site)
