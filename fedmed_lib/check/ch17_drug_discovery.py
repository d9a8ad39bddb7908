"""Self-checks for :ref:`ch-drug-discovery`: Tanimoto similarity of fingerprints.

The learner writes ``fn(A, B) -> S`` that returns the Tanimoto similarity of every
row of the 0/1 matrix ``A`` with every row of ``B``:
``S[i, j] = |a_i AND b_j| / |a_i OR b_j|``, the similarity that chemists use to
compare Morgan fingerprints (Rogers and Hahn, J. Chem. Inf. Model. 50, 742, 2010),
with RDKit's convention that two empty fingerprints have similarity 0. The check
runs ``fn`` on small hand-made and random fingerprints, recognises the usual
mistakes (Dice or cosine instead of Tanimoto, a distance instead of a similarity,
the union counted twice, the matrix transposed) and never prints the expected values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import (
    Mistake,
    Symptom,
    Wrong,
    as_array,
    call,
    close,
    diagnose,
    selfcheck,
)

TanimotoFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
Array = NDArray[np.float64]


def _counts(A: Array, B: Array) -> tuple[Array, Array, Array]:
    both = A @ B.T
    return both, A.sum(axis=1)[:, None] + 0 * both, B.sum(axis=1)[None, :] + 0 * both


def _safe(num: Array, den: Array) -> Array:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _tanimoto(A: Array, B: Array) -> Array:
    c, a, b = _counts(A, B)
    return _safe(c, a + b - c)


_MISTAKES: dict[str, Mistake] = {
    "dice": Mistake(
        lambda A, B: _safe(2 * _counts(A, B)[0], _counts(A, B)[1] + _counts(A, B)[2]),
        "Your similarity is the Dice coefficient 2|x_i AND x_j| / (|x_i| + |x_j|).",
        "Tanimoto divides by the size of the union of the two bit sets; the Dice "
        "denominator counts the shared bits twice."),
    "cosine": Mistake(
        lambda A, B: _safe(_counts(A, B)[0], np.sqrt(_counts(A, B)[1] * _counts(A, B)[2])),
        "Your similarity is the cosine |x_i AND x_j| / sqrt(|x_i| |x_j|).",
        "Tanimoto divides by the number of bits set in either vector (the union)."),
    "union_twice": Mistake(
        lambda A, B: _safe(_counts(A, B)[0], _counts(A, B)[1] + _counts(A, B)[2]),
        "You divide by |x_i| + |x_j|, which counts the shared bits twice.",
        "a bit set in both vectors belongs to the union once: correct your denominator "
        "for it."),
    "distance": Mistake(
        lambda A, B: 1.0 - _tanimoto(A, B),
        "Your values are 1 minus the similarity: the Tanimoto *distance*.",
        "identical fingerprints should give 1, fingerprints with no common bit 0."),
    "overlap": Mistake(
        lambda A, B: _safe(_counts(A, B)[0], np.minimum(_counts(A, B)[1], _counts(A, B)[2])),
        "You divide by the smaller of |x_i| and |x_j| (the overlap coefficient).",
        "Tanimoto divides by the size of the union of the two bit sets."),
    "fraction_of_bits": Mistake(
        lambda A, B: _counts(A, B)[0] / A.shape[1],
        "You divide the shared bits by the length of the fingerprint.",
        "bits that are off in both vectors do not count: divide by the union."),
    "max_union": Mistake(
        lambda A, B: _safe(_counts(A, B)[0], np.maximum(_counts(A, B)[1], _counts(A, B)[2])),
        "You divide by the larger of |x_i| and |x_j|.",
        "the union of the two bit sets is at least as large as either set: it also "
        "holds the bits set only in the smaller one."),
}

_HAND_A = np.array(
    [[1, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=np.float64
)
_HAND_B = np.array(
    [[1, 0, 1, 1, 1, 0], [1, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]],
    dtype=np.float64,
)


def _cases() -> list[tuple[Array, Array]]:
    rng = np.random.default_rng(17)
    big_a = (rng.random((7, 64)) < 0.2).astype(np.float64)
    big_b = (rng.random((5, 64)) < 0.35).astype(np.float64)
    return [(_HAND_A[:1], _HAND_B[:2]), (_HAND_A, _HAND_B), (big_a, big_b)]


def _masked(variant: Callable[[Array, Array], Array], A: Array, B: Array, keep: Array) -> Array:
    """Return what ``variant`` gives on the pairs that are not both empty."""
    return variant(A, B)[keep]


# The mistakes, compared on the pairs that are not both empty (0 / 0 is a separate slip).
_MASKED: tuple[Mistake | Symptom, ...] = (
    *(Mistake(functools.partial(_masked, row.variant), row.message, row.hint)
      for row in _MISTAKES.values()),
    Symptom(lambda got, A, B, keep: (got < -1e-12).any() or (got > 1 + 1e-12).any(),
            "Some of your similarities lie outside [0, 1].",
            "shared bits can never outnumber the bits of the union."),
)


@selfcheck
def check_tanimoto(fn: TanimotoFn) -> Feedback:
    """Check a learner's Tanimoto similarity of two sets of bit vectors.

    Introduced in the exercises of :ref:`ch-drug-discovery`.

    Parameters
    ----------
    fn
        ``fn(A, B) -> S``: ``A`` of shape ``(m, d)`` and ``B`` of shape ``(n, d)``
        hold 0/1 bits (float64); ``S`` of shape ``(m, n)`` holds the similarities.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected numbers).
    """
    hint = ("take two 2-D 0/1 arrays A (m, d) and B (n, d) and return an (m, n) array; "
            "mind the division by zero for two empty fingerprints.")
    empty_hint = "RDKit's convention is similarity 0 when neither vector has a bit set."
    for A, B in _cases():
        expected = _tanimoto(A, B)
        out = as_array(call(fn, A, B, hint=hint, check_inplace=False), hint)
        m, n = expected.shape
        if out.shape == (n, m) and m != n:
            raise Wrong(
                f"Your result has shape {out.shape}: rows are B's fingerprints.",
                "row i should belong to A[i] and column j to B[j]: S has shape (len(A), len(B)).",
            )
        if out.shape != expected.shape:
            raise Wrong(
                f"Your result has shape {out.shape}, not (len(A), len(B)).",
                "compare every row of A with every row of B: one entry per pair (A[i], B[j]).",
            )
        empty = (A.sum(axis=1)[:, None] == 0) & (B.sum(axis=1)[None, :] == 0)
        if not np.isfinite(out).all():
            if (~np.isfinite(out) & ~empty).any():
                raise Wrong("Your result contains NaN or Inf.", "check your denominators.")
            raise Wrong("Two empty fingerprints give NaN (0 / 0) in your result.", empty_hint)
        if close(out, expected, rtol=1e-9, atol=1e-12):
            continue
        diagnose(out[~empty], expected[~empty], _MASKED, (A, B, ~empty), rtol=1e-9, atol=1e-12,
                 generic=("Your similarities are not the Tanimoto similarities of these "
                          "fingerprints.",
                          "count the bits set in both (a AND b) and in either (a OR b) and "
                          "divide."))
        raise Wrong("Your similarity is right except for two empty fingerprints.", empty_hint)
    return correct(
        "Your Tanimoto similarity is right on hand-made and random fingerprints, including "
        "identical, disjoint and empty ones, and has the shape (len(A), len(B))."
    )
