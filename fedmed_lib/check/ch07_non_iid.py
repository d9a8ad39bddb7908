"""Self-checks for :ref:`ch-non-iid`: the FedProx local gradient and local loop.

FedProx (Li et al., MLSys 2020) adds ``mu/2 ||theta - theta_global||^2`` to each
client's loss, so the local gradient becomes
``grad J_k(theta) + mu (theta - theta_global)``. The checks run the learner's
code on small logistic-regression problems and recognise the usual mistakes
(wrong sign, ``mu`` forgotten, the factor 1/2 kept, the proximal term anchored
at the previous local iterate instead of the global model) without ever
showing the expected numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib._validate import check_learner_fn
from fedmed_lib.check import Feedback, correct, wrong
from fedmed_lib.models import logistic_grad

GradFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]
LocalFn = Callable[..., np.ndarray]


def _cases(seed: int = 7) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for n, d, mu in ((6, 3, 0.3), (9, 2, 2.5), (5, 4, 0.05)):
        X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d - 1))])
        y = (rng.random(n) < 0.5).astype(float)
        theta = rng.normal(size=d)
        theta_global = rng.normal(size=d)
        out.append((theta, theta_global, X, y, mu))
    return out


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))


def _call(fn: Callable[..., object], *args: object, **kwargs: object) -> np.ndarray | str:
    try:
        out = fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - a learner's code may raise anything
        return f"your function raised {type(err).__name__}: {err}"
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        return f"your function returned {type(out).__name__}, not an array of numbers"
    return arr


def check_fedprox_grad(fn: GradFn) -> Feedback:
    """Check ``fn(theta, theta_global, X, y, mu)``: the gradient of FedProx's local loss.

    The local loss is the mean logistic cross-entropy of ``(X, y)`` at ``theta``
    plus ``mu/2 ||theta - theta_global||^2``. Introduced in :ref:`ch-non-iid`.

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
    for theta, theta_global, X, y, mu in _cases():
        args = (theta.copy(), theta_global.copy(), X.copy(), y.copy(), mu)
        got = _call(fn, *args)
        if isinstance(got, str):
            return wrong(got + ".", "take (theta, theta_global, X, y, mu) and return an array.")
        if got.shape != theta.shape:
            return wrong(
                f"the gradient has shape {got.shape}; it must have the shape of theta.",
                "the gradient has one entry per parameter.",
            )
        g = logistic_grad(theta, X, y)
        prox = theta - theta_global
        if _close(got, g + mu * prox):
            continue
        if _close(got, g):
            return wrong(
                "this is the plain logistic gradient: the proximal term is missing.",
                "differentiate mu/2 ||theta - theta_global||^2 and add it.",
            )
        if _close(got, g - mu * prox):
            return wrong(
                "the proximal term has the wrong sign: it pushes theta away from the "
                "global model.",
                "the derivative of mu/2 ||theta - theta_global||^2 with respect to theta "
                "points from theta_global towards theta.",
            )
        if _close(got, g + prox):
            return wrong(
                "the proximal term is there but does not depend on mu.",
                "multiply (theta - theta_global) by mu.",
            )
        if _close(got, g + 0.5 * mu * prox):
            return wrong(
                "the proximal term is half as large as it should be.",
                "the 1/2 in mu/2 ||.||^2 cancels against the 2 of the square's derivative.",
            )
        if _close(got, g * X.shape[0] + mu * prox):
            return wrong(
                "the proximal part is right but the loss gradient is N times too large.",
                "the loss is the MEAN cross-entropy: divide the sum over examples by N.",
            )
        if _close(got, -g + mu * prox) or _close(got, -(g + mu * prox)):
            return wrong(
                "the loss part of the gradient has the wrong sign.",
                "the logistic gradient is X^T (sigmoid(X theta) - y) / N.",
            )
        return wrong(
            "the gradient does not match the FedProx local gradient on a small test case.",
            "write it as the logistic gradient plus the derivative of the proximal term, "
            "and compare with a finite-difference estimate.",
        )
    return correct(
        "your FedProx gradient is right on all test cases: the loss gradient plus "
        "mu (theta - theta_global)."
    )


def check_fedprox_local(fn: LocalFn) -> Feedback:
    """Check ``fn(theta_global, X, y, *, mu, lr, num_steps)``: FedProx's local training.

    ``fn`` runs ``num_steps`` full-batch gradient steps on the FedProx local loss
    (mean logistic cross-entropy plus ``mu/2 ||theta - theta_global||^2``), starting
    from ``theta_global``, and returns the local model. Introduced in
    :ref:`ch-non-iid`.

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
    for _, theta_global, X, y, mu in _cases(11):
        lr, steps = 0.3, 4
        anchor = theta_global.copy()
        got = _call(fn, anchor, X.copy(), y.copy(), mu=mu, lr=lr, num_steps=steps)
        if isinstance(got, str):
            return wrong(
                got + ".",
                "take (theta_global, X, y) and the keywords mu, lr, num_steps; return theta.",
            )
        if not np.array_equal(anchor, theta_global):
            return wrong(
                "your function changed theta_global in place.",
                "start from a copy (theta = theta_global.copy()); the server's model must "
                "stay as it was.",
            )
        if got.shape != theta_global.shape:
            return wrong(
                f"the result has shape {got.shape}; it must have the shape of theta_global.",
                "return the local model, not a list of iterates.",
            )
        ref, prev_anchor, no_prox, neg = (theta_global.copy() for _ in range(4))
        previous = theta_global.copy()
        for _ in range(steps):
            ref = ref - lr * (logistic_grad(ref, X, y) + mu * (ref - theta_global))
            new_prev = prev_anchor - lr * (
                logistic_grad(prev_anchor, X, y) + mu * (prev_anchor - previous)
            )
            previous, prev_anchor = prev_anchor, new_prev
            no_prox = no_prox - lr * logistic_grad(no_prox, X, y)
            neg = neg - lr * (logistic_grad(neg, X, y) - mu * (neg - theta_global))
        if _close(got, ref):
            continue
        if _close(got, prev_anchor):
            return wrong(
                "your proximal term pulls towards the previous local iterate.",
                "the anchor is the global model received at the start of the round; it "
                "stays fixed during all local steps.",
            )
        if _close(got, no_prox):
            return wrong(
                "this is plain local gradient descent (FedAvg): the proximal term is missing.",
                "add mu (theta - theta_global) to every local gradient (if you anchored "
                "it at the current theta, the term is always zero).",
            )
        if _close(got, neg):
            return wrong(
                "the proximal term has the wrong sign.",
                "it must pull theta back towards theta_global.",
            )
        return wrong(
            "the local model does not match FedProx's local steps on a small test case.",
            "check the number of steps, the step size and that each step uses the "
            "gradient at the current theta.",
        )
    return correct("your FedProx local training is right on all test cases.")
