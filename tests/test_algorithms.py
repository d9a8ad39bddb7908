"""Tests of fedmed_lib.algorithms: FedSGD = gradient descent, FedAvg special cases, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.aggregate import unweighted_average
from fedmed_lib.algorithms import (
    FedAvg,
    check_clients,
    fedsgd_round,
    local_sgd,
    numpy_client_fn,
)
from fedmed_lib.models import LINEAR, LOGISTIC, SOFTMAX, add_intercept
from fedmed_lib.simulation import run_simulation


def make_clients(sizes=(3, 7, 20), d=3, seed=0, classes=None):
    rng = np.random.default_rng(seed)
    out = []
    for k, n in enumerate(sizes):
        X = add_intercept(rng.normal(loc=k, size=(n, d)))
        if classes is None:
            y = X @ rng.normal(size=d + 1) + rng.normal(size=n)
        else:
            y = rng.integers(0, classes, size=n).astype(float)
        out.append((X, y))
    return out


def test_fedsgd_round_hand_computed():
    # One client, X = [[1], [1]], y = [2, 4]: grad at 0 is 2/2 * X^T (0 - y) = -6; lr 0.5 -> 3.
    theta = fedsgd_round(np.zeros(1), [(np.ones((2, 1)), np.array([2.0, 4.0]))], model=LINEAR, lr=0.5)
    np.testing.assert_array_equal(theta, [3.0])
    # Two clients of sizes 1 and 3: weighted gradient = 1/4 * g0 + 3/4 * g1.
    clients = [(np.ones((1, 1)), np.array([4.0])), (np.ones((3, 1)), np.array([0.0, 0.0, 0.0]))]
    theta = fedsgd_round(np.zeros(1), clients, model=LINEAR, lr=1.0)
    np.testing.assert_allclose(theta, [0.25 * 8.0])  # g0 = -8, g1 = 0
    theta_u = fedsgd_round(np.zeros(1), clients, model=LINEAR, lr=1.0, aggregate_fn=unweighted_average)
    np.testing.assert_allclose(theta_u, [0.5 * 8.0])


@pytest.mark.parametrize("model", [LINEAR, LOGISTIC, SOFTMAX])
def test_fedsgd_equals_centralised_gradient_descent(model):
    classes = {"linear": None, "logistic": 2, "softmax": 3}[model.name]
    clients = make_clients(classes=classes)
    X = np.vstack([c[0] for c in clients])
    y = np.concatenate([c[1] for c in clients])
    theta = model.init(X.shape[1], classes or 2)
    theta_gd = theta.copy()
    for _ in range(50):
        theta = fedsgd_round(theta, clients, model=model, lr=0.05)
        theta_gd = theta_gd - 0.05 * model.grad(theta_gd, X, y)
        np.testing.assert_allclose(theta, theta_gd, rtol=1e-10, atol=1e-12)


def fedavg_rounds(theta, clients, *, model, lr, local_epochs=1, num_rounds=1):
    """FedAvg with every client, full-batch local steps: the library's one round loop."""
    history = run_simulation(
        client_fn=numpy_client_fn(clients, model=model, lr=lr, local_epochs=local_epochs),
        num_clients=len(clients), initial_parameters=[theta], strategy=FedAvg(),
        num_rounds=num_rounds, seed=0,
    )
    return history.params[0]


def test_fedavg_one_client_one_step_is_one_gradient_step():
    (X, y), = make_clients(sizes=(15,))
    theta = np.array([0.3, -0.2, 0.1, 0.5])
    new = fedavg_rounds(theta, [(X, y)], model=LINEAR, lr=0.1, local_epochs=1)
    np.testing.assert_allclose(new, theta - 0.1 * LINEAR.grad(theta, X, y), rtol=1e-12)
    # and step by step through the strategy: the update is -lr * grad, the server adds it
    fit = numpy_client_fn([(X, y)], model=LINEAR, lr=0.1)
    update, num = fit(0, [theta], 1, np.random.default_rng(0))
    assert num == 15
    new2 = FedAvg().aggregate_fit(1, [(update, num)], [theta])[0][0]
    np.testing.assert_allclose(new2, new, rtol=1e-12)


