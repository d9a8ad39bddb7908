"""Federated evaluation: metrics of a model over several clients from per-client counts.

A model is evaluated where the patients are. Each client sends only counts, which
the server adds up; every metric then equals the metric of the pooled predictions
(or is bounded, for binned AUROC):

* confusion counts at a threshold (:func:`confusion_counts`): accuracy, sensitivity
  and specificity of the federation from the *summed* counts (:func:`counts_metrics`),
  not from averaged rates;
* score histograms of positives and negatives on shared thresholds
  (:func:`score_histogram`): the AUROC is the Mann-Whitney probability
  ``P(s+ > s-) + P(s+ = s-) / 2`` of cumulative counts (:func:`histogram_auroc`; Hanley
  and McNeil, Radiology 143, 1982), exact when the thresholds are the distinct scores
  and otherwise inside bounds computed from the same counts (:func:`auroc_bounds`);
* binned sums of predicted probabilities and labels (:func:`calibration_counts`):
  the reliability diagram and the expected calibration error (Naeini, Cooper and
  Hauskrecht, AAAI 2015; Guo et al., ICML 2017; :func:`expected_calibration_error`),
  with scikit-learn's ``calibration_curve`` bins;
* federated analytics: histograms per client (:func:`site_histogram`) and
  small-cell suppression of what is published (:func:`suppress_small_cells`).

The positive class (label 1) is the disease. Introduced in :ref:`ch-evaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    check_list,
    check_number,
    check_positive_int,
    check_real_array,
    client_label,
)
from fedmed_lib._validate_data import check_scores
from fedmed_lib.types import Array

__all__ = [
    "ConfusionCounts",
    "auroc_bounds",
    "calibration_counts",
    "confusion_counts",
    "counts_metrics",
    "expected_calibration_error",
    "histogram_auroc",
    "reliability",
    "score_histogram",
    "site_histogram",
    "suppress_small_cells",
    "uniform_thresholds",
]


# --- counts at a threshold ---------------------------------------------------------------


@dataclass(frozen=True)
class ConfusionCounts:
    """A client's true/false positives/negatives at one threshold; they add up over clients.

    Introduced in :ref:`ch-evaluation`.
    """

    tp: int
    fp: int
    tn: int
    fn: int

    def __add__(self, other: ConfusionCounts) -> ConfusionCounts:
        """Add two clients' counts (what the server does)."""
        if not isinstance(other, ConfusionCounts):
            return NotImplemented
        return ConfusionCounts(self.tp + other.tp, self.fp + other.fp,
                               self.tn + other.tn, self.fn + other.fn)

    @property
    def n(self) -> int:
        """Number of patients."""
        return self.tp + self.fp + self.tn + self.fn


def confusion_counts(
    y: np.ndarray, scores: np.ndarray, *, threshold: float = 0.5, client: int | str = 0
) -> ConfusionCounts:
    """Count one client's true/false positives/negatives; disease is ``score >= threshold``.

    Introduced in :ref:`ch-evaluation`.

    Raises
    ------
    ValueError
        Naming the client: no patients, ``y`` and ``scores`` of different lengths or
        not 1-D, a NaN or Inf score, or a label that is not 0 or 1; or if ``threshold``
        is not a finite number.
    """
    yy, ss = check_scores(y, scores, client=client)
    t = check_number(threshold, name="threshold")
    pred = ss >= t
    pos = yy == 1
    return ConfusionCounts(
        tp=int(np.sum(pred & pos)), fp=int(np.sum(pred & ~pos)),
        tn=int(np.sum(~pred & ~pos)), fn=int(np.sum(~pred & pos)),
    )


def counts_metrics(counts: Sequence[ConfusionCounts]) -> dict[str, float]:
    """Accuracy, sensitivity and specificity of the federation from the clients' summed counts.

    The counts are added first, so the metrics are those of the pooled predictions
    (the average of the clients' rates is another number). A rate with no patient in
    its denominator (sensitivity without positives) is ``nan``.
    Introduced in :ref:`ch-evaluation`.

    Raises
    ------
    ValueError
        If ``counts`` is empty or an entry is not a :class:`ConfusionCounts` (naming
        its position).
    """
    check_list(counts, what="counts must be a list of ConfusionCounts, one per client")
    if len(counts) == 0:
        raise ValueError("no clients: the list of counts is empty")
    for k, c in enumerate(counts):
        if not isinstance(c, ConfusionCounts):
            raise InputTypeError(f"{client_label(k)}: expected ConfusionCounts, got {c!r}")
    total = counts[0]
    for c in counts[1:]:
        total = total + c

    def rate(a: int, b: int) -> float:
        return a / (a + b) if a + b > 0 else float("nan")

    return {
        "accuracy": rate(total.tp + total.tn, total.fp + total.fn),
        "sensitivity": rate(total.tp, total.fn),
        "specificity": rate(total.tn, total.fp),
        "n": float(total.n),
    }


