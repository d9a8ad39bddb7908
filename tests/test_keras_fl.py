"""FedAvg over Keras weights: the client update against tf.GradientTape, the round against
a hand-made weighted average, and every bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import fedmed_lib  # noqa: F401  (quiet TensorFlow before it is imported)
from fedmed_lib.algorithms import FedAvg
from fedmed_lib.keras_fl import (
    build_cnn,
    check_image_clients,
    get_params,
    keras_client_fn,
    predict_proba,
    set_params,
)
from fedmed_lib.simulation import run_simulation

SHAPE = (12, 12, 1)


def tiny(seed=0, lr=0.1):
    return build_cnn(seed=seed, input_shape=SHAPE, filters=(2, 3), dense_units=4, lr=lr)


def data(seed, n):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, *SHAPE)).astype(np.float32)
    y = (rng.random(n) < 0.5).astype(np.float32)
    return X, y


def test_build_cnn_is_seeded():
    a, b, c = get_params(tiny(0)), get_params(tiny(0)), get_params(tiny(1))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert len(a) == 8  # kernel and bias of 2 conv and 2 dense layers


def test_client_update_is_one_gradient_step():
    model = tiny(lr=0.1)
    X, y = data(0, 12)
    start = get_params(model)
    update, n = keras_client_fn(model, [(X, y)], local_epochs=1, batch_size=12, shuffle=False)(
        0, start, 1, np.random.default_rng(0))
    ref = tiny(lr=0.1)
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(y.reshape(-1, 1), ref(X, training=True))
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, ref.trainable_weights)
    assert n == 12
    for u, g in zip(update, grads):
        np.testing.assert_allclose(u, -0.1 * g.numpy(), rtol=1e-4, atol=1e-6)


def test_one_round_is_the_weighted_average_of_local_models():
    model = tiny()
    clients = [data(1, 10), data(2, 30)]
    start = get_params(model)
    hist = run_simulation(
        client_fn=keras_client_fn(model, clients, local_epochs=2, batch_size=8, shuffle=False),
        num_clients=2, initial_parameters=start, strategy=FedAvg(), num_rounds=1, seed=0)
    local = []
    for X, y in clients:
        set_params(model, start, client=0)
        for _ in range(2):
            model.fit(X, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        local.append(model.get_weights())
    for i, p in enumerate(hist.params):
        np.testing.assert_allclose(p, 0.25 * local[0][i] + 0.75 * local[1][i], rtol=1e-5, atol=1e-6)


def test_shuffle_uses_the_rng():
    model = tiny()
    fit = keras_client_fn(model, [data(3, 20)], local_epochs=1, batch_size=4)
    start = get_params(model)
    a = fit(0, start, 1, np.random.default_rng(5))[0]
    b = fit(0, start, 1, np.random.default_rng(5))[0]
    c = fit(0, start, 1, np.random.default_rng(6))[0]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.allclose(x, y) for x, y in zip(a, c))


def test_predict_proba_matches_keras():
    model = tiny()
    X, _ = data(4, 5)
    params = get_params(model)
    np.testing.assert_allclose(predict_proba(model, params, X), model.predict(X, verbose=0)[:, 0],
                               rtol=1e-6)


@pytest.mark.parametrize(("clients", "msg"), [
    ([], "empty"),
    ([(np.zeros((0, *SHAPE)), np.zeros(0))], "client 0: empty"),
    ([data(0, 3), (np.zeros((3, 4, 4, 1)), np.zeros(3))], "client 1: images of shape"),
    ([(np.zeros((3, *SHAPE)), np.zeros(2))], "3 images but 2 labels"),
    ([(np.full((2, *SHAPE), np.nan), np.zeros(2))], "NaN"),
    ([(np.zeros((2, *SHAPE)), np.array([0, 2]))], "0 or 1"),
    ([np.zeros(3)], "(X, y) pair"),
    ([(np.zeros((2, *SHAPE)), np.zeros((2, 1)))], "client 0: y must be 1-D"),
    ([(np.zeros((2, *SHAPE)) + 0j, np.zeros(2))], "client 0: X must be a real numeric array"),
    ([(np.zeros((2, *SHAPE), dtype=bool), np.zeros(2))], "client 0: X must be a real numeric"),
    ([(np.zeros((2, *SHAPE)), np.array(["0", "1"]))], "client 0: y must be a real numeric"),
    ([(None, np.zeros(2))], "client 0: X must be a numeric array"),
    ([(np.full((2, *SHAPE), 1e300), np.zeros(2))], "client 0: X has values too large for float32"),
    (np.zeros((2, 2)), "clients must be a list of"),
])
def test_bad_client_data(clients, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        check_image_clients(clients)


def test_bad_hyper_parameters():
    model = tiny()
    with pytest.raises(ValueError, match="local_epochs"):
        keras_client_fn(model, [data(0, 3)], local_epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        keras_client_fn(model, [data(0, 3)], batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        build_cnn(seed=0, lr=0.0)
    with pytest.raises(ValueError, match="layer sizes"):
        build_cnn(seed=0, filters=(0, 2))
    with pytest.raises(ValueError, match="local_epochs must be an integer"):
        keras_client_fn(model, [data(0, 3)], local_epochs=1.5)
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        keras_client_fn(model, [data(0, 3)], batch_size=True)
    with pytest.raises(TypeError, match="shuffle must be True or False"):
        keras_client_fn(model, [data(0, 3)], shuffle="yes")
    with pytest.raises(TypeError, match="model must be a Keras model"):
        keras_client_fn(None, [data(0, 3)])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"seed": None}, "seed must be a non-negative integer, got None"),
    ({"seed": -1}, "seed must be at least 0"),
    ({"seed": 0.5}, "seed must be an integer"),
    ({"seed": 0, "lr": "0.1"}, "lr must be a real number"),
    ({"seed": 0, "lr": True}, "lr must be a real number"),
    ({"seed": 0, "dense_units": 2.5}, "dense_units must be an integer"),
    ({"seed": 0, "filters": (2, 1.5)}, "filters must be an integer"),
    ({"seed": 0, "filters": 4}, "filters must be a tuple of 2 integers"),
    ({"seed": 0, "input_shape": (28, 28)}, "input_shape must be a tuple of 3 integers"),
    ({"seed": 0, "input_shape": (28, 0, 1)}, "input_shape must be positive sizes"),
])
def test_build_cnn_checks_before_importing_keras(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_cnn(**kwargs)


@pytest.mark.parametrize("bad", ["unknown-client", "wrong-count", "wrong-shape", "nan",
                                 "complex", "float-cid", "rng", "round"])
def test_bad_params_leave_the_model_unchanged(bad):
    model = tiny()
    fit = keras_client_fn(model, [data(0, 4), data(1, 4)])
    params = get_params(model)
    before = [w.copy() for w in model.get_weights()]
    cid, sent, msg = 1, [p.copy() for p in params], ""
    if bad == "unknown-client":
        cid, msg = 2, "client 2 does not exist"
    elif bad == "wrong-count":
        sent, msg = sent[:-1], "client 1: update has 7 arrays"
    elif bad == "wrong-shape":
        sent[0] = np.zeros((2, 2)); msg = "client 1: array 0 has shape"
    elif bad == "complex":
        sent[3] = sent[3] + 1j; msg = "client 1: array 3 must be real"
    elif bad == "float-cid":
        cid, msg = 1.0, "cid must be an integer"
    elif bad == "rng":
        msg = "client 1: rng must be a numpy Generator"
    elif bad == "round":
        msg = "server_round must be an integer"
    else:
        sent[3][0] = np.nan; msg = "client 1: array 3 contains NaN"
    rng = 0 if bad == "rng" else np.random.default_rng(0)
    server_round = 1.5 if bad == "round" else 1
    with pytest.raises(ValueError, match=msg):
        fit(cid, sent, server_round, rng)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_predict_proba_rejects_bad_images_and_keeps_the_weights():
    model = tiny()
    params = get_params(model)
    before = [w.copy() for w in model.get_weights()]
    for X, match in [(np.full((2, *SHAPE), np.nan), "X contains NaN"),
                     (np.zeros((2, *SHAPE)) + 0j, "X must be a real numeric"),
                     (np.zeros((0, *SHAPE)), "X must hold at least one image")]:
        with pytest.raises(ValueError, match=match):
            predict_proba(model, [p + 1 for p in params], X)
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
