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


# --- fedavg_round (with a server learning rate) --------------------------------------


def fr_good(theta, clients, grad, lr, local_epochs, server_lr):
    results = [cu_good(theta, X, y, grad, lr, local_epochs) for X, y in clients]
    n = sum(num for _, num in results)
    return theta + server_lr * sum(num / n * d for d, num in results)


def fr_library(theta, clients, grad, lr, local_epochs, server_lr):
    # one round of the library's FedAvg with its server_lr, through its one round loop
    history = run_simulation(
        client_fn=numpy_client_fn(clients, model=LINEAR, lr=lr, local_epochs=local_epochs),
        num_clients=len(clients), initial_parameters=[theta],
        strategy=FedAvg(server_lr=server_lr), num_rounds=1, seed=0,
    )
    return history.params[0]


def fr_ignores_server_lr(theta, clients, grad, lr, local_epochs, server_lr):
    return fr_good(theta, clients, grad, lr, local_epochs, 1.0)


def fr_scales_model(theta, clients, grad, lr, local_epochs, server_lr):
    return server_lr * fr_good(theta, clients, grad, lr, local_epochs, 1.0)


def fr_scales_client_lr(theta, clients, grad, lr, local_epochs, server_lr):
    return fr_good(theta, clients, grad, server_lr * lr, local_epochs, 1.0)


def fr_returns_update(theta, clients, grad, lr, local_epochs, server_lr):
    return fr_good(theta, clients, grad, lr, local_epochs, server_lr) - theta


def fr_unweighted(theta, clients, grad, lr, local_epochs, server_lr):
    deltas = [cu_good(theta, X, y, grad, lr, local_epochs)[0] for X, y in clients]
    return theta + server_lr * np.mean(deltas, axis=0)


def fr_not_normalised(theta, clients, grad, lr, local_epochs, server_lr):
    results = [cu_good(theta, X, y, grad, lr, local_epochs) for X, y in clients]
    return theta + server_lr * sum(num * d for d, num in results)


def fr_from_zero(theta, clients, grad, lr, local_epochs, server_lr):
    results = [cu_from_zero(theta, X, y, grad, lr, local_epochs) for X, y in clients]
    n = sum(num for _, num in results)
    return theta + server_lr * sum(num / n * d for d, num in results)


def fr_one_step(theta, clients, grad, lr, local_epochs, server_lr):
    return fr_good(theta, clients, grad, lr, 1, server_lr)


def fr_wrong_direction(theta, clients, grad, lr, local_epochs, server_lr):
    return 2 * theta - fr_good(theta, clients, grad, lr, local_epochs, server_lr)


def fr_in_place(theta, clients, grad, lr, local_epochs, server_lr):
    new = fr_good(theta, clients, grad, lr, local_epochs, server_lr)
    theta[:] = new
    return theta


def fr_old_signature(theta, clients, grad, lr, local_epochs):
    return fr_good(theta, clients, grad, lr, local_epochs, 1.0)


def fr_other(theta, clients, grad, lr, local_epochs, server_lr):
    return fr_good(theta, clients, grad, lr, local_epochs, server_lr) + 0.01


def test_fedavg_round_correct_answers_pass():
    for fn in (fr_good, fr_library):
        fb = check_fedavg_round(fn)
        assert fb.passed, fb.message


@pytest.mark.parametrize(
    ("fn", "needle"),
    [
        (fr_ignores_server_lr, "do not use the server learning rate"),
        (fr_scales_model, "whole new model by the server learning rate"),
        (fr_scales_client_lr, "server learning rate to the clients"),
        (fr_returns_update, "averaged update, not the new model"),
        (fr_unweighted, "without weights"),
        (fr_not_normalised, "do not sum to one"),
        (fr_from_zero, "do not start from the global model"),
        (fr_one_step, "single gradient step"),
        (fr_wrong_direction, "wrong way"),
        (fr_in_place, "in place"),
        (fr_old_signature, "raised TypeError"),
        (fr_other, "not the FedAvg result"),
    ],
)
def test_fedavg_round_mistakes_are_named(fn, needle):
    fb = check_fedavg_round(fn)
    assert not fb.passed
    assert needle in fb.message
    assert "Hint:" in fb.message
