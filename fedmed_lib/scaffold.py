"""SCAFFOLD: federated averaging with control variates against client drift.

Karimireddy, Kale, Mohri, Reddi, Stich and Suresh, "SCAFFOLD: Stochastic
Controlled Averaging for Federated Learning", ICML 2020. With non-IID data each
hospital's local steps pull the model towards *its own* optimum (client drift).
SCAFFOLD keeps a server control variate ``c`` (an estimate of the global
gradient) and one control variate ``c_k`` per client (an estimate of client
``k``'s gradient) and corrects every local step:

    theta <- theta - lr * (grad J_k(theta) - c_k + c)

After ``K`` local steps the client refreshes its variate with the paper's
"option II", ``c_k+ = c_k - c + (theta_global - theta_local) / (K lr)``, and sends
the model update and ``c_k+ - c_k``. The server averages the model updates with
weights ``n_k / n`` (as FedAvg) and moves ``c`` by the weighted average of the
variate updates times the sampled fraction ``|S| / N``.

To fit :func:`fedmed_lib.simulation.run_simulation` unchanged, the global
parameters are the pair ``[theta, c]`` (see :func:`scaffold_initial_params`), the
clients' variates live in the client function (:func:`scaffold_client_fn`), and
the strategy (:class:`Scaffold`) aggregates both halves. Introduced in
:ref:`ch-non-iid`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedmed_lib._validate import Params, check_params, check_positive
from fedmed_lib.aggregate import add, weighted_average
from fedmed_lib.algorithms import ClientFn, FedAvg, check_clients, local_sgd
from fedmed_lib.models import Array, Model


def scaffold_initial_params(theta: np.ndarray) -> Params:
    """Return SCAFFOLD's initial global state ``[theta, c]`` with ``c = 0``.

    Introduced in :ref:`ch-non-iid`.

    Parameters
    ----------
    theta
        The initial model.

    Returns
    -------
    Params
        ``[theta, zeros_like(theta)]`` as float64 copies.

    Raises
    ------
    ValueError
        If ``theta`` is empty or contains NaN/Inf.
    """
    (t,) = check_params([theta], name="theta")
    if t.size == 0:
        raise ValueError("theta is empty: the model needs at least one parameter")
    return [t, np.zeros_like(t)]


def corrected_model(model: Model, correction: np.ndarray) -> Model:
    """Return ``model`` whose gradient is shifted by ``correction`` (``c - c_k``).

    Every local step of SCAFFOLD is a plain SGD step on this corrected
    gradient, so :func:`fedmed_lib.algorithms.local_sgd` does the loop.
    Introduced in :ref:`ch-non-iid`.
    """
    shift = np.asarray(correction, dtype=np.float64)

    def grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> Array:
        return np.asarray(model.grad(theta, X, y, l2=l2) + shift)

    return Model(model.name, model.loss, grad, model.predict)


def _check_variate(value: np.ndarray, theta: np.ndarray, *, name: str) -> Array:
    a = np.asarray(value, dtype=np.float64)
    if a.shape != theta.shape:
        raise ValueError(f"{name} has shape {a.shape}, the model has shape {theta.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or Inf")
    return a


def scaffold_local(
    theta: np.ndarray,
    c: np.ndarray,
    c_k: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    model: Model,
    lr: float,
    local_epochs: int = 1,
    batch_size: int | None = None,
    rng: np.random.Generator | None = None,
    max_steps: int | None = None,
) -> tuple[Array, Array, int]:
    """One client's SCAFFOLD round: corrected local SGD and the new control variate.

    Introduced in :ref:`ch-non-iid`.

    Parameters
    ----------
    theta
        Global model received from the server (not modified).
    c, c_k
        Server and client control variates (same shape as ``theta``).
    X, y
        The client's data.
    model, lr, local_epochs, batch_size, rng, max_steps
        As in :func:`fedmed_lib.algorithms.local_sgd`.

    Returns
    -------
    theta_local, c_k_new, num_steps
        The locally trained model, the client's refreshed control variate
        (option II of the paper) and the number of local steps ``K``.

    Raises
    ------
    ValueError
        If the control variates do not have the shape of ``theta`` or contain
        NaN/Inf, or if the client takes no step.
    """
    theta = np.asarray(theta, dtype=np.float64)
    c_arr = _check_variate(c, theta, name="server control variate c")
    c_k_arr = _check_variate(c_k, theta, name="client control variate c_k")
    check_positive(lr, name="lr")
    local, steps = local_sgd(
        theta, X, y, model=corrected_model(model, c_arr - c_k_arr), lr=lr,
        local_epochs=local_epochs, batch_size=batch_size, rng=rng, max_steps=max_steps,
    )
    if steps == 0:
        raise ValueError("the client took no local step (max_steps=0): nothing to send")
    c_k_new = c_k_arr - c_arr + (theta - local) / (steps * lr)
    return local, c_k_new, steps


def scaffold_client_fn(
    clients: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    model: Model,
    lr: float,
    local_epochs: int = 1,
    batch_size: int | None = None,
) -> ClientFn:
    """Build SCAFFOLD's client function for :func:`~fedmed_lib.simulation.run_simulation`.

    The function receives the global state ``[theta, c]`` and returns the update
    ``[theta_local - theta, c_k_new - c_k]`` with the client's ``num_examples``.
    Each client's control variate ``c_k`` starts at zero and is kept inside the
    returned function, so build a new one for every simulation. Introduced in
    :ref:`ch-non-iid`.

    Raises
    ------
    ValueError
        If the client data are malformed (naming the client), or the received
        state is not a ``[theta, c]`` pair of equal shapes.
    """
    data = check_clients(clients)
    check_positive(lr, name="lr")
    variates: dict[int, Array] = {}

    def fit(
        cid: int, params: Params, server_round: int, rng: np.random.Generator
    ) -> tuple[Params, int]:
        if len(params) != 2:
            raise ValueError(
                f"SCAFFOLD expects the global state [theta, c], got {len(params)} arrays; "
                "start from scaffold_initial_params(theta)"
            )
        theta, c = np.asarray(params[0], float), np.asarray(params[1], float)
        X, y = data[cid]
        c_k = variates.get(cid, np.zeros_like(theta))
        local, c_k_new, _ = scaffold_local(
            theta, c, c_k, X, y, model=model, lr=lr, local_epochs=local_epochs,
            batch_size=batch_size, rng=rng,
        )
        variates[cid] = c_k_new
        return [local - theta, c_k_new - c_k], X.shape[0]

    return fit


class Scaffold(FedAvg):
    """SCAFFOLD's server: FedAvg on the model, plus the control-variate update.

    The global parameters are ``[theta, c]``. Each round

    ``theta <- theta + server_lr * sum_k (n_k/n_S) delta_theta_k`` and
    ``c <- c + (|S|/N) * sum_k (n_k/n_S) delta_c_k``,

    where ``S`` is the set of sampled clients and ``N`` the number of clients.
    Introduced in :ref:`ch-non-iid`.

    Parameters
    ----------
    fraction_fit, server_lr, min_fit_clients
        As in :class:`fedmed_lib.algorithms.FedAvg`.
    """

    def __init__(
        self, *, fraction_fit: float = 1.0, server_lr: float = 1.0, min_fit_clients: int = 1
    ) -> None:
        super().__init__(
            fraction_fit=fraction_fit, server_lr=server_lr, min_fit_clients=min_fit_clients
        )
        self.num_clients: int | None = None

    def configure_fit(
        self, server_round: int, num_clients: int, rng: np.random.Generator
    ) -> list[int]:
        """Sample this round's clients and remember ``N`` for the variate update."""
        self.num_clients = num_clients
        return super().configure_fit(server_round, num_clients, rng)

    def aggregate_fit(
        self,
        server_round: int,
        results: Sequence[tuple[Sequence[np.ndarray], int]],
        current: Sequence[np.ndarray],
    ) -> Params:
        """Return the new state ``[theta, c]``; ``current`` is never modified.

        Raises
        ------
        ValueError
            If ``current`` is not a ``[theta, c]`` pair, or a client's update is
            malformed (naming the client).
        """
        if len(current) != 2 or np.shape(current[0]) != np.shape(current[1]):
            raise ValueError(
                "SCAFFOLD's global state must be [theta, c] with equal shapes; "
                "start from scaffold_initial_params(theta)"
            )
        delta_theta, delta_c = weighted_average(results, reference=current)
        n_all = self.num_clients if self.num_clients is not None else len(results)
        share = min(1.0, len(results) / n_all)
        theta = add([current[0]], [delta_theta], self.server_lr)[0]
        c = add([current[1]], [delta_c], share)[0]
        return [theta, c]
