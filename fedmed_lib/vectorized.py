"""A vectorised FedAvg simulator: every client trained at once in one TensorFlow graph.

FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks from
Decentralized Data", AISTATS 2017) for logistic regression, simulated the way
fedjax and TensorFlow Federated's simulation runtimes batch clients: the weights of
all ``K`` clients are one tensor of shape ``(K, d)``, their data one padded tensor
of shape ``(K, max_n, d)`` with a mask, and one local SGD step of every client is a
batched matrix product (:func:`tf.einsum`). The whole run, all rounds, is a single
:func:`tf.function`, so Python and Keras pay their per-call overhead once instead of
once per client per round. Introduced in :ref:`ch-scaling`.

The per-client Keras loop that the chapter starts from, :func:`keras_fedavg`, is kept
here as the reference: from the same seed both produce the same global model,
because both follow the minibatch orders of :func:`minibatch_orders` and compute
in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_binary_labels,
    check_callable,
    check_int,
    check_nonnegative,
    check_optional_int,
    check_positive,
    check_positive_int,
    check_real_array,
    check_seed,
    check_xy,
    client_label,
)
from fedmed_lib.aggregate import weighted_average
from fedmed_lib.simulation import EvalFn, History
from fedmed_lib.types import Array, Params

FloatArray = Array
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class PaddedClients:
    """Client data sets stacked into padded arrays (see :func:`pad_clients`, :ref:`ch-scaling`).

    Attributes
    ----------
    X
        Features, shape ``(num_clients, max_n, d)``; rows past a client's size are 0.
    y
        Labels in {0, 1}, shape ``(num_clients, max_n)``.
    mask
        1 for a real example, 0 for padding, shape ``(num_clients, max_n)``.
    sizes
        ``num_examples`` of each client, shape ``(num_clients,)``.
    """

    X: FloatArray
    y: FloatArray
    mask: FloatArray
    sizes: IntArray

    @property
    def num_clients(self) -> int:
        """Number of clients ``K``."""
        return int(self.X.shape[0])


def pad_clients(
    X_clients: Sequence[np.ndarray], y_clients: Sequence[np.ndarray]
) -> PaddedClients:
    """Validate client data sets and stack them into zero-padded arrays with a mask.

    Introduced in :ref:`ch-scaling`.

    Parameters
    ----------
    X_clients
        One ``(n_k, d)`` feature matrix per client (no intercept column).
    y_clients
        One vector of ``n_k`` binary labels per client.

    Raises
    ------
    ValueError
        If there are no clients, the two lists differ in length, or a client's data
        is empty, not 2-D, ragged (a different ``d``), non-finite or has labels
        outside {0, 1}; the message names the client.
    """
    for name, value in (("X_clients", X_clients), ("y_clients", y_clients)):
        if value is None or isinstance(value, str | bytes | np.ndarray) or not isinstance(
            value, Sequence
        ):
            raise InputTypeError(
                f"{name} must be a list with one array per client, got {_describe(value)}"
            )
    if len(X_clients) == 0:
        raise ValueError("no clients: the list of client data sets is empty")
    if len(X_clients) != len(y_clients):
        raise ValueError(
            f"got {len(X_clients)} feature matrices but {len(y_clients)} label vectors"
        )
    checked: list[tuple[FloatArray, FloatArray]] = []
    for k, (Xk, yk) in enumerate(zip(X_clients, y_clients, strict=True)):
        Xk, yk = check_xy(Xk, yk, client=k)
        check_binary_labels(yk, client=k)
        if checked and Xk.shape[1] != checked[0][0].shape[1]:
            raise ValueError(
                f"{client_label(k)}: X has {Xk.shape[1]} columns, "
                f"client 0 has {checked[0][0].shape[1]} (ragged feature dimension)"
            )
        checked.append((Xk, yk))
    sizes = np.array([Xk.shape[0] for Xk, _ in checked], dtype=np.int64)
    K, max_n, d = len(checked), int(sizes.max()), checked[0][0].shape[1]
    X = np.zeros((K, max_n, d))
    y = np.zeros((K, max_n))
    mask = np.zeros((K, max_n))
    for k, (Xk, yk) in enumerate(checked):
        X[k, : sizes[k]] = Xk
        y[k, : sizes[k]] = yk
        mask[k, : sizes[k]] = 1.0
    return PaddedClients(X, y, mask, sizes)


def minibatch_orders(
    sizes: Sequence[int] | np.ndarray, *, num_rounds: int, local_epochs: int, seed: int
) -> IntArray:
    """Draw every client's shuffled example order for every round and local epoch.

    Returns an array of shape ``(num_rounds, local_epochs, num_clients, max_n)``:
    for client ``k`` the first ``n_k`` entries are a uniformly random permutation of
    ``0..n_k-1`` and the rest are its padding positions ``n_k..max_n-1`` in order.
    Minibatch ``s`` of a local epoch is positions ``s*B .. s*B+B-1``. All
    permutations are drawn at once (``argsort`` of uniform keys) from
    ``np.random.default_rng(seed)``. Introduced in :ref:`ch-scaling`.
    """
    raw = np.asarray(sizes) if not isinstance(sizes, str | bytes) else np.asarray([])
    if raw.dtype.kind not in "iu":
        raise InputTypeError(
            f"sizes must be a non-empty list of positive integers, got {_describe(sizes)}"
        )
    sizes = raw.astype(np.int64)
    if sizes.ndim != 1 or sizes.size == 0 or np.any(sizes < 1):
        raise ValueError(f"sizes must be a non-empty list of positive integers, got {sizes}")
    num_rounds = check_int(num_rounds, name="num_rounds", minimum=0)
    local_epochs = check_positive_int(local_epochs, name="local_epochs")
    rng = np.random.default_rng(check_seed(seed))
    max_n = int(sizes.max())
    keys = rng.random((num_rounds, local_epochs, sizes.size, max_n))
    pos = np.arange(max_n)
    keys = np.where(pos < sizes[:, None], keys, 1.0 + pos)  # padding sorts last, in order
    return np.argsort(keys, axis=-1).astype(np.int64)


def sample_devices(
    X: np.ndarray,
    y: np.ndarray,
    num_clients: int,
    *,
    min_size: int,
    max_size: int,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[list[FloatArray], list[FloatArray]]:
    """Simulate many small devices by resampling a data set with replacement.

    Device ``k`` draws ``n_k ~ Uniform{min_size..max_size}`` examples with
    replacement from ``(X, y)`` and adds Gaussian jitter of standard deviation
    ``noise`` to the features (data augmentation, so that devices are not exact
    copies). This is how the cross-device setting of :ref:`ch-scaling` gets 1,000
    and 10,000 clients out of 455 patients: the devices are *not* independent
    patients.
    """
    X, y = check_xy(X, y)
    num_clients = check_positive_int(num_clients, name="num_clients")
    min_size = check_positive_int(min_size, name="min_size")
    max_size = check_positive_int(max_size, name="max_size")
    if not min_size <= max_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size}, {max_size}")
    noise = check_nonnegative(noise, name="noise")
    rng = np.random.default_rng(check_seed(seed))
    sizes = rng.integers(min_size, max_size + 1, size=num_clients)
    idx = rng.integers(0, X.shape[0], size=int(sizes.sum()))
    jitter = noise * rng.standard_normal((idx.size, X.shape[1]))
    Xs, ys = X[idx] + jitter, y[idx]
    cuts = np.cumsum(sizes)[:-1]
    return list(np.split(Xs, cuts)), list(np.split(ys, cuts))


def _check_initial(initial_parameters: Sequence[np.ndarray] | None, d: int) -> Params:
    if initial_parameters is None:
        return [np.zeros((d, 1)), np.zeros(1)]
    if isinstance(initial_parameters, str | bytes | np.ndarray) or not isinstance(
        initial_parameters, Sequence
    ):
        raise InputTypeError(
            "initial_parameters must be [kernel (d, 1), bias (1,)], "
            f"got {_describe(initial_parameters)}"
        )
    if len(initial_parameters) != 2:
        raise ValueError(
            f"initial_parameters must be [kernel (d, 1), bias (1,)], "
            f"got {len(initial_parameters)} arrays"
        )
    kernel = check_real_array(initial_parameters[0], name="initial_parameters[0] (kernel)")
    bias = check_real_array(initial_parameters[1], name="initial_parameters[1] (bias)")
    kernel, bias = kernel.reshape(-1, 1), bias.reshape(-1)
    if kernel.shape != (d, 1) or bias.shape != (1,):
        raise ValueError(
            f"initial_parameters have shapes {kernel.shape}, {bias.shape}; expected ({d}, 1), (1,)"
        )
    return [kernel.copy(), bias.copy()]


class VectorizedFedAvg:
    """FedAvg for logistic regression with all clients trained in one batched graph.

    Every round, each client starts from the global model and runs
    ``local_epochs`` epochs of minibatch SGD (batch size ``batch_size``, mean
    cross-entropy over the real examples of the batch), then the server takes the
    average of the client models weighted by ``n_k / n``. All clients take part
    in every round (``fraction_fit = 1``). Introduced in :ref:`ch-scaling`.

    Parameters
    ----------
    X_clients, y_clients
        One ``(n_k, d)`` feature matrix and one 0/1 label vector per client.
    local_epochs
        Local epochs ``E``.
    batch_size
        Minibatch size ``B``; ``None`` means one full-batch step per epoch.
    lr
        Client learning rate.

    Notes
    -----
    The graph is traced once, by the constructor, and reused by every :meth:`run`
    (any ``num_rounds``, ``seed`` and initial parameters).
    """

    def __init__(
        self,
        X_clients: Sequence[np.ndarray],
        y_clients: Sequence[np.ndarray],
        *,
        local_epochs: int = 1,
        batch_size: int | None = None,
        lr: float,
    ) -> None:
        local_epochs = check_positive_int(local_epochs, name="local_epochs")
        batch_size = check_optional_int(batch_size, name="batch_size", minimum=1)
        self.lr = check_positive(lr, name="lr")
        self.data = pad_clients(X_clients, y_clients)
        self.local_epochs = local_epochs
        max_n = self.data.X.shape[1]
        self.batch_size = max_n if batch_size is None else min(batch_size, max_n)
        self.num_steps = -(-max_n // self.batch_size)
        self._train = self._build()

    @property
    def num_clients(self) -> int:
        """Number of clients ``K``."""
        return self.data.num_clients

    def _build(self) -> Any:
        K, max_n, d = self.data.X.shape
        B, S, E = self.batch_size, self.num_steps, self.local_epochs
        pad = S * B - max_n  # pad the example axis to a whole number of batches
        X = np.pad(self.data.X, ((0, 0), (0, pad), (0, 0)))
        ym = np.stack([np.pad(self.data.y, ((0, 0), (0, pad))),
                       np.pad(self.data.mask, ((0, 0), (0, pad)))], axis=-1)
        X_flat = tf.constant(X.reshape(K * S * B, d))  # row k * S * B + i is example i of k
        ym_flat = tf.constant(ym.reshape(K * S * B, 2))
        offsets = tf.constant(np.arange(K, dtype=np.int64)[:, None] * (S * B))
        sizes = self.data.sizes.astype(np.float64)
        p = tf.constant(sizes / sizes.sum())  # aggregation weights n_k / n
        lr = tf.constant(self.lr, tf.float64)
        steps = range(S) if S <= 8 else None  # unroll short local epochs

        def local_step(
            W: tf.Tensor, bias: tf.Tensor, Xb: tf.Tensor, ymb: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor]:
            yb, mb = ymb[..., 0], ymb[..., 1]
            z = tf.einsum("kbd,kd->kb", Xb, W) + bias[:, None]  # logits of all clients
            err = (tf.sigmoid(z) - yb) * mb  # padding contributes nothing
            count = tf.maximum(tf.reduce_sum(mb, axis=1), 1.0)
            W = W - lr * tf.einsum("kb,kbd->kd", err, Xb) / count[:, None]
            return W, bias - lr * tf.reduce_sum(err, axis=1) / count

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, E, K, S * B], tf.int64),
                tf.TensorSpec([d], tf.float64),
                tf.TensorSpec([], tf.float64),
            ],
            reduce_retracing=True,
        )
        def train(orders: tf.Tensor, w0: tf.Tensor, b0: tf.Tensor) -> tuple[tf.Tensor, ...]:
            num_rounds = tf.shape(orders)[0]
            ws = tf.TensorArray(tf.float64, size=num_rounds)
            bs = tf.TensorArray(tf.float64, size=num_rounds)
            w, b = w0, b0
            for r in tf.range(num_rounds):
                W = tf.tile(w[None, :], [K, 1])  # every client starts from the global model
                bias = tf.fill([K], b)
                for e in range(E):
                    # rows of every client's minibatches, step-major: (S, K, B)
                    idx = tf.transpose(tf.reshape(orders[r, e] + offsets, [K, S, B]), [1, 0, 2])
                    Xe = tf.gather(X_flat, idx)
                    yme = tf.gather(ym_flat, idx)
                    if steps is not None:
                        for s in steps:
                            W, bias = local_step(W, bias, Xe[s], yme[s])
                    else:
                        for s in tf.range(S):
                            W, bias = local_step(W, bias, Xe[s], yme[s])
                w = tf.einsum("k,kd->d", p, W)  # weighted average of the client models
                b = tf.reduce_sum(p * bias)
                ws = ws.write(r, w)
                bs = bs.write(r, b)
            return w, b, ws.stack(), bs.stack()

        # Trace once, here, and call the concrete graph directly: runs never retrace.
        return train.get_concrete_function()

    def orders(self, *, num_rounds: int, seed: int) -> IntArray:
        """Return the minibatch orders a run with this ``seed`` uses (:func:`minibatch_orders`)."""
        return minibatch_orders(
            self.data.sizes, num_rounds=num_rounds, local_epochs=self.local_epochs, seed=seed
        )

    def run(
        self,
        *,
        num_rounds: int,
        seed: int = 0,
        initial_parameters: Sequence[np.ndarray] | None = None,
        eval_fn: EvalFn | None = None,
        keep_params: bool = False,
    ) -> History:
        """Run ``num_rounds`` rounds of FedAvg from ``initial_parameters`` (zeros by default).

        Parameters are in Keras's layout, ``[kernel (d, 1), bias (1,)]``, so that
        ``model.set_weights(history.params)`` works. ``eval_fn`` is applied after
        training to the global model of round 0 and of every round.
        """
        num_rounds = check_int(num_rounds, name="num_rounds", minimum=0)
        seed = check_seed(seed)
        if eval_fn is not None:
            check_callable(eval_fn, name="eval_fn")
        d = self.data.X.shape[2]
        kernel, bias = _check_initial(initial_parameters, d)
        orders = self.orders(num_rounds=num_rounds, seed=seed)
        S, B = self.num_steps, self.batch_size
        max_n = orders.shape[-1]
        if S * B > max_n:  # the padded tail positions are never real examples
            tail = np.broadcast_to(
                np.arange(max_n, S * B), (*orders.shape[:-1], S * B - max_n)
            )
            orders = np.concatenate([orders, tail], axis=-1)
        w, b, ws, bs = self._train(
            tf.constant(orders), tf.constant(kernel[:, 0]), tf.constant(bias[0])
        )
        history = History()
        per_round = [[kernel, bias]] + [
            [wr.reshape(-1, 1), np.array([br])]
            for wr, br in zip(ws.numpy(), bs.numpy(), strict=True)
        ]
        if eval_fn is not None:
            for r, params in enumerate(per_round):
                history.add_metrics(r, eval_fn(params))
        if keep_params:
            history.params_per_round = per_round
        history.clients_per_round = [list(range(self.num_clients)) for _ in range(num_rounds)]
        history.bytes_up = [self.num_clients * (d + 1) * 8] * num_rounds
        history.fit_metrics = [{"num_updates": self.num_clients} for _ in range(num_rounds)]
        history.params = [w.numpy().reshape(-1, 1), np.array([b.numpy()])]
        return history


def run_vectorized_fedavg(
    X_clients: Sequence[np.ndarray],
    y_clients: Sequence[np.ndarray],
    *,
    num_rounds: int,
    local_epochs: int = 1,
    batch_size: int | None = None,
    lr: float,
    seed: int = 0,
    initial_parameters: Sequence[np.ndarray] | None = None,
    eval_fn: EvalFn | None = None,
) -> History:
    """Build a :class:`VectorizedFedAvg` and run it once. Introduced in :ref:`ch-scaling`."""
    sim = VectorizedFedAvg(
        X_clients, y_clients, local_epochs=local_epochs, batch_size=batch_size, lr=lr
    )
    return sim.run(
        num_rounds=num_rounds, seed=seed, initial_parameters=initial_parameters, eval_fn=eval_fn
    )


def keras_fedavg(
    X_clients: Sequence[np.ndarray],
    y_clients: Sequence[np.ndarray],
    *,
    num_rounds: int,
    local_epochs: int = 1,
    batch_size: int | None = None,
    lr: float,
    seed: int = 0,
    initial_parameters: Sequence[np.ndarray] | None = None,
) -> History:
    """FedAvg as a Python loop over per-client ``keras.Model.fit`` calls (the slow reference).

    One Keras model, ``Dense(1, activation="sigmoid")`` with binary cross-entropy
    and plain SGD, is reset to the global weights and fitted on each client in
    turn, one ``fit`` call per local epoch on the client's data in the order of
    :func:`minibatch_orders` (``shuffle=False``), so that it computes exactly what
    :class:`VectorizedFedAvg` computes. Keras's float type is set to float64 for
    the call and restored afterwards. Introduced in :ref:`ch-scaling`.
    """
    import keras

    data = pad_clients(X_clients, y_clients)
    d = data.X.shape[2]
    kernel, bias = _check_initial(initial_parameters, d)
    local_epochs = check_positive_int(local_epochs, name="local_epochs")
    batch_size = check_optional_int(batch_size, name="batch_size", minimum=1)
    num_rounds = check_int(num_rounds, name="num_rounds", minimum=0)
    seed = check_seed(seed)
    check_positive(lr, name="lr")
    orders = minibatch_orders(
        data.sizes, num_rounds=num_rounds, local_epochs=local_epochs, seed=seed
    )
    old_floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        model = keras.Sequential(
            # explicit dtypes: Keras caches its global dtype policy the first time a
            # layer is built, so floatx alone is not enough once other models exist
            [
                keras.Input((d,), dtype="float64"),
                keras.layers.Dense(1, activation="sigmoid", dtype="float64"),
            ]
        )
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="binary_crossentropy")
        params: Params = [kernel, bias]
        history = History()
        for server_round in range(1, num_rounds + 1):
            results = []
            for k in range(data.num_clients):
                n = int(data.sizes[k])
                model.set_weights(params)
                for e in range(local_epochs):
                    idx = orders[server_round - 1, e, k, :n]
                    model.fit(
                        data.X[k, idx], data.y[k, idx], batch_size=batch_size or n,
                        epochs=1, shuffle=False, verbose=0,
                    )
                results.append((model.get_weights(), n))
            params = weighted_average(results, reference=params)
            history.clients_per_round.append(list(range(data.num_clients)))
            history.fit_metrics.append({"num_updates": data.num_clients})
        history.params = params
        return history
    finally:
        keras.config.set_floatx(old_floatx)
