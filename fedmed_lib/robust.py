"""Robust aggregation: surviving faulty and malicious hospitals.

The weighted mean of FedAvg has breakdown point zero: one hospital that sends a
huge, sign-flipped or NaN update moves the global model anywhere. This module
holds the defences of :ref:`ch-robust`:

* :func:`validate_updates` and :func:`drop_malformed` reject malformed updates
  (NaN, Inf, wrong shape, wrong number of arrays, bad ``num_examples``) with a
  reason per hospital, instead of failing the whole round;
* :func:`coordinate_median` and :func:`trimmed_mean`, the coordinate-wise rules of
  Yin, Chen, Ramchandran and Bartlett, "Byzantine-Robust Distributed Learning:
  Towards Optimal Statistical Rates", ICML 2018;
* :func:`krum`, the rule of Blanchard, El Mhamdi, Guerraoui and Stainer, "Machine
  Learning with Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017;
* :func:`norm_clipped_mean`, which bounds each update's norm before averaging (the
  defence against boosted backdoor updates discussed by Bagdasaryan et al., 2020).

Every rule has the signature of :func:`fedmed_lib.aggregate.weighted_average`,
``f(results, reference=None) -> Params``, and accepts plain ``(update,
num_examples)`` pairs or :class:`~fedmed_lib.types.FitResult` objects; bind extra
arguments with :func:`functools.partial` to use one as ``FedAvg(aggregate_fn=...)``.
The rules are unweighted: ``num_examples`` is self-reported, and a malicious
hospital could claim any number. Rules with something to report return
:class:`~fedmed_lib.aggregate.AggregatedParams` whose ``metrics`` say which clients
were dropped (``num_dropped``, ``dropped_clients``, ``dropped_reasons``), selected
(``krum_selected``) or clipped (``num_clipped``, ``clipped_clients``), by their ids;
``FedAvg.aggregate_fit`` returns these metrics with the new model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_clipping_norm,
    check_int,
    check_num_examples,
    check_number,
    check_params,
    check_real_array,
    check_update,
    client_label,
)
from fedmed_lib.aggregate import (
    AggregatedParams,
    _unpack,
    check_results_list,
    mean_over_clients,
    median_over_clients,
    pow2_scale,
    rule_metrics,
    validate_results,
)
from fedmed_lib.param_math import clip_checked, flatten, unflatten
from fedmed_lib.types import AggregateFn, FitResult, Params, Results


def validate_updates(
    results: Results, reference: Sequence[np.ndarray] | None = None
) -> tuple[list[FitResult], dict[int | str, str]]:
    """Split results into well-formed ones and rejected ones, with a reason per client.

    Introduced in :ref:`ch-robust`.

    Parameters
    ----------
    results
        One ``(update, num_examples)`` pair (named by its position) or
        :class:`~fedmed_lib.types.FitResult` (named by its ``cid``) per client.
    reference
        Arrays with the expected shapes (the global model). Required: without it a
        malformed first update would become the reference.

    Returns
    -------
    accepted, rejected
        The accepted results (as FitResults of float arrays, in the order received;
        each unpacks like an ``(update, num_examples)`` pair) and ``{client id:
        reason}`` for every rejected client.

    Raises
    ------
    ValueError
        If ``results`` is empty or not a list, or ``reference`` is missing or malformed.
    """
    check_results_list(results)
    if reference is None:
        raise ValueError("validate_updates needs the global model as reference")
    ref = check_params(reference, name="reference")
    accepted: list[FitResult] = []
    rejected: dict[int | str, str] = {}
    for k, item in enumerate(results):
        if not isinstance(item, FitResult) and not (
            isinstance(item, tuple | list) and len(item) == 2
        ):
            rejected[k] = (
                f"{client_label(k)}: expected an (update, num_examples) pair or a FitResult, "
                f"got {_describe(item)}"
            )
            continue
        cid, update, n = _unpack(item, k)
        if cid in rejected or any(r.cid == cid for r in accepted):
            again = f"{client_label(cid)} sent two results in the same round; the second is dropped"
            rejected[cid] = f"{rejected[cid]}; {again}" if cid in rejected else again
            continue
        try:
            checked = check_update(update, ref, client=cid)  # type: ignore[arg-type]
            num = check_num_examples(n, client=cid)
        except ValueError as err:
            rejected[cid] = str(err)
            continue
        accepted.append(FitResult(cid, checked, num))
    return accepted, rejected


def drop_malformed(aggregate_fn: AggregateFn) -> AggregateFn:
    """Wrap an aggregation rule so that malformed updates are dropped, not fatal.

    The wrapped rule sees only the updates accepted by :func:`validate_updates`
    (as FitResults carrying the clients' ids). The result is an
    :class:`~fedmed_lib.aggregate.AggregatedParams` whose ``metrics`` record
    ``num_dropped``, ``dropped_clients`` (ids) and ``dropped_reasons`` (id -> reason),
    merged with the wrapped rule's own metrics. If every update is malformed it
    raises a ``ValueError`` listing the reasons, and the caller keeps the global
    model. Introduced in :ref:`ch-robust`.

    Raises
    ------
    InputTypeError
        If ``aggregate_fn`` is not callable.
    """
    if not callable(aggregate_fn):
        raise InputTypeError(f"aggregate_fn must be a function, got {_describe(aggregate_fn)}")

    def aggregate(results: Results, reference: Sequence[np.ndarray] | None = None) -> Params:
        accepted, rejected = validate_updates(results, reference)
        if not accepted:
            reasons = "; ".join(rejected.values())
            raise ValueError(f"every update was rejected: {reasons}")
        out = aggregate_fn(accepted, reference=reference)
        metrics = {
            **rule_metrics(out),
            "num_dropped": len(rejected),
            "dropped_clients": list(rejected),
            "dropped_reasons": dict(rejected),
        }
        return AggregatedParams(out, metrics)

    aggregate.__name__ = f"drop_malformed({getattr(aggregate_fn, '__name__', 'aggregate')})"
    return aggregate


def _stack(
    results: Results, reference: Sequence[np.ndarray] | None
) -> tuple[NDArray[np.float64], list[np.ndarray], list[int | str]]:
    checked = validate_results(results, reference)
    like = list(checked[0].params)
    return np.stack([flatten(r.params) for r in checked]), like, [r.cid for r in checked]


def coordinate_median(results: Results, reference: Sequence[np.ndarray] | None = None) -> Params:
    """Coordinate-wise median of the clients' updates (Yin et al., 2018).

    Each parameter is the median, over clients, of that parameter. It tolerates
    any minority of arbitrary updates: fewer than half of the clients can move no
    coordinate outside the range of the honest values. Scaled per coordinate by a
    power of two, so two values of ``1e308`` have median ``1e308``, not ``inf``.
    Introduced in :ref:`ch-robust`.

    Examples
    --------
    >>> import numpy as np
    >>> rs = [([np.array([1.0, 10.0])], 1), ([np.array([2.0, 20.0])], 1),
    ...       ([np.array([100.0, -5.0])], 1)]
    >>> coordinate_median(rs)[0]
    array([ 2., 10.])
    """
    stacked, like, _ = _stack(results, reference)
    return unflatten(median_over_clients(stacked), like)


def _check_beta(beta: object) -> float:
    b = check_number(beta, name="beta")
    if not 0 <= b < 0.5:
        raise ValueError(f"beta must lie in [0, 0.5), got {beta!r}")
    return b


def trimmed_mean(
    results: Results, reference: Sequence[np.ndarray] | None = None, *, beta: float = 0.2
) -> Params:
    """Coordinate-wise trimmed mean (Yin et al., 2018).

    For each parameter, drop the ``k = floor(beta * m)`` largest and the ``k``
    smallest of the ``m`` client values and average the rest (scaled per
    coordinate, so it cannot overflow). It tolerates at most ``k`` arbitrary
    updates. Introduced in :ref:`ch-robust`.

    Raises
    ------
    ValueError
        If ``beta`` is not a number in ``[0, 0.5)`` or trimming would leave no value.
    """
    if isinstance(beta, float) and np.isnan(beta):
        raise ValueError(f"beta must lie in [0, 0.5), got {beta!r}")
    b = _check_beta(beta)
    stacked, like, _ = _stack(results, reference)
    m = stacked.shape[0]
    k = int(np.floor(b * m))
    if m - 2 * k < 1:
        raise ValueError(f"trimming {k} values from each side of {m} clients leaves none")
    kept = np.sort(stacked, axis=0)[k : m - k]
    return unflatten(mean_over_clients(kept), like)


def _check_num_malicious(num_malicious: object, m: int) -> int:
    f = check_int(num_malicious, name="num_malicious")
    if f < 0:
        raise ValueError(f"num_malicious must be non-negative, got {f}")
    if 2 * f + 2 >= m:
        raise ValueError(
            f"Krum needs 2f + 2 < K: with f = {f} malicious clients it needs "
            f"at least {2 * f + 3} clients, got {m}"
        )
    return f


def _scaled_sq_distances(vectors: np.ndarray) -> tuple[NDArray[np.float64], float]:
    """Squared distances between rows, from explicit differences, in units of ``unit**2``.

    The rows are halved (so no difference overflows), centred on the first row (so a
    large shared offset costs no precision) and divided by a power of two ``>=`` the
    largest centred entry; then each distance is a sum of squared differences of
    numbers in (-4, 4). Returns ``(d, unit)`` with true distance ``d * unit**2``.
    """
    half = vectors * 0.5
    centred = half - half[0]
    scale = float(pow2_scale(centred, axis=None)) if centred.size else 1.0
    z = centred / scale
    m = z.shape[0]
    dist = np.empty((m, m))
    for i in range(m):
        diff = z - z[i]
        dist[i] = np.einsum("ij,ij->i", diff, diff)
    return dist, 2.0 * scale


def _krum_scaled_scores(vectors: np.ndarray, f: int) -> tuple[NDArray[np.float64], float]:
    m = vectors.shape[0]
    dist, unit = _scaled_sq_distances(vectors)
    np.fill_diagonal(dist, np.inf)
    nearest = np.sort(dist, axis=1)[:, : m - f - 2]
    return np.asarray(nearest.sum(axis=1)), unit


def krum_scores(vectors: np.ndarray, num_malicious: int) -> NDArray[np.float64]:
    """Krum score of each row: the sum of squared distances to its ``K - f - 2`` nearest rows.

    The distances come from explicit differences of the rows (centred and scaled by a
    power of two), not from ``|a|^2 + |b|^2 - 2 a.b``, which loses every digit when the
    updates share a large offset. A score is ``inf`` only if it exceeds the largest
    float. Introduced in :ref:`ch-robust`.

    Raises
    ------
    ValueError
        If ``vectors`` is not a finite 2-D array, ``num_malicious`` is not an integer
        ``>= 0``, or ``2 * num_malicious + 2 >= m``.
    """
    v = check_real_array(vectors, name="vectors", ndim=2)
    f = _check_num_malicious(num_malicious, v.shape[0])
    scores, unit = _krum_scaled_scores(v, f)
    with np.errstate(over="ignore"):
        return np.asarray(scores * unit * unit)


def krum(
    results: Results,
    reference: Sequence[np.ndarray] | None = None,
    *,
    num_malicious: int,
    num_selected: int = 1,
) -> Params:
    """Krum (Blanchard et al., 2017): keep the update closest to its neighbours.

    Scores every update by the sum of squared distances to its ``K - f - 2``
    nearest other updates (``K`` clients) and returns the best one
    (``num_selected = 1``) or the average of the ``num_selected`` best (Multi-Krum).
    Requires ``2f + 2 < K``, the condition of Blanchard et al.'s guarantee for Krum.
    Multi-Krum (``num_selected = m > 1``) has no guarantee in that paper (the first
    proof is Bareilles et al., 2026); ``m`` must not exceed ``K - f``, or a malicious
    update would always be among those averaged when ``f`` are present.
    Ties go to the first client in ``results``. The result's ``metrics`` list the
    ids of the selected clients, best first, as ``krum_selected``. Introduced in
    :ref:`ch-robust`.

    Raises
    ------
    ValueError
        If ``2 * num_malicious + 2 >= K``, ``num_malicious`` is negative or not an
        integer, or ``num_selected`` is not an integer between 1 and ``K - f``.
    """
    stacked, like, cids = _stack(results, reference)
    m = stacked.shape[0]
    f = _check_num_malicious(num_malicious, m)
    k = check_int(num_selected, name="num_selected")
    if not 1 <= k <= m - f:
        raise ValueError(
            f"num_selected must lie between 1 and K - f = {m - f} (with f = {f} malicious "
            f"clients, more would always include one), got {k}"
        )
    scores, _ = _krum_scaled_scores(stacked, f)
    best = np.argsort(scores, kind="stable")[:k]
    chosen = stacked[best]
    mean = chosen[0].copy() if k == 1 else mean_over_clients(chosen)
    return AggregatedParams(
        unflatten(mean, like), {"krum_selected": [cids[int(i)] for i in best]}
    )


def norm_clipped_mean(
    results: Results, reference: Sequence[np.ndarray] | None = None, *, clipping_norm: float
) -> Params:
    """Clip every update to L2 norm ``clipping_norm``, then take the plain mean.

    Bounds how far any one hospital can move the model (by ``clipping_norm / m``)
    without discarding anyone. The result's ``metrics`` record ``num_clipped`` and
    ``clipped_clients`` (the ids of the clients whose update was scaled down).
    Introduced in :ref:`ch-robust`.
    """
    c = check_clipping_norm(clipping_norm)
    checked = validate_results(results, reference)
    clipped, flags = [], []
    for r in checked:
        update, was_clipped = clip_checked(list(r.params), c)
        clipped.append(flatten(update))
        flags.append(was_clipped)
    who = [r.cid for r, c in zip(checked, flags, strict=True) if c]
    return AggregatedParams(
        unflatten(mean_over_clients(np.stack(clipped)), list(checked[0].params)),
        {"num_clipped": len(who), "clipped_clients": who},
    )
