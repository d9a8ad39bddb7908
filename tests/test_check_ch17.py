"""Tests of the self-check of ch-drug-discovery: right answers pass, each mistake gets its hint."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fedmed_lib import chem
from fedmed_lib.check.ch17_drug_discovery import check_tanimoto


def loop_tanimoto(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pair by pair with Python sets, as a learner might write it."""
    out = np.zeros((len(A), len(B)))
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            sa, sb = set(np.flatnonzero(a)), set(np.flatnonzero(b))
            out[i, j] = len(sa & sb) / len(sa | sb) if sa | sb else 0.0
    return out


def bool_tanimoto(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """With boolean AND / OR counts."""
    a, b = A.astype(bool), B.astype(bool)
    inter = (a[:, None, :] & b[None, :, :]).sum(axis=2)
    union = (a[:, None, :] | b[None, :, :]).sum(axis=2)
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def _counts(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return A @ B.T, A.sum(axis=1)[:, None], B.sum(axis=1)[None, :]


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    den = np.broadcast_to(den, num.shape)
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def test_correct_answers_pass() -> None:
    for fn in (loop_tanimoto, bool_tanimoto, chem.tanimoto):
        fb = check_tanimoto(fn)
        assert fb.passed, fb.message
        assert "right on hand-made and random fingerprints" in fb.message


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda A, B: _div(2 * _counts(A, B)[0], _counts(A, B)[1] + _counts(A, B)[2]), "Dice"),
        (lambda A, B: _div(_counts(A, B)[0], np.sqrt(_counts(A, B)[1] * _counts(A, B)[2])), "cosine"),
        (lambda A, B: _div(_counts(A, B)[0], _counts(A, B)[1] + _counts(A, B)[2]), "counts the shared bits twice"),
        (lambda A, B: 1 - chem.tanimoto(A, B), "Tanimoto *distance*"),
        (lambda A, B: _div(_counts(A, B)[0], np.minimum(_counts(A, B)[1], _counts(A, B)[2])), "smaller of"),
        (lambda A, B: A @ B.T / A.shape[1], "length of the fingerprint"),
        (lambda A, B: _div(_counts(A, B)[0], np.maximum(_counts(A, B)[1], _counts(A, B)[2])), "larger of"),
        (lambda A, B: chem.tanimoto(B, A), "rows are B's fingerprints"),
        (lambda A, B: chem.tanimoto(A, B)[:, :1], "not (len(A), len(B))"),
        (lambda A, B: (A @ B.T) / (A.sum(1)[:, None] + B.sum(1)[None, :] - A @ B.T), "NaN (0 / 0)"),
        (lambda A, B: np.where((A.sum(1)[:, None] == 0) & (B.sum(1)[None, :] == 0), 1.0,
                               chem.tanimoto(A, B)), "right except for two empty"),
        (lambda A, B: chem.tanimoto(A, B) ** 2, "not the Tanimoto similarities"),
        (lambda A, B: chem.tanimoto(A, B) * 1.5, "outside [0, 1]"),
        (lambda A, B: A[5], "Your function raised IndexError"),
    ],
)
def test_typical_mistakes_get_their_hint(fn: Callable, hint: str) -> None:
    with np.errstate(divide="ignore", invalid="ignore"):
        fb = check_tanimoto(fn)
    assert not fb.passed
    assert hint in fb.message, fb.message
    assert "Hint:" in fb.message


def test_feedback_never_reveals_expected_values() -> None:
    rng = np.random.default_rng(17)
    A = (rng.random((7, 64)) < 0.2).astype(float)
    B = (rng.random((5, 64)) < 0.35).astype(float)
    expected = chem.tanimoto(A, B)
    for wrong_fn in (lambda A, B: 1 - chem.tanimoto(A, B), lambda A, B: chem.tanimoto(A, B) ** 2):
        fb = check_tanimoto(wrong_fn)
        for value in expected.ravel()[:10]:
            for fmt in (f"{value:.2f}", f"{value:.3f}"):
                if fmt not in ("0.00", "1.00", "0.000", "1.000"):
                    assert fmt not in fb.message


def test_the_learner_cannot_change_the_test_data() -> None:
    def vandal(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        out = chem.tanimoto(A, B)
        A[:] = 0
        return out

    assert check_tanimoto(vandal).passed
    assert check_tanimoto(chem.tanimoto).passed
