"""The scaling workload: many small clients, for Flower's simulation engine and the benchmarks.

This is the workload of :ref:`ch-scaling` (``benchmarks/bench_scaling.py``), defined
once so that the three simulators of the book can be timed on the same thing:

* the data are the breast-cancer features (Wolberg et al., 1995; 569 patients, 30
  features, standardised with the pooled mean and standard deviation);
* up to :data:`MAX_IID_CLIENTS` clients get an IID split of the patients
  (:func:`~fedmed_lib.partition.iid_partition`); more clients are simulated devices
  of 10 to 40 examples resampled with replacement plus jitter
  (:func:`~fedmed_lib.many_clients.sample_devices`, ``noise = 0.1``), as in the
  benchmark's 1,000- and 10,000-device rows;
* every client runs ``local_epochs`` epochs of minibatch SGD for logistic regression
  (batch size :data:`BATCH_SIZE`, learning rate :data:`LR`), visiting its examples
  in the order of :func:`fedmed_lib.many_clients.minibatch_orders` (NumPy only: no TensorFlow in
  the Ray workers), from the global model
  ``[kernel (30, 1), bias (1,)]`` (zeros at the start); the server averages the
  client models weighted by ``n_k / n`` (FedAvg, McMahan et al., 2017), with every
  client in every round.

No Flower and no TensorFlow is imported here: the Flower ``ClientApp`` (one Ray
worker per core in Flower's simulation engine) and the in-process reference
:func:`scaling_reference` run the same :func:`sgd_client`. Introduced in
:ref:`ch-flower`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    check_int,
    check_positive,
    check_positive_int,
    check_seed,
)
from fedmed_lib.algorithms import FedAvg
from fedmed_lib.many_clients import minibatch_orders, sample_devices
from fedmed_lib.partition import iid_partition
from fedmed_lib.simulation import History, run_simulation
from fedmed_lib.types import Array, Params

LR = 0.1
"""Client learning rate of the scaling workload (as in ``benchmarks/bench_scaling.py``)."""

BATCH_SIZE = 10
"""Minibatch size ``B`` of the scaling workload."""

MAX_IID_CLIENTS = 100
"""Up to this many clients share the 569 patients IID; more clients are resampled devices."""

NUM_FEATURES = 30
"""Features of the breast-cancer data (the kernel has shape ``(30, 1)``)."""


def _breast_cancer_csv() -> Path:
    """Path of scikit-learn's copy of the data, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-learn is not installed: it ships the breast-cancer data")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets/data/breast_cancer.csv"


@lru_cache(maxsize=1)
def _pooled_data() -> tuple[Array, Array]:
    # read the file scikit-learn's load_breast_cancer reads (header: 569,30,names...);
    # importing scikit-learn would cost each Ray worker seconds
    raw = np.loadtxt(_breast_cancer_csv(), delimiter=",", skiprows=1)
    # the file codes 0 = malignant; the book's convention is 1 = the disease (malignant),
    # as fedmed_lib.data.load_breast_cancer returns it
    X, y = raw[:, :-1], 1.0 - raw[:, -1]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X.setflags(write=False)
    y = y.astype(np.float64)
    y.setflags(write=False)
    return X, y


def scaling_data() -> tuple[Array, Array]:
    """Return the breast-cancer data, standardised (569 x 30), and its labels (read-only).

    Labels as :func:`fedmed_lib.data.load_breast_cancer` returns them: 1 = malignant.

    Introduced in :ref:`ch-flower`.
    """
    return _pooled_data()


@lru_cache(maxsize=4)
def _clients(num_clients: int, seed: int) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    X, y = _pooled_data()
    if num_clients <= MAX_IID_CLIENTS:
        parts = iid_partition(len(y), num_clients, seed=seed)
        return tuple(X[i] for i in parts), tuple(y[i] for i in parts)
    Xd, yd = sample_devices(X, y, num_clients, min_size=10, max_size=40, noise=0.1, seed=seed)
    return tuple(Xd), tuple(yd)


def scaling_clients(num_clients: int, *, seed: int = 0) -> tuple[list[Array], list[Array]]:
    """Return the clients' ``(X_clients, y_clients)`` of the scaling workload.

    IID shares of the 569 patients for ``num_clients <= 100``
    (:data:`MAX_IID_CLIENTS`), devices of 10 to 40 resampled examples otherwise.
    Introduced in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If ``num_clients`` is not a positive integer or ``seed`` is not a
        non-negative integer.
    """
    num_clients = check_positive_int(num_clients, name="num_clients")
    seed = check_seed(seed)
    Xc, yc = _clients(num_clients, seed)
    return list(Xc), list(yc)