# --- AUROC from histograms on shared thresholds ----------------------------------------


def uniform_thresholds(num_bins: int) -> Array:
    """Thresholds that cut [0, 1] into ``num_bins`` equal bins (the ``num_bins - 1`` inner edges).

    Introduced in :ref:`ch-evaluation`.
    """
    b = check_positive_int(num_bins, name="num_bins")
    return np.linspace(0.0, 1.0, b + 1)[1:-1]


def _check_thresholds(thresholds: object) -> Array:
    t = check_real_array(thresholds, name="thresholds", ndim=1)
    if t.size > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("thresholds must be strictly increasing")
    return t


def score_histogram(
    y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray, *, client: int | str = 0
) -> NDArray[np.int64]:
    """Count one client's negatives and positives between shared thresholds.

    With thresholds ``t_1 < ... < t_m``, bin ``j`` (``0..m``) holds the scores with
    ``t_j <= s < t_{j+1}`` (``t_0 = -inf``, ``t_{m+1} = +inf``): with the distinct scores
    of the federation as thresholds, every distinct score has its own bin and
    :func:`histogram_auroc` is exact. Introduced in :ref:`ch-evaluation`.

    Returns
    -------
    numpy.ndarray
        Integers of shape ``(2, m + 1)``: row 0 negatives, row 1 positives.

    Raises
    ------
    ValueError
        Naming the client: no patients, ``y`` and ``scores`` of different lengths or
        not 1-D, a NaN or Inf score, or a label that is not 0 or 1; or if the thresholds
        are not finite and strictly increasing.
    """
    yy, ss = check_scores(y, scores, client=client)
    t = _check_thresholds(thresholds)
    idx = np.searchsorted(t, ss, side="right")
    out = np.zeros((2, t.size + 1), dtype=np.int64)
    np.add.at(out, (yy.astype(np.int64), idx), 1)
    return out


def _sum_tables(tables: object, *, rows: int, what: str, layout: str, integer: bool) -> Array:
    """Check the clients' count tables (``rows`` non-negative rows, same bins) and add them."""
    check_list(tables, what=f"{what} must be a list of ({rows}, bins) arrays, one per client")
    assert isinstance(tables, Sequence)
    if len(tables) == 0:
        raise ValueError(f"no clients: the list of {what} is empty")
    total: Array | None = None
    for k, t in enumerate(tables):
        a = check_real_array(t, name=f"{client_label(k)}: {what}", ndim=2)
        if a.shape[0] != rows or (a < 0).any() or (integer and (a != np.round(a)).any()):
            raise ValueError(
                f"{client_label(k)}: {what} must be {rows} rows of non-negative "
                f"{'integer counts' if integer else 'numbers'} ({layout}), got shape {a.shape}"
            )
        if total is not None and a.shape != total.shape:
            raise ValueError(
                f"{client_label(k)}: {what} has {a.shape[1]} bins, client 0 has "
                f"{total.shape[1]} (all clients must use the same bins)"
            )
        total = a.copy() if total is None else total + a
    assert total is not None
    return total


def _sum_histograms(histograms: Sequence[np.ndarray]) -> Array:
    total = _sum_tables(histograms, rows=2, what="histogram", layout="negatives, positives",
                        integer=True)
    if total[0].sum() == 0 or total[1].sum() == 0:
        raise ValueError("AUROC needs at least one positive and one negative in the federation")
    return total


def auroc_bounds(histograms: Sequence[np.ndarray]) -> tuple[float, float]:
    """Lowest and highest AUROC of any scores that give these summed histograms.

    Pairs in different bins are ordered by the bins; a positive and a negative in the
    same bin may be either way round. The width of the interval,
    ``sum_j P_j N_j / (P N)``, bounds the error of :func:`histogram_auroc` (twice).
    Introduced in :ref:`ch-evaluation`.
    """
    total = _sum_histograms(histograms)
    neg, pos = total[0].astype(np.float64), total[1].astype(np.float64)
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    pairs = neg.sum() * pos.sum()
    lo = float(pos @ below) / pairs
    return lo, lo + float(pos @ neg) / pairs


def histogram_auroc(histograms: Sequence[np.ndarray]) -> float:
    """AUROC of the federation from the clients' score histograms (see :func:`score_histogram`).

    ``sum_j P_j (N_{<j} + N_j / 2) / (P N)`` with ``P_j, N_j`` the summed positives and
    negatives of bin ``j``: the probability that a positive scores above a negative,
    ties counting one half. Equal to scikit-learn's pooled ``roc_auc_score`` when the
    thresholds are the federation's distinct scores; otherwise the midpoint of
    :func:`auroc_bounds`. Introduced in :ref:`ch-evaluation`.

    Raises
    ------
    ValueError
        If the list is empty, a histogram is malformed or has other bins than the first
        (naming the client), or the federation lacks positives or negatives.
    """
    lo, hi = auroc_bounds(histograms)
    return 0.5 * (lo + hi)



