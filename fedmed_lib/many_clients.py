"""Many clients for the vectorised simulator: make them, stack them, shuffle them.

One job: the data layout of the cross-device setting, where thousands of small
clients train in one array program. :func:`sample_devices` simulates many small
devices by resampling a data set; :func:`pad_clients` stacks client data sets into
zero-padded arrays with a mask (:class:`PaddedClients`, the layout of
:class:`fedmed_lib.vectorized.VectorizedFedAvg`); :func:`minibatch_orders` draws
every client's shuffled example order for every round at once. How patients are
spread over hospitals (IID, shards, Dirichlet, quantity skew, feature shift) is
:mod:`fedmed_lib.partition`, which also re-exports these names. Counts are
integers, seeds non-negative integers. Introduced in :ref:`ch-scaling`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_int,
    check_list,
    check_nonnegative,
    check_positive_int,
    check_seed,
    client_label,
)
from fedmed_lib._validate_data import check_binary_labels, check_xy
from fedmed_lib.types import Array


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

    X: Array
    y: Array
    mask: Array
    sizes: NDArray[np.int64]

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
        check_list(value, what=f"{name} must be a list with one array per client")
    if len(X_clients) == 0:
        raise ValueError("no clients: the list of client data sets is empty")
    if len(X_clients) != len(y_clients):
        raise ValueError(
            f"got {len(X_clients)} feature matrices but {len(y_clients)} label vectors"
        )
    fast = _pad_well_formed(X_clients, y_clients)
    if fast is not None:
        return fast
    # something is unusual (lists, other dtypes, bad values): check client by client,
    # in order, so that the first bad client is the one named
    checked: list[tuple[Array, Array]] = []
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


def _pad_well_formed(
    X_clients: Sequence[np.ndarray], y_clients: Sequence[np.ndarray]
) -> PaddedClients | None:
    """Stack real-valued numpy client arrays with one check of all values at once.

    Returns ``None`` if any client is not a non-empty 2-D numeric ``ndarray`` with a
    matching 1-D label ``ndarray``, or if a value is non-finite or a label not 0/1: then
    :func:`pad_clients` checks client by client and names the first bad one. At
    100,000 clients this avoids 100,000 calls of the per-client checks.
    """
    K = len(X_clients)
    sizes = np.empty(K, dtype=np.int64)
    first = X_clients[0]
    d = int(first.shape[1]) if isinstance(first, np.ndarray) and first.ndim == 2 else -1
    for k, (Xk, yk) in enumerate(zip(X_clients, y_clients, strict=True)):
        if not (
            type(Xk) is np.ndarray and type(yk) is np.ndarray
            and Xk.dtype.kind in "fiu" and yk.dtype.kind in "fiu"
            and Xk.ndim == 2 and yk.ndim == 1 and 0 < Xk.shape[0] == yk.shape[0]
        ):
            return None
        if Xk.shape[1] != d:
            return None
        sizes[k] = Xk.shape[0]
    max_n = int(sizes.max())
    X = np.zeros((K, max_n, d))
    y = np.zeros((K, max_n))
    for k, (Xk, yk) in enumerate(zip(X_clients, y_clients, strict=True)):
        X[k, : sizes[k]] = Xk
        y[k, : sizes[k]] = yk
    if not (np.isfinite(X).all() and np.isfinite(y).all() and np.isin(y, (0.0, 1.0)).all()):
        return None
    mask = (np.arange(max_n) < sizes[:, None]).astype(np.float64)
    return PaddedClients(X, y, mask, sizes)


def sample_devices(
    X: np.ndarray,
    y: np.ndarray,
    num_clients: int,
    *,
    min_size: int,
    max_size: int,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[list[Array], list[Array]]:
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


def minibatch_orders(
    sizes: Sequence[int] | np.ndarray, *, num_rounds: int, local_epochs: int, seed: int
) -> NDArray[np.int64]:
    """Draw every client's shuffled example order for every round and local epoch.

    Returns an array of shape ``(num_rounds, local_epochs, num_clients, max_n)``:
    for client ``k`` the first ``n_k`` entries are a uniformly random permutation of
    ``0..n_k-1`` and the rest are its padding positions ``n_k..max_n-1`` in order.
    Minibatch ``s`` of a local epoch is positions ``s*B .. s*B+B-1``. All
    permutations are drawn at once (``argsort`` of uniform keys) from
    ``np.random.default_rng(seed)``. Introduced in :ref:`ch-scaling`;
    :mod:`fedmed_lib.vectorized` and :mod:`fedmed_lib.flower_app.scaling_task` use it.
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
