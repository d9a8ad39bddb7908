"""SCAFFOLD: federated averaging with control variates against client drift.

Karimireddy, Kale, Mohri, Reddi, Stich and Suresh, "SCAFFOLD: Stochastic
Controlled Averaging for Federated Learning", ICML 2020. With non-IID data each
hospital's local steps pull the model towards *its own* optimum (client drift).
SCAFFOLD keeps a server control variate ``c`` (an estimate of the global
gradient) and one control variate ``c_k`` per client (an estimate of client
``k``'s gradient) and corrects every local step:

    theta <- theta - lr * (grad J_k(theta) - c_k + c)

After ``u`` local steps the client refreshes its variate with the paper's
"option II", ``c_k+ = c_k - c + (theta_global - theta_local) / (u lr)``, and sends
the model update and ``c_k+ - c_k``. The server averages the model updates with
weights ``n_k / n`` (as FedAvg) and moves ``c`` by the weighted average of the
variate updates times the sampled fraction ``|S| / K`` (``K`` clients in all).

To fit :func:`fedmed_lib.simulation.run_simulation` unchanged, the global
parameters are the pair ``[theta, c]`` (see :func:`scaffold_initial_params`), the
clients' variates live in the client function (:func:`scaffold_client_fn`), and
the strategy (:class:`Scaffold`) aggregates both halves. Introduced in
:ref:`ch-non-iid`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from fedmed_lib._validate import (
    check_fraction,
    check_params,
    check_positive,
    check_positive_int,
    check_real_array,
)
from fedmed_lib._validate_data import check_clients, check_labels, check_xy
from fedmed_lib.aggregate import weighted_average
from fedmed_lib.algorithms import FedAvg, server_step
from fedmed_lib.local_training import (
    _check_model,
    _check_settings,
    _check_theta,
    _open_client_round,
    _sgd,
)
from fedmed_lib.models import Model
from fedmed_lib.types import Array, ClientFn, Metrics, Params, Results


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
        If ``theta`` is empty, not a real array, or contains NaN/Inf.
    """
    (t,) = check_params([theta], name="theta")
    if t.size == 0:
        raise ValueError("theta is empty: the model needs at least one parameter")
    return [t, np.zeros_like(t)]


def corrected_model(model: Model, correction: np.ndarray) -> Model:
    """Return ``model`` whose gradient is shifted by ``correction`` (``c - c_k``).

    Every local step of SCAFFOLD is a plain SGD step on this corrected
    gradient, so :func:`fedmed_lib.local_training.local_sgd` does the loop.
    Introduced in :ref:`ch-non-iid`.

    Raises
    ------
    ValueError
        If ``correction`` is not a finite real array.
    """
    return _corrected(_check_model(model), check_real_array(correction, name="correction"),
                      model_grad=None)


def _corrected(model: Model, shift: Array, *, model_grad: object) -> Model:
    base = model.grad if model_grad is None else model_grad

    def grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> Array:
        return np.asarray(base(theta, X, y, l2=l2) + shift)  # type: ignore[operator]

    return dataclasses.replace(model, grad=grad)  # keeps the name, loss, predict and flags


def _check_variate(value: object, theta: np.ndarray, *, name: str) -> Array:
    a = check_real_array(value, name=name)
    if a.shape != theta.shape:
        raise ValueError(f"{name} has shape {a.shape}, the model has shape {theta.shape}")
    return a


