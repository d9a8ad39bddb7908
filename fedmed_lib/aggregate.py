"""Aggregation rules: checking the clients' results and averaging them.

One job: turn the clients' results of a round into one update. The weighted average
is the aggregation rule of FedSGD and FedAvg (McMahan et al., 2017): the global
gradient of the mean loss is the average of the hospitals' gradients weighted by
their share of the data, ``n_k / n`` (derived in :ref:`ch-fedsgd`). The function has
the same contract as Flower's ``flwr.server.strategy.aggregate.aggregate`` so readers
can move to Flower. Strategies orchestrate; this module only computes. Arithmetic on
parameters (sums, flattening, norms and the clipping ``update * min(1, C /
||update||)`` of DP-FedAvg and the norm-bounded robust rules) is defined in
:mod:`fedmed_lib.param_math` and importable from here.

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

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_list,
    check_num_examples,
    check_params,
    check_update,
    client_label,
)
from fedmed_lib.param_math import add as add
from fedmed_lib.param_math import add_checked as add_checked
from fedmed_lib.param_math import clip_and_flag as clip_and_flag
from fedmed_lib.param_math import clip_checked as clip_checked
from fedmed_lib.param_math import clip_update as clip_update
from fedmed_lib.param_math import flatten as flatten
from fedmed_lib.param_math import global_norm as global_norm
from fedmed_lib.param_math import scaled_norm as scaled_norm
from fedmed_lib.param_math import scaled_norm_checked as scaled_norm_checked
from fedmed_lib.param_math import subtract as subtract
from fedmed_lib.param_math import unflatten as unflatten
from fedmed_lib.types import FitResult, Metrics, Params, Result, Results

__all__ = [  # FitResult, Metrics, Result, Results (fedmed_lib.types) and the arithmetic of
    # fedmed_lib.param_math (add, ..., clip_update) are re-exported here
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
