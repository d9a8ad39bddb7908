"""The two messages of federated preprocessing, and the checks of what they carry.

One job: say what a client may send and what the server sends back, and refuse
anything else before it is used. A client sends a :class:`ClientStats` (per feature:
the number of observed values, their mean, the sum of squared deviations ``M2`` and
the mean's rounding residual; never rows); the server answers with a
:class:`GlobalStats` (global means and standard deviations). The checks here, of the
two messages and of the feature matrix a client computes its message from, name the
client and the problem (NaN, Inf, wrong shape, negative ``M2``, a count above the
number of patients, statistics that no real data can produce).
:mod:`fedmed_lib.federated_stats` computes, combines and applies these statistics
with the formula of Chan, Golub and LeVeque (1983). Introduced in
:ref:`ch-four-hospitals`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from fedmed_lib._validate import InputTypeError, client_label
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
