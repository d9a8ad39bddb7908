"""Aggregation maths: the rules over the clients' results, parameter arithmetic, norms, clipping.

The weighted average is the aggregation rule of FedSGD and FedAvg
(McMahan et al., 2017): the global gradient of the mean loss is the average of
the hospitals' gradients weighted by their share of the data, ``n_k / n``
(derived in :ref:`ch-fedsgd`). The function has the same contract as Flower's
``flwr.server.strategy.aggregate.aggregate`` so readers can move to Flower.
Strategies orchestrate; this module only computes, including the norms and the
clipping ``update * min(1, C / ||update||)`` that DP-FedAvg (McMahan et al., 2018)
and the norm-bounded robust rules share.

Results that name their client
------------------------------
A client's result is either a plain ``(params, num_examples)`` pair (the chapters'
from-scratch code and Flower's ``aggregate`` use pairs; an error then names the
client by its *position* in the list) or a :class:`FitResult`, which also carries
the client's id ``cid`` (what Flower's ``ClientProxy`` carries; an error then names
the client by its id). :func:`~fedmed_lib.simulation.run_simulation` always sends
FitResults, so when only clients [2, 5, 7] train and client 7 sends NaN, the message
says "client 7". A rule that has something to report (which updates it dropped,
clipped or selected) returns :class:`AggregatedParams`: a list of arrays like any
``Params``, with the report in its ``metrics``; a strategy's ``aggregate_fit``
returns those metrics next to the new model, and the History keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_clipping_norm,
    check_list,
    check_num_examples,
    check_number,
    check_params,
    check_real_array,
    check_update,
    client_label,
)
from fedmed_lib.types import FitResult, Metrics, Params, Result, Results

__all__ = [  # FitResult, Metrics, Result and Results are re-exported from fedmed_lib.types
    "AggregatedParams",
    "FitResult",
    "Metrics",
    "Result",
    "Results",
    "add",
    "add_checked",
    "check_results_list",
    "clip_and_flag",
    "clip_checked",
    "clip_update",
    "flatten",
    "global_norm",
    "mean_over_clients",
    "median_over_clients",
    "pow2_scale",
    "rule_metrics",
    "scaled_norm",
    "scaled_norm_checked",
    "subtract",
    "unflatten",
    "unweighted_average",
    "validate_results",
    "weighted_average",
    "weighted_mean",
]


# --- what a rule returns ----------------------------------------------------------------


class AggregatedParams(list[NDArray[np.float64]]):
    """Parameters computed by an aggregation rule, with what the rule has to report.

    A list of arrays, usable wherever ``Params`` are; its ``metrics`` hold, for
    example, the clients that :func:`fedmed_lib.robust.drop_malformed` dropped or
    that :func:`fedmed_lib.robust.krum` selected. ``FedAvg.aggregate_fit`` returns
    them as the round's metrics (:func:`rule_metrics`). Introduced in :ref:`ch-robust`.

    Parameters
    ----------
    arrays
        The aggregated arrays.
    metrics
        The rule's report (copied).
    """

    def __init__(self, arrays: Iterable[NDArray[np.float64]], metrics: Metrics | None = None):
        super().__init__(arrays)
        self.metrics: Metrics = dict(metrics or {})


def rule_metrics(params: Sequence[np.ndarray]) -> Metrics:
    """Return the metrics an aggregation rule attached to its result (``{}`` if none).

    Introduced in :ref:`ch-robust`.
    """
    return dict(params.metrics) if isinstance(params, AggregatedParams) else {}


# --- checking the results --------------------------------------------------------------


def _unpack(item: object, position: int) -> tuple[int | str, object, object]:
    """Return ``(cid, params, num_examples)`` of one result; a pair is named by its position."""
    if isinstance(item, FitResult):
        return item.cid, item.params, item.num_examples
    if isinstance(item, tuple | list) and len(item) == 2:
        return position, item[0], item[1]
    raise InputTypeError(
        f"{client_label(position)}: expected a (params, num_examples) pair or a FitResult, "
        f"got {_describe(item)}"
    )


def check_results_list(results: object) -> None:
    """Check that ``results`` is a non-empty list (not ``None``, a string, an array or a dict).

    Introduced in :ref:`ch-fedsgd`.
    """
    seq = check_list(
        results, what="results must be a list of (params, num_examples) pairs or FitResults"
    )
    if len(seq) == 0:
        raise ValueError("no results to aggregate: the list of client results is empty")


def validate_results(
    results: Results,
    reference: Sequence[np.ndarray] | None = None,
) -> list[FitResult]:
    """Check every client's result and return them as FitResults of float arrays.

    Every aggregation rule calls this first, so a bad update is rejected before the
    global model is touched. Introduced in :ref:`ch-fedsgd`.

    Parameters
    ----------
    results
        One ``(params, num_examples)`` pair or :class:`FitResult` per client.
    reference
        Arrays with the expected shapes (the global model). Defaults to the first
        client's params.

    Raises
    ------
    ValueError
        If ``results`` is empty, two results have the same ``cid``, or a client's
        params or ``num_examples`` are malformed; the message names the client (its
        ``cid``, or its position in ``results`` for a plain pair).
    InputTypeError
        If ``results`` is not a list, or a client sent values of the wrong type.

    Returns
    -------
    list of FitResult
        The checked results (float64 arrays, integer ``num_examples``), with the
        clients' ids; each unpacks like a ``(params, num_examples)`` pair.
    """
    check_results_list(results)
    unpacked = [_unpack(item, k) for k, item in enumerate(results)]
    if reference is not None:
        ref = check_params(reference, name="reference")
    else:
        cid0, params0, _ = unpacked[0]
        if isinstance(params0, Sequence) and not isinstance(params0, str | bytes):
            ref = check_update(params0, params0, client=cid0)
        else:
            ref = []  # check_update below names the client and the wrong type
    checked: list[FitResult] = []
    seen: set[int | str] = set()
    for cid, params, n in unpacked:
        if cid in seen:
            raise ValueError(f"{client_label(cid)} sent two results in the same round")
        seen.add(cid)
        update = check_update(params, ref, client=cid)  # type: ignore[arg-type]
        checked.append(FitResult(cid, update, check_num_examples(n, client=cid)))
    return checked


# --- numerics that neither overflow nor lose the small values --------------------------


def pow2_scale(values: np.ndarray, axis: int | None = 0) -> NDArray[np.float64]:
    """Return a power of two ``s`` with ``s <= max |values| < 2 s`` along ``axis``.

    (``s = 0.5`` where all values are 0.) Dividing by a power of two is exact, so
    ``mean(x / s) * s`` equals ``mean(x)`` to the last bit whenever the latter does
    not overflow, and stays finite when it would: two values of ``1e308`` average to
    ``1e308``, not ``inf``. ``s`` itself is always finite (at most ``2**1023``).
    Introduced in :ref:`ch-robust`.
    """
    top = np.max(np.abs(values), axis=axis)
    _, exponent = np.frexp(top)
    return np.asarray(np.ldexp(1.0, exponent - 1), dtype=np.float64)


def mean_over_clients(stacked: np.ndarray) -> NDArray[np.float64]:
    """Coordinate-wise mean over axis 0, scaled per coordinate so that it cannot overflow.

    Introduced in :ref:`ch-robust`.
    """
    s = pow2_scale(stacked)
    return np.asarray(np.mean(stacked / s, axis=0) * s)


def median_over_clients(stacked: np.ndarray) -> NDArray[np.float64]:
    """Coordinate-wise median over axis 0, scaled per coordinate so that it cannot overflow.

    Introduced in :ref:`ch-robust`.
    """
    s = pow2_scale(stacked)
    return np.asarray(np.median(stacked / s, axis=0) * s)


# --- the rules -------------------------------------------------------------------------


def weighted_average(
    results: Results,
    reference: Sequence[np.ndarray] | None = None,
) -> Params:
    """Average parameters weighted by each client's number of examples.

    Computes ``sum_k (n_k / n) * params_k`` array by array, with ``n = sum_k n_k``
    (each term is scaled by its weight before the sum, so it cannot overflow).
    Equals Flower's ``flwr.server.strategy.aggregate.aggregate`` (tested in
    ``tests/test_aggregate.py``). Introduced in :ref:`ch-fedsgd`.

    Parameters
    ----------
    results
        One ``(params, num_examples)`` pair or :class:`FitResult` per client;
        ``params`` is a list of arrays.
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
    return weighted_mean(validate_results(results, reference))


