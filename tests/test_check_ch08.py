"""Tests of the self-check of ch-overfitting: correct answers pass, each mistake gets its hint."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fedmed_lib.check.ch08_overfitting import check_federated_validation_loss
from fedmed_lib.personalize import federated_loss


def correct_fn(losses: list[float], n: list[int]) -> float:
    """Weighted mean written out by hand."""
    return sum(nk * lk for nk, lk in zip(n, losses, strict=True)) / sum(n)


def numpy_fn(losses: list[float], n: list[int]) -> float:
    """The same with np.average."""
    return float(np.average(losses, weights=n))


def test_correct_answers_pass() -> None:
    for fn in (correct_fn, numpy_fn, federated_loss):
        fb = check_federated_validation_loss(fn)
        assert fb.passed, fb.message
        assert "equals the mean loss over all" in fb.message


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda loss, n: float(np.mean(loss)), "weight each site's loss by its number"),
        (lambda loss, n: float(np.dot(n, loss)), "divide by the total number of examples"),
        (lambda loss, n: float(np.dot(n, loss)) / len(n), "divide by sum_k n_k, not by K"),
        (lambda loss, n: float(np.average(loss, weights=1 / np.array(n))), "weight by n_k."),
        (lambda loss, n: float(np.sum(loss)), "weighted by n_k / sum_k n_k"),
        (lambda loss, n: float(np.median(loss)), "n_k-weighted mean"),
        (lambda loss, n: float(np.max(loss)) + 1.0, "outside the range"),
        (lambda loss, n: float(np.average(loss, weights=np.sqrt(n))), "mean loss over all validation patients pooled"),
        (lambda loss, n: loss[5], "Your function raised IndexError"),
        (lambda loss, n: np.nan, "NaN or Inf"),
    ],
)
def test_typical_mistakes_get_their_hint(fn: Callable, hint: str) -> None:
    fb = check_federated_validation_loss(fn)
    assert not fb.passed
    assert hint in fb.message
    assert "Hint:" in fb.message


def test_feedback_never_reveals_expected_values() -> None:
    fb = check_federated_validation_loss(lambda loss, n: float(np.mean(loss)))
    expected = correct_fn([0.2, 0.9, 0.45], [300, 25, 40])
    for fmt in (f"{expected:.2f}", f"{expected:.3f}", f"{expected:.4f}"):
        assert fmt not in fb.message


@pytest.mark.parametrize("fn", [None, 0.5, "federated_loss"])
def test_a_non_function_is_refused_naming_fn(fn) -> None:
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check_federated_validation_loss(fn)