@lru_cache(maxsize=4)
def _orders(num_clients: int, num_rounds: int, local_epochs: int, seed: int) -> NDArray[np.int64]:
    _, yc = _clients(num_clients, seed)
    return minibatch_orders([len(y) for y in yc], num_rounds=num_rounds,
                            local_epochs=local_epochs, seed=seed)


def sgd_client(
    params: Sequence[np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    orders: np.ndarray,
    *,
    lr: float = LR,
    batch_size: int = BATCH_SIZE,
) -> Params:
    """Minibatch SGD for logistic regression from ``params = [kernel (d, 1), bias (1,)]``.

    ``orders`` holds one row per local epoch (only its first ``len(y)`` entries are
    used): minibatch ``s`` of an epoch is rows ``orders[e, s*B:(s+1)*B]``, and each
    step uses the mean gradient of the cross-entropy over that minibatch. Returns the
    local model. Introduced in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If ``lr`` / ``batch_size`` is out of range or the shapes do not match.
    """
    lr = check_positive(lr, name="lr")
    batch_size = check_positive_int(batch_size, name="batch_size")
    w = np.asarray(params[0], dtype=np.float64).reshape(-1)
    b = float(np.asarray(params[1], dtype=np.float64).reshape(-1)[0])
    n = len(y)
    if X.shape != (n, w.size):
        raise ValueError(f"X has shape {X.shape}, expected ({n}, {w.size})")
    orders = np.atleast_2d(orders)
    for order in orders:
        idx = order[:n]
        for s in range(0, n, batch_size):
            rows = idx[s:s + batch_size]
            err = 1.0 / (1.0 + np.exp(-(X[rows] @ w + b))) - y[rows]
            w = w - lr * (err @ X[rows]) / len(rows)
            b = b - lr * float(err.sum()) / len(rows)
    return [w.reshape(-1, 1), np.array([b])]


def train_scaling_client(
    cid: int,
    params: Sequence[np.ndarray],
    server_round: int,
    *,
    num_clients: int,
    num_rounds: int,
    local_epochs: int,
    seed: int,
    lr: float = LR,
    batch_size: int = BATCH_SIZE,
) -> tuple[Params, int]:
    """Client ``cid``'s step in round ``server_round``: ``(local model, num_examples)``.

    What the Flower ``ClientApp`` computes for the scaling workload, from the
    client's data and minibatch orders only. Introduced in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If ``cid`` or ``server_round`` is out of range.
    """
    Xc, yc = _clients(num_clients, seed)
    if not 0 <= cid < num_clients:
        raise ValueError(f"client {cid} does not exist: clients are 0..{num_clients - 1}")
    if not 1 <= server_round <= num_rounds:
        raise ValueError(f"server_round must lie in 1..{num_rounds}, got {server_round}")
    orders = _orders(num_clients, num_rounds, local_epochs, seed)[server_round - 1, :, cid]
    new = sgd_client(params, Xc[cid], yc[cid], orders, lr=lr, batch_size=batch_size)
    return new, len(yc[cid])


def initial_parameters() -> Params:
    """Return the scaling workload's starting model: zeros, ``[kernel (30, 1), bias (1,)]``.

    Introduced in :ref:`ch-flower`.
    """
    return [np.zeros((NUM_FEATURES, 1)), np.zeros(1)]


def scaling_reference(
    *,
    num_clients: int,
    num_rounds: int,
    local_epochs: int = 1,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
    lr: float = LR,
) -> History:
    """Run the scaling workload with :func:`~fedmed_lib.simulation.run_simulation`.

    The in-process reference that Flower's simulation engine must reproduce; the
    history keeps the global model of every round. Introduced in :ref:`ch-flower`.
    """
    num_clients = check_positive_int(num_clients, name="num_clients")
    num_rounds = check_int(num_rounds, name="num_rounds", minimum=0)
    local_epochs = check_positive_int(local_epochs, name="local_epochs")
    seed = check_seed(seed)

    def client_fn(cid: int, params: Params, server_round: int,
                  rng: np.random.Generator) -> tuple[Params, int]:
        new, n = train_scaling_client(
            cid, params, server_round, num_clients=num_clients, num_rounds=num_rounds,
            local_epochs=local_epochs, seed=seed, lr=lr, batch_size=batch_size,
        )
        return [a - p for a, p in zip(new, params, strict=True)], n

    return run_simulation(
        client_fn=client_fn, num_clients=num_clients, initial_parameters=initial_parameters(),
        strategy=FedAvg(), num_rounds=num_rounds, seed=seed, keep_params=True,
    )
