"""Tests of the self-checks of ch-fedavg: right answers pass, each typical mistake is named."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.algorithms import FedAvg, numpy_client_fn
from fedmed_lib.check.ch05_fedavg import check_client_update, check_fedavg_round
from fedmed_lib.models import LINEAR
from fedmed_lib.simulation import run_simulation

# --- client_update ------------------------------------------------------------------


def cu_good(theta, X, y, grad, lr, local_epochs):
    w = theta.copy()
    for _ in range(local_epochs):
        w = w - lr * grad(w, X, y)
    return w - theta, len(y)


def cu_returns_model(theta, X, y, grad, lr, local_epochs):
    update, n = cu_good(theta, X, y, grad, lr, local_epochs)
    return theta + update, n


def cu_wrong_sign(theta, X, y, grad, lr, local_epochs):
    update, n = cu_good(theta, X, y, grad, lr, local_epochs)
    return -update, n


def cu_from_zero(theta, X, y, grad, lr, local_epochs):
    w = np.zeros_like(theta)
    for _ in range(local_epochs):
        w = w - lr * grad(w, X, y)
    return w - theta, len(y)


def cu_one_step(theta, X, y, grad, lr, local_epochs):
    return cu_good(theta, X, y, grad, lr, 1)


def cu_stale_gradient(theta, X, y, grad, lr, local_epochs):
    g = grad(theta, X, y)
    return -lr * local_epochs * g, len(y)


def cu_in_place(theta, X, y, grad, lr, local_epochs):
    start = theta.copy()
    for _ in range(local_epochs):
        theta -= lr * grad(theta, X, y)
    return theta - start, len(y)


def cu_no_count(theta, X, y, grad, lr, local_epochs):
    return cu_good(theta, X, y, grad, lr, local_epochs)[0]


def cu_wrong_count(theta, X, y, grad, lr, local_epochs):
    return cu_good(theta, X, y, grad, lr, local_epochs)[0], X.shape[1]


def cu_raises(theta, X, y, grad, lr, local_epochs):
    raise TypeError("boom")


def test_client_update_correct_passes():
    fb = check_client_update(cu_good)
    assert fb.passed, fb.message
    assert "right" in fb.message


@pytest.mark.parametrize(
    ("fn", "needle"),
    [
        (cu_returns_model, "locally trained model, not the update"),
        (cu_wrong_sign, "wrong sign"),
        (cu_from_zero, "does not start from the global model"),
        (cu_one_step, "single gradient step"),
        (cu_stale_gradient, "reuses the gradient"),
        (cu_in_place, "in place"),
        (cu_no_count, "pair (update, num_examples)"),
        (cu_wrong_count, "num_examples you return"),
        (cu_raises, "raised TypeError"),
    ],
)
def test_client_update_mistakes_are_named(fn, needle):
    fb = check_client_update(fn)
    assert not fb.passed
    assert needle in fb.message
    assert "Hint:" in fb.message


# --- fedavg_round -------------------------------------------------------------------


def fr_good(theta, clients, grad, lr, local_epochs):
    results = [cu_good(theta, X, y, grad, lr, local_epochs) for X, y in clients]
    n = sum(num for _, num in results)
    return theta + sum(num / n * d for d, num in results)


def fr_library(theta, clients, grad, lr, local_epochs):
    # one round of the library's FedAvg, through its one round loop
    history = run_simulation(
        client_fn=numpy_client_fn(clients, model=LINEAR, lr=lr, local_epochs=local_epochs),
        num_clients=len(clients), initial_parameters=[theta], strategy=FedAvg(),
        num_rounds=1, seed=0,
    )
    return history.params[0]


def fr_returns_update(theta, clients, grad, lr, local_epochs):
    return fr_good(theta, clients, grad, lr, local_epochs) - theta


def fr_unweighted(theta, clients, grad, lr, local_epochs):
    deltas = [cu_good(theta, X, y, grad, lr, local_epochs)[0] for X, y in clients]
    return theta + np.mean(deltas, axis=0)


def fr_not_normalised(theta, clients, grad, lr, local_epochs):
    results = [cu_good(theta, X, y, grad, lr, local_epochs) for X, y in clients]
    return theta + sum(num * d for d, num in results)


def fr_from_zero(theta, clients, grad, lr, local_epochs):
    results = [cu_from_zero(theta, X, y, grad, lr, local_epochs) for X, y in clients]
    n = sum(num for _, num in results)
    return theta + sum(num / n * d for d, num in results)


def fr_one_step(theta, clients, grad, lr, local_epochs):
    return fr_good(theta, clients, grad, lr, 1)


def fr_wrong_direction(theta, clients, grad, lr, local_epochs):
    return 2 * theta - fr_good(theta, clients, grad, lr, local_epochs)


def fr_in_place(theta, clients, grad, lr, local_epochs):
    new = fr_good(theta, clients, grad, lr, local_epochs)
    theta[:] = new
    return theta


def fr_other(theta, clients, grad, lr, local_epochs):
    return fr_good(theta, clients, grad, lr, local_epochs) + 0.01


def test_fedavg_round_correct_answers_pass():
    for fn in (fr_good, fr_library):
        fb = check_fedavg_round(fn)
        assert fb.passed, fb.message


@pytest.mark.parametrize(
    ("fn", "needle"),
    [
        (fr_returns_update, "averaged update, not the new model"),
        (fr_unweighted, "without weights"),
        (fr_not_normalised, "do not sum to one"),
        (fr_from_zero, "do not start from the global model"),
        (fr_one_step, "single gradient step"),
        (fr_wrong_direction, "wrong way"),
        (fr_in_place, "in place"),
        (fr_other, "not the FedAvg result"),
    ],
)
def test_fedavg_round_mistakes_are_named(fn, needle):
    fb = check_fedavg_round(fn)
    assert not fb.passed
    assert needle in fb.message
    assert "Hint:" in fb.message


@pytest.mark.parametrize("check", [check_client_update, check_fedavg_round])
@pytest.mark.parametrize("not_a_function", [None, 3.0, "fn", [1.0], (lambda: 0)()])
def test_a_called_function_instead_of_the_function_is_named(check, not_a_function):
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check(not_a_function)
