"""Tests of fedmed_lib.fairness (q-FFL / q-FedAvg): hand-computed steps, FedAvg at q = 0,
Flower's ``aggregate_qffl``, and scipy's minimiser of the q-FFL objective, on scikit-learn's
breast cancer data split into fake sites (the chapter uses the heart-disease hospitals).
"""

from __future__ import annotations

import numpy as np
import pytest
from flwr.server.strategy.aggregate import aggregate_qffl
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer

from fedmed_lib._validate import InputTypeError
from fedmed_lib.aggregate import weighted_average
from fedmed_lib.algorithms import FedAvg, numpy_client_fn
from fedmed_lib.fairness import QFedAvg, qffl_objective, qffl_step
from fedmed_lib.models import LOGISTIC, add_intercept
from fedmed_lib.simulation import run_simulation
from fedmed_lib.types import FitResult


@pytest.fixture(scope="module")
def sites() -> list[tuple[np.ndarray, np.ndarray]]:
    """Breast cancer, 4 weak standardised features, split unevenly into 3 fake sites."""
    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, [1, 4, 8, 9]]                      # weak features: no separation, a finite optimum
    X = (X - X.mean(0)) / X.std(0)
    rng = np.random.default_rng(3)
    labels = rng.choice(3, size=len(y), p=[0.6, 0.3, 0.1])
    return [(add_intercept(X[labels == k]), y[labels == k].astype(float)) for k in range(3)]


def loss_fn(sites):
    return lambda cid, params: LOGISTIC.loss(params[0], *sites[cid])


def test_step_by_hand() -> None:
    # two clients, one scalar parameter, lr = 0.5 (L = 2), q = 1
    current = [np.array([1.0])]
    results = [([np.array([-0.5])], 1), ([np.array([0.25])], 3)]
    losses = [2.0, 0.5]
    new, den = qffl_step(current, results, losses, q=1.0, lr=0.5)
    # dw_1 = 2 * 0.5 = 1, dw_2 = 2 * (-0.25) = -0.5; p = (1/4, 3/4)
    num = 0.25 * 2.0 * 1.0 + 0.75 * 0.5 * (-0.5)
    h1 = 1 * 1.0 * 1.0 + 2 * 2.0          # q J^0 |dw|^2 + L J
    h2 = 1 * 1.0 * 0.25 + 2 * 0.5
    assert den == pytest.approx(0.25 * h1 + 0.75 * h2, abs=1e-15)
    assert new[0][0] == pytest.approx(1.0 - num / den, abs=1e-15)


