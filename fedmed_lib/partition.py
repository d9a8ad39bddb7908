"""Partitioners: how patients are spread over hospitals.

IID (uniform random), label shards (McMahan et al., 2017: each client holds a
few classes), Dirichlet label skew (Hsu, Qi and Brown, 2019: client class
proportions drawn from ``Dir(alpha)``), quantity skew (client sizes drawn from a
Dirichlet) and feature shift. Natural partitions (real hospitals) come from
:func:`fedmed_lib.data.load_heart_disease`. Every function returns a list of
index arrays, one per client, that together cover each example exactly once.
Introduced in :ref:`ch-fedavg` and :ref:`ch-non-iid`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Indices = list[NDArray[np.int64]]


def _check(n: int, num_clients: int) -> None:
    if num_clients < 1:
        raise ValueError(f"num_clients must be at least 1, got {num_clients}")
    if n < num_clients:
        raise ValueError(f"cannot split {n} examples over {num_clients} clients")


def iid_partition(n: int, num_clients: int, *, seed: int = 0) -> Indices:
    """Shuffle ``n`` examples and deal them into ``num_clients`` near-equal parts.

    Introduced in :ref:`ch-fedavg`.
    """
    _check(n, num_clients)
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(p).astype(np.int64) for p in np.array_split(order, num_clients)]


def shard_partition(
    y: np.ndarray, num_clients: int, *, shards_per_client: int = 2, seed: int = 0
) -> Indices:
    """McMahan et al.'s pathological non-IID split: sort by label, cut into shards.

    Each client receives ``shards_per_client`` random shards, so it sees only a few
    classes. Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If ``num_clients`` or ``shards_per_client`` is below 1 or there are fewer
        examples than shards.
    """
    y = np.asarray(y)
    if shards_per_client < 1:
        raise ValueError(f"shards_per_client must be at least 1, got {shards_per_client}")
    _check(len(y), num_clients)
    _check(len(y), num_clients * shards_per_client)
    rng = np.random.default_rng(seed)
    order = np.argsort(y, kind="stable")
    shards = np.array_split(order, num_clients * shards_per_client)
    perm = rng.permutation(len(shards))
    return [
        np.sort(np.concatenate([shards[j] for j in perm[k::num_clients]])).astype(np.int64)
        for k in range(num_clients)
    ]


def dirichlet_partition(
    y: np.ndarray,
    num_clients: int,
    *,
    alpha: float,
    seed: int = 0,
    min_size: int = 1,
    max_tries: int = 1000,
) -> Indices:
    """Label skew: each class is spread over clients with proportions ``Dir(alpha)``.

    Large ``alpha`` (e.g. 100) gives nearly IID clients; small ``alpha`` (0.1) gives
    clients dominated by one class. Draws again until every client has at least
    ``min_size`` examples. Introduced in :ref:`ch-non-iid`.

    Raises
    ------
    ValueError
        If ``alpha`` is not positive, there are fewer examples than clients, or no
        draw gives every client ``min_size`` examples in ``max_tries`` attempts.
    """
    y = np.asarray(y)
    _check(len(y), num_clients)
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    for _ in range(max_tries):
        parts: list[list[int]] = [[] for _ in range(num_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            props = rng.dirichlet(alpha * np.ones(num_clients))
            cuts = (np.cumsum(props) * len(idx)).astype(int)[:-1]
            for k, part in enumerate(np.split(idx, cuts)):
                parts[k].extend(part.tolist())
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    raise ValueError(
        f"could not give every client {min_size} examples with alpha={alpha} "
        f"in {max_tries} draws; lower min_size or raise alpha"
    )


def quantity_skew_partition(
    n: int, num_clients: int, *, alpha: float, seed: int = 0, min_size: int = 1
) -> Indices:
    """Quantity skew: IID labels, client sizes proportional to a ``Dir(alpha)`` draw.

    Introduced in :ref:`ch-non-iid`.
    """
    _check(n, num_clients * min_size)
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    rng = np.random.default_rng(seed)
    props = rng.dirichlet(alpha * np.ones(num_clients))
    extra = n - num_clients * min_size
    sizes = min_size + np.floor(props * extra).astype(int)
    sizes[np.argmax(props)] += n - sizes.sum()
    order = rng.permutation(n)
    cuts = np.cumsum(sizes)[:-1]
    return [np.sort(p).astype(np.int64) for p in np.split(order, cuts)]


def feature_shift(
    X: np.ndarray, num_clients: int, parts: Indices, *, scale: float = 0.5, seed: int = 0
) -> list[NDArray[np.float64]]:
    """Feature shift: client ``k`` sees its features multiplied and offset per column.

    Models different scanners or lab calibrations: client ``k``'s rows are mapped
    to ``X * a_k + b_k`` with ``a_k ~ 1 + scale * N(0, 1)`` and ``b_k ~ scale * N(0, 1)``
    per feature. Returns one array per client. Introduced in :ref:`ch-non-iid`.
    """
    if len(parts) != num_clients:
        raise ValueError(f"got {len(parts)} index arrays for {num_clients} clients")
    rng = np.random.default_rng(seed)
    X = np.asarray(X, dtype=np.float64)
    out = []
    for idx in parts:
        a = 1.0 + scale * rng.standard_normal(X.shape[1])
        b = scale * rng.standard_normal(X.shape[1])
        out.append(X[idx] * a + b)
    return out


def label_counts(y: np.ndarray, parts: Indices, num_classes: int | None = None) -> np.ndarray:
    """Return a ``(num_clients, num_classes)`` table of label counts per client.

    Introduced in :ref:`ch-fedavg`.
    """
    y = np.asarray(y, dtype=np.int64)
    c = int(num_classes if num_classes is not None else y.max() + 1)
    return np.stack([np.bincount(y[idx], minlength=c) for idx in parts])
