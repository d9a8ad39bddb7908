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
``f(results, reference=None) -> Params``; bind extra arguments with
:func:`functools.partial` to use one as ``FedAvg(aggregate_fn=...)``. The rules are
unweighted: ``num_examples`` is self-reported, and a malicious hospital could
claim any number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib._validate import Params, check_num_examples, check_update, client_label
from fedmed_lib.aggregate import flatten, unflatten, validate_results
from fedmed_lib.privacy.dp import clip_update

Results = Sequence[tuple[Sequence[np.ndarray], int]]
AggregateFn = Callable[..., Params]


def validate_updates(
    results: Results, reference: Sequence[np.ndarray] | None = None
) -> tuple[list[tuple[Params, int]], dict[int, str]]:
    """Split results into well-formed ones and rejected ones, with a reason per client.

    Introduced in :ref:`ch-robust`.

    Parameters
    ----------
    results
        One ``(update, num_examples)`` pair per client, in client order.
    reference
        Arrays with the expected shapes (the global model). Required: without it a
        malformed first update would become the reference.

    Returns
    -------
    accepted, rejected
        The accepted ``(update, num_examples)`` pairs (as float arrays, in client
        order) and ``{client index: reason}`` for every rejected client.

    Raises
    ------
    ValueError
        If ``results`` is empty or ``reference`` is missing.
    """
    if len(results) == 0:
        raise ValueError("no results to aggregate: the list of client results is empty")
    if reference is None:
        raise ValueError("validate_updates needs the global model as reference")
    accepted: list[tuple[Params, int]] = []
    rejected: dict[int, str] = {}
    for k, item in enumerate(results):
        try:
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise ValueError(f"{client_label(k)}: expected an (update, num_examples) pair")
            update = check_update(item[0], reference, client=k)
            n = check_num_examples(item[1], client=k)
        except ValueError as err:
            rejected[k] = str(err)
            continue
        accepted.append((update, n))
    return accepted, rejected


def drop_malformed(aggregate_fn: AggregateFn) -> AggregateFn:
    """Wrap an aggregation rule so that malformed updates are dropped, not fatal.

    The wrapped rule sees only the updates accepted by :func:`validate_updates`.
    If every update is malformed it raises a ``ValueError`` listing the reasons,
    and the caller keeps the global model. Introduced in :ref:`ch-robust`.
    """

    def aggregate(results: Results, reference: Sequence[np.ndarray] | None = None) -> Params:
        accepted, rejected = validate_updates(results, reference)
        if not accepted:
            reasons = "; ".join(rejected.values())
            raise ValueError(f"every update was rejected: {reasons}")
        return aggregate_fn(accepted, reference=reference)

    aggregate.__name__ = f"drop_malformed({getattr(aggregate_fn, '__name__', 'aggregate')})"
    return aggregate


def _stack(
    results: Results, reference: Sequence[np.ndarray] | None
) -> tuple[np.ndarray, list[np.ndarray]]:
    checked = validate_results(results, reference)
    like = checked[0][0]
    return np.stack([flatten(update) for update, _ in checked]), like


def coordinate_median(results: Results, reference: Sequence[np.ndarray] | None = None) -> Params:
    """Coordinate-wise median of the clients' updates (Yin et al., 2018).

    Each parameter is the median, over clients, of that parameter. It tolerates
    any minority of arbitrary updates: fewer than half of the clients can move no
    coordinate outside the range of the honest values. Introduced in :ref:`ch-robust`.

    Examples
    --------
    >>> import numpy as np
    >>> rs = [([np.array([1.0, 10.0])], 1), ([np.array([2.0, 20.0])], 1),
    ...       ([np.array([100.0, -5.0])], 1)]
    >>> coordinate_median(rs)[0]
    array([ 2., 10.])
    """
    stacked, like = _stack(results, reference)
    return unflatten(np.median(stacked, axis=0), like)