def test_q_zero_is_fedavg_weighted_update() -> None:
    rng = np.random.default_rng(0)
    current = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    results = [FitResult(k, [rng.normal(size=(3, 2)), rng.normal(size=4)], n)
               for k, n in enumerate([5, 50, 500])]
    losses = [0.3, 1.2, 0.7]
    new, _ = qffl_step(current, results, losses, q=0.0, lr=0.1)
    fedavg = [c + d for c, d in zip(current, weighted_average(results), strict=True)]
    for a, b in zip(new, fedavg, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    # the check can fail: the unweighted rule is another model here
    uniform, _ = qffl_step(current, results, losses, q=0.0, lr=0.1, weighted=False)
    assert np.abs(uniform[0] - fedavg[0]).max() > 0.1


def test_equals_flowers_aggregate_qffl() -> None:
    """Flower's aggregate_qffl is theta - sum(Delta_k) / sum(h_k); ours, weighted by p_k."""
    rng = np.random.default_rng(1)
    q, lr = 2.0, 0.2
    current = [rng.normal(size=3), rng.normal(size=(2, 2))]
    updates = [[rng.normal(size=3), rng.normal(size=(2, 2))] for _ in range(4)]
    n = [10, 20, 30, 40]
    losses = [0.4, 0.9, 1.3, 0.2]
    deltas, hs = [], []
    for u, f, nk in zip(updates, losses, n, strict=True):
        p = nk / sum(n)
        grads = [-a / lr for a in u]
        sq = sum(float(np.sum(g * g)) for g in grads)
        deltas.append([p * f**q * g for g in grads])
        hs.append(p * (q * f ** (q - 1) * sq + f**q / lr))
    flower = aggregate_qffl([c.copy() for c in current], deltas, hs)
    ours, _ = qffl_step(current, list(zip(updates, n, strict=True)), losses, q=q, lr=lr)
    for a, b in zip(ours, flower, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


def test_strategy_q_zero_equals_fedavg_in_the_round_loop(sites) -> None:
    kw = dict(client_fn=numpy_client_fn(sites, model=LOGISTIC, lr=0.5, local_epochs=3),
              num_clients=3, initial_parameters=[np.zeros(5)], num_rounds=20, seed=0)
    fedavg = run_simulation(strategy=FedAvg(), **kw).params[0]
    qzero = run_simulation(strategy=QFedAvg(q=0.0, lr=0.5, client_loss=loss_fn(sites)), **kw)
    np.testing.assert_allclose(qzero.params[0], fedavg, rtol=0, atol=1e-12)
    assert set(qzero.fit_metrics[0]["client_losses"]) == {0, 1, 2}


def test_qfedsgd_reaches_scipys_minimiser_of_the_objective(sites) -> None:
    q, lr = 3.0, 1.0
    n = np.array([len(y) for _, y in sites])

    def f_q(th):
        J = np.array([LOGISTIC.loss(th, X, y) for X, y in sites])
        G = np.array([LOGISTIC.grad(th, X, y) for X, y in sites])
        return n @ J ** (q + 1) / n.sum() / (q + 1), (n * J**q) @ G / n.sum()

    best = minimize(f_q, np.zeros(5), jac=True, method="BFGS", options={"gtol": 1e-11})
    hist = run_simulation(client_fn=numpy_client_fn(sites, model=LOGISTIC, lr=lr, local_epochs=1),
                          num_clients=3, initial_parameters=[np.zeros(5)],
                          strategy=QFedAvg(q=q, lr=lr, client_loss=loss_fn(sites)),
                          num_rounds=1500, seed=0)
    assert np.abs(hist.params[0] - best.x).max() < 1e-5
    losses = [LOGISTIC.loss(hist.params[0], X, y) for X, y in sites]
    assert abs(qffl_objective(losses, n, q) - best.fun) < 1e-9


def test_larger_q_lowers_the_worst_client_loss(sites) -> None:
    worst, mean = [], []
    n = np.array([len(y) for _, y in sites])
    for q in (0.0, 5.0):
        hist = run_simulation(client_fn=numpy_client_fn(sites, model=LOGISTIC, lr=1.0, local_epochs=2),
                              num_clients=3, initial_parameters=[np.zeros(5)],
                              strategy=QFedAvg(q=q, lr=1.0, client_loss=loss_fn(sites)),
                              num_rounds=300, seed=0)
        J = np.array([LOGISTIC.loss(hist.params[0], X, y) for X, y in sites])
        worst.append(J.max())
        mean.append(n @ J / n.sum())
    assert worst[1] < worst[0] and mean[1] > mean[0]


def test_objective_by_hand() -> None:
    assert qffl_objective([1.0, 2.0], [1, 3], 1.0) == pytest.approx((0.25 * 1 + 0.75 * 4) / 2)
    assert qffl_objective(np.array([0.5, 0.7]), np.array([1.0, 1.0]), 0.0) == pytest.approx(0.6)


def test_bad_input_names_the_client_and_keeps_the_model() -> None:
    current = [np.array([1.0, 2.0])]
    kept = [a.copy() for a in current]
    good = [FitResult("Zurich", [np.array([0.1, 0.2])], 10), FitResult("Basel", [np.array([0.0, 0.1])], 5)]
    with pytest.raises(ValueError, match="client 'Basel': loss must be positive"):
        qffl_step(current, good, [0.5, 0.0], q=1.0, lr=0.1)
    with pytest.raises(ValueError, match="client 'Basel': loss must be finite"):
        qffl_step(current, good, [0.5, np.nan], q=1.0, lr=0.1)
    bad = [good[0], FitResult("Basel", [np.array([np.nan, 0.1])], 5)]
    with pytest.raises(ValueError, match="client 'Basel': array 0 contains NaN"):
        qffl_step(current, bad, [0.5, 0.4], q=1.0, lr=0.1)
    with pytest.raises(ValueError, match="got 1 losses for 2 results"):
        qffl_step(current, good, [0.5], q=1.0, lr=0.1)
    with pytest.raises(ValueError, match="q must be >= 0"):
        qffl_step(current, good, [0.5, 0.4], q=-1.0, lr=0.1)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        qffl_step(current, good, [0.5, 0.4], q=1.0, lr=0.0)
    np.testing.assert_array_equal(current[0], kept[0])
    with pytest.raises(InputTypeError, match="client_loss must be a function"):
        QFedAvg(q=1.0, lr=0.1, client_loss=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="losses \\(2\\) and weights \\(3\\)"):
        qffl_objective([0.5, 0.4], [1, 2, 3], 1.0)
    with pytest.raises(ValueError, match="weights must be >= 0"):
        qffl_objective([0.5, 0.4], [1, -2], 1.0)
