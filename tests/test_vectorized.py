"""Tests of fedmed_lib.vectorized: hand-computed rounds, and equivalence with Keras and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fedmed_lib  # noqa: F401  (quiets TensorFlow before it is imported)
from fedmed_lib.algorithms import FedAvg, local_sgd, numpy_client_fn
from fedmed_lib.models import LOGISTIC, add_intercept
from fedmed_lib.partition import pad_clients, sample_devices
from fedmed_lib.simulation import History, run_simulation
from fedmed_lib.vectorized import VectorizedFedAvg, minibatch_orders


def run_vectorized_fedavg(X, y, *, num_rounds, local_epochs=1, batch_size=None, lr, seed=0,
                          initial_parameters=None, eval_fn=None, keep_params=False) -> History:
    """Build a VectorizedFedAvg and run it once."""
    sim = VectorizedFedAvg(X, y, local_epochs=local_epochs, batch_size=batch_size, lr=lr)
    return sim.run(num_rounds=num_rounds, seed=seed, initial_parameters=initial_parameters,
                   eval_fn=eval_fn, keep_params=keep_params)


def keras_reference(X, y, *, num_rounds, local_epochs=1, batch_size=None, lr, seed=0,
                    initial_parameters) -> History:
    """FedAvg by the library's round loop, each client a ``keras.Model.fit`` call per epoch.

    One float64 Keras model, ``Dense(1, activation="sigmoid")`` with binary cross-entropy
    and plain SGD, is reset to the global weights and fitted on each client in turn, on
    its examples in the order of :func:`minibatch_orders` (``shuffle=False``): what the
    vectorised simulator computes, written the slow way.
    """
    import keras

    sizes = [len(v) for v in y]
    orders = minibatch_orders(sizes, num_rounds=num_rounds, local_epochs=local_epochs,
                              seed=seed)
    d = X[0].shape[1]
    old_floatx = keras.config.floatx()
    keras.config.set_floatx("float64")  # for the run: the optimiser builds its variables in fit
    try:
        # explicit dtypes too: Keras caches its dtype policy once other models exist
        model = keras.Sequential([keras.Input((d,), dtype="float64"),
                                  keras.layers.Dense(1, activation="sigmoid", dtype="float64")])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr),
                      loss="binary_crossentropy")

        def client_fn(cid, params, server_round, rng):
            n = sizes[cid]
            model.set_weights(params)
            for e in range(local_epochs):
                idx = orders[server_round - 1, e, cid, :n]
                model.fit(X[cid][idx], y[cid][idx], batch_size=batch_size or n, epochs=1,
                          shuffle=False, verbose=0)
            return [w - p for w, p in zip(model.get_weights(), params, strict=True)], n

        return run_simulation(client_fn=client_fn, num_clients=len(X),
                              initial_parameters=initial_parameters, strategy=FedAvg(),
                              num_rounds=num_rounds, seed=seed)
    finally:
        keras.config.set_floatx(old_floatx)


def small_clients(sizes=(7, 3, 5, 1, 4), d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((n, d)) for n in sizes]
    y = [(rng.random(n) < 0.5).astype(float) for n in sizes]
    init = [rng.standard_normal((d, 1)) * 0.5, np.array([0.3])]
    return X, y, init


# --- hand-computed ---------------------------------------------------------------------


def test_one_round_by_hand():
    # client 0: x=2, y=1 -> err=-1/2, w=0+1*(1/2*2)=1, b=1/2
    # client 1: three x=1, y=0 -> err=+1/2 each, w=-1/2, b=-1/2
    # weighted by n_k/n = 1/4, 3/4: w = 1/4 - 3/8 = -1/8, b = 1/8 - 3/8 = -1/4
    X = [np.array([[2.0]]), np.ones((3, 1))]
    y = [np.array([1.0]), np.zeros(3)]
    h = run_vectorized_fedavg(X, y, num_rounds=1, lr=1.0, seed=0)
    np.testing.assert_allclose(h.params[0], [[-0.125]], atol=1e-15)
    np.testing.assert_allclose(h.params[1], [-0.25], atol=1e-15)


def test_unweighted_average_would_differ():
    # the same case, averaged 1/2-1/2, gives w = 1/4: the simulator must weight by n_k
    X = [np.array([[2.0]]), np.ones((3, 1))]
    y = [np.array([1.0]), np.zeros(3)]
    h = run_vectorized_fedavg(X, y, num_rounds=1, lr=1.0, seed=0)
    assert abs(h.params[0][0, 0] - 0.25) > 0.1


def test_minibatch_orders_are_permutations_then_padding():
    sizes = [4, 1, 6]
    o = minibatch_orders(sizes, num_rounds=3, local_epochs=2, seed=1)
    assert o.shape == (3, 2, 3, 6)
    for r in range(3):
        for e in range(2):
            for k, n in enumerate(sizes):
                assert sorted(o[r, e, k, :n]) == list(range(n))
                assert list(o[r, e, k, n:]) == list(range(n, 6))
    assert np.array_equal(o, minibatch_orders(sizes, num_rounds=3, local_epochs=2, seed=1))
    assert not np.array_equal(o, minibatch_orders(sizes, num_rounds=3, local_epochs=2, seed=2))


def test_pad_clients_mask_and_sizes():
    X, y, _ = small_clients()
    data = pad_clients(X, y)
    assert data.X.shape == (5, 7, 3)
    np.testing.assert_array_equal(data.sizes, [7, 3, 5, 1, 4])
    np.testing.assert_array_equal(data.mask.sum(axis=1), [7, 3, 5, 1, 4])
    np.testing.assert_array_equal(data.X[1, :3], X[1])
    assert np.all(data.X[1, 3:] == 0)


# --- equivalence -----------------------------------------------------------------------


def test_same_global_model_as_per_client_keras_fit_loop():
    X, y, init = small_clients()
    kw = dict(num_rounds=2, local_epochs=2, batch_size=3, lr=0.3, seed=4, initial_parameters=init)
    h_vec = run_vectorized_fedavg(X, y, **kw)
    h_keras = keras_reference(X, y, **kw)
    for a, b in zip(h_vec.params, h_keras.params, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-10)
    # and training moved the model (the check is not trivially satisfied)
    assert np.abs(h_vec.params[0] - init[0]).max() > 1e-2


class ReplayRng:
    """Stands in for a numpy Generator: returns the given permutations in turn."""

    def __init__(self, orders):
        self.orders = list(orders)

    def permutation(self, n):
        order = self.orders.pop(0)
        assert len(order) == n
        return order


@pytest.mark.parametrize(
    ("client_sizes", "B"),
    [((7, 3, 5, 1, 4), 2), ((12, 3, 9, 1, 4), 1)],  # the second has > 8 steps: tf.while_loop
)
def test_same_global_model_as_numpy_fedavg_minibatch(client_sizes, B):
    X, y, init = small_clients(sizes=client_sizes)
    sizes = [len(v) for v in y]
    num_rounds, E, lr, seed = 3, 2, 0.4, 7
    orders = minibatch_orders(sizes, num_rounds=num_rounds, local_epochs=E, seed=seed)
    clients = [(add_intercept(Xk), yk) for Xk, yk in zip(X, y, strict=True)]

    def client_fn(cid, params, server_round, rng):
        Xk, yk = clients[cid]
        replay = ReplayRng(orders[server_round - 1, :, cid, : sizes[cid]])
        new, _ = local_sgd(params[0], Xk, yk, model=LOGISTIC, lr=lr, local_epochs=E,
                           batch_size=B, rng=replay)  # type: ignore[arg-type]
        return [new - params[0]], len(yk)

    theta0 = np.concatenate([init[1], init[0][:, 0]])
    h_np = run_simulation(client_fn=client_fn, num_clients=5, initial_parameters=[theta0],
                          strategy=FedAvg(), num_rounds=num_rounds, seed=seed)
    h_vec = run_vectorized_fedavg(X, y, num_rounds=num_rounds, local_epochs=E, batch_size=B,
                                  lr=lr, seed=seed, initial_parameters=init)
    theta_vec = np.concatenate([h_vec.params[1], h_vec.params[0][:, 0]])
    np.testing.assert_allclose(theta_vec, h_np.params[0], atol=1e-12)


def test_same_global_model_as_numpy_fedavg_full_batch():
    X, y, init = small_clients()
    clients = [(add_intercept(Xk), yk) for Xk, yk in zip(X, y, strict=True)]
    theta0 = np.concatenate([init[1], init[0][:, 0]])
    client_fn = numpy_client_fn(clients, model=LOGISTIC, lr=0.5, local_epochs=3)
    h_np = run_simulation(client_fn=client_fn, num_clients=5, initial_parameters=[theta0],
                          strategy=FedAvg(), num_rounds=4, seed=0)
    h_vec = run_vectorized_fedavg(X, y, num_rounds=4, local_epochs=3, lr=0.5,
                                  initial_parameters=init)
    theta_vec = np.concatenate([h_vec.params[1], h_vec.params[0][:, 0]])
    np.testing.assert_allclose(theta_vec, h_np.params[0], atol=1e-12)
    # one record: both histories are filled by History.record_round
    assert h_vec.clients_per_round == h_np.clients_per_round
    assert h_vec.bytes_up == h_np.bytes_up == [5 * 4 * 8] * 4  # 5 clients, 4 float64 each
    assert h_vec.fit_metrics == h_np.fit_metrics


@pytest.mark.parametrize(
    ("client_sizes", "B", "E"),
    [((7, 3, 5, 1, 4), 2, 2), ((12, 3, 9, 1, 4), 1, 1), ((7, 3, 5, 1, 4), None, 3)],
)
def test_chunks_of_clients_give_the_same_model(client_sizes, B, E):
    # chunks of 1, 2 (ragged: 2, 2, 1) and 3 clients against all five at once
    X, y, init = small_clients(sizes=client_sizes)
    kw = dict(local_epochs=E, batch_size=B, lr=0.4)
    ref = VectorizedFedAvg(X, y, **kw, chunk_size=len(X)).run(
        num_rounds=3, seed=2, initial_parameters=init)
    for chunk_size in (1, 2, 3):
        sim = VectorizedFedAvg(X, y, **kw, chunk_size=chunk_size)
        assert sim.chunk_size == chunk_size
        h = sim.run(num_rounds=3, seed=2, initial_parameters=init)
        for a, b in zip(h.params, ref.params, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-14)
    assert np.abs(ref.params[0] - init[0]).max() > 1e-2  # training moved the model


def test_default_chunk_size_fills_about_chunk_bytes():
    from fedmed_lib.vectorized import CHUNK_BYTES

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((40, 30)) for _ in range(2000)]
    y = [np.zeros(40) for _ in range(2000)]
    sim = VectorizedFedAvg(X, y, batch_size=10, lr=0.1)
    # 4 steps of 10 examples of 30 float64 features: 9,600 bytes per client
    assert sim.chunk_size == CHUNK_BYTES // 9_600 == 436
    assert VectorizedFedAvg(X[:3], y[:3], batch_size=10, lr=0.1).chunk_size == 3


def test_bad_chunk_size_raises():
    X, y, _ = small_clients()
    for bad in (0, -1, 2.5, "4", True):
        with pytest.raises((ValueError, TypeError), match="chunk_size"):
            VectorizedFedAvg(X, y, lr=0.1, chunk_size=bad)


def test_compiled_graph_is_reused_and_seed_matters():
    X, y, init = small_clients()
    sim = VectorizedFedAvg(X, y, local_epochs=1, batch_size=2, lr=0.3)
    graph = sim._train
    a = sim.run(num_rounds=2, seed=0, initial_parameters=init).params
    b = sim.run(num_rounds=5, seed=1, initial_parameters=init).params
    c = sim.run(num_rounds=2, seed=0, initial_parameters=init).params
    np.testing.assert_array_equal(a[0], c[0])
    assert np.abs(a[0] - b[0]).max() > 1e-6
    assert sim._train is graph  # one concrete graph, traced by the constructor
    assert sim._train.structured_input_signature[0][0].shape.as_list()[0] is None


def test_history_per_round_and_eval():
    X, y, init = small_clients()
    h = run_vectorized_fedavg(X, y, num_rounds=3, lr=0.3, initial_parameters=init,
                              eval_fn=lambda p: {"bias": float(p[1][0])})
    assert h.rounds == [0, 1, 2, 3]
    assert h.metrics["bias"][0] == pytest.approx(0.3)
    assert h.metrics["bias"][-1] == pytest.approx(h.params[1][0])


def test_sample_devices_sizes_and_determinism():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) % 2
    Xd, yd = sample_devices(X, y, 50, min_size=2, max_size=5, seed=3)
    assert len(Xd) == 50 and all(2 <= len(v) <= 5 for v in yd)
    Xd2, _ = sample_devices(X, y, 50, min_size=2, max_size=5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(Xd, Xd2, strict=True))
    # without noise every device row is a row of X, with its own label
    rows = {tuple(r): lab for r, lab in zip(X, y, strict=True)}
    assert all(rows[tuple(r)] == lab for a, b in zip(Xd, yd, strict=True) for r, lab in zip(a, b, strict=True))


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda X, y: (X[:2] + [np.zeros((0, 3))], y[:2] + [np.zeros(0)]), "client 2: empty"),
        (lambda X, y: (X[:3] + [np.full((2, 3), np.nan)], y[:3] + [np.zeros(2)]),
         "client 3: X contains NaN"),
        (lambda X, y: (X[:1] + [np.zeros((2, 4))], y[:1] + [np.zeros(2)]),
         "client 1: X has 4 columns"),
        (lambda X, y: (X[:1] + [np.zeros((2, 3))], y[:1] + [np.array([0.0, 2.0])]),
         "client 1: labels must be 0 or 1"),
        (lambda X, y: (X[:1] + [np.zeros((2, 3))], y[:1] + [np.zeros(3)]),
         "client 1: X has 2 rows but y has 3"),
        (lambda X, y: (X, y[:4]), "5 feature matrices but 4 label vectors"),
        (lambda X, y: ([], []), "no clients"),
    ],
)
def test_bad_client_data_names_the_client(mutate, message):
    X, y, init = small_clients()
    Xb, yb = mutate(X, y)
    with pytest.raises(ValueError, match=message):
        run_vectorized_fedavg(Xb, yb, num_rounds=1, lr=0.1, initial_parameters=init)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(lr=0.0), "lr must be a positive"),
        (dict(lr=np.nan), "lr must be finite"),
        (dict(local_epochs=0), "local_epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(num_rounds=-1), "num_rounds"),
        (dict(initial_parameters=[np.zeros((2, 1)), np.zeros(1)]), "expected \\(3, 1\\)"),
        (dict(initial_parameters=[np.full((3, 1), np.nan), np.zeros(1)]), "NaN"),
        (dict(initial_parameters=[np.zeros((3, 1))]), "kernel"),
    ],
)
def test_bad_settings_raise(kwargs, message):
    X, y, init = small_clients()
    args = dict(num_rounds=1, lr=0.1, initial_parameters=init) | kwargs
    with pytest.raises(ValueError, match=message):
        run_vectorized_fedavg(X, y, **args)


def test_initial_parameters_never_modified():
    X, y, init = small_clients()
    before = [p.copy() for p in init]
    run_vectorized_fedavg(X, y, num_rounds=2, batch_size=2, lr=0.5, initial_parameters=init)
    with pytest.raises(ValueError):
        run_vectorized_fedavg(X[:4] + [np.full((2, 3), np.inf)], y[:4] + [np.zeros(2)],
                              num_rounds=2, lr=0.5, initial_parameters=init)
    for a, b in zip(init, before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_clients=0), "num_clients"),
        (dict(min_size=0), "min_size"),
        (dict(min_size=5, max_size=4), "min_size"),
        (dict(noise=-1.0), "noise"),
    ],
)
def test_sample_devices_bad_input(kwargs, message):
    args = dict(num_clients=3, min_size=1, max_size=2, noise=0.0) | kwargs
    with pytest.raises(ValueError, match=message):
        sample_devices(np.zeros((4, 2)), np.zeros(4), **args)


def test_minibatch_orders_bad_input():
    with pytest.raises(ValueError, match="positive integers"):
        minibatch_orders([3, 0], num_rounds=1, local_epochs=1, seed=0)
    with pytest.raises(ValueError, match="local_epochs"):
        minibatch_orders([3], num_rounds=1, local_epochs=0, seed=0)


# --- hostile input, generated (the vectorised part of tests/test_hostile_core.py) -----------

BAD_COUNT = st.one_of(
    st.sampled_from([None, "2", True, 2.5, 1 + 2j, np.nan, np.inf, [1], 0, -3, np.float64(2.0)]),
    st.floats(allow_nan=False).filter(lambda x: not float(x).is_integer()),
)
BAD_SEED = st.sampled_from([None, -1, 1.5, True, "0", np.nan, 2.0])
BAD_DATA = st.sampled_from([
    (np.full((2, 2), np.nan), np.array([0.0, 1.0]), "X contains NaN"),
    (np.ones((2, 2)), np.array([0.0, 2.0]), "labels must be 0 or 1"),
    (np.ones((2, 2)), np.array([0.0]), "X has 2 rows but y has 1"),
    (np.ones((2, 2)), np.array([[0.0], [1.0]]), "y must be 1-D"),
    (np.ones((0, 2)), np.zeros(0), "empty data"),
    (np.ones((2, 2)) + 1j, np.array([0.0, 1.0]), "X must be real"),
    (None, np.array([0.0, 1.0]), "X must be a numeric array"),
    (np.ones((2, 3)), np.array([0.0, 1.0]), "X has 3 columns"),
])


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(v=BAD_COUNT, seed=BAD_SEED, bad=BAD_DATA, lr=st.sampled_from([None, "0.1", True, 0.0]))
def test_hostile_settings_and_data_raise_naming_the_parameter_or_client(v, seed, bad, lr):
    X = [np.ones((3, 2)), np.zeros((2, 2))]
    y = [np.array([0.0, 1.0, 1.0]), np.array([1.0, 0.0])]

    def check(fn, needle):
        with pytest.raises((ValueError, TypeError)) as info:  # nothing else
            fn()
        assert needle in str(info.value), str(info.value)

    check(lambda: VectorizedFedAvg(X, y, lr=0.1, local_epochs=v), "local_epochs")
    if v is not None:  # batch_size=None means full batch
        check(lambda: VectorizedFedAvg(X, y, lr=0.1, batch_size=v), "batch_size")
    check(lambda: VectorizedFedAvg(X, y, lr=lr), "lr")
    check(lambda: minibatch_orders([3, 2], num_rounds=1, local_epochs=v, seed=0), "local_epochs")
    if not (type(v) is int and v == 0):  # zero rounds is a valid run
        check(lambda: minibatch_orders([3, 2], num_rounds=v, local_epochs=1, seed=0),
              "num_rounds")
        check(lambda: VectorizedFedAvg(X, y, lr=0.1).run(num_rounds=v), "num_rounds")
    check(lambda: minibatch_orders([3, 2], num_rounds=1, local_epochs=1, seed=seed), "seed")
    check(lambda: sample_devices(X[0], y[0], v, min_size=1, max_size=2), "num_clients")
    check(lambda: sample_devices(X[0], y[0], 2, min_size=1, max_size=2, seed=seed), "seed")
    check(lambda: VectorizedFedAvg(X, y, lr=0.1).run(num_rounds=1, seed=seed), "seed")
    Xb, yb, needle = bad
    check(lambda: pad_clients([X[0], Xb], [y[0], yb]), "client 1: " + needle)
    check(lambda: VectorizedFedAvg([X[0], Xb], [y[0], yb], lr=0.1), "client 1: " + needle)


def test_run_refuses_bad_rounds_seed_and_parameters_without_tracing_again():
    X, y, init = small_clients()
    sim = VectorizedFedAvg(X, y, lr=0.1)
    for kwargs, needle in [
        (dict(num_rounds=2.5), "num_rounds"), (dict(num_rounds=True), "num_rounds"),
        (dict(num_rounds=1, seed=None), "seed"), (dict(num_rounds=1, seed=1.5), "seed"),
        (dict(num_rounds=1, initial_parameters=[init[0] + 1j, init[1]]), "kernel"),
        (dict(num_rounds=1, initial_parameters="x"), "initial_parameters"),
    ]:
        with pytest.raises((ValueError, TypeError), match=needle):
            sim.run(**kwargs)
    history = sim.run(num_rounds=2)
    assert history.fit_metrics == [{"num_updates": 5}, {"num_updates": 5}]