def test_fedavg_with_full_batch_single_step_equals_fedsgd():
    clients = make_clients()
    theta = np.zeros(4)
    np.testing.assert_allclose(
        fedavg_rounds(theta, clients, model=LINEAR, lr=0.02),
        fedsgd_round(theta, clients, model=LINEAR, lr=0.02),
        rtol=1e-12,
    )


def test_fedavg_several_local_epochs_is_the_weighted_average_of_local_gd():
    # independent of the library's loop: local gradient descent and the n_k-weighted mean
    clients = make_clients()
    theta = np.array([0.1, -0.3, 0.2, 0.0])
    expected = theta
    for _ in range(3):  # rounds
        local = []
        for X, y in clients:
            t = expected.copy()
            for _ in range(2):  # local epochs, full batch
                t = t - 0.05 * LINEAR.grad(t, X, y)
            local.append((t, X.shape[0]))
        n = sum(num for _, num in local)
        expected = sum(num / n * t for t, num in local)
    got = fedavg_rounds(theta, clients, model=LINEAR, lr=0.05, local_epochs=2, num_rounds=3)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_local_sgd_counts_steps_and_does_not_modify_theta():
    (X, y), = make_clients(sizes=(10,))
    theta = np.ones(4)
    new, steps = local_sgd(theta, X, y, model=LINEAR, lr=0.01, local_epochs=3, batch_size=4,
                           rng=np.random.default_rng(0))
    assert steps == 3 * 3  # ceil(10 / 4) = 3 batches per epoch
    np.testing.assert_array_equal(theta, np.ones(4))
    assert not np.allclose(new, theta)
    _, steps = local_sgd(theta, X, y, model=LINEAR, lr=0.01, local_epochs=3, batch_size=4,
                         rng=np.random.default_rng(0), max_steps=5)
    assert steps == 5


def test_local_sgd_two_full_batch_epochs_are_two_gd_steps():
    (X, y), = make_clients(sizes=(8,))
    theta = np.zeros(4)
    expected = theta - 0.1 * LINEAR.grad(theta, X, y)
    expected = expected - 0.1 * LINEAR.grad(expected, X, y)
    new, steps = local_sgd(theta, X, y, model=LINEAR, lr=0.1, local_epochs=2)
    assert steps == 2
    np.testing.assert_allclose(new, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"lr": 0.0}, "lr must be a positive number"),
        ({"lr": float("nan")}, "lr must be finite"),
        ({"lr": 0.1, "local_epochs": 0}, "local_epochs must be at least 1"),
        ({"lr": 0.1, "batch_size": 0, "rng": np.random.default_rng(0)}, "batch_size must be"),
        ({"lr": 0.1, "batch_size": 4}, "rng is required"),
    ],
)
def test_local_sgd_bad_arguments(kwargs, needle):
    (X, y), = make_clients(sizes=(5,))
    with pytest.raises(ValueError, match=needle):
        local_sgd(np.zeros(4), X, y, model=LINEAR, **kwargs)


