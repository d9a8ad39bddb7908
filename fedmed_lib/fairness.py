"""Fair federated learning: q-FFL and its q-FedAvg solver.

q-FFL (Li, Sanjabi, Beirami and Smith, "Fair Resource Allocation in Federated
Learning", ICLR 2020) replaces the FedAvg objective ``sum_k p_k F_k(theta)`` by

    f_q(theta) = sum_k p_k F_k(theta)^(q+1) / (q + 1),

which, for ``q > 0``, gives the clients with a high loss ``F_k`` more weight
(``q = 0`` is FedAvg's objective; ``q -> inf`` approaches the worst-client objective of
Agnostic Federated Learning, Mohri, Sivek and Suresh, ICML 2019). Its solver q-FedAvg
(the paper's Algorithm 2, as in the authors' code) treats a client's model change as
a gradient estimate ``Delta w_k = L (theta - theta_k)`` with ``L = 1 / lr`` and steps

    theta <- theta - sum_k p_k F_k^q Delta w_k / sum_k p_k (q F_k^(q-1) ||Delta w_k||^2 + L F_k^q),

``F_k`` being client ``k``'s training loss at the global model ``theta``. The paper
samples clients with probability ``p_k`` and averages uniformly; with every client
taking part we weight by ``p_k = n_k / n`` instead, so that ``q = 0`` gives exactly
FedAvg's weighted average. Introduced in :ref:`ch-evaluation`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib._validate import (
    check_callable,
    check_fraction,
    check_list,
    check_nonnegative,
    check_number,
    check_params,
    check_positive,
    check_positive_int,
    check_real_array,
    client_label,
)
from fedmed_lib.aggregate import validate_results
from fedmed_lib.algorithms import FedAvg
from fedmed_lib.types import Metrics, Params, Results

__all__ = ["QFedAvg", "qffl_objective", "qffl_step"]

ClientLossFn = Callable[[int | str, Params], float]
"""``f(cid, params) -> F_k``: client ``cid``'s training loss at the global model."""


def _check_loss(value: object, *, client: int | str) -> float:
    f = check_number(value, name=f"{client_label(client)}: loss")
    if f <= 0:
        raise ValueError(
            f"{client_label(client)}: loss must be positive for q-FFL (F_k^q), got {value!r}"
        )
    return f


def qffl_objective(losses: Sequence[float], weights: Sequence[float], q: float) -> float:
    """Return ``sum_k p_k F_k^(q+1) / (q + 1)`` with ``p_k = weights_k / sum weights``.

    Introduced in :ref:`ch-evaluation`.

    Raises
    ------
    ValueError
        If the lists differ in length or are empty, a loss is not positive, a weight
        is negative (or all are 0), or ``q < 0``.
    """
    qq = check_nonnegative(q, name="q")
    f = check_real_array(losses, name="losses", ndim=1)
    w = check_real_array(weights, name="weights", ndim=1)
    if f.size == 0 or f.size != w.size:
        raise ValueError(f"losses ({f.size}) and weights ({w.size}) need one entry per client")
    for k, v in enumerate(f):
        _check_loss(v, client=k)
    if (w < 0).any() or w.sum() == 0:
        raise ValueError("weights must be >= 0 and not all 0")
    return float((w / w.sum()) @ f ** (qq + 1) / (qq + 1))


