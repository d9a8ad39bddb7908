"""Tests of the self-check of :ref:`ch-loss`: a right answer passes, each typical slip
gets its own hint, and no message reveals the expected gradient."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fedmed_lib.check import Feedback
from fedmed_lib.check.ch02_loss import _cases, check_mse_grad
from fedmed_lib.models import mse_grad


def right(theta, X, y):
    return 2.0 / X.shape[0] * X.T @ (X @ theta - y)


def right_loop(theta, X, y):
    n, d = X.shape
    g = np.zeros(d)
    for j in range(d):
        for i in range(n):
            g[j] += 2.0 / n * (X[i] @ theta - y[i]) * X[i, j]
    return g


def no_mean(theta, X, y):  # forgotten 1/n
    return 2.0 * X.T @ (X @ theta - y)


def half_convention(theta, X, y):  # 1/2 in J: factor 2 dropped
    return X.T @ (X @ theta - y) / X.shape[0]


def wrong_sign(theta, X, y):
    return 2.0 / X.shape[0] * X.T @ (y - X @ theta)


def transposed(theta, X, y):  # X instead of X.T
    return 2.0 / X.shape[0] * X @ (X @ theta - y)


def residual_only(theta, X, y):  # forgot to multiply by X.T at all
    return 2.0 / X.shape[0] * (X @ theta - y)


def column_vector(theta, X, y):
    return (2.0 / X.shape[0] * X.T @ (X @ theta - y)).reshape(-1, 1)


def divides_twice(theta, X, y):
    return 2.0 / X.shape[0] ** 2 * X.T @ (X @ theta - y)


def garbage(theta, X, y):
    return np.ones_like(theta)


def stub(theta, X, y):
    raise NotImplementedError


@pytest.mark.parametrize("fn", [right, right_loop])
def test_correct_answers_pass(fn):
    fb = check_mse_grad(fn)
    assert isinstance(fb, Feedback)
    assert fb.passed, fb.message
    assert str(fb).startswith("[correct]")


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (no_mean, "1/n"),
        (half_convention, "no 1/2"),
        (wrong_sign, "inner derivative"),
        (transposed, "which orientation of X"),
        (residual_only, "you stopped at the residuals"),
        (column_vector, "flat array"),
        (divides_twice, "divide by n exactly once"),
        (garbage, "dJ/dtheta_j"),
        (stub, "NotImplementedError"),
    ],
)
def test_typical_mistakes_get_their_hint(fn, hint):
    fb = check_mse_grad(fn)
    assert not fb.passed
    assert hint in fb.message
    assert "Hint:" in fb.message


@pytest.mark.parametrize("fn", [no_mean, half_convention, wrong_sign, garbage])
def test_messages_never_reveal_the_expected_gradient(fn):
    fb = check_mse_grad(fn)
    numbers = [float(m) for m in re.findall(r"-?\d+\.\d+", fb.message)]
    expected = np.concatenate([mse_grad(t, X, y) for X, y, t in _cases()])
    for v in numbers:
        assert not np.any(np.isclose(expected, v, rtol=1e-3))
    assert numbers == []  # no decimals at all in the feedback


def test_transposed_is_detected_even_when_shapes_happen_to_fit():
    # X @ (...) only runs when n == d; the check's problems all have n != d
    assert all(X.shape[0] != X.shape[1] for X, _, _ in _cases())


@pytest.mark.parametrize(
    "fn", [no_mean, half_convention, wrong_sign, transposed, residual_only, column_vector,
           divides_twice, garbage]
)
def test_no_hint_gives_the_answer_away(fn):
    """A hint names what is wrong and where to look, never the expected expression."""
    fb = check_mse_grad(fn)
    assert not fb.passed
    text = fb.message.replace(" ", "")
    for answer in ("X.T@(X@theta-y)", "X.T@(y-X@theta)", "X.T", "2/N*X", "(2/N)sum", "2/n*X", "(2/n)sum"):
        assert answer not in text, f"the feedback gives the answer away ({answer!r}): {fb.message}"