def trimmed_mean(
    results: Results, reference: Sequence[np.ndarray] | None = None, *, beta: float = 0.2
) -> Params:
    """Coordinate-wise trimmed mean (Yin et al., 2018).

    For each parameter, drop the ``k = floor(beta * m)`` largest and the ``k``
    smallest of the ``m`` client values and average the rest. It tolerates at most
    ``k`` arbitrary updates. Introduced in :ref:`ch-robust`.

    Raises
    ------
    ValueError
        If ``beta`` is not in ``[0, 0.5)`` or trimming would leave no value.
    """
    if not np.isfinite(beta) or not 0 <= beta < 0.5:
        raise ValueError(f"beta must lie in [0, 0.5), got {beta!r}")
    stacked, like = _stack(results, reference)
    m = stacked.shape[0]
    k = int(np.floor(beta * m))
    if m - 2 * k < 1:
        raise ValueError(f"trimming {k} values from each side of {m} clients leaves none")
    kept = np.sort(stacked, axis=0)[k : m - k]
    return unflatten(kept.mean(axis=0), like)


def krum_scores(vectors: np.ndarray, num_malicious: int) -> np.ndarray:
    """Krum score of each row: the sum of squared distances to its ``m - f - 2`` nearest rows.

    Introduced in :ref:`ch-robust`.
    """
    m = vectors.shape[0]
    if isinstance(num_malicious, bool) or not isinstance(num_malicious, int | np.integer):
        raise ValueError(f"num_malicious must be an integer, got {num_malicious!r}")
    if num_malicious < 0:
        raise ValueError(f"num_malicious must be non-negative, got {num_malicious}")
    if 2 * num_malicious + 2 >= m:
        raise ValueError(
            f"Krum needs 2f + 2 < n: with f = {num_malicious} malicious clients it needs "
            f"at least {2 * num_malicious + 3} clients, got {m}"
        )
    sq = np.sum(vectors**2, axis=1)
    dist = np.maximum(sq[:, None] + sq[None, :] - 2.0 * vectors @ vectors.T, 0.0)
    np.fill_diagonal(dist, np.inf)
    nearest = np.sort(dist, axis=1)[:, : m - num_malicious - 2]
    return np.asarray(nearest.sum(axis=1))


def krum(
    results: Results,
    reference: Sequence[np.ndarray] | None = None,
    *,
    num_malicious: int,
    num_selected: int = 1,
) -> Params:
    """Krum (Blanchard et al., 2017): keep the update closest to its neighbours.

    Scores every update by the sum of squared distances to its ``n - f - 2``
    nearest other updates and returns the best one (``num_selected = 1``) or the
    average of the ``num_selected`` best (Multi-Krum). Requires ``2f + 2 < n``.
    Ties go to the lowest client index. Introduced in :ref:`ch-robust`.

    Raises
    ------
    ValueError
        If ``2 * num_malicious + 2 >= n``, ``num_malicious`` is negative, or
        ``num_selected`` is not between 1 and ``n``.
    """
    stacked, like = _stack(results, reference)
    m = stacked.shape[0]
    if not 1 <= num_selected <= m:
        raise ValueError(f"num_selected must lie between 1 and {m}, got {num_selected}")
    scores = krum_scores(stacked, num_malicious)
    best = np.argsort(scores, kind="stable")[:num_selected]
    return unflatten(stacked[best].mean(axis=0), like)


def norm_clipped_mean(
    results: Results, reference: Sequence[np.ndarray] | None = None, *, clipping_norm: float
) -> Params:
    """Clip every update to L2 norm ``clipping_norm``, then take the plain mean.

    Bounds how far any one hospital can move the model (by ``clipping_norm / m``)
    without discarding anyone. Introduced in :ref:`ch-robust`.
    """
    checked = validate_results(results, reference)
    clipped = [flatten(clip_update(update, clipping_norm)) for update, _ in checked]
    return unflatten(np.mean(clipped, axis=0), checked[0][0])
