"""Self-checks for :ref:`ch-fedavg`: a client's update and a FedAvg round with a server step.

The learner writes ``my_client_update(theta, X, y, grad, lr, local_epochs)``, which runs
``local_epochs`` full-batch gradient steps from the global model ``theta`` and returns
``(theta_local - theta, num_examples)``, and ``my_fedavg_round(theta, clients, grad, lr,
local_epochs, server_lr)``, which returns the new global model
``theta + server_lr * sum_k (n_k/n) delta_k`` (McMahan et al., 2017, Algorithm 1, with
the server step size of ``fedmed_lib.algorithms.FedAvg(server_lr=...)``; Reddi et al.,
2021, "Adaptive federated optimization"). The checks run them on small
linear-regression federations and recognise the usual mistakes (returning the model
instead of the update, a flipped sign, starting from zeros instead of the global model,
a single local step, an unweighted average, returning the averaged update, ignoring the
server learning rate or applying it to the model or to the clients' learning rate)
without printing the expected values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import AnyOf, Mistake, Wrong, call, diagnose, selfcheck
from fedmed_lib.losses import mse_grad

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


def _cases() -> list[tuple[np.ndarray, Clients, float, int, float]]:
    """``(theta, clients, lr, local_epochs, server_lr)``: a non-zero start, unequal clients.

    No case has ``server_lr = 1``, so that a round which ignores it is recognised.
    """
    return [
        (np.array([0.5, -0.3, 0.8]), _federation(5, (4, 12, 30)), 0.05, 3, 0.5),
        (np.array([-1.0, 0.2, 0.1]), _federation(6, (25, 5)), 0.1, 1, 2.0),
        (np.array([0.3, 0.3, -0.6]), _federation(7, (8, 3, 17, 40)), 0.02, 5, 1.5),
    ]


def _local(theta: np.ndarray, X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> np.ndarray:
    w = np.array(theta, dtype=np.float64)
    for _ in range(steps):
        w = w - lr * mse_grad(w, X, y)
    return w


_CLIENT_MISTAKES = (
    Mistake(lambda theta, X, y, lr, epochs: _local(theta, X, y, lr, epochs),
            "You return the locally trained model, not the update.",
            "FedAvg clients send the change of the model: subtract the global "
            "theta they started from."),
    Mistake(lambda theta, X, y, lr, epochs: theta - _local(theta, X, y, lr, epochs),
            "Your update has the wrong sign.",
            "the update is theta_local - theta_global (where the client moved), "
            "not theta_global - theta_local."),
    Mistake(lambda theta, X, y, lr, epochs: AnyOf(
                _local(0 * theta, X, y, lr, epochs) - theta, _local(0 * theta, X, y, lr, epochs)
            ),
            "Your client does not start from the global model.",
            "begin local training at the theta the server sent (w = theta.copy()), not at zeros."),
    Mistake(lambda theta, X, y, lr, epochs: (
                _local(theta, X, y, lr, 1) - theta if epochs > 1 else None
            ),
            "Your client takes a single gradient step.",
            "repeat the step local_epochs times (full-batch: one step per epoch)."),
    Mistake(lambda theta, X, y, lr, epochs: -lr * mse_grad(theta, X, y) * epochs,
            "Your client reuses the gradient at the global model for every step.",
            "recompute the gradient at the current local model w in every step."),
)


@selfcheck(require_function=True)
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
    for case_no, (theta, clients, lr, epochs, _) in enumerate(_cases(), start=1):
        for X, y in clients:
            out = call(
                fn, theta, X, y, mse_grad, lr, epochs, where=f" (test case {case_no})",
                hint="call it as client_update(theta, X, y, grad, lr, local_epochs) and "
                "return a pair (update, num_examples).",
                inplace=(
                    "Your function changed the global model theta in place.",
                    "an augmented assignment (-=) on theta, or on a name bound to it, "
                    "writes into the server's array: train on a copy of theta.",
                ),
            )
            if not isinstance(out, tuple | list) or len(out) != 2:
                raise Wrong(
                    "Your function must return a pair (update, num_examples).",
                    "return delta, len(y): the server needs the number of examples to "
                    "weight your update.",
                )
            update, num = out
            if num != len(y):
                raise Wrong(
                    "The num_examples you return is not the number of this client's "
                    "examples.",
                    "return len(y) (the number of rows of X), not the number of steps or "
                    "of features.",
                )
            diagnose(
                update, _local(theta, X, y, lr, epochs) - theta, _CLIENT_MISTAKES,
                (theta, X, y, lr, epochs),
                generic=(
                    f"Your update is not what {epochs} local gradient step(s) give "
                    f"(test case {case_no}).",
                    "check your local training against the chapter's client update: "
                    "where it starts, how many gradient steps, where each gradient is "
                    "taken, and what the client sends back.",
                ),
            )
    return correct(
        "Your client update is right: it starts from the global model, takes "
        "local_epochs steps, and returns the change with the number of examples."
    )


def _round(
    theta: np.ndarray, clients: Clients, lr: float, epochs: int, start: np.ndarray | None = None,
    weights: str = "n_k/n",
) -> np.ndarray:
    """Average the clients' updates (weighted ``n_k/n``, ``1/K``, ``1`` or ``n_k``).

    With ``start`` the clients train from ``start`` and their *models* are averaged.
    """
    sizes = np.array([len(y) for _, y in clients], dtype=np.float64)
    w = {"n_k/n": sizes / sizes.sum(), "1/K": np.full(len(clients), 1 / len(clients)),
         "1": np.ones(len(clients)), "n_k": sizes}[weights]
    models = [_local(theta if start is None else start, X, y, lr, epochs) for X, y in clients]
    shift = theta if start is None else 0 * theta
    return sum(wk * (m - shift) for wk, m in zip(w, models, strict=True))


_ROUND_MISTAKES = (
    Mistake(lambda theta, clients, lr, epochs, s: theta + _round(theta, clients, lr, epochs),
            "You do not use the server learning rate.",
            "the server scales the weighted average update by server_lr before adding it "
            "to theta."),
    Mistake(lambda theta, clients, lr, epochs, s: s * (theta + _round(theta, clients, lr, epochs)),
            "You multiply the whole new model by the server learning rate.",
            "server_lr scales only the averaged update, not the global model it is added to."),
    Mistake(lambda theta, clients, lr, epochs, s: AnyOf(
                theta + _round(theta, clients, s * lr, epochs),
                theta + s * _round(theta, clients, s * lr, epochs),
            ),
            "You give the server learning rate to the clients.",
            "the clients train with lr as before; server_lr is applied by the server, to "
            "the averaged update."),
    Mistake(lambda theta, clients, lr, epochs, s: AnyOf(
                s * _round(theta, clients, lr, epochs), _round(theta, clients, lr, epochs)
            ),
            "You return the averaged update, not the new model.",
            "the server adds the (scaled) weighted average of the updates to the global theta."),
    Mistake(lambda theta, clients, lr, epochs, s: AnyOf(
                *(v + f * _round(theta, clients, lr, epochs, weights="1/K")
                  for v in (theta, 0) for f in (s, 1))
            ),
            "You average the clients without weights.",
            "weight client k by n_k / n (its share of the examples), as in weighted aggregation."),
    Mistake(lambda theta, clients, lr, epochs, s: AnyOf(
                *(theta + f * _round(theta, clients, lr, epochs, weights=w)
                  for w in ("1", "n_k") for f in (s, 1))
            ),
            "Your weights do not sum to one.",
            "divide each client's n_k by the total n before weighting."),
    Mistake(lambda theta, clients, lr, epochs, s: AnyOf(
                *(v + f * (_round(theta, clients, lr, epochs, start=0 * theta) - shift)
                  for v in (0, theta) for f in (s, 1) for shift in (0, theta))
            ),
            "Your clients do not start from the global model.",
            "every client must begin local training at the theta the server broadcast, "
            "not at zeros."),
    Mistake(lambda theta, clients, lr, epochs, s: (
                AnyOf(*(theta + f * _round(theta, clients, lr, 1) for f in (s, 1)))
                if epochs > 1 else None
            ),
            "Your clients take a single gradient step.",
            "each client repeats the step local_epochs times before the server averages."),
    Mistake(lambda theta, clients, lr, epochs, s: AnyOf(
                *(theta - f * _round(theta, clients, lr, epochs) for f in (s, 1))
            ),
            "Your new model moves the wrong way.",
            "add the weighted average of the updates (theta_k - theta) to theta."),
)


@selfcheck(require_function=True)
def check_fedavg_round(fn: Callable[..., np.ndarray]) -> Feedback:
    """Check a learner's ``my_fedavg_round(theta, clients, grad, lr, local_epochs, server_lr)``.

    Introduced in the exercises of :ref:`ch-fedavg`.

    Parameters
    ----------
    fn
        Returns the new global model
        ``theta + server_lr * sum_k (n_k/n) (theta_k - theta)`` where ``theta_k`` is
        client ``k``'s model after ``local_epochs`` full-batch gradient steps from
        ``theta``.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected values).

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    for case_no, (theta, clients, lr, epochs, server_lr) in enumerate(_cases(), start=1):
        out = call(
            fn, theta, clients, mse_grad, lr, epochs, server_lr, where=f" (test case {case_no})",
            hint="call it as my_fedavg_round(theta, clients, grad, lr, local_epochs, "
            "server_lr) with clients a list of (X, y) pairs; return the new theta.",
            inplace=(
                "Your function changed the global model theta in place.",
                "compute the new model in a new array; the server keeps the old one "
                "until the round succeeds.",
            ),
        )
        diagnose(
            out, theta + server_lr * _round(theta, clients, lr, epochs), _ROUND_MISTAKES,
            (theta, clients, lr, epochs, server_lr),
            generic=(
                f"Your new global model is not the FedAvg result (test case {case_no}).",
                "run client updates from theta, weight them by n_k / n, scale the weighted "
                "average by server_lr and add it to theta.",
            ),
        )
    return correct(
        "Your FedAvg round is right: clients start from the global model, train "
        "locally, and the server adds server_lr times the n_k/n-weighted average of "
        "their updates."
    )
