"""Tests of ``fedmed_lib.models``: every gradient against TensorFlow's autodiff, tiny
hand-computed cases, and bad input.

The losses and gradients are derived by hand in :ref:`ch-loss` and
:ref:`ch-gradient-descent`; here each gradient is compared with ``tf.GradientTape`` in
float64 (a reference implementation that knows nothing of our derivations), with and
without the L2 penalty.
"""

from __future__ import annotations

import numpy as np
import pytest

import fedmed_lib  # noqa: F401  (before tensorflow: quiets its C++ log lines)
from fedmed_lib import models

tf = pytest.importorskip("tensorflow")

RTOL = 1e-6


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _mask(shape: tuple[int, ...]) -> np.ndarray:
    m = np.ones(shape)
    m[0] = 0.0  # the intercept row is not penalised
    return m


def _tf_loss(name: str, theta, X, y, l2: float):
    """The three losses written independently in TensorFlow."""
    Xc = tf.constant(X)
    if name == "linear":
        data = tf.reduce_mean(tf.square(tf.linalg.matvec(Xc, theta) - y))
    elif name == "logistic":
        p = tf.math.sigmoid(tf.linalg.matvec(Xc, theta))
        data = -tf.reduce_mean(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))
    else:
        logp = tf.nn.log_softmax(Xc @ theta, axis=1)
        onehot = tf.one_hot(y.astype(np.int64), theta.shape[1], dtype=tf.float64)
        data = -tf.reduce_mean(tf.reduce_sum(onehot * logp, axis=1))
    penalty = 0.5 * l2 * tf.reduce_sum(tf.square(tf.constant(_mask(theta.shape)) * theta))
    return data + penalty


def _problem(name: str, seed: int):
    rng = np.random.default_rng(seed)
    n, p = 13, 4
    X = models.add_intercept(rng.normal(size=(n, p)))
    if name == "linear":
        return X, rng.normal(size=n), rng.normal(size=p + 1)
    if name == "logistic":
        return X, rng.integers(0, 2, size=n).astype(np.float64), rng.normal(size=p + 1)
    return X, rng.integers(0, 3, size=n).astype(np.float64), rng.normal(size=(p + 1, 3))


@pytest.mark.parametrize("name", ["linear", "logistic", "softmax"])
@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_matches_gradient_tape(name, l2, seed):
    X, y, theta = _problem(name, seed)
    model = models.get_model(name)
    t = tf.Variable(theta, dtype=tf.float64)
    with tf.GradientTape() as tape:
        loss_tf = _tf_loss(name, t, X, y, l2)
    grad_tf = tape.gradient(loss_tf, t).numpy()
    assert grad_tf.dtype == np.float64
    assert np.isclose(model.loss(theta, X, y, l2=l2), float(loss_tf.numpy()), rtol=1e-10)
    assert _rel_err(model.grad(theta, X, y, l2=l2), grad_tf) <= RTOL


@pytest.mark.parametrize("name", ["linear", "logistic", "softmax"])
def test_directional_derivative_along_the_gradient(name):
    # a gradient that is right in norm but wrong in direction or sign fails here: the
    # loss along the gradient must increase at the rate |grad|^2
    X, y, theta = _problem(name, 5)
    model = models.get_model(name)
    g = model.grad(theta, X, y)
    h = 1e-6
    slope = (model.loss(theta + h * g, X, y) - model.loss(theta - h * g, X, y)) / (2 * h)
    assert np.isclose(slope, np.sum(g * g), rtol=1e-6)


# --- tiny hand-computed cases ---------------------------------------------------------

X2 = np.array([[1.0, 0.0], [1.0, 1.0]])  # two points, intercept + one feature


def test_mse_two_points_by_hand():
    y = np.array([1.0, 3.0])
    theta = np.array([0.0, 1.0])  # predictions 0, 1; residuals -1, -2
    assert models.mse_loss(theta, X2, y) == pytest.approx((1 + 4) / 2)
    # 2/2 * X^T r = [(-1) + (-2), 0 * (-1) + 1 * (-2)]
    np.testing.assert_allclose(models.mse_grad(theta, X2, y), [-3.0, -2.0])
    # l2 = 0.5 adds 0.5 * 0.5 * 1^2 to the loss and 0.5 * theta_1 to the gradient
    assert models.mse_loss(theta, X2, y, l2=0.5) == pytest.approx(2.5 + 0.25)
    np.testing.assert_allclose(models.mse_grad(theta, X2, y, l2=0.5), [-3.0, -1.5])


