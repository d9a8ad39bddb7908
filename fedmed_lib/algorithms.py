"""Federated optimisation, the server's side: FedAvg (FedSGD, FedProx) rounds and the server step.

One job: what the server does each round. FedSGD and FedAvg follow McMahan et al.,
"Communication-Efficient Learning of Deep Networks from Decentralized Data",
AISTATS 2017: each round the server samples a fraction ``fraction_fit`` of the
clients, each runs ``local_epochs`` epochs of minibatch SGD (batch size
``batch_size``; ``None`` means the full local data set) from the global model, and
the server replaces the model by the average of the returned models weighted by
``num_examples``. FedSGD is the special case of one full-batch step
(``local_epochs=1, batch_size=None``). FedProx (Li et al., MLSys 2020) adds the
proximal term ``mu/2 ||theta - theta_global||^2`` to each client's objective.

The clients' side (:func:`~fedmed_lib.local_training.local_sgd` and
:func:`~fedmed_lib.local_training.numpy_client_fn`) is defined in
:mod:`fedmed_lib.local_training` and importable from here. Strategies orchestrate
and :mod:`fedmed_lib.aggregate` does the maths, as in Flower:
:meth:`FedAvg.aggregate_fit` has no arithmetic of its own. Introduced in
:ref:`ch-fedavg`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_callable,
    check_fraction,
    check_number,
    check_params,
    check_positive,
    check_positive_int,
    check_real_array,
    check_rng,
)
from fedmed_lib._validate_data import check_clients, check_labels
from fedmed_lib.aggregate import rule_metrics, weighted_average
from fedmed_lib.local_training import _check_model, _check_theta
from fedmed_lib.local_training import local_sgd as local_sgd
from fedmed_lib.local_training import numpy_client_fn as numpy_client_fn
from fedmed_lib.models import Model
from fedmed_lib.param_math import add_checked
from fedmed_lib.types import AggregateFn, Array, Metrics, Params, Results

__all__ = [  # check_clients, check_labels (fedmed_lib._validate_data), local_sgd and
    # numpy_client_fn (fedmed_lib.local_training) are re-exported here
    "FedAvg",
    "check_clients",
    "check_labels",
    "fedsgd_round",
    "local_sgd",
    "numpy_client_fn",
    "server_step",
]


class FedAvg:
    """Federated averaging strategy (FedSGD when clients take one full-batch step).

    Introduced in :ref:`ch-fedavg`.

    Parameters
    ----------
    fraction_fit
        Fraction ``C`` of the clients sampled each round, in (0, 1].
    server_lr
        Server learning rate applied to the averaged update (1 = model averaging).
    aggregate_fn
        ``f(results, reference) -> Params`` over the clients' ``(update,
        num_examples)`` pairs or :class:`~fedmed_lib.types.FitResult` objects;
        defaults to :func:`fedmed_lib.aggregate.weighted_average`.
    min_fit_clients
        Never sample fewer clients than this (an integer ``>= 1``).

    Notes
    -----
    The book's clients send model *changes* (``theta_local - theta``) and
    ``aggregate_fit`` adds ``server_lr`` times their average to the global
    model; Flower's ``FedAvg`` averages the clients' *models*. With ``server_lr = 1``
    and a weighted average the two give the same model.
    """

    def __init__(
        self,
        *,
        fraction_fit: float = 1.0,
        server_lr: float = 1.0,
        aggregate_fn: AggregateFn = weighted_average,
        min_fit_clients: int = 1,
    ) -> None:
        self.fraction_fit = check_fraction(fraction_fit, name="fraction_fit")
        self.server_lr = check_positive(server_lr, name="server_lr")
        check_callable(aggregate_fn, name="aggregate_fn")
        self.aggregate_fn = aggregate_fn
        self.min_fit_clients = check_positive_int(min_fit_clients, name="min_fit_clients")

    def configure_fit(
        self, server_round: int, num_clients: int, rng: np.random.Generator
    ) -> list[int]:
        """Sample the clients that train in this round (sorted indices)."""
        check_positive_int(server_round, name="server_round")
        n = check_positive_int(num_clients, name="num_clients")
        gen = check_rng(rng)
        m = max(self.min_fit_clients, int(round(self.fraction_fit * n)))
        m = min(m, n)
        if m == n:
            return list(range(n))
        return sorted(int(i) for i in gen.choice(n, size=m, replace=False))

    def aggregate_fit(
        self,
        server_round: int,
        results: Results,
        current: Sequence[np.ndarray],
    ) -> tuple[Params, Metrics]:
        """Return the new global model and the round's metrics, as Flower does.

        The clients' results are model *changes* (deltas): the new model is
        ``current + server_lr * aggregate_fn(results)`` (Flower's ``FedAvg`` averages
        the models themselves; see the class notes). The metrics are
        ``{"num_updates": len(results)}`` plus what the aggregation rule reports in
        :class:`~fedmed_lib.aggregate.AggregatedParams` (e.g. the clients dropped by
        :func:`~fedmed_lib.robust.drop_malformed` or selected by
        :func:`~fedmed_lib.robust.krum`).

        The global model ``current`` is never modified (neither its values nor the
        list or arrays themselves): on bad input a ``ValueError`` names the client or
        the problem and the caller keeps ``current``. A new model that is not finite
        (the server step overflowed) is refused the same way.
        """
        check_positive_int(server_round, name="server_round")
        reference = check_params(current, name="current")
        delta = self.aggregate_fn(results, reference=reference)
        metrics: Metrics = {"num_updates": len(results), **rule_metrics(delta)}
        return server_step(reference, delta, self.server_lr), metrics


def server_step(
    current: Sequence[np.ndarray], delta: Sequence[np.ndarray], server_lr: float
) -> Params:
    """Return ``current + server_lr * delta``, refusing a malformed or non-finite result.

    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If ``delta`` (what the aggregation rule returned) does not match the shapes of
        ``current`` or holds NaN/Inf, or the new model is not finite (it overflowed).
    """
    if delta is None or isinstance(delta, str | bytes | np.ndarray) or not isinstance(
        delta, Sequence
    ):
        raise InputTypeError(
            f"the aggregation rule must return a list of arrays, got {_describe(delta)}"
        )
    if len(delta) != len(current):
        raise ValueError(
            f"the aggregation rule returned {len(delta)} arrays, the global model has "
            f"{len(current)}"
        )
    checked = []
    for i, (d, c) in enumerate(zip(delta, current, strict=True)):
        a = check_real_array(d, name=f"the aggregated update's array {i}")
        checked.append(a)
        if a.shape != np.shape(c):
            raise ValueError(
                f"the aggregated update's array {i} has shape {a.shape}, the global model's "
                f"has {np.shape(c)}"
            )
    with np.errstate(over="ignore", invalid="ignore"):
        new = add_checked(current, checked, check_number(server_lr, name="server_lr"))
    for i, a in enumerate(new):
        if not np.all(np.isfinite(a)):
            raise ValueError(
                f"the new global model is not finite (array {i} overflowed to Inf or NaN "
                "in the server step current + server_lr * update); the global model is "
                "unchanged"
            )
    return new


def fedsgd_round(
    theta: np.ndarray,
    clients: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    model: Model,
    lr: float,
    aggregate_fn: AggregateFn = weighted_average,
) -> Array:
    """One FedSGD round: weighted average of client gradients, then one step.

    ``theta - lr * sum_k (n_k/n) grad J_k(theta)``, which equals one step of
    centralised full-batch gradient descent. Introduced in :ref:`ch-fedsgd`.

    Parameters
    ----------
    theta
        The global model broadcast by the server (not modified).
    clients
        One ``(X, y)`` data set per hospital.
    model
        The loss whose gradient each hospital computes.
    lr
        Server learning rate ``eta`` (positive).
    aggregate_fn
        How the server combines the ``(gradient, num_examples)`` pairs; the default
        :func:`fedmed_lib.aggregate.weighted_average` gives the gradient of the pooled
        loss, :func:`fedmed_lib.aggregate.unweighted_average` the biased rule.

    Returns
    -------
    numpy.ndarray
        The new global model.

    Raises
    ------
    ValueError
        If ``theta`` contains NaN/Inf or has the wrong shape, ``lr`` is not positive,
        or a client's data is malformed (the message names the client).
    """
    m = _check_model(model)
    data = check_clients(clients, model=m)
    theta = _check_theta(theta, data[0][0], m, None)
    if m.name == "softmax":
        for k, (_, y) in enumerate(data):
            check_labels(m, y, theta, client=k)
    lr_ = check_positive(lr, name="lr")
    check_callable(aggregate_fn, name="aggregate_fn")
    results = [([m.grad(theta, X, y)], X.shape[0]) for X, y in data]
    g = aggregate_fn(results, reference=[theta])[0]
    return np.asarray(theta - lr_ * g)
