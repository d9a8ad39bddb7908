"""Self-checks for :ref:`ch-evaluation`: the AUROC of a federation from score histograms.

The learner writes ``server_auroc(histograms) -> auroc``: ``histograms`` is the list of
the hospitals' count arrays of shape ``(2, m)`` on shared thresholds (row 0 the
patients without the disease, row 1 those with it; bin ``j`` holds the scores between
threshold ``j`` and ``j + 1``, bins in increasing order of score). The answer is the
probability that a patient with the disease scores above one without, ties counting one
half, over all the federation's patients. The check runs it on small federations with
ties within and across hospitals and unequal prevalences, recognises the usual mistakes
and never prints the expected values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Mistake, Symptom, as_number, call, diagnose, selfcheck

ServerAurocFn = Callable[[Sequence[np.ndarray]], float]

# Federations of per-hospital (negatives, positives) counts in 5 shared bins: hospitals of
# different sizes and prevalences, ties in a bin at several hospitals, an empty bin.
_FEDERATIONS: tuple[tuple[tuple[tuple[int, ...], tuple[int, ...]], ...], ...] = (
    (
        ((4, 3, 1, 0, 0), (0, 1, 2, 3, 1)),
        ((1, 2, 0, 1, 0), (1, 0, 1, 4, 6)),
        ((0, 1, 1, 0, 0), (0, 2, 1, 3, 2)),
    ),
    (
        ((6, 2, 3, 1, 0), (1, 0, 2, 2, 0)),
        ((0, 1, 0, 2, 1), (0, 0, 3, 1, 5)),
    ),
)


def _pooled(h: Sequence[np.ndarray]) -> np.ndarray:
    return np.sum(h, axis=0).astype(float)


def _ties(t: np.ndarray, weight: float) -> float:
    neg, pos = t
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    return float(pos @ (below + weight * neg) / (neg.sum() * pos.sum()))


def _reference(h: Sequence[np.ndarray]) -> float:
    return _ties(_pooled(h), 0.5)


_MISTAKES = (
    Mistake(
        lambda h: float(np.mean([_ties(np.asarray(x, float), 0.5) for x in h])),
        "Your AUROC is the average of the hospitals' own AUROCs.",
        "an AUROC compares pairs of patients, and pairs across hospitals count too: add up "
        "the hospitals' counts bin by bin first, then compute one AUROC."),
    Mistake(
        lambda h: float(np.average([_ties(np.asarray(x, float), 0.5) for x in h],
                                   weights=[np.sum(x) for x in h])),
        "Your AUROC is a size-weighted average of the hospitals' own AUROCs.",
        "weighting by size still leaves out the pairs of patients from two different "
        "hospitals: add up the counts bin by bin first."),
    Mistake(
        lambda h: _ties(_pooled(h), 0.0),
        "Your AUROC counts a tie (a positive and a negative in the same bin) as a loss.",
        "a pair in the same bin cannot be ordered: count it one half."),
    Mistake(
        lambda h: _ties(_pooled(h), 1.0),
        "Your AUROC counts a tie (a positive and a negative in the same bin) as a win.",
        "a pair in the same bin cannot be ordered: count it one half."),
    Mistake(
        lambda h: 1.0 - _reference(h),
        "Your AUROC is the probability that a patient *without* the disease scores higher.",
        "row 1 holds the patients with the disease; count the negatives *below* each "
        "positive's bin."),
    Mistake(
        lambda h: _reference(h[:1]),
        "Your AUROC uses only the first hospital.",
        "add up all the hospitals' histograms."),
    Symptom(
        lambda got, h: not 0.0 <= got <= 1.0,
        "Your AUROC is not between 0 and 1.",
        "divide the count of ordered pairs by the number of (positive, negative) pairs, "
        "N+ times N-."),
)


@selfcheck
def check_histogram_auroc(server_auroc: ServerAurocFn) -> Feedback:
    """Check a learner's AUROC of a federation from per-hospital score histograms.

    Introduced in the exercises of :ref:`ch-evaluation`.

    Parameters
    ----------
    server_auroc
        ``server_auroc(histograms) -> float``; ``histograms`` is a list of integer arrays
        of shape ``(2, m)``, one per hospital (row 0 negatives, row 1 positives, bins in
        increasing order of score).

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected number).
    """
    hint = "server_auroc receives a list of (2, m) count arrays and returns one number."
    for case, federation in enumerate(_FEDERATIONS, start=1):
        hists = [np.array([neg, pos], dtype=np.int64) for neg, pos in federation]
        got = as_number(call(server_auroc, hists, hint=hint, where=f" (test federation {case})"),
                        hint)
        diagnose(got, _reference(hists), _MISTAKES, (hists,), rtol=1e-9, atol=1e-12,
                 generic=("Your AUROC of the federation is wrong on a small test federation.",
                          "check both steps against the theorem 'AUROC from cumulative "
                          "counts': how the hospitals' histograms are combined, and how each "
                          "positive is compared with the negatives below it and in its bin."))
    return correct(
        "Your server needs only the hospitals' counts per bin, and its AUROC equals the "
        "Mann-Whitney AUROC of the pooled patients (ties one half) on every test federation."
    )