def test_mse_intercept_is_not_penalised():
    y = np.array([2.0, 2.0])
    theta = np.array([2.0, 0.0])  # perfect fit with the intercept alone
    assert models.mse_loss(theta, X2, y, l2=10.0) == 0.0
    np.testing.assert_array_equal(models.mse_grad(theta, X2, y, l2=10.0), [0.0, 0.0])


def test_logistic_two_points_by_hand():
    y = np.array([0.0, 1.0])
    theta = np.zeros(2)  # every probability is 1/2
    assert models.logistic_loss(theta, X2, y) == pytest.approx(np.log(2))
    # 1/2 * X^T (1/2 - y) = 1/2 * [1/2 - 1/2, 0 - 1/2]
    np.testing.assert_allclose(models.logistic_grad(theta, X2, y), [0.0, -0.25])


def test_logistic_loss_is_finite_for_huge_logits():
    y = np.array([0.0, 1.0])
    theta = np.array([-5e3, 1e4])  # logits -5000 and 5000: sigmoid rounds to 0 and 1
    assert models.logistic_loss(theta, X2, y) == pytest.approx(0.0, abs=1e-12)
    # both points confidently wrong: each costs |logit| = 5000, no log(0)
    assert models.logistic_loss(-theta, X2, y) == pytest.approx(5000.0)
    np.testing.assert_allclose(models.sigmoid(np.array([-1e4, 0.0, 1e4])), [0.0, 0.5, 1.0])


def test_softmax_two_points_by_hand():
    y = np.array([0.0, 2.0])
    theta = np.zeros((2, 3))  # every class has probability 1/3
    assert models.softmax_loss(theta, X2, y) == pytest.approx(np.log(3))
    p = np.full((2, 3), 1 / 3)
    p[0, 0] -= 1
    p[1, 2] -= 1
    np.testing.assert_allclose(models.softmax_grad(theta, X2, y), X2.T @ p / 2)
    np.testing.assert_allclose(models.softmax(np.array([[0.0, np.log(3.0)]])), [[0.25, 0.75]])


def test_softmax_with_two_classes_equals_logistic():
    rng = np.random.default_rng(7)
    X = models.add_intercept(rng.normal(size=(9, 2)))
    y = rng.integers(0, 2, size=9).astype(np.float64)
    w = rng.normal(size=3)
    theta = np.column_stack([np.zeros(3), w])  # logit of class 1 minus class 0 is X w
    assert models.softmax_loss(theta, X, y) == pytest.approx(models.logistic_loss(w, X, y))
    np.testing.assert_allclose(models.softmax_grad(theta, X, y)[:, 1], models.logistic_grad(w, X, y))


def test_model_bundle_and_scores():
    y = np.array([1.0, 3.0])
    lin = models.get_model("linear")
    assert lin.score(np.array([1.0, 2.0]), X2, y) == 1.0  # exact fit: R^2 = 1
    assert lin.init(2).shape == (2,)
    assert models.get_model("softmax").init(2, n_classes=3).shape == (2, 3)
    log = models.get_model("logistic")
    assert log.score(np.array([-1.0, 2.0]), X2, np.array([0.0, 1.0])) == 1.0
    assert log.score(np.array([1.0, -2.0]), X2, np.array([0.0, 1.0])) == 0.0


# --- bad input -----------------------------------------------------------------------


def test_add_intercept():
    out = models.add_intercept(np.array([[5.0], [7.0]]))
    np.testing.assert_array_equal(out, [[1.0, 5.0], [1.0, 7.0]])


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0]), np.zeros((2, 2, 2)), np.float64(3.0)])
def test_add_intercept_rejects_non_2d(bad):
    with pytest.raises(ValueError, match="X must be 2-D"):
        models.add_intercept(bad)


@pytest.mark.parametrize("name", ["ridge", "Linear", ""])
def test_get_model_unknown_name(name):
    with pytest.raises(ValueError, match="unknown model"):
        models.get_model(name)
