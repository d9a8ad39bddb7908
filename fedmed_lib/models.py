"""Losses, gradients and predictions of the book's numpy models.

The mean loss ``J(theta) = 1/N sum_i L(y_i, y_hat_i(theta))`` and its gradient for
linear regression (squared error, :ref:`ch-loss`), logistic regression
(cross-entropy, :ref:`ch-gradient-descent`) and multinomial (softmax) regression
(:ref:`ch-fedavg`). Every gradient here is derived by hand in the book and checked
against TensorFlow's automatic differentiation in ``tests/test_models.py``.

All models take a design matrix ``X`` that already contains the intercept column
(see :func:`add_intercept`) and a parameter array ``theta``. An optional L2 penalty
``l2 * ||theta_w||^2 / 2`` (the intercept, column 0, is not penalised) is used in
:ref:`ch-overfitting`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def add_intercept(X: np.ndarray) -> Array:
    """Prepend a column of ones to ``X`` so that ``theta[0]`` is the intercept."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    return np.hstack([np.ones((X.shape[0], 1)), X])


def _penalty_mask(theta: np.ndarray) -> Array:
    mask = np.ones_like(theta, dtype=np.float64)
    mask[0] = 0.0  # never penalise the intercept
    return mask


# --- linear regression: squared error -------------------------------------------------


def mse_loss(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> float:
    """Mean squared error ``1/N sum (y_i - x_i theta)^2`` (no 1/2). Introduced in :ref:`ch-loss`."""
    r = X @ theta - y
    return float(np.mean(r**2) + 0.5 * l2 * np.sum((_penalty_mask(theta) * theta) ** 2))


def mse_grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> Array:
    """Gradient ``2/N X^T (X theta - y)`` of :func:`mse_loss`. Introduced in :ref:`ch-loss`."""
    n = X.shape[0]
    return np.asarray(2.0 / n * X.T @ (X @ theta - y) + l2 * _penalty_mask(theta) * theta)


# --- logistic regression: binary cross-entropy ---------------------------------------


def sigmoid(z: np.ndarray) -> Array:
    """Numerically stable logistic function ``1 / (1 + exp(-z))``."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def logistic_loss(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> float:
    """Mean binary cross-entropy of logistic regression. Introduced in :ref:`ch-gradient-descent`.

    Computed from the logits as ``mean(log(1 + exp(z)) - y z)`` which never takes
    the log of zero.
    """
    z = X @ theta
    ce = np.mean(np.logaddexp(0.0, z) - y * z)
    return float(ce + 0.5 * l2 * np.sum((_penalty_mask(theta) * theta) ** 2))


def logistic_grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> Array:
    """Gradient ``1/N X^T (sigmoid(X theta) - y)`` of :func:`logistic_loss`."""
    n = X.shape[0]
    return np.asarray(X.T @ (sigmoid(X @ theta) - y) / n + l2 * _penalty_mask(theta) * theta)


# --- multinomial (softmax) regression -------------------------------------------------


def softmax(z: np.ndarray) -> Array:
    """Row-wise softmax, shifted by the row maximum for stability."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def softmax_loss(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> float:
    """Mean categorical cross-entropy; ``theta`` has shape (n_features, n_classes)."""
    z = X @ theta
    zmax = z.max(axis=1, keepdims=True)
    logsumexp = np.log(np.exp(z - zmax).sum(axis=1)) + zmax[:, 0]
    yi = np.asarray(y, dtype=np.int64)
    ce = np.mean(logsumexp - z[np.arange(len(yi)), yi])
    return float(ce + 0.5 * l2 * np.sum((_penalty_mask(theta) * theta) ** 2))


def softmax_grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> Array:
    """Gradient ``1/N X^T (softmax(X theta) - onehot(y))`` of :func:`softmax_loss`."""
    n = X.shape[0]
    p = softmax(X @ theta)
    p[np.arange(n), np.asarray(y, dtype=np.int64)] -= 1.0
    return np.asarray(X.T @ p / n + l2 * _penalty_mask(theta) * theta)


# --- a model is a bundle of these functions -------------------------------------------


@dataclass(frozen=True)
class Model:
    """A numpy model: its loss, gradient, prediction and initial parameters.

    Attributes
    ----------
    name
        ``"linear"``, ``"logistic"`` or ``"softmax"``.
    loss, grad
        ``f(theta, X, y, l2=0.0)``: the mean loss and its gradient.
    predict
        ``f(theta, X)``: predictions (values, probabilities of class 1, or class
        probabilities).
    """

    name: str
    loss: Callable[..., float]
    grad: Callable[..., Array]
    predict: Callable[[np.ndarray, np.ndarray], Array]

    def init(self, n_features: int, n_classes: int = 2) -> Array:
        """Zero parameters for ``n_features`` columns of ``X`` (intercept included)."""
        if self.name == "softmax":
            return np.zeros((n_features, n_classes))
        return np.zeros(n_features)

    def score(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy for classifiers, R^2 for linear regression."""
        p = self.predict(theta, X)
        if self.name == "linear":
            ss_res = float(np.sum((y - p) ** 2))
            ss_tot = float(np.sum((y - np.mean(y)) ** 2))
            return 1.0 - ss_res / ss_tot
        if self.name == "logistic":
            return float(np.mean((p >= 0.5) == (y == 1)))
        return float(np.mean(np.argmax(p, axis=1) == y))


LINEAR = Model("linear", mse_loss, mse_grad, lambda theta, X: np.asarray(X @ theta))
LOGISTIC = Model("logistic", logistic_loss, logistic_grad, lambda theta, X: sigmoid(X @ theta))
SOFTMAX = Model("softmax", softmax_loss, softmax_grad, lambda theta, X: softmax(X @ theta))


def get_model(name: str) -> Model:
    """Return :data:`LINEAR`, :data:`LOGISTIC` or :data:`SOFTMAX` by name."""
    models = {"linear": LINEAR, "logistic": LOGISTIC, "softmax": SOFTMAX}
    if name not in models:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(models)}")
    return models[name]
