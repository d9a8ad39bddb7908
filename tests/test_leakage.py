"""Tests of fedmed_lib.leakage: analytic recovery, class-wise recovery, DLG."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.leakage import dlg_attack, recover_class_means, recover_from_dense_gradient
from fedmed_lib.models import add_intercept, softmax, softmax_grad


def dense_softmax_grad(W, b, X, y):
    """Mean cross-entropy gradient of z = W x + b, rows = outputs (numpy, by hand)."""
    Z = X @ W.T + b
    P = softmax(Z)
    P[np.arange(len(y)), y] -= 1.0
    return P.T @ X / len(y), P.mean(axis=0)


def test_hand_computed_record():
    # delta = (2, -1), x = (1, 2): dL/dW = delta x^T, dL/db = delta.
    gW = np.array([[2.0, 4.0], [-1.0, -2.0]])
    gb = np.array([2.0, -1.0])
    np.testing.assert_array_equal(recover_from_dense_gradient(gW, gb), [1.0, 2.0])
    np.testing.assert_array_equal(recover_from_dense_gradient(gW, gb, row=1), [1.0, 2.0])


def test_exact_on_random_dense_layer():
    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(5, 12)), rng.normal(size=5)
    x = rng.normal(size=(1, 12))
    gW, gb = dense_softmax_grad(W, b, x, np.array([3]))
    x_hat = recover_from_dense_gradient(gW, gb)
    assert np.linalg.norm(x_hat - x[0]) / np.linalg.norm(x[0]) <= 1e-12
    for i in range(5):
        np.testing.assert_allclose(recover_from_dense_gradient(gW, gb, row=i), x[0], rtol=1e-10)


def test_against_tensorflow_dense_layer():
    import tensorflow as tf

    import fedmed_lib  # noqa: F401  (quiet TensorFlow first)

    rng = np.random.default_rng(2)
    W, b = rng.normal(size=(3, 4)), rng.normal(size=3)
    x = rng.normal(size=(1, 4))
    Wt, bt = tf.Variable(W), tf.Variable(b)
    with tf.GradientTape() as tape:
        z = tf.matmul(tf.constant(x), Wt, transpose_b=True) + bt
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits([1], z))
    gW, gb = tape.gradient(loss, [Wt, bt])
    np.testing.assert_allclose(recover_from_dense_gradient(gW.numpy(), gb.numpy()), x[0], rtol=1e-10)


def test_batch_gives_weighted_mixture():
    # One output unit (logistic regression): x_hat = sum_n delta_n x_n / sum_n delta_n.
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    delta = np.array([3.0, 1.0])
    gW = (delta @ X / 2)[None, :]
    gb = np.array([delta.mean()])
    np.testing.assert_allclose(recover_from_dense_gradient(gW, gb), [0.75, 0.25])


def test_zero_bias_rows_are_ignored():
    rng = np.random.default_rng(3)
    x = rng.normal(size=6)
    delta = np.array([0.0, 0.5, 0.0, -2.0])  # e.g. inactive ReLU units
    gW, gb = np.outer(delta, x), delta
    np.testing.assert_allclose(recover_from_dense_gradient(gW, gb), x, rtol=1e-12)
    with pytest.raises(ValueError, match=r"grad_b\[0\] is zero"):
        recover_from_dense_gradient(gW, gb, row=0)


@pytest.mark.parametrize(
    ("gW", "gb", "kwargs", "match"),
    [
        (np.ones(3), np.ones(3), {}, "must be 2-D"),
        (np.ones((2, 3)), np.ones(3), {}, "one entry per row"),
        (np.array([[np.nan, 1.0]]), np.ones(1), {}, "grad_W contains NaN"),
        (np.ones((1, 2)), np.array([np.inf]), {}, "grad_b contains Inf"),
        (np.ones((1, 2)) + 0j, np.ones(1), {}, "grad_W must be real"),
        (np.ones((1, 2)), np.array(["1"]), {}, "grad_b must be a numeric array"),
        (np.ones((1, 2), dtype=bool), np.ones(1), {}, "grad_W must be numeric"),
        (None, np.ones(1), {}, "grad_W must be a numeric array"),
        (np.ones((0, 2)), np.ones(0), {}, "grad_W is empty"),
        (np.ones((2, 2)), np.ones(2), {"row": 1.5}, "row must be an integer"),
        (np.ones((2, 2)), np.ones(2), {"row": True}, "row must be an integer"),
        (np.ones((2, 2)), np.ones(2), {"row": -1}, "out of range"),
        (np.zeros((2, 2)), np.zeros(2), {}, "zero for every unit"),
        (np.ones((2, 2)), np.ones(2), {"row": 2}, "out of range"),
    ],
)
def test_bad_input(gW, gb, kwargs, match):
    gW_before = np.copy(gW)
    with pytest.raises(ValueError, match=match):
        recover_from_dense_gradient(gW, gb, **kwargs)
    np.testing.assert_array_equal(gW, gW_before)


def test_class_means_distinct_labels_exact():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(4, 7))
    y = np.array([5, 0, 8, 2])
    theta = np.zeros((8, 10))
    g = softmax_grad(theta, add_intercept(X), y)
    counts, means = recover_class_means(g[1:].T, g[0], num_examples=4)
    np.testing.assert_array_equal(counts, np.bincount(y, minlength=10))
    for n, label in enumerate(y):
        np.testing.assert_allclose(means[label], X[n], rtol=1e-10, atol=1e-12)
    assert np.all(np.isnan(means[counts == 0]))


def test_class_means_repeated_labels_give_the_mean():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(5, 3))
    y = np.array([1, 1, 0, 1, 0])
    g = softmax_grad(np.zeros((4, 3)), add_intercept(X), y)
    counts, means = recover_class_means(g[1:].T, g[0], num_examples=5)
    np.testing.assert_array_equal(counts, [2, 3, 0])
    np.testing.assert_allclose(means[1], X[y == 1].mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(means[0], X[y == 0].mean(axis=0), atol=1e-12)


def test_class_means_bad_input():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(3, 2))
    g_all = softmax_grad(np.zeros((3, 3)), add_intercept(X), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="every class is present"):
        recover_class_means(g_all[1:].T, g_all[0], num_examples=3)
    g_nonzero = softmax_grad(rng.normal(size=(3, 4)), add_intercept(X), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="not whole numbers"):
        recover_class_means(g_nonzero[1:].T, g_nonzero[0], num_examples=3)
    with pytest.raises(ValueError, match="num_examples must be positive"):
        recover_class_means(g_all[1:].T, g_all[0], num_examples=0)
    with pytest.raises(ValueError, match="num_examples must be an integer"):
        recover_class_means(g_all[1:].T, g_all[0], num_examples=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_examples must be an integer"):
        recover_class_means(g_all[1:].T, g_all[0], num_examples=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too large"):
        recover_class_means(g_all[1:].T, g_all[0], num_examples=10**30)
    # the counts read from the bias must add up to the batch size
    g_two = softmax_grad(np.zeros((3, 3)), add_intercept(X[:2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="not whole numbers"):
        recover_class_means(g_two[1:].T, g_two[0], num_examples=5)
    with pytest.raises(ValueError, match="at least 2 classes"):
        recover_class_means(np.ones((1, 2)), np.zeros(1), num_examples=1)


@pytest.fixture(scope="module")
def tiny_mlp():
    import keras

    import fedmed_lib  # noqa: F401

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((5,), dtype="float64"),
        keras.layers.Dense(6, activation="sigmoid", dtype="float64"),
        keras.layers.Dense(3, dtype="float64"),
    ])
    return model


def _record_grads(model, x, label):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits([label], model(x))
        )
    return [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


def test_dlg_recovers_record_and_matches_analytic(tiny_mlp):
    x = np.random.default_rng(7).normal(size=(1, 5))
    grads = _record_grads(tiny_mlp, x, 2)
    res = dlg_attack(tiny_mlp, grads, num_iters=200, seed=0, x_true=x)
    assert np.argmax(res.label_probs) == 2
    assert res.error[-1] < 1e-8
    assert res.match_loss[-1] < 1e-3 * res.match_loss[0]
    analytic = recover_from_dense_gradient(grads[0].T, grads[1])
    np.testing.assert_allclose(res.x[0], analytic, atol=1e-7)


def test_dlg_bad_input(tiny_mlp):
    x = np.zeros((1, 5))
    grads = _record_grads(tiny_mlp, x, 0)
    with pytest.raises(ValueError, match="has 3 arrays, the model has 4"):
        dlg_attack(tiny_mlp, grads[:3])
    with pytest.raises(ValueError, match=r"observed_grads\[0\].*shape"):
        dlg_attack(tiny_mlp, [grads[0].T, *grads[1:]])
    bad = [g.copy() for g in grads]
    bad[2][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"observed_grads\[2\].*NaN"):
        dlg_attack(tiny_mlp, bad)
    with pytest.raises(ValueError, match="num_iters"):
        dlg_attack(tiny_mlp, grads, num_iters=0)
    with pytest.raises(ValueError, match="x_true has 4 entries"):
        dlg_attack(tiny_mlp, grads, x_true=np.ones(4))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"num_iters": 2.5}, "num_iters must be an integer"),
    ({"num_iters": True}, "num_iters must be an integer"),
    ({"seed": None}, "seed must be a non-negative integer, got None"),
    ({"seed": -1}, "seed must be at least 0"),
    ({"init_scale": "0.1"}, "init_scale must be a real number"),
    ({"init_scale": float("nan")}, "init_scale must be finite"),
    ({"infer_label": 1}, "infer_label must be True or False"),
    ({"x_true": np.zeros(5)}, "x_true is all zeros"),
    ({"x_true": np.array([1j])}, "x_true must be real"),
    ({"observed_grads": np.zeros(3)}, "observed_grads must be a list of arrays"),
    ({"observed_grads": [np.array([np.nan])]}, r"observed_grads\[0\] contains NaN"),
    ({"observed_grads": [np.array(["a"])]}, r"observed_grads\[0\] must be a numeric array"),
    ({"model": object()}, "model must be a Keras model"),
])
def test_dlg_checks_its_arguments_before_importing_tensorflow(kwargs, match):
    args = {"model": None, "observed_grads": [np.zeros(2)], **kwargs}
    model, grads = args.pop("model"), args.pop("observed_grads")
    with pytest.raises(ValueError, match=match):
        dlg_attack(model, grads, **args)
