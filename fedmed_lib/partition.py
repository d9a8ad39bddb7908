"""Partitioners: how patients are spread over hospitals.

IID (uniform random), label shards (McMahan et al., 2017: each client holds a
few classes), Dirichlet label skew (Hsu, Qi and Brown, 2019: client class
proportions drawn from ``Dir(alpha)``), quantity skew (client sizes drawn from a
Dirichlet) and feature shift. Natural partitions (real hospitals) come from
:func:`fedmed_lib.data.load_heart_disease`. Every function returns a list of
index arrays, one per client, that together cover each example exactly once.
Counts (``n``, ``num_clients``, ``min_size``, ...) are integers, seeds non-negative
integers, and labels a 1-D array of finite real numbers. Introduced in
:ref:`ch-fedavg` and :ref:`ch-non-iid`.

One job: split one data set's examples over clients. The many small clients of the
cross-device setting (:func:`~fedmed_lib.many_clients.sample_devices`,
:func:`~fedmed_lib.many_clients.pad_clients`,
:func:`~fedmed_lib.many_clients.minibatch_orders`) are made and stacked in
:mod:`fedmed_lib.many_clients`; those names are also importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    check_int,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_real_array,
    check_seed,
    client_label,
)
from fedmed_lib.many_clients import PaddedClients as PaddedClients
from fedmed_lib.many_clients import minibatch_orders as minibatch_orders
from fedmed_lib.many_clients import pad_clients as pad_clients
from fedmed_lib.many_clients import sample_devices as sample_devices

Indices = list[NDArray[np.int64]]


def _check(n: int, num_clients: int) -> None:
    if num_clients < 1:
        raise ValueError(f"num_clients must be at least 1, got {num_clients}")
    if n < num_clients:
        raise ValueError(f"cannot split {n} examples over {num_clients} clients")


def _labels(y: object, *, integer: bool = False) -> NDArray[np.float64]:
    """Check labels: a non-empty 1-D finite real array (non-negative integers if ``integer``)."""
    a = check_real_array(y, name="y", ndim=1, allow_empty=False)
    if integer and not ((a >= 0) & (a == np.floor(a))).all():
        bad = a[~((a >= 0) & (a == np.floor(a)))]
        raise ValueError(f"y must hold class labels 0, 1, 2, ..., got {np.unique(bad)[:5]}")
    return a


def _check_parts(parts: object, n: int, *, name: str = "parts") -> Indices:
    """Check a list of index arrays: 1-D integer arrays with entries in ``[0, n)``."""
    if parts is None or isinstance(parts, str | bytes | np.ndarray) or not isinstance(
        parts, Sequence
    ):
        raise InputTypeError(
            f"{name} must be a list of index arrays (one per client), got {type(parts).__name__}"
        )
    out: Indices = []
    for k, idx in enumerate(parts):
        who = client_label(k)
        if idx is None or isinstance(idx, str | bytes):
            raise InputTypeError(f"{who}: indices must be an integer array, got {idx!r}")
        try:
            a = np.asarray(idx)
        except ValueError as err:
            raise ValueError(f"{who}: indices are not a rectangular array ({err})") from err
        if a.size == 0:
            a = a.astype(np.int64)
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
            raise InputTypeError(f"{who}: indices must be integers, got dtype {a.dtype}")
        if a.ndim != 1:
            raise ValueError(f"{who}: indices must be 1-D, got shape {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= n):
            raise ValueError(f"{who}: indices must lie in [0, {n}), got {a.min()}..{a.max()}")
        out.append(a.astype(np.int64))
    return out


def iid_partition(n: int, num_clients: int, *, seed: int = 0) -> Indices:
    """Shuffle ``n`` examples and deal them into ``num_clients`` near-equal parts.

    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If ``n`` or ``num_clients`` is not an integer, ``num_clients < 1``, there are
        fewer examples than clients, or ``seed`` is not a non-negative integer.
    """
    n = check_positive_int(n, name="n")
    num_clients = check_positive_int(num_clients, name="num_clients")
    seed = check_seed(seed)
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
        If ``y`` is not a non-empty 1-D array of finite labels, ``num_clients`` or
        ``shards_per_client`` is not an integer >= 1, there are fewer examples than
        shards, or ``seed`` is not a non-negative integer.
    """
    labels = _labels(y)
    num_clients = check_positive_int(num_clients, name="num_clients")
    shards_per_client = check_positive_int(shards_per_client, name="shards_per_client")
    seed = check_seed(seed)
    _check(len(labels), num_clients)
    _check(len(labels), num_clients * shards_per_client)
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
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
        If ``y`` is not a non-empty 1-D array of finite labels, ``alpha`` is not a
        positive number, a count is not an integer (``num_clients >= 1``,
        ``min_size >= 0``, ``max_tries >= 1``), ``seed`` is not a non-negative
        integer, there are fewer than ``num_clients * min_size`` examples, or no draw
        gives every client ``min_size`` examples in ``max_tries`` attempts.
    """
    labels = _labels(y)
    num_clients = check_positive_int(num_clients, name="num_clients")
    alpha = check_positive(alpha, name="alpha")
    seed = check_seed(seed)
    min_size = check_int(min_size, name="min_size", minimum=0)
    max_tries = check_positive_int(max_tries, name="max_tries")
    _check(len(labels), num_clients)
    if num_clients * min_size > len(labels):
        raise ValueError(
            f"cannot give {num_clients} clients {min_size} examples each from {len(labels)}"
        )
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    for _ in range(max_tries):
        parts: list[list[int]] = [[] for _ in range(num_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            props = rng.dirichlet(alpha * np.ones(num_clients))
            if not np.isfinite(props).all():  # alpha so small that the draw underflows
                break
            cuts = (np.cumsum(props) * len(idx)).astype(int)[:-1]
            for k, part in enumerate(np.split(idx, cuts)):
                parts[k].extend(part.tolist())
        else:
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

    Raises
    ------
    ValueError
        If a count is not an integer (``n``, ``num_clients >= 1``, ``min_size >= 1``),
        ``alpha`` is not a positive number, ``seed`` is not a non-negative integer, or
        there are fewer than ``num_clients * min_size`` examples.
    """
    n = check_positive_int(n, name="n")
    num_clients = check_positive_int(num_clients, name="num_clients")
    alpha = check_positive(alpha, name="alpha")
    seed = check_seed(seed)
    min_size = check_positive_int(min_size, name="min_size")
    _check(n, num_clients * min_size)
    rng = np.random.default_rng(seed)
    props = rng.dirichlet(alpha * np.ones(num_clients))
    if not np.isfinite(props).all():
        raise ValueError(f"alpha={alpha} is too small: the Dirichlet draw underflows")
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

    Raises
    ------
    ValueError
        If ``X`` is not a non-empty, finite 2-D real array, ``num_clients`` is not an
        integer equal to the number of index arrays, an index array is not 1-D
        integers within the rows of ``X`` (naming the client), ``scale`` is not a
        number >= 0, or ``seed`` is not a non-negative integer.
    """
    A = check_real_array(X, name="X", ndim=2, allow_empty=False)
    num_clients = check_positive_int(num_clients, name="num_clients")
    checked = _check_parts(parts, A.shape[0])
    scale = check_nonnegative(scale, name="scale")
    seed = check_seed(seed)
    if len(checked) != num_clients:
        raise ValueError(f"got {len(checked)} index arrays for {num_clients} clients")
    rng = np.random.default_rng(seed)
    out = []
    for idx in checked:
        a = 1.0 + scale * rng.standard_normal(A.shape[1])
        b = scale * rng.standard_normal(A.shape[1])
        out.append(A[idx] * a + b)
    return out


def label_counts(y: np.ndarray, parts: Indices, num_classes: int | None = None) -> np.ndarray:
    """Return a ``(num_clients, num_classes)`` table of label counts per client.

    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If ``y`` does not hold class labels ``0, 1, 2, ...``, an index array is not
        1-D integers within ``y`` (naming the client), or ``num_classes`` is not an
        integer larger than every label.
    """
    labels = _labels(y, integer=True)
    checked = _check_parts(parts, len(labels))
    top = int(labels.max()) + 1
    if num_classes is None:
        c = top
    else:
        c = check_positive_int(num_classes, name="num_classes")
        if c < top:
            raise ValueError(f"num_classes={c} but y holds the label {top - 1}")
    yi = labels.astype(np.int64)
    return np.stack([np.bincount(yi[idx], minlength=c) for idx in checked])
