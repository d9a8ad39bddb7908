"""Tests for fedmed_lib.scaffold: hand-computed variates, equivalences, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.algorithms import FedAvg, numpy_client_fn
from fedmed_lib.models import LINEAR, LOGISTIC, add_intercept
from fedmed_lib.scaffold import (
    Scaffold,
    scaffold_client_fn,
    scaffold_initial_params,
    scaffold_local,
)
from fedmed_lib.simulation import run_simulation


def _skewed_clients(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for k, n in enumerate((12, 20, 7)):
        X = add_intercept(rng.normal(loc=k, size=(n, 3)))
        y = (rng.random(n) < 0.2 + 0.3 * k).astype(float)
        out.append((X, y))
    return out


def test_one_full_batch_step_hand_computed() -> None:
    # 1-D linear regression, no intercept: grad J_k(t) = 2 mean(x (x t - y)).
    X = np.array([[1.0], [2.0]])
    y = np.array([1.0, 0.0])
    theta = np.array([0.5])
    c = np.array([0.2])
    c_k = np.array([-0.1])
    # grad at 0.5: 2 * mean([1*(0.5-1), 2*(1-0)]) = 2 * mean([-0.5, 2]) = 1.5
    local, c_new, steps = scaffold_local(theta, c, c_k, X, y, model=LINEAR, lr=0.1)
    assert steps == 1
    # corrected step: 0.5 - 0.1 * (1.5 + 0.1 + 0.2) = 0.32
    np.testing.assert_allclose(local, [0.32])
    # option II: c_k - c + (theta - local) / (K lr) = -0.1 - 0.2 + 0.18 / 0.1 = 1.5 (the gradient)
    np.testing.assert_allclose(c_new, [1.5])


def test_round_one_equals_fedavg() -> None:
    clients = _skewed_clients()
    theta0 = np.zeros(4)
    kw = dict(model=LOGISTIC, lr=0.3, local_epochs=2, batch_size=4)
    h_avg = run_simulation(
        client_fn=numpy_client_fn(clients, **kw), num_clients=3,
        initial_parameters=[theta0], strategy=FedAvg(), num_rounds=1, seed=3,
    )
    h_sc = run_simulation(
        client_fn=scaffold_client_fn(clients, **kw), num_clients=3,
        initial_parameters=scaffold_initial_params(theta0), strategy=Scaffold(),
        num_rounds=1, seed=3,
    )
    np.testing.assert_allclose(h_sc.params[0], h_avg.params[0], rtol=0, atol=1e-12)
    assert np.abs(h_sc.params[1]).max() > 0  # the server variate has moved
    # and the rounds after that differ (the correction is switched on)
    h_avg3 = run_simulation(
        client_fn=numpy_client_fn(clients, **kw), num_clients=3,
        initial_parameters=[theta0], strategy=FedAvg(), num_rounds=3, seed=3,
    )
    h_sc3 = run_simulation(
        client_fn=scaffold_client_fn(clients, **kw), num_clients=3,
        initial_parameters=scaffold_initial_params(theta0), strategy=Scaffold(),
        num_rounds=3, seed=3,
    )
    assert np.abs(h_sc3.params[0] - h_avg3.params[0]).max() > 1e-6


def test_single_full_batch_step_equals_fedavg_every_round() -> None:
    # With one full-batch local step, sum_k w_k (g_k(x) - c_k + c) = g(x): SCAFFOLD is FedSGD.
    clients = _skewed_clients(1)
    theta0 = np.zeros(4)
    kw = dict(model=LOGISTIC, lr=0.5)
    h_avg = run_simulation(
        client_fn=numpy_client_fn(clients, **kw), num_clients=3,
        initial_parameters=[theta0], strategy=FedAvg(), num_rounds=5,
    )
    h_sc = run_simulation(
        client_fn=scaffold_client_fn(clients, **kw), num_clients=3,
        initial_parameters=scaffold_initial_params(theta0), strategy=Scaffold(),
        num_rounds=5,
    )
    np.testing.assert_allclose(h_sc.params[0], h_avg.params[0], rtol=0, atol=1e-12)


def test_server_variate_is_weighted_mean_of_client_variates() -> None:
    clients = _skewed_clients(2)
    fit = scaffold_client_fn(clients, model=LOGISTIC, lr=0.2, local_epochs=3)
    state = scaffold_initial_params(np.zeros(4))
    strategy = Scaffold()
    rng = np.random.default_rng(0)
    chosen = strategy.configure_fit(1, 3, rng)
    results = [fit(k, state, 1, rng) for k in chosen]
    new, metrics = strategy.aggregate_fit(1, results, state)
    assert metrics == {"num_updates": 3}
    n = np.array([12, 20, 7])
    expected_c = sum((n[k] / n.sum()) * results[k][0][1] for k in range(3))
    np.testing.assert_allclose(new[1], expected_c)


def test_partial_participation_scales_variate_update() -> None:
    strategy = Scaffold(fraction_fit=0.5)
    rng = np.random.default_rng(0)
    chosen = strategy.configure_fit(1, 4, rng)
    assert len(chosen) == 2
    state = [np.zeros(2), np.zeros(2)]
    results = [([np.array([1.0, 0.0]), np.array([2.0, 4.0])], 1),
               ([np.array([3.0, 0.0]), np.array([4.0, 0.0])], 3)]
    new, _ = strategy.aggregate_fit(1, results, state)
    # theta: (1*1 + 3*3)/4 = 2.5; c: (2/4) * ((1*2 + 3*4)/4, (1*4 + 0)/4) = (1.75, 0.5)
    np.testing.assert_allclose(new[0], [2.5, 0.0])
    np.testing.assert_allclose(new[1], [1.75, 0.5])


def test_bad_update_names_client_and_keeps_global_model() -> None:
    strategy = Scaffold()
    strategy.configure_fit(1, 2, np.random.default_rng(0))
    state = [np.ones(2), np.zeros(2)]
    before = [a.copy() for a in state]
    results = [([np.zeros(2), np.zeros(2)], 5), ([np.array([np.nan, 0.0]), np.zeros(2)], 5)]
    with pytest.raises(ValueError, match="client 1.*NaN"):
        strategy.aggregate_fit(1, results, state)
    for a, b in zip(state, before, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="client 0.*shape"):
        strategy.aggregate_fit(1, [([np.zeros(3), np.zeros(2)], 5)], state)


def test_bad_state_and_variates_raise() -> None:
    X, y = np.ones((3, 2)), np.zeros(3)
    with pytest.raises(ValueError, match=r"\[theta, c\]"):
        Scaffold().aggregate_fit(1, [([np.zeros(2)], 1)], [np.zeros(2)])
    with pytest.raises(ValueError, match="NaN"):
        scaffold_initial_params(np.array([np.nan]))
    with pytest.raises(ValueError, match="empty"):
        scaffold_initial_params(np.array([]))
    with pytest.raises(ValueError, match="server control variate c has shape"):
        scaffold_local(np.zeros(2), np.zeros(3), np.zeros(2), X, y, model=LINEAR, lr=0.1)
    with pytest.raises(ValueError, match="client control variate c_k contains Inf"):
        scaffold_local(np.zeros(2), np.zeros(2), np.array([0.0, np.inf]), X, y,
                       model=LINEAR, lr=0.1)
    with pytest.raises(ValueError, match="no local step"):
        scaffold_local(np.zeros(2), np.zeros(2), np.zeros(2), X, y, model=LINEAR, lr=0.1,
                       max_steps=0)
    with pytest.raises(ValueError, match="lr must be a positive"):
        scaffold_client_fn([(X, y)], model=LINEAR, lr=-1.0)
    fit = scaffold_client_fn([(X, y)], model=LINEAR, lr=0.1)
    with pytest.raises(ValueError, match=r"\[theta, c\]"):
        fit(0, [np.zeros(2)], 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="client 1: X has 0 rows|client 1: empty"):
        scaffold_client_fn([(X, y), (np.ones((0, 2)), np.zeros(0))], model=LINEAR, lr=0.1)
