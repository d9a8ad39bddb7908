"""Tests of the self-checks of :ref:`ch-gradient-descent`: right answers pass, each
typical slip gets its own hint, and no message reveals the expected numbers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fedmed_lib.check.ch03_gradient_descent import (
    _problems,
    check_gd_step,
    check_max_step_size,
)


def _top_eig(M):
    return np.linalg.eigvalsh(M)[-1]


# --- check_max_step_size -----------------------------------------------------------


def step_right(X):
    return 2.0 / _top_eig(2.0 / X.shape[0] * X.T @ X)


def step_right_other_route(X):  # 1 / lambda_max(X^T X / n) is the same number
    return 1.0 / _top_eig(X.T @ X / X.shape[0])


def step_no_two_in_hessian(X):  # eigenvalue of X^T X / n instead of 2 X^T X / n
    return 2.0 / _top_eig(X.T @ X / X.shape[0])


def step_one_over_beta(X):
    return 1.0 / _top_eig(2.0 / X.shape[0] * X.T @ X)


def step_no_mean(X):
    return 2.0 / _top_eig(2.0 * X.T @ X)


def step_smallest_eig(X):
    return 2.0 / np.linalg.eigvalsh(2.0 / X.shape[0] * X.T @ X)[0]


def step_returns_beta(X):
    return _top_eig(2.0 / X.shape[0] * X.T @ X)


def step_trace(X):
    return 2.0 / np.trace(2.0 / X.shape[0] * X.T @ X)


def step_all_eigs(X):
    return 2.0 / np.linalg.eigvalsh(2.0 / X.shape[0] * X.T @ X)


def step_negative(X):
    return -step_right(X)


def step_stub(X):
    raise NotImplementedError


def step_constant(X):
    return 0.1


def test_max_step_right_answers_pass():
    for fn in (step_right, step_right_other_route):
        fb = check_max_step_size(fn)
        assert fb.passed, fb.message


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (step_no_two_in_hessian, "keeps the factor 2"),
        (step_one_over_beta, "|1 - lr * beta| = 1"),
        (step_no_mean, "mean loss carries the factor 1/n"),
        (step_smallest_eig, "largest eigenvalue"),
        (step_returns_beta, "beta is the curvature"),
        (step_trace, "trace"),
        (step_all_eigs, "keep only the largest"),
        (step_negative, "positive"),
        (step_stub, "NotImplementedError"),
        (step_constant, "the Hessian of J, its largest eigenvalue"),
    ],
)
def test_max_step_typical_mistakes(fn, hint):
    fb = check_max_step_size(fn)
    assert not fb.passed
    assert hint in fb.message
    assert "Hint:" in fb.message


@pytest.mark.parametrize("fn", [step_no_two_in_hessian, step_one_over_beta, step_constant])
def test_max_step_messages_reveal_no_numbers(fn):
    assert re.findall(r"\d\.\d", check_max_step_size(fn).message) == []


# --- check_gd_step ----------------------------------------------------------------


def gd_right(theta, X, y, lr):
    return theta - lr * 2.0 / X.shape[0] * X.T @ (X @ theta - y)


def gd_ascent(theta, X, y, lr):
    return theta + lr * 2.0 / X.shape[0] * X.T @ (X @ theta - y)


def gd_no_lr(theta, X, y, lr):
    return theta - 2.0 / X.shape[0] * X.T @ (X @ theta - y)


def gd_half(theta, X, y, lr):
    return theta - lr / X.shape[0] * X.T @ (X @ theta - y)


def gd_no_mean(theta, X, y, lr):
    return theta - lr * 2.0 * X.T @ (X @ theta - y)


def gd_in_place(theta, X, y, lr):
    theta -= lr * 2.0 / X.shape[0] * X.T @ (X @ theta - y)
    return theta


def gd_wrong_direction(theta, X, y, lr):
    return theta - lr * X.T @ y


def gd_returns_gradient_shape(theta, X, y, lr):
    return (theta - lr * 2.0 / X.shape[0] * X.T @ (X @ theta - y))[:, None]


def gd_wrong_length(theta, X, y, lr):
    return theta - 3.0 * lr * 2.0 / X.shape[0] * X.T @ (X @ theta - y)


def test_gd_step_right_answer_passes():
    fb = check_gd_step(gd_right)
    assert fb.passed, fb.message


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (gd_ascent, "moves against the gradient"),
        (gd_no_lr, "multiply the gradient by lr"),
        (gd_half, "factor 2"),
        (gd_no_mean, "factor 1/n"),
        (gd_in_place, "build the new theta as a new array"),
        (gd_wrong_direction, "a multiple of the gradient"),
        (gd_returns_gradient_shape, "keeps the shape of theta"),
        (gd_wrong_length, "check the constants"),
    ],
)
def test_gd_step_typical_mistakes(fn, hint):
    fb = check_gd_step(fn)
    assert not fb.passed
    assert hint in fb.message


def test_problems_distinguish_the_slips():
    # the ratios the checks rely on (N, N/2, 2, 1/2, 1/lr) must be distinct
    for X, _, _ in _problems():
        n = X.shape[0]
        assert len({n, n / 2, 2.0, 0.5, 1 / 0.05, 1 / 0.2}) == 6
