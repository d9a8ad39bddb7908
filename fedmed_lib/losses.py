"""Losses, gradients and predictions of the book's three numpy model families.

One job: the mean loss ``J(theta) = 1/N sum_i L(y_i, y_hat_i(theta))``, its gradient and
the model's prediction, for linear regression (squared error, :ref:`ch-loss`), logistic
regression (cross-entropy, :ref:`ch-gradient-descent`) and multinomial (softmax)
regression (:ref:`ch-fedavg`). Every gradient here is derived by hand in the book and
checked against TensorFlow's automatic differentiation in ``tests/test_models.py``.
:mod:`fedmed_lib.models` bundles them into the models :data:`~fedmed_lib.models.LINEAR`,
:data:`~fedmed_lib.models.LOGISTIC` and :data:`~fedmed_lib.models.SOFTMAX`, and every
name of this module is importable from there.

All models take a design matrix ``X`` that already contains the intercept column
(see :func:`fedmed_lib.models.add_intercept`) and a parameter array ``theta``. An
optional L2 penalty ``l2 * ||theta_w||^2 / 2`` (the intercept, column 0, is not
penalised) is used in :ref:`ch-overfitting`.

Every public loss and gradient checks its input, cheaply, because they run in the
inner loop of local training: types, shapes, ``l2`` and the labels are checked on
every call (the logistic model takes labels 0 and 1 only, the softmax model integer
labels ``0 .. n_classes - 1``); NaN and Inf in ``X``, ``y`` or ``theta`` always make
the result non-finite, so the scan that names the culprit only runs then. A loop
that has checked its data once may call the unchecked kernels instead
(:attr:`fedmed_lib.models.Model.unchecked_loss`,
:attr:`fedmed_lib.models.Model.unchecked_grad`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import check_nonnegative, check_real_array
from fedmed_lib._validate_data import check_binary_labels
from fedmed_lib.types import Array

_REAL_KINDS = "fiu"  # float, signed and unsigned integer dtypes


def _real(value: object, *, name: str, ndim: int) -> Array:
    """Return ``value`` as a real array of ``ndim`` dimensions (fast for numpy arrays).

    A numpy array of a real dtype passes without a scan for NaN/Inf (see
    :func:`_diagnose`); anything else goes through the full shared check.
    """
    if type(value) is np.ndarray and value.dtype.kind in _REAL_KINDS and value.ndim == ndim:
        return value
    a = check_real_array(value, name=name)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a


def _check_theta(theta: object, n_features: int, *, ndim: int, finite: bool = True) -> Array:
    t = _real(theta, name="theta", ndim=ndim)
    if t.shape[0] != n_features:
        raise ValueError(
            f"theta has {t.shape[0]} rows but X has {n_features} columns "
            f"(theta shape {t.shape}; did you forget add_intercept?)"
        )
    if ndim == 2 and t.shape[1] < 2:
        raise ValueError(f"theta must have one column per class (at least 2), got shape {t.shape}")
    if finite and not np.isfinite(t).all():
        raise ValueError("theta contains NaN or Inf")
    return t


def _check_args(
    theta: object, X: object, y: object, l2: object, *, theta_ndim: int
) -> tuple[Array, Array, Array, float]:
    """Run the cheap checks of every loss and gradient: types, shapes and ``l2``.

    NaN and Inf in ``X``, ``y`` and ``theta`` are found afterwards by :func:`_finite`.
    """
    penalty = l2 if type(l2) is float and 0.0 <= l2 < np.inf else check_nonnegative(l2, name="l2")
    Xa = _real(X, name="X", ndim=2)
    ya = _real(y, name="y", ndim=1)
    if Xa.shape[0] == 0:
        raise ValueError("empty data (X has 0 rows)")
    if ya.shape[0] != Xa.shape[0]:
        raise ValueError(
            f"X has {Xa.shape[0]} rows but y has {ya.shape[0]} (shapes {Xa.shape}, {ya.shape})"
        )
    t = _check_theta(theta, Xa.shape[1], ndim=theta_ndim, finite=False)
    return t, Xa, ya, penalty


def _check_binary(y: Array) -> None:
    # y (y - 1) is zero exactly when every label is 0 or 1 (NaN and Inf give non-zeros)
    if np.count_nonzero(y * (y - 1.0)):
        check_binary_labels(y)  # raises, showing the offending values


def _class_labels(y: Array, n_classes: int) -> NDArray[np.int64]:
    """Return the labels as int64 after checking they are integers ``0 .. n_classes - 1``."""
    if y.min() >= 0 and y.max() < n_classes:  # False for NaN, so the cast below is safe
        yi = y.astype(np.int64, copy=False)
        if y.dtype.kind in "iu" or (yi == y).all():
            return yi
    bad = y[~((y >= 0) & (y < n_classes) & (y == np.floor(y)))]
    raise ValueError(
        f"labels must be integers 0..{n_classes - 1} for the softmax model "
        f"(theta has {n_classes} columns), got {np.unique(bad)[:5]}"
    )


def _finite(result: float | Array, theta: Array, X: Array, y: Array, *, what: str) -> None:
    """Name the input that made ``result`` NaN/Inf, or warn that finite inputs overflowed.

    One sum over the result and one over ``theta`` stand in for a scan of every input:
    NaN and Inf in ``X`` or ``y`` always reach the result, and the sum of ``theta``
    catches them there. The kernels run with NaN/overflow warnings off, so that bad
    data raises one clear error here. Finite inputs can still overflow float64 (huge
    values, a diverging learning rate); then the result is returned as it is, with a
    ``RuntimeWarning``.
    """
    with _quiet():
        total = (result if isinstance(result, float) else float(result.sum())) + float(theta.sum())
    if math.isfinite(total):
        return
    check_real_array(theta, name="theta")
    if isinstance(result, float) and math.isfinite(result):
        return
    if not isinstance(result, float) and np.isfinite(result).all():
        return  # the sums overflowed, not the values
    check_real_array(X, name="X")
    check_real_array(y, name="y")
    warnings.warn(
        f"{what} overflowed float64 (huge values in X, y or theta; is the learning rate "
        "too large?)",
        RuntimeWarning,
        stacklevel=3,
    )


def _quiet() -> np.errstate:
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")


def _penalty_mask(theta: np.ndarray) -> Array:
    mask = np.ones_like(theta, dtype=np.float64)
    mask[0] = 0.0  # never penalise the intercept
    return mask


def _penalty(theta: Array, l2: float) -> float:
    """``l2 / 2 * ||theta_w||^2``: the intercept (row 0) is not penalised."""
    if not l2:
        return 0.0
    return float(0.5 * l2 * np.sum((_penalty_mask(theta) * theta) ** 2))


def _add_penalty_grad(g: Array, theta: Array, l2: float) -> Array:
    """Add ``l2 * theta_w`` to the gradient in place, skipping the intercept (row 0)."""
    if l2:
        g[1:] += l2 * theta[1:]
    return g


# --- the kernels: no checks (see Model.unchecked_grad) ---------------------------------


def _mse_loss(theta: Array, X: Array, y: Array, l2: float = 0.0) -> float:
    r = X @ theta - y
    return float(np.mean(r**2)) + _penalty(theta, l2)


def _mse_grad(theta: Array, X: Array, y: Array, l2: float = 0.0) -> Array:
    n = X.shape[0]
    return _add_penalty_grad(np.asarray(2.0 / n * X.T @ (X @ theta - y)), theta, l2)


def _sigmoid(z: Array) -> Array:
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _logistic_loss(theta: Array, X: Array, y: Array, l2: float = 0.0) -> float:
    z = X @ theta
    return float(np.mean(np.logaddexp(0.0, z) - y * z)) + _penalty(theta, l2)


def _logistic_grad(theta: Array, X: Array, y: Array, l2: float = 0.0) -> Array:
    n = X.shape[0]
    return _add_penalty_grad(np.asarray(X.T @ (_sigmoid(X @ theta) - y) / n), theta, l2)


def _softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _softmax_loss(theta: Array, X: Array, y: np.ndarray, l2: float = 0.0) -> float:
    yi = np.asarray(y, dtype=np.int64)
    z = X @ theta
    zmax = z.max(axis=1, keepdims=True)
    logsumexp = np.log(np.exp(z - zmax).sum(axis=1)) + zmax[:, 0]
    return float(np.mean(logsumexp - z[np.arange(len(yi)), yi])) + _penalty(theta, l2)


def _softmax_grad(theta: Array, X: Array, y: np.ndarray, l2: float = 0.0) -> Array:
    n = X.shape[0]
    p = _softmax(X @ theta)
    p[np.arange(n), np.asarray(y, dtype=np.int64)] -= 1.0
    return _add_penalty_grad(np.asarray(X.T @ p / n), theta, l2)


# --- linear regression: squared error -------------------------------------------------


def mse_loss(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> float:
    """Mean squared error ``1/N sum (y_i - x_i theta)^2`` (no 1/2). Introduced in :ref:`ch-loss`.

    Raises
    ------
    ValueError
        If the shapes do not fit (``theta`` of shape ``(p,)``, ``X`` of ``(n, p)``,
        ``y`` of ``(n,)``), ``X`` has no rows, an input holds NaN/Inf, or ``l2`` is not
        a number ``>= 0``.
    """
    t, Xa, ya, penalty = _check_args(theta, X, y, l2, theta_ndim=1)
    with _quiet():
        out = _mse_loss(t, Xa, ya, penalty)
    _finite(out, t, Xa, ya, what="mse_loss")
    return out


def mse_grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> Array:
    """Gradient ``2/N X^T (X theta - y)`` of :func:`mse_loss`. Introduced in :ref:`ch-loss`.

    Raises
    ------
    ValueError
        As :func:`mse_loss`.
    """
    t, Xa, ya, penalty = _check_args(theta, X, y, l2, theta_ndim=1)
    with _quiet():
        out = _mse_grad(t, Xa, ya, penalty)
    _finite(out, t, Xa, ya, what="mse_grad")
    return out


# --- logistic regression: binary cross-entropy ---------------------------------------


def sigmoid(z: np.ndarray) -> Array:
    """Numerically stable logistic function ``1 / (1 + exp(-z))``.

    Introduced in :ref:`ch-gradient-descent`.

    Raises
    ------
    ValueError
        If ``z`` is not a real array or contains NaN/Inf.
    """
    return _sigmoid(check_real_array(z, name="z"))


def logistic_loss(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> float:
    """Mean binary cross-entropy of logistic regression. Introduced in :ref:`ch-gradient-descent`.

    Computed from the logits as ``mean(log(1 + exp(z)) - y z)`` which never takes
    the log of zero.

    Raises
    ------
    ValueError
        As :func:`mse_loss`, and if a label is not 0 or 1.
    """
    t, Xa, ya, penalty = _check_args(theta, X, y, l2, theta_ndim=1)
    _check_binary(ya)
    with _quiet():
        out = _logistic_loss(t, Xa, ya, penalty)
    _finite(out, t, Xa, ya, what="logistic_loss")
    return out


def logistic_grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> Array:
    """Gradient ``1/N X^T (sigmoid(X theta) - y)`` of :func:`logistic_loss`.

    Introduced in :ref:`ch-gradient-descent`.

    Raises
    ------
    ValueError
        As :func:`logistic_loss`.
    """
    t, Xa, ya, penalty = _check_args(theta, X, y, l2, theta_ndim=1)
    _check_binary(ya)
    with _quiet():
        out = _logistic_grad(t, Xa, ya, penalty)
    _finite(out, t, Xa, ya, what="logistic_grad")
    return out


# --- multinomial (softmax) regression -------------------------------------------------


def softmax(z: np.ndarray) -> Array:
    """Row-wise softmax, shifted by the row maximum for stability.

    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If ``z`` is not a 2-D real array ``(n_samples, n_classes)`` or holds NaN/Inf.
    """
    z = check_real_array(z, name="z")
    if z.ndim != 2 or z.shape[1] == 0:
        raise ValueError(f"z must be 2-D (n_samples, n_classes), got shape {z.shape}")
    return _softmax(z)


def softmax_loss(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> float:
    """Mean categorical cross-entropy; ``theta`` has shape (n_features, n_classes).

    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        As :func:`mse_loss`, and if a label is not an integer ``0 .. n_classes - 1``.
    """
    t, Xa, ya, penalty = _check_args(theta, X, y, l2, theta_ndim=2)
    yi = _class_labels(ya, t.shape[1])
    with _quiet():
        out = _softmax_loss(t, Xa, yi, penalty)
    _finite(out, t, Xa, ya, what="softmax_loss")
    return out


def softmax_grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> Array:
    """Gradient ``1/N X^T (softmax(X theta) - onehot(y))`` of :func:`softmax_loss`.

    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        As :func:`softmax_loss`.
    """
    t, Xa, ya, penalty = _check_args(theta, X, y, l2, theta_ndim=2)
    yi = _class_labels(ya, t.shape[1])
    with _quiet():
        out = _softmax_grad(t, Xa, yi, penalty)
    _finite(out, t, Xa, ya, what="softmax_grad")
    return out


_UNCHECKED: dict[Callable[..., object], Callable[..., object]] = {
    mse_loss: _mse_loss,
    mse_grad: _mse_grad,
    logistic_loss: _logistic_loss,
    logistic_grad: _logistic_grad,
    softmax_loss: _softmax_loss,
    softmax_grad: _softmax_grad,
}


# --- predictions ----------------------------------------------------------------------


def _check_predict(theta: object, X: object, *, theta_ndim: int) -> tuple[Array, Array]:
    Xa = check_real_array(X, name="X")
    if Xa.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {Xa.shape}")
    return _check_theta(theta, Xa.shape[1], ndim=theta_ndim), Xa


def linear_predict(theta: np.ndarray, X: np.ndarray) -> Array:
    """Predicted values ``X theta`` of linear regression. Introduced in :ref:`ch-loss`."""
    t, Xa = _check_predict(theta, X, theta_ndim=1)
    return np.asarray(Xa @ t)


def logistic_predict(theta: np.ndarray, X: np.ndarray) -> Array:
    """Probabilities of class 1, ``sigmoid(X theta)``. Introduced in :ref:`ch-gradient-descent`."""
    t, Xa = _check_predict(theta, X, theta_ndim=1)
    return _sigmoid(Xa @ t)


def softmax_predict(theta: np.ndarray, X: np.ndarray) -> Array:
    """Class probabilities ``softmax(X theta)``, one row per example.

    Introduced in :ref:`ch-fedavg`.
    """
    t, Xa = _check_predict(theta, X, theta_ndim=2)
    return _softmax(Xa @ t)
