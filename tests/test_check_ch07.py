"""The ch07 self-checks accept a correct FedProx and name each typical mistake."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.check.ch07_non_iid import check_fedprox_grad, check_fedprox_local
from fedmed_lib.models import sigmoid


def _g(theta, X, y):
    return X.T @ (sigmoid(X @ theta) - y) / X.shape[0]


def good_grad(theta, theta_global, X, y, mu):
    return _g(theta, X, y) + mu * (theta - theta_global)


WRONG_GRADS = {
    "missing": (lambda t, tg, X, y, mu: _g(t, X, y), "proximal term is missing"),
    "sign": (lambda t, tg, X, y, mu: _g(t, X, y) + mu * (tg - t), "wrong sign"),
    "no_mu": (lambda t, tg, X, y, mu: _g(t, X, y) + (t - tg), "does not depend on mu"),
    "half": (lambda t, tg, X, y, mu: _g(t, X, y) + mu / 2 * (t - tg), "half as large"),
    "sum": (lambda t, tg, X, y, mu: X.T @ (sigmoid(X @ t) - y) + mu * (t - tg), "n times"),
    "loss_sign": (lambda t, tg, X, y, mu: -_g(t, X, y) + mu * (t - tg), "loss part"),
    "shape": (lambda t, tg, X, y, mu: np.append(good_grad(t, tg, X, y, mu), 0.0), "shape"),
    "raises": (lambda t, tg, X, y, mu: 1 / 0, "ZeroDivisionError"),
    "other": (lambda t, tg, X, y, mu: good_grad(t, tg, X, y, mu) + 0.01, "does not match"),
}


def test_correct_grad_passes() -> None:
    fb = check_fedprox_grad(good_grad)
    assert fb.passed, fb.message
    assert "right" in fb.message


@pytest.mark.parametrize("name", list(WRONG_GRADS))
def test_wrong_grads_are_named(name: str) -> None:
    fn, phrase = WRONG_GRADS[name]
    fb = check_fedprox_grad(fn)
    assert not fb.passed
    assert phrase in fb.message
    assert "Hint:" in fb.message


def good_local(theta_global, X, y, *, mu, lr, num_steps):
    theta = theta_global.copy()
    for _ in range(num_steps):
        theta = theta - lr * good_grad(theta, theta_global, X, y, mu)
    return theta


def prev_anchor_local(theta_global, X, y, *, mu, lr, num_steps):
    theta, anchor = theta_global.copy(), theta_global.copy()
    for _ in range(num_steps):
        new = theta - lr * good_grad(theta, anchor, X, y, mu)
        anchor, theta = theta, new
    return theta


def in_place_local(theta_global, X, y, *, mu, lr, num_steps):
    theta = theta_global
    anchor = theta_global.copy()
    for _ in range(num_steps):
        theta -= lr * good_grad(theta, anchor, X, y, mu)
    return theta


def no_prox_local(theta_global, X, y, *, mu, lr, num_steps):
    return good_local(theta_global, X, y, mu=0.0, lr=lr, num_steps=num_steps)


def neg_local(theta_global, X, y, *, mu, lr, num_steps):
    return good_local(theta_global, X, y, mu=-mu, lr=lr, num_steps=num_steps)


def extra_step_local(theta_global, X, y, *, mu, lr, num_steps):
    return good_local(theta_global, X, y, mu=mu, lr=lr, num_steps=num_steps + 1)


def test_correct_local_passes() -> None:
    fb = check_fedprox_local(good_local)
    assert fb.passed, fb.message


@pytest.mark.parametrize(
    ("fn", "phrase"),
    [
        (prev_anchor_local, "previous local iterate"),
        (in_place_local, "in place"),
        (no_prox_local, "proximal term is missing"),
        (neg_local, "wrong sign"),
        (extra_step_local, "does not match"),
    ],
)
def test_wrong_local_is_named(fn, phrase: str) -> None:
    fb = check_fedprox_local(fn)
    assert not fb.passed
    assert phrase in fb.message


def test_feedback_never_prints_numbers_of_the_answer() -> None:
    for fn, _ in WRONG_GRADS.values():
        msg = check_fedprox_grad(fn).message
        assert "[" not in msg and "array(" not in msg


@pytest.mark.parametrize("check", [check_fedprox_grad, check_fedprox_local])
@pytest.mark.parametrize("not_a_function", [None, 3.0, "fn", [1.0], (lambda: 0)()])
def test_a_called_function_instead_of_the_function_is_named(check, not_a_function):
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check(not_a_function)