def weighted_mean(checked: Sequence[FitResult]) -> Params:
    """Compute :func:`weighted_average` on results that are already checked.

    ``sum_k (n_k / n) * params_k``, each term scaled by its weight before the sum.
    For strategies that validated the results themselves (e.g. the DP wrapper, on
    the clipped updates). Introduced in :ref:`ch-fedsgd`.
    """
    n = sum(r.num_examples for r in checked)
    out: Params = []
    for i in range(len(checked[0].params)):
        acc = np.zeros_like(checked[0].params[i], dtype=np.float64)
        for r in checked:
            acc += (r.num_examples / n) * r.params[i]
        out.append(acc)
    return out


def unweighted_average(
    results: Results,
    reference: Sequence[np.ndarray] | None = None,
) -> Params:
    """Average parameters giving every client the same weight ``1/K``.

    The biased rule that :ref:`ch-fedsgd` compares with :func:`weighted_average`:
    used as FedSGD's aggregation it minimises ``(1/K) sum_k J_k`` instead of the
    pooled loss. Same parameters, checks and errors as :func:`weighted_average`;
    scaled per coordinate (:func:`mean_over_clients`), so it cannot overflow.
    """
    checked = validate_results(results, reference)
    return [
        mean_over_clients(np.stack([r.params[i] for r in checked]))
        for i in range(len(checked[0].params))
    ]