def _scaffold_step(
    theta: Array,
    c: Array,
    c_k: Array,
    X: Array,
    y: Array,
    *,
    model: Model,
    lr: float,
    local_epochs: int,
    batch_size: int | None,
    rng: np.random.Generator | None,
    max_steps: int | None,
    who: str,
) -> tuple[Array, Array, int]:
    corrected = _corrected(  # the data are checked: steps use the unchecked gradient
        model, c - c_k, model_grad=getattr(model, "unchecked_grad", model.grad)
    )
    local, steps = _sgd(
        theta, X, y, model=corrected, lr=lr, local_epochs=local_epochs,
        batch_size=batch_size, rng=rng, mu=0.0, l2=0.0, max_steps=max_steps,
    )
    if steps == 0:
        raise ValueError(f"{who}the client took no local step (max_steps=0): nothing to send")
    c_k_new = c_k - c + (theta - local) / (steps * lr)
    return local, c_k_new, steps


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
        As in :func:`fedmed_lib.local_training.local_sgd`.

    Returns
    -------
    theta_local, c_k_new, num_steps
        The locally trained model, the client's refreshed control variate
        (option II of the paper) and the number of local steps ``u``.

    Raises
    ------
    ValueError
        If the data, ``theta`` or the control variates are malformed (shapes, NaN/Inf,
        labels that do not suit the model), a setting is out of range, or the client
        takes no step.
    """
    m = _check_model(model)
    X_, y_ = check_xy(X, y)
    t = _check_theta(theta, X_, m, None)
    check_labels(m, y_, t)
    c_arr = _check_variate(c, t, name="server control variate c")
    c_k_arr = _check_variate(c_k, t, name="client control variate c_k")
    lr_, epochs, batch, gen, _, _, steps = _check_settings(
        lr=lr, local_epochs=local_epochs, batch_size=batch_size, rng=rng, mu=0.0, l2=0.0,
        max_steps=max_steps,
    )
    if batch is not None and gen is None:
        raise ValueError("rng is required to shuffle minibatches when batch_size is set")
    return _scaffold_step(
        t, c_arr, c_k_arr, X_, y_, model=m, lr=lr_, local_epochs=epochs, batch_size=batch,
        rng=gen, max_steps=steps, who="",
    )


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
        If the client data are malformed (naming the client), a setting is out of
        range, or the received state is not a ``[theta, c]`` pair of equal shapes
        (naming the client), or the client id is unknown.
    """
    m = _check_model(model)
    data = check_clients(clients, model=m)
    lr_, epochs, batch, _, _, _, _ = _check_settings(
        lr=lr, local_epochs=local_epochs, batch_size=batch_size, rng=None, mu=0.0, l2=0.0,
    )
    variates: dict[int, Array] = {}

    def fit(
        cid: int, params: Params, server_round: int, rng: np.random.Generator
    ) -> tuple[Params, int]:
        k, who, gen, state, X, y, theta = _open_client_round(
            cid, params, server_round, rng, data=data, model=m, num_arrays=2,
            expected="SCAFFOLD expects the global state [theta, c] "
            "(start from scaffold_initial_params(theta))",
        )
        c = _check_variate(state[1], theta, name=f"{who}: server control variate c")
        c_k = variates.get(k, np.zeros_like(theta))
        local, c_k_new, _ = _scaffold_step(
            theta, c, c_k, X, y, model=m, lr=lr_, local_epochs=epochs, batch_size=batch,
            rng=gen, max_steps=None, who=f"{who}: ",
        )
        variates[k] = c_k_new
        return [local - theta, c_k_new - c_k], X.shape[0]

    return fit


class Scaffold(FedAvg):
    """SCAFFOLD's server: FedAvg on the model, plus the control-variate update.

    The global parameters are ``[theta, c]``. Each round

    ``theta <- theta + server_lr * sum_k (n_k/n_S) delta_theta_k`` and
    ``c <- c + (|S|/K) * sum_k (n_k/n_S) delta_c_k``,

    where ``S`` is the set of sampled clients and ``K`` the number of clients.
    Like :class:`~fedmed_lib.algorithms.FedAvg` it averages model *changes* (Flower
    averages models) and ``aggregate_fit`` returns ``(parameters, metrics)``.
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
            fraction_fit=check_fraction(fraction_fit, name="fraction_fit"),
            server_lr=check_positive(server_lr, name="server_lr"),
            min_fit_clients=check_positive_int(min_fit_clients, name="min_fit_clients"),
        )
        self.num_clients: int | None = None

    def configure_fit(
        self, server_round: int, num_clients: int, rng: np.random.Generator
    ) -> list[int]:
        """Sample this round's clients and remember ``K`` for the variate update."""
        chosen = super().configure_fit(server_round, num_clients, rng)
        self.num_clients = int(num_clients)
        return chosen

    def aggregate_fit(
        self,
        server_round: int,
        results: Results,
        current: Sequence[np.ndarray],
    ) -> tuple[Params, Metrics]:
        """Return the new state ``[theta, c]`` and the metrics; ``current`` is never modified.

        Raises
        ------
        ValueError
            If ``current`` is not a ``[theta, c]`` pair, a client's update is
            malformed (naming the client by its id), or the new state is not finite.
        """
        check_positive_int(server_round, name="server_round")
        state = check_params(current, name="current")
        if len(state) != 2 or state[0].shape != state[1].shape:
            raise ValueError(
                "SCAFFOLD's global state must be [theta, c] with equal shapes; "
                "start from scaffold_initial_params(theta)"
            )
        delta_theta, delta_c = weighted_average(results, reference=state)
        n_all = self.num_clients if self.num_clients is not None else len(results)
        share = min(1.0, len(results) / n_all)
        theta = server_step([state[0]], [delta_theta], self.server_lr)[0]
        c = server_step([state[1]], [delta_c], share)[0]
        return [theta, c], {"num_updates": len(results)}
