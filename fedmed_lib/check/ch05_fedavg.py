"""Self-checks for :ref:`ch-fedavg`: a client's update and a FedAvg round.

The learner writes ``client_update(theta, X, y, grad, lr, local_epochs)``, which runs
``local_epochs`` full-batch gradient steps from the global model ``theta`` and returns
``(theta_local - theta, num_examples)``, and ``fedavg_round(theta, clients, grad, lr,
local_epochs)``, which returns the new global model ``theta + sum_k (n_k/n) delta_k``
(McMahan et al., 2017, Algorithm 1). The checks run them on small linear-regression
federations and recognise the usual mistakes (returning the model instead of the
update, a flipped sign, starting from zeros instead of the global model, a single
local step, an unweighted average, returning the averaged update) without printing
the expected values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib._validate import check_learner_fn
from fedmed_lib.check import Feedback, correct, wrong
from fedmed_lib.models import mse_grad

GradFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
Clients = list[tuple[np.ndarray, np.ndarray]]


def _federation(seed: int, sizes: Sequence[int]) -> Clients:
    rng = np.random.default_rng(seed)
    clients = []
    for k, n in enumerate(sizes):
        X = np.hstack([np.ones((n, 1)), rng.normal(loc=0.5 * k, size=(n, 2))])
        y = X @ np.array([1.0, -2.0 + k, 0.5 * k]) + 0.1 * rng.normal(size=n)
        clients.append((X, y))
    return clients


def _cases() -> list[tuple[np.ndarray, Clients, float, int]]:
    """``(theta, clients, lr, local_epochs)``: a non-zero start and unequal clients."""
    return [
        (np.array([0.5, -0.3, 0.8]), _federation(5, (4, 12, 30)), 0.05, 3),
        (np.array([-1.0, 0.2, 0.1]), _federation(6, (25, 5)), 0.1, 1),
        (np.array([0.3, 0.3, -0.6]), _federation(7, (8, 3, 17, 40)), 0.02, 5),
    ]


def _local(theta: np.ndarray, X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> np.ndarray:
    w = np.array(theta, dtype=np.float64)
    for _ in range(steps):
        w = w - lr * mse_grad(w, X, y)
    return w


def _close(a: object, b: np.ndarray) -> bool:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return arr.shape == b.shape and bool(np.allclose(arr, b, rtol=1e-7, atol=1e-10))


def check_client_update(fn: Callable[..., tuple[np.ndarray, int]]) -> Feedback:
    """Check a learner's ``client_update(theta, X, y, grad, lr, local_epochs)``.

    Introduced in the exercises of :ref:`ch-fedavg`.

    Parameters
    ----------
    fn
        Returns ``(update, num_examples)`` where ``update = theta_local - theta`` after
        ``local_epochs`` full-batch gradient steps ``w <- w - lr * grad(w, X, y)``
        that start from the global ``theta``.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected values).

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    check_learner_fn(fn)
    for case_no, (theta, clients, lr, epochs) in enumerate(_cases(), start=1):
        for X, y in clients:
            theta_in = theta.copy()
            try:
                out = fn(theta_in, X, y, mse_grad, lr, epochs)
            except Exception as err:  # noqa: BLE001 - any learner error becomes feedback
                return wrong(
                    f"Your function raised {type(err).__name__}: {err} (test case {case_no}).",
                    "call it as client_update(theta, X, y, grad, lr, local_epochs) and "
                    "return a pair (update, num_examples).",
                )
            if not np.array_equal(theta_in, theta):
                return wrong(
                    "Your function changed the global model theta in place.",
                    "copy it first (w = theta.copy()) and use w = w - lr * g, not w -= ...",
                )
            if not isinstance(out, tuple | list) or len(out) != 2:
                return wrong(
                    "Your function must return a pair (update, num_examples).",
                    "return delta, len(y): the server needs the number of examples to "
                    "weight your update.",
                )
            update, num = out
            if num != len(y):
                return wrong(
                    "The num_examples you return is not the number of this client's "
                    "examples.",
                    "return len(y) (the number of rows of X), not the number of steps or "
                    "of features.",
                )
            local = _local(theta, X, y, lr, epochs)
            expected = local - theta
            if _close(update, expected):
                continue
            if _close(update, local):
                return wrong(
                    "You return the locally trained model, not the update.",
                    "FedAvg clients send the change of the model: subtract the global "
                    "theta they started from.",
                )
            if _close(update, -expected):
                return wrong(
                    "Your update has the wrong sign.",
                    "the update is theta_local - theta_global (where the client moved), "
                    "not theta_global - theta_local.",
                )
            from_zero = _local(np.zeros_like(theta), X, y, lr, epochs)
            if _close(update, from_zero - theta) or _close(update, from_zero):
                return wrong(
                    "Your client does not start from the global model.",
                    "begin local training at the theta the server sent (w = theta.copy()), "
                    "not at zeros.",
                )
            if epochs > 1 and _close(update, _local(theta, X, y, lr, 1) - theta):
                return wrong(
                    "Your client takes a single gradient step.",
                    "repeat the step local_epochs times (full-batch: one step per epoch).",
                )
            if _close(update, -lr * mse_grad(theta, X, y) * epochs):
                return wrong(
                    "Your client reuses the gradient at the global model for every step.",
                    "recompute the gradient at the current local model w in every step.",
                )
            return wrong(
                f"Your update is not what {epochs} local gradient step(s) give "
                f"(test case {case_no}).",
                "start at w = theta, repeat w = w - lr * grad(w, X, y) local_epochs "
                "times, return (w - theta, len(y)).",
            )
    return correct(
        "Your client update is right: it starts from the global model, takes "
        "local_epochs steps, and returns the change with the number of examples."
    )


