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
MODELS = {"linear": models.LINEAR, "logistic": models.LOGISTIC, "softmax": models.SOFTMAX}


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
    model = MODELS[name]
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
    model = MODELS[name]
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
    lin = models.LINEAR
    assert lin.score(np.array([1.0, 2.0]), X2, y) == 1.0  # exact fit: R^2 = 1
    assert lin.init(2).shape == (2,)
    assert models.SOFTMAX.init(2, n_classes=3).shape == (2, 3)
    log = models.LOGISTIC
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


def test_add_intercept_rejects_bad_data():
    with pytest.raises(TypeError, match="X must be real, got a complex array"):
        models.add_intercept(np.array([[1.0 + 2j]]))
    with pytest.raises(ValueError, match="X contains NaN"):
        models.add_intercept(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="empty data"):
        models.add_intercept(np.zeros((0, 2)))
    with pytest.raises(TypeError, match="X must be a numeric array"):
        models.add_intercept(np.array([["0.5"]]))


X3 = models.add_intercept(np.array([[0.0], [1.0], [2.0]]))
Y3 = np.array([0.0, 1.0, 1.0])


@pytest.mark.parametrize("name", ["linear", "logistic"])
@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros(2), X3, Y3[:2]), "X has 3 rows but y has 2"),
        ((np.zeros(2), X3, Y3[:, None]), r"y must be 1-D, got shape \(3, 1\)"),
        ((np.zeros(3), X3, Y3), "theta has 3 rows but X has 2 columns"),
        ((np.array([np.nan, 0.0]), X3, Y3), "theta contains NaN"),
        ((np.zeros(2), np.array([[1.0, np.nan]] * 3), Y3), "X contains NaN"),
        ((np.zeros(2), np.array([[1.0, np.inf]] * 3), Y3), "X contains Inf"),
        ((np.zeros(2), X3 + 0j, Y3), "X must be real"),
        ((np.zeros(2), X3.astype(bool), Y3), "X must be numeric, got a boolean"),
        ((np.zeros(2), X3, Y3.astype(str)), "y must be a numeric array"),
        ((np.zeros(2), X3, None), "y must be a numeric array"),
        ((np.zeros(2), X3[:0], Y3[:0]), "empty data"),
    ],
)
def test_loss_and_grad_reject_bad_input(name, args, match):
    model = MODELS[name]
    before = [np.copy(a) if a is not None else None for a in args]
    for f in (model.loss, model.grad):
        with pytest.raises(ValueError, match=match):
            f(*args)
    for a, b in zip(args, before):
        if a is not None:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("l2", [-1.0, float("nan"), True, "0.1", None, 1j])
def test_l2_must_be_a_non_negative_number(l2):
    with pytest.raises(ValueError, match="l2"):
        models.mse_loss(np.zeros(2), X3, Y3, l2=l2)


@pytest.mark.parametrize("y", [np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.5, 1.0]),
                               np.array([-1.0, 1.0, 1.0]), np.array([0.0, np.nan, 1.0])])
def test_logistic_needs_binary_labels(y):
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        models.logistic_loss(np.zeros(2), X3, y)
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        models.logistic_grad(np.zeros(2), X3, y)
    with pytest.raises(ValueError, match="labels must be 0 or 1|y contains NaN"):
        models.LOGISTIC.score(np.zeros(2), X3, y)
    with pytest.raises(ValueError, match="client 'H': (labels must be 0 or 1|y contains NaN)"):
        models.LOGISTIC.check_labels(y, client="H")


@pytest.mark.parametrize("y", [np.array([0.0, 1.0, 3.0]), np.array([0.0, 1.5, 1.0]),
                               np.array([-1.0, 1.0, 1.0]), np.array([0, 1, 3])])
def test_softmax_needs_integer_labels_below_n_classes(y):
    theta = np.zeros((2, 3))
    for f in (models.softmax_loss, models.softmax_grad):
        with pytest.raises(ValueError, match=r"labels must be integers 0..2"):
            f(theta, X3, y)
    with pytest.raises(ValueError, match="client 2: labels must be integers"):
        models.SOFTMAX.check_labels(y, n_classes=3, client=2)


def test_softmax_theta_needs_one_column_per_class():
    with pytest.raises(ValueError, match="theta must be 2-D"):
        models.softmax_loss(np.zeros(2), X3, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="one column per class"):
        models.softmax_loss(np.zeros((2, 1)), X3, np.array([0, 0, 0]))


def test_binary_flag():
    assert models.LOGISTIC.binary and not models.LINEAR.binary and not models.SOFTMAX.binary
    # a wrapper built from the fields keeps the flag (e.g. SCAFFOLD's corrected gradient)
    wrapped = models.Model("logistic", models.LOGISTIC.loss, models.LOGISTIC.grad,
                           models.LOGISTIC.predict)
    assert wrapped.binary
    with pytest.raises(TypeError, match="binary must be True or False"):
        models.Model("linear", models.mse_loss, models.mse_grad, models.linear_predict,
                     binary=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "match"), [
    ((2.5,), "n_features must be an integer"),
    ((True,), "n_features must be an integer"),
    ((0,), "n_features must be at least 1"),
    ((3, 1.5), "n_classes must be an integer"),
    ((3, 1), "n_classes must be at least 2"),
])
def test_init_counts(args, match):
    with pytest.raises(ValueError, match=match):
        models.SOFTMAX.init(*args)


def test_score_rejects_constant_targets_for_r2():
    with pytest.raises(ValueError, match="y is constant"):
        models.LINEAR.score(np.zeros(2), X3, np.ones(3))


def test_predict_and_activations_reject_bad_input():
    with pytest.raises(ValueError, match="theta has 3 rows"):
        models.LOGISTIC.predict(np.zeros(3), X3)
    with pytest.raises(ValueError, match="z contains NaN"):
        models.sigmoid(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="z must be 2-D"):
        models.softmax(np.zeros(3))


def test_overflow_with_finite_inputs_is_returned_not_blamed_on_the_data():
    # finite inputs whose squared residual overflows: the loss is inf, no error is invented
    with pytest.warns(RuntimeWarning, match="mse_loss overflowed float64"):
        assert models.mse_loss(np.zeros(2), X3, np.array([1e200, 0.0, 0.0])) == np.inf


@pytest.mark.parametrize("name", ["linear", "logistic", "softmax"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("entry", [0, 1])  # the intercept (never penalised) and a weight
def test_non_finite_theta_is_named_even_without_penalty(name, bad, entry):
    # theta is not scanned up front: a NaN/Inf entry must still reach the result
    model = MODELS[name]
    theta = model.init(2, n_classes=3)
    theta[entry] = bad
    y = np.array([0.0, 1.0, 1.0])
    for f in (model.loss, model.grad):
        with pytest.raises(ValueError, match="theta contains"):
            f(theta, X3, y)


@pytest.mark.parametrize("name", ["linear", "logistic", "softmax"])
def test_unchecked_kernels_equal_the_checked_functions(name):
    X, y, theta = _problem(name, 3)
    model = MODELS[name]
    assert model.unchecked_grad is not model.grad
    assert model.unchecked_loss(theta, X, y, 0.2) == model.loss(theta, X, y, l2=0.2)
    np.testing.assert_array_equal(model.unchecked_grad(theta, X, y, 0.2),
                                  model.grad(theta, X, y, l2=0.2))
    custom = models.Model("custom", model.loss, lambda *a, **k: model.grad(*a, **k),
                          model.predict)
    assert custom.unchecked_loss is model.unchecked_loss
    assert custom.unchecked_grad is custom.grad  # no kernel known: the function itself