def qffl_step(
    current: Sequence[np.ndarray],
    results: Results,
    losses: Sequence[float],
    *,
    q: float,
    lr: float,
    weighted: bool = True,
) -> tuple[Params, float]:
    """One q-FedAvg server step from the clients' model changes and losses.

    Introduced in :ref:`ch-evaluation`.

    Parameters
    ----------
    current
        The global model ``theta`` the clients started from.
    results
        One ``(update, num_examples)`` pair or FitResult per client; ``update`` is the
        model change ``theta_k - theta`` (the book's client contract).
    losses
        ``F_k(theta)``, each client's training loss at ``current`` (positive), in the
        order of ``results``.
    q
        Fairness parameter ``q >= 0``; ``q = 0`` with ``weighted=True`` is FedAvg.
    lr
        The clients' local learning rate; ``L = 1 / lr``.
    weighted
        Weight client ``k`` by ``p_k = n_k / n`` (else ``1 / K``, the paper's
        uniform average over sampled clients).

    Returns
    -------
    (Params, float)
        The new global model and the denominator ``sum_k p_k h_k`` (the inverse step size).

    Raises
    ------
    ValueError
        If an update is malformed (naming the client), the number of losses differs
        from the number of results, a loss is not positive, ``q < 0`` or ``lr <= 0``.
    """
    qq = check_nonnegative(q, name="q")
    L = 1.0 / check_positive(lr, name="lr")
    reference = check_params(current, name="current")
    checked = validate_results(results, reference)
    check_list(losses, what="losses must be a list of numbers, one per result")
    if len(losses) != len(checked):
        raise ValueError(f"got {len(losses)} losses for {len(checked)} results")
    f = np.array([_check_loss(v, client=r.cid) for v, r in zip(losses, checked, strict=True)])
    n = np.array([r.num_examples for r in checked], dtype=np.float64)
    p = n / n.sum() if weighted else np.full(len(checked), 1.0 / len(checked))
    num = [np.zeros_like(a) for a in reference]
    den = 0.0
    for pk, fk, r in zip(p, f, checked, strict=True):
        dw = [-L * u for u in r.params]                       # L (theta - theta_k)
        sq = float(sum(np.sum(a * a) for a in dw))
        h = (qq * fk ** (qq - 1) * sq if qq > 0 else 0.0) + L * fk**qq
        for i, a in enumerate(dw):
            num[i] += pk * fk**qq * a
        den += pk * h
    return [c - a / den for c, a in zip(reference, num, strict=True)], den


class QFedAvg:
    """The q-FedAvg strategy of q-FFL, for :func:`fedmed_lib.simulation.run_simulation`.

    Introduced in :ref:`ch-evaluation`.

    Parameters
    ----------
    q
        Fairness parameter ``q >= 0`` (0 = FedAvg).
    lr
        The clients' local learning rate (the same as in their ``client_fn``).
    client_loss
        ``f(cid, params) -> F_k``: client ``cid``'s training loss at the global model,
        which in a deployment the client sends with its update (one number).
    weighted
        Weight clients by ``n_k`` (default) or equally.
    fraction_fit, min_fit_clients
        Client sampling, as in :class:`fedmed_lib.algorithms.FedAvg`.
    """

    def __init__(
        self,
        *,
        q: float,
        lr: float,
        client_loss: ClientLossFn,
        weighted: bool = True,
        fraction_fit: float = 1.0,
        min_fit_clients: int = 1,
    ) -> None:
        self.q = check_nonnegative(q, name="q")
        self.lr = check_positive(lr, name="lr")
        check_callable(client_loss, name="client_loss")
        self.client_loss = client_loss
        self.weighted = bool(weighted)
        self._sampler = FedAvg(
            fraction_fit=check_fraction(fraction_fit, name="fraction_fit"),
            min_fit_clients=check_positive_int(min_fit_clients, name="min_fit_clients"),
        )

    def configure_fit(
        self, server_round: int, num_clients: int, rng: np.random.Generator
    ) -> list[int]:
        """Sample the clients of this round (as FedAvg does)."""
        return self._sampler.configure_fit(server_round, num_clients, rng)

    def aggregate_fit(
        self, server_round: int, results: Results, current: Sequence[np.ndarray]
    ) -> tuple[Params, Metrics]:
        """Return the q-FedAvg step and the metrics (the clients' losses, the step's denominator).

        The global model ``current`` is never modified; bad input raises ``ValueError``
        naming the client.
        """
        check_positive_int(server_round, name="server_round")
        reference = check_params(current, name="current")
        checked = validate_results(results, reference)
        losses = [self.client_loss(r.cid, [a.copy() for a in reference]) for r in checked]
        new, den = qffl_step(reference, checked, losses, q=self.q, lr=self.lr,
                             weighted=self.weighted)
        metrics: Metrics = {
            "num_updates": len(checked),
            "client_losses": {r.cid: float(v) for r, v in zip(checked, losses, strict=True)},
            "qffl_denominator": den,
        }
        return new, metrics
