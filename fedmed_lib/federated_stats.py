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
uses with :func:`standardize_impute`. The two messages and their checks are defined
in :mod:`fedmed_lib.stats_messages` and importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedmed_lib._validate import InputTypeError, check_int, check_number
from fedmed_lib.stats_messages import ClientStats as ClientStats
from fedmed_lib.stats_messages import GlobalStats as GlobalStats
from fedmed_lib.stats_messages import Moments as Moments
from fedmed_lib.stats_messages import (
    _check_client_stats,
    _check_global_stats,
    _check_matrix,
    _who,
)
from fedmed_lib.types import Array


def _two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """Knuth's error-free addition: ``s + e == a + b`` exactly, with ``s = fl(a + b)``."""
    s = a + b
    b_virtual = s - a
    e = (a - (s - b_virtual)) + (b - b_virtual)
    return s, e


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
