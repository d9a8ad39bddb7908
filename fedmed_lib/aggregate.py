"""Aggregation rules: pure maths over ``list[tuple[Params, num_examples]]``.

The weighted average is the aggregation rule of FedSGD and FedAvg
(McMahan et al., 2017): the global gradient of the mean loss is the average of
the hospitals' gradients weighted by their share of the data, ``n_k / n``
(derived in :ref:`ch-fedsgd`). The function has the same contract as Flower's
``flwr.server.strategy.aggregate.aggregate`` so readers can move to Flower.
Strategies orchestrate; this module only computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedmed_lib._validate import Params, check_num_examples, check_update


def validate_results(
    results: Sequence[tuple[Sequence[np.ndarray], int]],
    reference: Sequence[np.ndarray] | None = None,
) -> list[tuple[Params, int]]:
    """Check every client's result and return them as float arrays.

    Every aggregation rule calls this first, so a bad update is rejected before the
    global model is touched. Introduced in :ref:`ch-fedsgd`.

    Parameters
    ----------
    results
        One ``(params, num_examples)`` pair per client, in client order.
    reference
        Arrays with the expected shapes (the global model). Defaults to the first
        client's params.

    Raises
    ------
    ValueError
        If ``results`` is empty, or a client's params or ``num_examples`` are malformed;
        the message names the client (its index in ``results``).

    Returns
    -------
    list of (Params, int)
        The checked results, with float64 arrays.
    """
    if len(results) == 0:
        raise ValueError("no results to aggregate: the list of client results is empty")
    ref = reference if reference is not None else results[0][0]
    checked = []
    for k, item in enumerate(results):
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(f"client {k}: expected a (params, num_examples) pair, got {item!r}")
        params, n = item
        checked.append((check_update(params, ref, client=k), check_num_examples(n, client=k)))
    return checked


def weighted_average(
    results: Sequence[tuple[Sequence[np.ndarray], int]],
    reference: Sequence[np.ndarray] | None = None,
) -> Params:
    """Average parameters weighted by each client's number of examples.

    Computes ``sum_k (n_k / n) * params_k`` array by array, with ``n = sum_k n_k``.
    Equals Flower's ``flwr.server.strategy.aggregate.aggregate`` (tested in
    ``tests/test_aggregate.py``). Introduced in :ref:`ch-fedsgd`.

    Parameters
    ----------
    results
        One ``(params, num_examples)`` pair per client; ``params`` is a list of arrays.
    reference
        Arrays with the expected shapes (the global model); defaults to the first
        client's params.

    Returns
    -------
    Params
        One averaged array per array of ``params``.

    Raises
    ------
    ValueError
        If the list is empty or a client sends a wrong shape, NaN/Inf or a
        non-positive ``num_examples`` (the message names the client).

    Examples
    --------
    >>> import numpy as np
    >>> weighted_average([([np.array([0.0])], 1), ([np.array([3.0])], 2)])[0]
    array([2.])
    """
    checked = validate_results(results, reference)
    n = sum(num for _, num in checked)
    out: Params = []
    for i in range(len(checked[0][0])):
        acc = np.zeros_like(checked[0][0][i])
        for params, num in checked:
            acc += (num / n) * params[i]
        out.append(acc)
    return out


def unweighted_average(
    results: Sequence[tuple[Sequence[np.ndarray], int]],
    reference: Sequence[np.ndarray] | None = None,
) -> Params:
    """Average parameters giving every client the same weight ``1/K``.

    The biased rule that :ref:`ch-fedsgd` compares with :func:`weighted_average`:
    used as FedSGD's aggregation it minimises ``(1/K) sum_k J_k`` instead of the
    pooled loss. Same parameters, checks and errors as :func:`weighted_average`.
    """
    checked = validate_results(results, reference)
    k = len(checked)
    return [
        np.sum([params[i] for params, _ in checked], axis=0) / k
        for i in range(len(checked[0][0]))
    ]


def add(params: Sequence[np.ndarray], other: Sequence[np.ndarray], scale: float = 1.0) -> Params:
    """Return ``params + scale * other`` array by array.

    The server's step ``theta + server_lr * mean update``. Introduced in :ref:`ch-fedavg`.
    """
    return [
        np.asarray(p, float) + scale * np.asarray(o, float)
        for p, o in zip(params, other, strict=True)
    ]


def subtract(params: Sequence[np.ndarray], other: Sequence[np.ndarray]) -> Params:
    """Return ``params - other`` array by array (e.g. a client's model update).

    Introduced in :ref:`ch-fedavg`.
    """
    return add(params, other, -1.0)


def flatten(params: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate all arrays into one vector. Introduced in :ref:`ch-gradient-descent`."""
    return np.concatenate([np.ravel(p) for p in params])


def unflatten(vector: np.ndarray, like: Sequence[np.ndarray]) -> Params:
    """Split a vector back into arrays shaped like ``like`` (inverse of :func:`flatten`).

    Introduced in :ref:`ch-gradient-descent`.

    Raises
    ------
    ValueError
        If the vector's length differs from the total size of ``like``.
    """
    out, i = [], 0
    for p in like:
        size = int(np.size(p))
        out.append(np.asarray(vector[i : i + size], float).reshape(np.shape(p)))
        i += size
    if i != vector.size:
        raise ValueError(f"vector has {vector.size} entries, the arrays need {i}")
    return out


def global_norm(params: Sequence[np.ndarray]) -> float:
    """Euclidean norm of all arrays taken together (used for clipping).

    Introduced in :ref:`ch-differential-privacy`.
    """
    return float(np.sqrt(sum(float(np.sum(np.square(p))) for p in params)))
