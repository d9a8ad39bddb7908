"""Tests for FedProx (the ``mu`` argument of fedmed_lib.algorithms)."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.algorithms import FedAvg, local_sgd, numpy_client_fn
from fedmed_lib.models import LINEAR, LOGISTIC, add_intercept
from fedmed_lib.simulation import run_simulation


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = add_intercept(rng.normal(size=(15, 2)))
    y = (rng.random(15) < 0.5).astype(float)
    return X, y


def test_mu_zero_equals_plain_sgd_written_by_hand() -> None:
    X, y = _data()
    theta = np.array([0.1, -0.2, 0.3])
    w = theta.copy()
    for _ in range(4):
        w = w - 0.5 * LOGISTIC.grad(w, X, y)
    got, steps = local_sgd(theta, X, y, model=LOGISTIC, lr=0.5, local_epochs=4, mu=0.0)
    assert steps == 4
    np.testing.assert_allclose(got, w, rtol=0, atol=1e-14)


def test_mu_zero_simulation_equals_fedavg() -> None:
    clients = [_data(s) for s in range(3)]
    kw = dict(model=LOGISTIC, lr=0.4, local_epochs=2, batch_size=5)
    h0 = run_simulation(client_fn=numpy_client_fn(clients, **kw), num_clients=3,
                        initial_parameters=[np.zeros(3)], strategy=FedAvg(), num_rounds=3)
    h1 = run_simulation(client_fn=numpy_client_fn(clients, mu=0.0, **kw), num_clients=3,
                        initial_parameters=[np.zeros(3)], strategy=FedAvg(), num_rounds=3)
    h2 = run_simulation(client_fn=numpy_client_fn(clients, mu=0.5, **kw), num_clients=3,
                        initial_parameters=[np.zeros(3)], strategy=FedAvg(), num_rounds=3)
    np.testing.assert_array_equal(h0.params[0], h1.params[0])
    assert np.abs(h2.params[0] - h0.params[0]).max() > 1e-4


def test_two_prox_steps_hand_computed() -> None:
    # 1-D linear regression, one example x=1, y=0: grad J(t) = 2 t.
    X, y = np.array([[1.0]]), np.array([0.0])
    theta_g = np.array([1.0])
    # step 1 at t=theta_g: prox term is 0 -> t1 = 1 - 0.1 * 2 = 0.8
    # step 2: g = 2 * 0.8 + mu (0.8 - 1) = 1.6 - 0.2 * 2 = 1.2 -> t2 = 0.8 - 0.12 = 0.68
    got, _ = local_sgd(theta_g, X, y, model=LINEAR, lr=0.1, local_epochs=2, mu=2.0)
    np.testing.assert_allclose(got, [0.68])


def test_prox_gradient_matches_finite_differences() -> None:
    X, y = _data(4)
    theta_g = np.array([0.3, -0.1, 0.2])
    mu, lr = 0.7, 1e-3
    w0 = np.array([0.5, 0.4, -0.6])

    def objective(w: np.ndarray) -> float:
        return LOGISTIC.loss(w, X, y) + 0.5 * mu * float(np.sum((w - theta_g) ** 2))

    eps = 1e-6
    numeric = np.array([
        (objective(w0 + eps * e) - objective(w0 - eps * e)) / (2 * eps) for e in np.eye(3)
    ])
    analytic = LOGISTIC.grad(w0, X, y) + mu * (w0 - theta_g)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    # local_sgd's second step (from w1, anchored at theta_g) uses exactly this gradient
    w1, _ = local_sgd(theta_g, X, y, model=LOGISTIC, lr=lr, local_epochs=1, mu=mu)
    w2, _ = local_sgd(theta_g, X, y, model=LOGISTIC, lr=lr, local_epochs=2, mu=mu)
    expected = w1 - lr * (LOGISTIC.grad(w1, X, y) + mu * (w1 - theta_g))
    np.testing.assert_allclose(w2, expected, rtol=0, atol=1e-14)


def test_larger_mu_keeps_local_model_closer_to_global() -> None:
    X, y = _data(5)
    theta_g = np.zeros(3)
    dist = []
    for mu in (0.0, 0.5, 5.0):
        w, _ = local_sgd(theta_g, X, y, model=LOGISTIC, lr=0.1, local_epochs=50, mu=mu)
        dist.append(float(np.linalg.norm(w - theta_g)))
    assert dist[0] > dist[1] > dist[2] > 0


@pytest.mark.parametrize("mu", [-0.1, float("nan"), float("inf")])
def test_bad_mu_raises(mu: float) -> None:
    X, y = _data()
    with pytest.raises(ValueError, match="mu"):
        local_sgd(np.zeros(3), X, y, model=LOGISTIC, lr=0.1, mu=mu)