def check_fedavg_round(fn: Callable[..., np.ndarray]) -> Feedback:
    """Check a learner's ``fedavg_round(theta, clients, grad, lr, local_epochs)``.

    Introduced in the exercises of :ref:`ch-fedavg`.

    Parameters
    ----------
    fn
        Returns the new global model ``theta + sum_k (n_k/n) (theta_k - theta)``
        where ``theta_k`` is client ``k``'s model after ``local_epochs`` full-batch
        gradient steps from ``theta``.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected values).

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    check_learner_fn(fn)
    for case_no, (theta, clients, lr, epochs) in enumerate(_cases(), start=1):
        theta_in = theta.copy()
        try:
            out = fn(theta_in, clients, mse_grad, lr, epochs)
        except Exception as err:  # noqa: BLE001 - any learner error becomes feedback
            return wrong(
                f"Your function raised {type(err).__name__}: {err} (test case {case_no}).",
                "call it as fedavg_round(theta, clients, grad, lr, local_epochs) with "
                "clients a list of (X, y) pairs; return the new theta.",
            )
        if not np.array_equal(theta_in, theta):
            return wrong(
                "Your function changed the global model theta in place.",
                "compute the new model in a new array; the server keeps the old one "
                "until the round succeeds.",
            )
        sizes = np.array([len(y) for _, y in clients], dtype=np.float64)
        p = sizes / sizes.sum()
        deltas = [_local(theta, X, y, lr, epochs) - theta for X, y in clients]
        weighted = sum(pk * d for pk, d in zip(p, deltas, strict=True))
        plain = sum(deltas) / len(deltas)
        expected = theta + weighted
        if _close(out, expected):
            continue
        if _close(out, weighted):
            return wrong(
                "You return the averaged update, not the new model.",
                "the server adds the weighted average of the updates to the global "
                "theta.",
            )
        if _close(out, theta + plain) or _close(out, plain):
            return wrong(
                "You average the clients without weights.",
                "weight client k by n_k / n (its share of the examples), as in "
                "weighted aggregation.",
            )
        if _close(out, theta + sum(deltas)) or _close(out, theta + sizes @ np.array(deltas)):
            return wrong(
                "Your weights do not sum to one.",
                "divide each client's n_k by the total n before weighting.",
            )
        zero_deltas = [_local(np.zeros_like(theta), X, y, lr, epochs) for X, y in clients]
        zero_models = sum(pk * d for pk, d in zip(p, zero_deltas, strict=True))
        if _close(out, zero_models) or _close(out, theta + zero_models):
            return wrong(
                "Your clients do not start from the global model.",
                "every client must begin local training at the theta the server "
                "broadcast, not at zeros.",
            )
        if epochs > 1:
            one_step = theta + sum(
                pk * (_local(theta, X, y, lr, 1) - theta)
                for pk, (X, y) in zip(p, clients, strict=True)
            )
            if _close(out, one_step):
                return wrong(
                    "Your clients take a single gradient step.",
                    "each client repeats the step local_epochs times before the server "
                    "averages.",
                )
        if _close(out, theta - weighted):
            return wrong(
                "Your new model moves the wrong way.",
                "add the weighted average of the updates (theta_k - theta) to theta.",
            )
        return wrong(
            f"Your new global model is not the FedAvg result (test case {case_no}).",
            "run client updates from theta, weight them by n_k / n, add the weighted "
            "average to theta.",
        )
    return correct(
        "Your FedAvg round is right: clients start from the global model, train "
        "locally, and the server adds the n_k/n-weighted average of their updates."
    )