# --- arithmetic on parameters ----------------------------------------------------------


def _arrays(params: Sequence[np.ndarray], name: str) -> list[NDArray[np.float64]]:
    check_list(params, what=f"{name} must be a list of numpy arrays")
    return [check_real_array(p, name=f"{name}[{i}]") for i, p in enumerate(params)]


def add(params: Sequence[np.ndarray], other: Sequence[np.ndarray], scale: float = 1.0) -> Params:
    """Return ``params + scale * other`` array by array.

    The server's step ``theta + server_lr * mean update``. Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If the two lists differ in length or shapes, or hold NaN/Inf; ``scale`` must be
        a finite real number.
    """
    s = check_number(scale, name="scale")
    a, b = _arrays(params, "params"), _arrays(other, "other")
    if len(a) != len(b):
        raise ValueError(f"params has {len(a)} arrays, other has {len(b)}")
    for i, (p, o) in enumerate(zip(a, b, strict=True)):
        if p.shape != o.shape:
            raise ValueError(f"array {i}: params has shape {p.shape}, other has {o.shape}")
    return add_checked(a, b, s)


def add_checked(params: Sequence[np.ndarray], other: Sequence[np.ndarray], scale: float) -> Params:
    """Compute :func:`add` on arrays that are already checked (no copies, no checks).

    Introduced in :ref:`ch-fedavg`.
    """
    return [np.asarray(p + scale * o) for p, o in zip(params, other, strict=True)]


def subtract(params: Sequence[np.ndarray], other: Sequence[np.ndarray]) -> Params:
    """Return ``params - other`` array by array (e.g. a client's model update).

    Introduced in :ref:`ch-fedavg`.
    """
    return add(params, other, -1.0)


def flatten(params: Sequence[np.ndarray]) -> NDArray[np.float64]:
    """Concatenate all arrays into one vector. Introduced in :ref:`ch-gradient-descent`."""
    arrays = _arrays(params, "params")
    if not arrays:
        return np.zeros(0)
    return np.concatenate([np.ravel(p) for p in arrays])


def unflatten(vector: np.ndarray, like: Sequence[np.ndarray]) -> Params:
    """Split a vector back into arrays shaped like ``like`` (inverse of :func:`flatten`).

    Introduced in :ref:`ch-gradient-descent`.

    Raises
    ------
    ValueError
        If the vector is not 1-D or its length differs from the total size of ``like``.
    """
    v = check_real_array(vector, name="vector", ndim=1)
    check_list(like, what="like must be a list of numpy arrays")
    need = sum(int(np.size(p)) for p in like)
    if need != v.size:
        raise ValueError(f"vector has {v.size} entries, the arrays need {need}")
    out, i = [], 0
    for p in like:
        size = int(np.size(p))
        out.append(v[i : i + size].reshape(np.shape(p)))
        i += size
    return out


