"""Tests of the self-check of ch-vertical: correct answers pass, each mistake gets its hint."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fedmed_lib.check.ch21_vertical import check_vertical_round
from fedmed_lib.vertical import vertical_logistic_regression


def sig(z):
    return 1 / (1 + np.exp(-z))


def right(X_A, X_B, y, a, b, lr):
    r = sig(X_A @ a + X_B @ b) - y
    return a - lr * X_A.T @ r / len(y), b - lr * X_B.T @ r / len(y)


def test_correct_answers_pass() -> None:
    fb = check_vertical_round(right)
    assert fb.passed, fb.message
    assert "equal a gradient step on the joined data" in fb.message


def test_library_round_equals_the_right_round_from_zero() -> None:
    """The library's first round (it starts from zero) is the round the check expects."""
    rng = np.random.default_rng(0)
    X_A = np.column_stack([np.ones(9), rng.normal(size=(9, 2))])
    X_B = rng.normal(size=(9, 4))
    y = (np.arange(9) % 2).astype(float)
    res = vertical_logistic_regression([X_A, X_B], y, lr=0.7, num_rounds=1)
    want = right(X_A, X_B, y, np.zeros(3), np.zeros(4), 0.7)
    for got, expected in zip(res.thetas, want, strict=True):
        assert np.allclose(got, expected, rtol=1e-12, atol=1e-14)


def _step(X_A, X_B, r_A, r_B, a, b, lr, n):
    return a - lr * X_A.T @ r_A / n, b - lr * X_B.T @ r_B / n


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda X_A, X_B, y, a, b, lr: right(X_A, X_B, y, a, b, lr)[::-1],
         "the laboratory's coefficients first"),
        (lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, y - sig(X_A @ a + X_B @ b),
                                             y - sig(X_A @ a + X_B @ b), a, b, lr, len(y)),
         "goes uphill"),
        (lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, sig(X_A @ a) - y, sig(X_B @ b) - y,
                                             a, b, lr, len(y)),
         "only its own partial predictor"),
        (lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, sig(X_A @ a) - y, sig(X_A @ a) - y,
                                             a, b, lr, len(y)),
         "ignore the laboratory's partial predictor"),
        (lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, X_A @ a + X_B @ b - y, X_A @ a + X_B @ b - y,
                                             a, b, lr, len(y)),
         "linear regression"),
        (lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, sig(X_A @ a + X_B @ b) - y,
                                             sig(X_A @ a + X_B @ b) - y, a, b, lr, 1),
         "instead of averaging"),
        (lambda X_A, X_B, y, a, b, lr: (right(X_A, X_B, y, a, b, lr)[0], b),
         "Only the hospital updates"),
        (lambda X_A, X_B, y, a, b, lr: (a, right(X_A, X_B, y, a, b, lr)[1]),
         "Only the laboratory updates"),
        (lambda X_A, X_B, y, a, b, lr: tuple(t * 1.01 for t in right(X_A, X_B, y, a, b, lr)),
         "does not give the gradient step"),
        (lambda X_A, X_B, y, a, b, lr: right(X_A, X_B, y, a, b, lr)[0],
         "must return two arrays"),
        (lambda X_A, X_B, y, a, b, lr: X_A @ X_B, "raised ValueError"),
    ],
)
def test_mistakes_get_their_hint(fn: Callable, hint: str) -> None:
    fb = check_vertical_round(fn)
    assert not fb.passed
    assert hint in fb.message
    assert "Hint:" in fb.message


def test_stub_and_inplace_change_are_explained() -> None:
    def stub(*args):
        raise NotImplementedError

    assert "NotImplementedError" in check_vertical_round(stub).message

    def inplace(X_A, X_B, y, a, b, lr):
        out = right(X_A, X_B, y, a, b, lr)
        a -= 1.0
        return out

    assert "in place" in check_vertical_round(inplace).message


def test_mistakes_differ_from_the_right_answer() -> None:
    from fedmed_lib.check import ch21_vertical as m

    for case in m._cases():
        want = m._reference(*case)
        for row in m._MISTAKES:
            if isinstance(row, m.Mistake):
                got = row.variant(*case)
                assert not all(np.allclose(g, w) for g, w in zip(got, want, strict=True))


def test_feedback_never_reveals_expected_values() -> None:
    from fedmed_lib.check import ch21_vertical as m

    fb = check_vertical_round(lambda X_A, X_B, y, a, b, lr: (a, b))
    assert not fb.passed
    for case in m._cases():
        for block in m._reference(*case):
            for value in block:
                assert f"{value:.3f}" not in fb.message
