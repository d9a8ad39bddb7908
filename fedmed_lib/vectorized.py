"""A vectorised FedAvg simulator: every client trained at once in one TensorFlow graph.

FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks from
Decentralized Data", AISTATS 2017) for logistic regression, simulated the way
fedjax and TensorFlow Federated's simulation runtimes batch clients: the weights of
all ``K`` clients are one tensor of shape ``(K, d)``, their data one padded tensor
of shape ``(K, max_n, d)`` with a mask, and one local SGD step of every client is a
batched matrix-vector product (:func:`tf.linalg.matvec`). The whole run, all rounds,
is a single :func:`tf.function`, so Python and Keras pay their per-call overhead once
instead of once per client per round; within a round the clients are trained in
chunks small enough for the minibatches to stay in the CPU's cache, so a round costs a
small multiple of the bare arithmetic (the "compute floor" that
``benchmarks/bench_scaling.py`` measures). Introduced in :ref:`ch-scaling`.

The simulator fills the same :class:`~fedmed_lib.simulation.History` as
:func:`~fedmed_lib.simulation.run_simulation`, through ``History.record_round``. Its
reference is the round loop itself: a client that follows the minibatch orders of
:func:`minibatch_orders` and computes in float64 (with numpy or with Keras's
``model.fit``), run by :func:`~fedmed_lib.simulation.run_simulation`, gives the same
global model (``tests/test_vectorized.py``). The data layout
(:func:`~fedmed_lib.many_clients.pad_clients`) and the simulated devices
(:func:`~fedmed_lib.many_clients.sample_devices`) live in :mod:`fedmed_lib.many_clients`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_callable,
    check_int,
    check_optional_int,
    check_positive,
    check_positive_int,
    check_real_array,
    check_seed,
)
from fedmed_lib.many_clients import minibatch_orders, pad_clients
from fedmed_lib.simulation import EvalFn, History, update_nbytes
from fedmed_lib.types import Params

IntArray = NDArray[np.int64]

#: Bytes of gathered minibatch features per chunk of clients (default ``chunk_size``).
CHUNK_BYTES = 4 * 2**20


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
    chunk_size
        Clients trained together in one pass of the batched steps; ``None`` picks the
        number whose gathered minibatches fill about :data:`CHUNK_BYTES` (4 MiB), so
        that a chunk's local epochs run in the CPU's cache. The result does not depend
        on it (up to float64 rounding of the average's sum).

    Notes
    -----
    The graph is traced once, by the constructor, and reused by every :meth:`run`
    (any ``num_rounds``, ``seed`` and initial parameters). Within a round the clients
    are processed chunk by chunk (a ``tf.while_loop`` whose iterations may run in
    parallel): each chunk gathers its clients' examples in minibatch order, runs the
    local epochs and adds its share ``sum_k n_k/n W_k`` to the average, so no tensor of
    all clients' reordered data is ever built.
    """

    def __init__(
        self,
        X_clients: Sequence[np.ndarray],
        y_clients: Sequence[np.ndarray],
        *,
        local_epochs: int = 1,
        batch_size: int | None = None,
        lr: float,
        chunk_size: int | None = None,
    ) -> None:
        local_epochs = check_positive_int(local_epochs, name="local_epochs")
        batch_size = check_optional_int(batch_size, name="batch_size", minimum=1)
        self.lr = check_positive(lr, name="lr")
        chunk_size = check_optional_int(chunk_size, name="chunk_size", minimum=1)
        self.data = pad_clients(X_clients, y_clients)
        self.local_epochs = local_epochs
        max_n, d = self.data.X.shape[1:]
        self.batch_size = max_n if batch_size is None else min(batch_size, max_n)
        self.num_steps = -(-max_n // self.batch_size)
        if chunk_size is None:  # a chunk's minibatches, ~4 MiB of float64, stay in the cache
            chunk_size = max(1, CHUNK_BYTES // (self.num_steps * self.batch_size * d * 8))
        self.chunk_size = min(chunk_size, self.num_clients)
        self._train = self._build()

    @property
    def num_clients(self) -> int:
        """Number of clients ``K``."""
        return self.data.num_clients

    def _build(self) -> Any:
        K, max_n, d = self.data.X.shape
        B, S, E, C = self.batch_size, self.num_steps, self.local_epochs, self.chunk_size
        num_chunks = -(-K // C)
        # Row k * max_n + i of X_flat is example i of client k: the padded stack, not a copy
        # padded again to whole batches. Positions past max_n (the short last batch) are
        # clamped to a real row and masked out, as are each client's padding positions.
        X_flat = tf.constant(self.data.X.reshape(K * max_n, d))
        y_flat = tf.constant(self.data.y.reshape(K * max_n))
        sizes = self.data.sizes
        n_k = tf.constant(sizes.astype(np.int32))
        p = tf.constant(sizes / sizes.sum())  # aggregation weights n_k / n
        lr = tf.constant(self.lr, tf.float64)
        tail = tf.range(max_n, S * B, dtype=tf.int32)[None, :]  # past max_n: never an example
        steps = range(S) if S <= 8 else None  # unroll short local epochs

        def local_step(
            W: tf.Tensor, bias: tf.Tensor, Xb: tf.Tensor, yb: tf.Tensor, mb: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor]:
            z = tf.linalg.matvec(Xb, W) + bias[:, None]  # logits of all clients, (C, B)
            err = (tf.sigmoid(z) - yb) * mb  # padding contributes nothing
            count = tf.maximum(tf.reduce_sum(mb, axis=1), 1.0)
            W = W - lr * tf.linalg.matvec(Xb, err, transpose_a=True) / count[:, None]
            return W, bias - lr * tf.reduce_sum(err, axis=1) / count

        def train_chunk(
            orders: tf.Tensor, r: tf.Tensor, w: tf.Tensor, b: tf.Tensor, c: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor]:
            """Local training of clients c*C .. c*C+C-1; their weighted share of the average."""
            lo = c * C
            hi = tf.minimum(lo + C, K)
            num = hi - lo
            W = tf.tile(w[None, :], [num, 1])  # every client starts from the global model
            bias = tf.fill([num], b)
            first_row = tf.range(lo, hi) * max_n
            for e in range(E):
                order = tf.cast(orders[r, e, lo:hi], tf.int32)  # (num, max_n), this chunk only
                if S * B > max_n:
                    order = tf.concat([order, tf.tile(tail, [num, 1])], axis=1)
                mask = tf.cast(order < n_k[lo:hi, None], tf.float64)
                rows = tf.minimum(order, max_n - 1) + first_row[:, None]
                # step-major (S, num, B): minibatch s of every client is one contiguous slice
                rows = tf.transpose(tf.reshape(rows, [num, S, B]), [1, 0, 2])
                mask = tf.transpose(tf.reshape(mask, [num, S, B]), [1, 0, 2])
                Xe = tf.gather(X_flat, rows)
                ye = tf.gather(y_flat, rows)
                if steps is not None:
                    for s in steps:
                        W, bias = local_step(W, bias, Xe[s], ye[s], mask[s])
                else:
                    for s in tf.range(S):
                        W, bias = local_step(W, bias, Xe[s], ye[s], mask[s])
            p_c = p[lo:hi]
            return tf.linalg.matvec(W, p_c, transpose_a=True), tf.reduce_sum(p_c * bias)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, E, K, max_n], tf.int64),
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
                w_sum = tf.zeros([d], tf.float64)
                b_sum = tf.zeros([], tf.float64)
                for c in tf.range(num_chunks):  # chunks of clients, in parallel where possible
                    tf.autograph.experimental.set_loop_options(parallel_iterations=4)
                    w_c, b_c = train_chunk(orders, r, w, b, c)
                    w_sum += w_c  # FedAvg: the weighted average of the client models
                    b_sum += b_c
                w, b = w_sum, b_sum
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
            history.params_per_round.append(per_round[0])
        everyone = range(self.num_clients)
        for params in per_round[1:]:
            history.record_round(
                everyone, None, {"num_updates": self.num_clients},
                params if keep_params else None,
                bytes_up=update_nbytes(params, self.num_clients),
            )
        history.params = [w.numpy().reshape(-1, 1), np.array([b.numpy()])]
        return history