@pytest.mark.parametrize(
    ("clients", "needle"),
    [
        ([], "no clients"),
        ([(np.ones((2, 3)), np.ones(2)), (np.ones((0, 3)), np.ones(0))], "client 1: empty data"),
        ([(np.ones((2, 3)), np.ones(2)), (np.ones((2, 4)), np.ones(2))], "client 1: X has 4 columns"),
        ([(np.ones((2, 3)), np.ones(3))], "client 0: X has 2 rows but y has 3"),
        ([(np.ones((2, 3)), np.array([1.0, np.nan]))], "client 0: y contains NaN"),
        ([(np.ones((2, 3)), np.ones(2)), (np.full((2, 3), np.inf), np.ones(2))], "client 1: X contains Inf"),
        ([(np.ones(3), np.ones(3))], "client 0: X must be 2-D"),
        ([(np.ones((2, 3)),)], "client 0: expected an (X, y) pair"),
    ],
)
def test_bad_client_data_raises_naming_the_client(clients, needle):
    with pytest.raises(ValueError) as info:
        check_clients(clients)
    assert needle in str(info.value)
    with pytest.raises(ValueError) as info:
        fedsgd_round(np.zeros(3), clients, model=LINEAR, lr=0.1)
    assert needle in str(info.value)


def test_fedsgd_round_rejects_bad_theta_and_lr():
    clients = make_clients()
    with pytest.raises(ValueError, match="theta contains NaN"):
        fedsgd_round(np.array([0.0, np.nan, 0.0, 0.0]), clients, model=LINEAR, lr=0.1)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        fedsgd_round(np.zeros(4), clients, model=LINEAR, lr=-1.0)


def test_numpy_client_fn_unknown_client():
    fit = numpy_client_fn(make_clients(), model=LINEAR, lr=0.1)
    with pytest.raises(ValueError, match="client 3 does not exist"):
        fit(3, [np.zeros(4)], 1, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("bad_update", "needle"),
    [
        ([np.array([np.nan, 0.0])], "client 1: array 0 contains NaN"),
        ([np.array([np.inf, 0.0])], "client 1: array 0 contains Inf"),
        ([np.zeros(3)], "client 1: array 0 has shape (3,), expected (2,)"),
        ([np.zeros(2), np.zeros(2)], "client 1: update has 2 arrays"),
    ],
)
def test_aggregate_fit_with_one_bad_client_leaves_the_model_unchanged(bad_update, needle):
    current = [np.array([1.0, 2.0])]
    before = current[0].copy()
    results = [([np.array([0.5, 0.5])], 10), (bad_update, 5)]
    with pytest.raises(ValueError) as info:
        FedAvg().aggregate_fit(1, results, current)
    assert needle in str(info.value)
    np.testing.assert_array_equal(current[0], before)


def test_aggregate_fit_hand_computed_and_server_lr():
    current = [np.array([1.0, 1.0])]
    results = [([np.array([1.0, 0.0])], 1), ([np.array([0.0, 4.0])], 3)]
    new, metrics = FedAvg().aggregate_fit(1, results, current)
    np.testing.assert_allclose(new[0], [1.25, 4.0])
    assert metrics == {"num_updates": 2}
    np.testing.assert_allclose(
        FedAvg(server_lr=2.0).aggregate_fit(1, results, current)[0][0], [1.5, 7.0]
    )
    np.testing.assert_array_equal(current[0], [1.0, 1.0])


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"fraction_fit": 0.0}, "fraction_fit must lie in"),
        ({"fraction_fit": 1.5}, "fraction_fit must lie in"),
        ({"server_lr": 0.0}, "server_lr must be a positive number"),
        ({"min_fit_clients": 0}, "min_fit_clients must be at least 1"),
    ],
)
def test_fedavg_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        FedAvg(**kwargs)


def test_configure_fit_samples_fraction_sorted_and_within_range():
    strategy = FedAvg(fraction_fit=0.3, min_fit_clients=2)
    chosen = strategy.configure_fit(1, 10, np.random.default_rng(0))
    assert len(chosen) == 3 and chosen == sorted(chosen) and len(set(chosen)) == 3
    assert all(0 <= c < 10 for c in chosen)
    assert FedAvg(fraction_fit=0.01, min_fit_clients=2).configure_fit(1, 10, np.random.default_rng(0)).__len__() == 2
    assert FedAvg().configure_fit(1, 4, np.random.default_rng(0)) == [0, 1, 2, 3]
