"""Federated optimisation: local training, FedSGD, FedAvg and FedProx.

FedSGD and FedAvg follow McMahan et al., "Communication-Efficient Learning of
Deep Networks from Decentralized Data", AISTATS 2017: each round the server
samples a fraction ``fraction_fit`` of the clients, each runs ``local_epochs``
epochs of minibatch SGD (batch size ``batch_size``; ``None`` means the full local
data set) from the global model, and the server replaces the model by the
average of the returned models weighted by ``num_examples``. FedSGD is the special
case of one full-batch step (``local_epochs=1, batch_size=None``). FedProx (Li et
al., MLSys 2020) adds the proximal term ``mu/2 ||theta - theta_global||^2`` to each
client's objective.

Strategies orchestrate and :mod:`fedmed_lib.aggregate` does the maths, as in
Flower: :meth:`FedAvg.aggregate_fit` has no arithmetic of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib._validate import (
    Params,
    check_fraction,
    check_params,
    check_positive,
    check_xy,
    client_label,
)
from fedmed_lib.aggregate import add, weighted_average
from fedmed_lib.models import Array, Model

AggregateFn = Callable[..., Params]


def check_clients(
    clients: Sequence[tuple[np.ndarray, np.ndarray]],
) -> list[tuple[Array, Array]]:
    """Validate a list of ``(X, y)`` client data sets (non-empty, same width, finite).

    Introduced in :ref:`ch-fedsgd`.

    Raises
    ------
    ValueError
        If the list is empty or a client's data is empty, not 2-D, has mismatched
        rows, a different number of columns, or NaN/Inf (the message names the client).
    """
    if len(clients) == 0:
        raise ValueError("no clients: the list of client data sets is empty")
    out = []
    width = None
    for k, item in enumerate(clients):
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(f"{client_label(k)}: expected an (X, y) pair")
        X, y = check_xy(item[0], item[1], client=k)
        if width is None:
            width = X.shape[1]
        elif X.shape[1] != width:
            raise ValueError(
                f"{client_label(k)}: X has {X.shape[1]} columns, client 0 has {width}"
            )
        out.append((X, y))
    return out


def local_sgd(
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    model: Model,
    lr: float,
    local_epochs: int = 1,
    batch_size: int | None = None,
    rng: np.random.Generator | None = None,
    mu: float = 0.0,
    l2: float = 0.0,
    max_steps: int | None = None,
) -> tuple[Array, int]:
    """Run minibatch SGD on one client's data, starting from ``theta``.

    Introduced in :ref:`ch-fedavg`.

    Parameters
    ----------
    theta
        The global model received from the server (not modified).
    X, y
        This client's data (``X`` includes the intercept column).
    model
        The loss and gradient to use.
    lr
        Client learning rate (positive).
    local_epochs
        Number of passes over the local data (``E``).
    batch_size
        Minibatch size ``B``; ``None`` means full-batch gradient descent.
    rng
        Shuffles the data each epoch; required when ``batch_size`` is set.
    mu
        FedProx proximal coefficient; ``0`` gives FedAvg.
    l2
        L2 penalty passed to the model's gradient.
    max_steps
        Stop after this many steps (a straggler that runs out of time).

    Returns
    -------
    theta, num_steps
        The locally trained parameters and the number of SGD steps taken.
    """
    check_positive(lr, name="lr")
    if local_epochs < 1:
        raise ValueError(f"local_epochs must be at least 1, got {local_epochs}")
    if not np.isfinite(mu) or mu < 0:
        raise ValueError(f"mu (the FedProx proximal coefficient) must be >= 0, got {mu!r}")
    theta_global = np.asarray(theta, dtype=np.float64)
    w = theta_global.copy()
    n = X.shape[0]
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size}")
    if batch_size is not None and rng is None:
        raise ValueError("rng is required to shuffle minibatches when batch_size is set")
    steps = 0
    for _ in range(local_epochs):
        if batch_size is None:
            batches = [np.arange(n)]
        else:
            assert rng is not None
            order = rng.permutation(n)
            batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        for idx in batches:
            if max_steps is not None and steps >= max_steps:
                return w, steps
            g = model.grad(w, X[idx], y[idx], l2=l2)
            if mu:
                g = g + mu * (w - theta_global)
            w = w - lr * g
            steps += 1
    return w, steps


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
        ``f(results, reference) -> Params`` over ``(update, num_examples)`` pairs;
        defaults to :func:`fedmed_lib.aggregate.weighted_average`.
    min_fit_clients
        Never sample fewer clients than this.
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
        if min_fit_clients < 1:
            raise ValueError(f"min_fit_clients must be at least 1, got {min_fit_clients}")
        self.aggregate_fn = aggregate_fn
        self.min_fit_clients = min_fit_clients

    def configure_fit(
        self, server_round: int, num_clients: int, rng: np.random.Generator
    ) -> list[int]:
        """Sample the clients that train in this round (sorted indices)."""
        m = max(self.min_fit_clients, int(round(self.fraction_fit * num_clients)))
        m = min(m, num_clients)
        if m == num_clients:
            return list(range(num_clients))
        return sorted(int(i) for i in rng.choice(num_clients, size=m, replace=False))

    def aggregate_fit(
        self,
        server_round: int,
        results: Sequence[tuple[Sequence[np.ndarray], int]],
        current: Sequence[np.ndarray],
    ) -> Params:
        """Return the new global model from the clients' updates (model deltas).

        The global model ``current`` is never modified: on bad input a
        ``ValueError`` is raised and the caller keeps ``current``.
        """
        delta = self.aggregate_fn(results, reference=current)
        return add(current, delta, self.server_lr)


ClientFn = Callable[[int, Params, int, np.random.Generator], tuple[Params, int]]


def numpy_client_fn(
    clients: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    model: Model,
    lr: float,
    local_epochs: int = 1,
    batch_size: int | None = None,
    mu: float = 0.0,
    l2: float = 0.0,
) -> ClientFn:
    """Build the client training function of a numpy model (local SGD on its own data).

    The returned function maps ``(client_id, params, server_round, rng)`` to the
    client's update ``(theta_local - theta_global)`` and its ``num_examples``.
    Introduced in :ref:`ch-fedavg`.

    Parameters
    ----------
    clients
        One ``(X, y)`` data set per client (validated once, here).
    model, lr, local_epochs, batch_size, mu, l2
        As in :func:`local_sgd`.

    Returns
    -------
    ClientFn
        The client training function for :func:`fedmed_lib.simulation.run_simulation`;
        it raises ``ValueError`` for an unknown client id.
    """
    data = check_clients(clients)

    def fit(
        cid: int, params: Params, server_round: int, rng: np.random.Generator
    ) -> tuple[Params, int]:
        if not 0 <= cid < len(data):
            raise ValueError(f"{client_label(cid)} does not exist: clients are 0..{len(data) - 1}")
        X, y = data[cid]
        theta = params[0]
        new, _ = local_sgd(
            theta, X, y, model=model, lr=lr, local_epochs=local_epochs,
            batch_size=batch_size, rng=rng, mu=mu, l2=l2,
        )
        return [new - theta], X.shape[0]

    return fit


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
        If ``theta`` contains NaN/Inf, ``lr`` is not positive, or a client's data is
        malformed (the message names the client).
    """
    data = check_clients(clients)
    theta = check_params([theta], name="theta")[0]
    check_positive(lr, name="lr")
    results = [([model.grad(theta, X, y)], X.shape[0]) for X, y in data]
    g = aggregate_fn(results, reference=[theta])[0]
    return np.asarray(theta - lr * g)


def fedavg_round(
    theta: np.ndarray,
    clients: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    model: Model,
    lr: float,
    local_epochs: int = 1,
    batch_size: int | None = None,
    rng: np.random.Generator | None = None,
    mu: float = 0.0,
) -> Array:
    """One FedAvg round with every client: local SGD, then the weighted model average.

    Introduced in :ref:`ch-fedavg`. With ``local_epochs=1`` and ``batch_size=None`` it
    equals :func:`fedsgd_round`.

    Returns
    -------
    numpy.ndarray
        The new global model ``sum_k (n_k/n) theta_k``.
    """
    data = check_clients(clients)
    theta = np.asarray(theta, dtype=np.float64)
    results = []
    for X, y in data:
        new, _ = local_sgd(theta, X, y, model=model, lr=lr, local_epochs=local_epochs,
                           batch_size=batch_size, rng=rng, mu=mu)
        results.append(([new], X.shape[0]))
    return weighted_average(results, reference=[theta])[0]


def initial_params(params: Sequence[np.ndarray]) -> Params:
    """Validate and copy a model's initial parameters. Introduced in :ref:`ch-fedavg`."""
    return check_params(params, name="initial parameters")
