"""A client's side of a round: local SGD (FedAvg, FedProx) and the numpy client function.

One job: what one hospital does with the global model it receives. :func:`local_sgd`
runs ``local_epochs`` epochs of minibatch SGD on the client's own data (batch size
``batch_size``; ``None`` means full-batch gradient descent), optionally with FedProx's
proximal term ``mu/2 ||theta - theta_global||^2`` (Li et al., MLSys 2020), and
:func:`numpy_client_fn` wraps it into the client function that
:func:`fedmed_lib.simulation.run_simulation` calls (update ``theta_local - theta`` and
``num_examples``, as in McMahan et al., AISTATS 2017). The checks of a model, of a
received ``theta`` and of the training settings live here too, shared with
:mod:`fedmed_lib.scaffold`. The server's side (sampling, aggregation, the server step)
is :mod:`fedmed_lib.algorithms`. Introduced in :ref:`ch-fedavg`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_client_call,
    check_nonnegative,
    check_optional_int,
    check_positive,
    check_positive_int,
    check_real_array,
    check_rng,
    client_label,
)
from fedmed_lib._validate_data import check_clients, check_labels, check_xy
from fedmed_lib.models import Model
from fedmed_lib.types import Array, ClientFn, Params


def _who(client: int | str | None) -> str:
    return f"{client_label(client)}: " if client is not None else ""


def _check_model(model: object) -> Model:
    if not isinstance(model, Model):
        raise InputTypeError(
            "model must be a fedmed_lib.models.Model (LINEAR, LOGISTIC or SOFTMAX), "
            f"got {_describe(model)}"
        )
    return model


def _check_theta(theta: object, X: np.ndarray, model: Model, client: int | str | None) -> Array:
    t = check_real_array(theta, name=f"{_who(client)}theta")
    want = 2 if model.name == "softmax" else 1
    if t.ndim != want or t.shape[0] != X.shape[1]:
        shape = f"({X.shape[1]}, n_classes)" if want == 2 else f"({X.shape[1]},)"
        raise ValueError(
            f"{_who(client)}theta has shape {t.shape}, but X has {X.shape[1]} columns: "
            f"the {model.name} model needs theta of shape {shape}"
        )
    return t


def _sgd(
    theta: Array,
    X: Array,
    y: Array,
    *,
    model: Model,
    lr: float,
    local_epochs: int,
    batch_size: int | None,
    rng: np.random.Generator | None,
    mu: float,
    l2: float,
    max_steps: int | None,
) -> tuple[Array, int]:
    """Run the loop of :func:`local_sgd` on inputs that are already checked.

    The steps use the model's unchecked gradient (:attr:`Model.unchecked_grad`, the
    same numbers without the per-call checks): the data were checked once, here.
    """
    grad = getattr(model, "unchecked_grad", model.grad)
    w = theta.copy()
    n = X.shape[0]
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
            g = grad(w, X[idx], y[idx], l2=l2)
            if mu:
                g = g + mu * (w - theta)
            w = w - lr * g
            steps += 1
    return w, steps


def _check_shuffler(rng: object) -> np.random.Generator:
    """Check ``rng`` for :func:`local_sgd`: a Generator, or any object with ``permutation``."""
    if isinstance(rng, np.random.Generator) or callable(getattr(rng, "permutation", None)):
        return rng  # type: ignore[return-value]
    return check_rng(rng)  # raises, naming rng


def _check_settings(
    *,
    lr: object,
    local_epochs: object,
    batch_size: object,
    rng: object,
    mu: object,
    l2: object,
    max_steps: object = None,
) -> tuple[float, int, int | None, np.random.Generator | None, float, float, int | None]:
    lr_ = check_positive(lr, name="lr")
    epochs = check_positive_int(local_epochs, name="local_epochs")
    batch = check_optional_int(batch_size, name="batch_size", minimum=1)
    gen = None if rng is None else _check_shuffler(rng)
    mu_ = check_nonnegative(mu, name="mu (the FedProx proximal coefficient)")
    l2_ = check_nonnegative(l2, name="l2")
    steps = check_optional_int(max_steps, name="max_steps", minimum=0)
    return lr_, epochs, batch, gen, mu_, l2_, steps


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
    client: int | str | None = None,
) -> tuple[Array, int]:
    """Run minibatch SGD on one client's data, starting from ``theta``.

    Introduced in :ref:`ch-fedavg`.

    Parameters
    ----------
    theta
        The global model received from the server (not modified).
    X, y
        This client's data (``X`` includes the intercept column; ``y`` is 1-D).
    model
        The loss and gradient to use.
    lr
        Client learning rate (positive).
    local_epochs
        Number of passes over the local data (``E``), an integer ``>= 1``.
    batch_size
        Minibatch size ``B`` (an integer ``>= 1``); ``None`` means full-batch
        gradient descent.
    rng
        Shuffles the data each epoch; required when ``batch_size`` is set. A
        ``numpy.random.Generator``, or any object with a ``permutation(n)`` method
        (a test can replay given orders).
    mu
        FedProx proximal coefficient; ``0`` gives FedAvg.
    l2
        L2 penalty passed to the model's gradient.
    max_steps
        Stop after this many steps (a straggler that runs out of time).
    client
        The client's id, used in error messages.

    Returns
    -------
    theta, num_steps
        The locally trained parameters and the number of SGD steps taken.

    Raises
    ------
    ValueError
        If the data or ``theta`` are malformed (NaN/Inf, no rows, ``y`` of the wrong
        length or shape, labels that do not suit the model, ``theta`` of the wrong
        shape; the message names ``client``), or a setting is out of range.
    InputTypeError
        If a setting has the wrong type (``local_epochs=1.5``, ``lr=None``,
        ``batch_size=True``, ...), naming the parameter.
    """
    m = _check_model(model)
    X_, y_ = check_xy(X, y, client=client if client is not None else "data")
    theta_ = _check_theta(theta, X_, m, client)
    check_labels(m, y_, theta_, client=client if client is not None else "data")
    lr_, epochs, batch, gen, mu_, l2_, steps = _check_settings(
        lr=lr, local_epochs=local_epochs, batch_size=batch_size, rng=rng, mu=mu, l2=l2,
        max_steps=max_steps,
    )
    if batch is not None and gen is None:
        raise ValueError("rng is required to shuffle minibatches when batch_size is set")
    return _sgd(
        theta_, X_, y_, model=m, lr=lr_, local_epochs=epochs, batch_size=batch, rng=gen,
        mu=mu_, l2=l2_, max_steps=steps,
    )


def _open_client_round(
    cid: object,
    params: object,
    server_round: object,
    rng: object,
    *,
    data: Sequence[tuple[np.ndarray, np.ndarray]],
    model: Model,
    expected: str,
    num_arrays: int = 1,
) -> tuple[int, str, np.random.Generator, Params, np.ndarray, np.ndarray, np.ndarray]:
    """Start a numpy client's round: check the call, the arrays received and the labels.

    Shared by :func:`numpy_client_fn` and :func:`fedmed_lib.scaffold.scaffold_client_fn`.
    ``params[0]`` is the global ``theta`` (checked against the client's ``X``); a client
    that expects ``num_arrays`` arrays says so with ``expected`` when it gets another
    number. Introduced in :ref:`ch-fedavg`.

    Returns
    -------
    tuple
        ``(k, who, gen, received, X, y, theta)``: the client's index, its name for
        messages, its generator, the arrays received, its data and the checked theta.

    Raises
    ------
    ValueError
        Naming the client: unknown client id, the wrong number of arrays, a theta that
        does not fit ``X`` or is not finite, labels that do not suit the model.
    """
    k, who, gen, received = check_client_call(
        cid, params, server_round, rng, num_clients=len(data)
    )
    if len(received) != num_arrays:
        raise ValueError(f"{who}: {expected}, got {len(received)} arrays")
    X, y = data[k]
    theta = _check_theta(received[0], X, model, k)
    if model.name == "softmax":
        check_labels(model, y, theta, client=k)
    return k, who, gen, received, X, y, theta


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
        One ``(X, y)`` data set per client (validated once, here, including the labels
        for the model: ``check_clients``).
    model, lr, local_epochs, batch_size, mu, l2
        As in :func:`local_sgd` (checked here).

    Returns
    -------
    ClientFn
        The client training function for :func:`fedmed_lib.simulation.run_simulation`;
        it raises ``ValueError`` for an unknown client id, and for received params
        that are not ``[theta]`` of the right shape and finite (naming the client).
    """
    m = _check_model(model)
    data = check_clients(clients, model=m)
    lr_, epochs, batch, _, mu_, l2_, _ = _check_settings(
        lr=lr, local_epochs=local_epochs, batch_size=batch_size, rng=None, mu=mu, l2=l2,
    )

    def fit(
        cid: int, params: Params, server_round: int, rng: np.random.Generator
    ) -> tuple[Params, int]:
        k, _, gen, _, X, y, theta = _open_client_round(
            cid, params, server_round, rng, data=data, model=m,
            expected="a numpy model has one parameter array [theta]",
        )
        new, _ = _sgd(
            theta, X, y, model=m, lr=lr_, local_epochs=epochs, batch_size=batch, rng=gen,
            mu=mu_, l2=l2_, max_steps=None,
        )
        return [new - theta], X.shape[0]

    return fit