def calibration_counts(
    y: np.ndarray, scores: np.ndarray, *, num_bins: int = 10, client: int | str = 0
) -> Array:
    """One client's binned count, sum of predicted probabilities and sum of labels.

    The bins are scikit-learn's ``calibration_curve(strategy="uniform")`` bins: ``num_bins``
    equal bins of [0, 1], a probability on an inner edge going to the lower bin.
    Introduced in :ref:`ch-evaluation`.

    Returns
    -------
    numpy.ndarray
        Shape ``(3, num_bins)``: counts, sums of scores, sums of labels.
    """
    yy, ss = check_scores(y, scores, client=client, probabilities=True)
    b = check_positive_int(num_bins, name="num_bins")
    idx = np.searchsorted(np.linspace(0.0, 1.0, b + 1)[1:-1], ss)
    return np.stack([
        np.bincount(idx, minlength=b).astype(np.float64),
        np.bincount(idx, weights=ss, minlength=b),
        np.bincount(idx, weights=yy, minlength=b),
    ])


def _sum_calibration(bins: Sequence[np.ndarray]) -> Array:
    total = _sum_tables(bins, rows=3, what="calibration counts",
                        layout="count, sum of scores, sum of labels", integer=False)
    if total[0].sum() == 0:
        raise ValueError("no patients in the calibration counts")
    return total


def reliability(bins: Sequence[np.ndarray]) -> tuple[Array, Array, Array]:
    """Points of the federation's reliability diagram from the clients' calibration counts.

    Returns ``(mean predicted probability, fraction with the disease, count)`` of
    every non-empty bin, as scikit-learn's ``calibration_curve`` returns
    ``(prob_true, prob_pred)`` on the pooled data. Introduced in :ref:`ch-evaluation`.
    """
    total = _sum_calibration(bins)
    keep = total[0] > 0
    n, s, t = total[:, keep]
    return s / n, t / n, n


def expected_calibration_error(bins: Sequence[np.ndarray]) -> float:
    """Return the expected calibration error of the federation: ``sum_b |sum y - sum p|_b / n``.

    The weighted mean over bins of ``|fraction with disease - mean predicted
    probability|``, weights ``n_b / n``; computed from the summed counts, so it is the
    pooled ECE (the mean of the clients' ECEs is another number).
    Introduced in :ref:`ch-evaluation`.
    """
    total = _sum_calibration(bins)
    return float(np.abs(total[2] - total[1]).sum() / total[0].sum())



def site_histogram(x: np.ndarray, edges: np.ndarray, *, client: int | str = 0) -> NDArray[np.int64]:
    """One client's counts of ``x`` in the bins ``[edges[i], edges[i+1])`` (the last bin closed).

    NaN values (not measured) are not counted. Introduced in :ref:`ch-evaluation`.

    Raises
    ------
    ValueError
        Naming the client, if a measured value lies outside ``[edges[0], edges[-1]]``
        (it would silently vanish from the table), or the edges are not increasing.
    """
    who = client_label(client)
    e = _check_thresholds(edges)
    if e.size < 2:
        raise ValueError("edges must hold at least two values")
    a = None if x is None or isinstance(x, str | bytes) else np.asarray(x)
    if a is None or a.dtype.kind not in "fiu":
        raise InputTypeError(f"{who}: x must be a numeric array (NaN = not measured)")
    a = a.astype(np.float64)
    values = check_real_array(a[~np.isnan(a)], name=f"{who}: x", ndim=1)  # refuses Inf
    out_of_range = (values < e[0]) | (values > e[-1])
    if out_of_range.any():
        raise ValueError(f"{who}: {int(out_of_range.sum())} values outside [{e[0]}, {e[-1]}]")
    counts, _ = np.histogram(values, bins=e)
    return counts.astype(np.int64)


def suppress_small_cells(counts: np.ndarray, kappa: int = 5) -> NDArray[np.object_]:
    """Return the table a client may publish: counts in ``1..kappa-1`` shown as ``"<kappa"``.

    Zero cells stay ``"0"`` here (many disclosure rules also hide them; the chapter
    discusses why a published total undoes a lone suppressed cell).
    Introduced in :ref:`ch-evaluation`.

    Raises
    ------
    ValueError
        If the counts are not non-negative integers or ``kappa`` is not an integer >= 1.
    """
    kap = check_positive_int(kappa, name="kappa")
    c = check_real_array(counts, name="counts")
    if (c < 0).any() or (c != np.round(c)).any():
        raise ValueError("counts must be non-negative integers")
    out = np.empty(c.shape, dtype=object)
    for i, v in np.ndenumerate(c):
        out[i] = f"<{kap}" if 0 < v < kap else str(int(v))
    return out