def global_norm(params: Sequence[np.ndarray]) -> float:
    """Euclidean norm of all arrays taken together (used for clipping).

    Computed as ``s * sqrt(sum (x / s)^2)`` with ``s`` a power of two near the
    largest ``|x|`` (:func:`scaled_norm`): exact to the last bit like the plain formula, without
    overflowing for entries of ``1e200`` (it is ``inf`` only if the norm itself
    exceeds the largest float). Introduced in :ref:`ch-differential-privacy`.
    """
    s, r = scaled_norm(params)
    return float(s * r)


def scaled_norm(params: Sequence[np.ndarray]) -> tuple[float, float]:
    """Return ``(s, r)`` with ``||params|| = s * r``, ``s`` a power of two, ``r`` finite.

    ``s`` is the power of two of :func:`pow2_scale` of the largest ``|x|``, so every
    ``|x / s| < 2`` and ``r <= 2 sqrt(size)``.
    The norm of an update with entries ``1e200`` overflows; ``s`` and ``r`` do not,
    so clipping can use ``r`` (see :func:`clip_update`).
    Introduced in :ref:`ch-differential-privacy`.
    """
    return scaled_norm_checked(_arrays(params, "params"))


def scaled_norm_checked(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    """Compute :func:`scaled_norm` on float arrays that are already checked.

    Introduced in :ref:`ch-differential-privacy`.
    """
    sizes = [a for a in arrays if a.size]
    if not sizes:
        return 1.0, 0.0
    top = max(max(float(np.max(a)), -float(np.min(a))) for a in sizes)
    if top == 0.0:
        return 1.0, 0.0
    s = math.ldexp(1.0, math.frexp(top)[1] - 1)  # as pow2_scale: s <= top < 2 s
    r = float(np.sqrt(sum(float(np.sum(np.square(a / s))) for a in arrays)))
    return s, r


# --- clipping: the norm bound of DP-FedAvg and of norm-bounded robust rules -----------


def clip_and_flag(update: Sequence[np.ndarray], clipping_norm: float) -> tuple[Params, bool]:
    """Clip an update as :func:`clip_update` does and say whether it was scaled down.

    Introduced in :ref:`ch-differential-privacy`.

    Returns
    -------
    clipped, was_clipped
        ``update * min(1, C / ||update||)`` and ``||update|| > C``.
    """
    c = check_clipping_norm(clipping_norm)
    return clip_checked(check_params(update, name="update"), c)


def clip_checked(arrays: Params, clipping_norm: float) -> tuple[Params, bool]:
    """Compute :func:`clip_and_flag` on checked float arrays and a checked norm.

    ``||update|| = s * r`` (:func:`scaled_norm_checked`); the update
    is kept if ``r <= C / s`` and otherwise becomes ``(update / s) * (C / r)``, which is
    ``update * C / ||update||`` to the last bit, and never overflows. Introduced in
    :ref:`ch-differential-privacy`.
    """
    s, r = scaled_norm_checked(arrays)
    if r <= clipping_norm / s:  # ||update|| <= C, without computing s * r (may overflow)
        return list(arrays), False
    factor = clipping_norm / r
    return [(a / s) * factor for a in arrays], True


def clip_update(update: Sequence[np.ndarray], clipping_norm: float) -> Params:
    """Scale an update down so that its global L2 norm is at most ``clipping_norm``.

    Returns ``update * min(1, C / ||update||)``, the norm taken over all arrays
    together. Updates already inside the ball are returned unchanged (never
    scaled up); the input is not modified. The norm is computed with a power-of-two
    scaling (:func:`scaled_norm`), so an update with entries
    ``1e200``, whose norm overflows, is still scaled to norm ``C``. Introduced in
    :ref:`ch-differential-privacy`.

    Parameters
    ----------
    update
        A model update (list of arrays), e.g. ``theta_local - theta_global``.
    clipping_norm
        The bound ``C > 0``.

    Raises
    ------
    ValueError
        If ``clipping_norm`` is not positive, or the update is empty, not a list of
        real arrays, or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> clip_update([np.array([3.0, 4.0])], 1.0)[0]
    array([0.6, 0.8])
    """
    return clip_and_flag(update, clipping_norm)[0]
