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
from typing import Any

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import (
    AnyOf,
    Mistake,
    Symptom,
    Wrong,
    as_array,
    call,
    diagnose,
    selfcheck,
)
from fedmed_lib.losses import logistic_grad

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


_GRAD_MISTAKES = (
    Symptom(lambda got, g, prox, mu, n: got.shape != g.shape,
            lambda got, g, prox, mu, n: f"the gradient has shape {got.shape}; it must have the "
            "shape of theta.",
            "the gradient has one entry per parameter."),
    Mistake(lambda g, prox, mu, n: g,
            "this is the plain logistic gradient: the proximal term is missing.",
            "differentiate mu/2 ||theta - theta_global||^2 and add it."),
    Mistake(lambda g, prox, mu, n: g - mu * prox,
            "the proximal term has the wrong sign: it pushes theta away from the global model.",
            "the derivative of mu/2 ||theta - theta_global||^2 with respect to theta "
            "points from theta_global towards theta."),
    Mistake(lambda g, prox, mu, n: g + prox,
            "the proximal term is there but does not depend on mu.",
            "mu sets the strength of the proximal term: check where it goes in the "
            "term's derivative."),
    Mistake(lambda g, prox, mu, n: g + 0.5 * mu * prox,
            "the proximal term is half as large as it should be.",
            "the 1/2 in mu/2 ||.||^2 cancels against the 2 of the square's derivative."),
    Mistake(lambda g, prox, mu, n: g * n + mu * prox,
            "the proximal part is right but the loss gradient is n times too large.",
            "the loss is the MEAN cross-entropy: divide the sum over examples by n."),
    Mistake(lambda g, prox, mu, n: AnyOf(-g + mu * prox, -(g + mu * prox)),
            "the loss part of the gradient has the wrong sign.",
            "check the sign of the loss part against the theorem 'Gradient of the "
            "cross-entropy' of the gradient-descent chapter."),
)


def _lower(fn: Callable[..., object], *args: object, hint: str, **kwargs: Any) -> np.ndarray:
    """Call ``fn`` and return its answer as an array; this chapter's messages are lower-case."""
    try:
        return as_array(call(fn, *args, hint=hint, **kwargs), hint)
    except Wrong as verdict:
        message, own_hint = verdict.feedback.message.split(" Hint: ", 1)
        raise Wrong(message[0].lower() + message[1:], own_hint) from None


@selfcheck(require_function=True)
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
    for theta, theta_global, X, y, mu in _cases():
        got = _lower(
            fn, theta, theta_global, X, y, mu,
            hint="take (theta, theta_global, X, y, mu) and return an array.",
        )
        g, prox = logistic_grad(theta, X, y), theta - theta_global
        diagnose(
            got, g + mu * prox, _GRAD_MISTAKES, (g, prox, mu, X.shape[0]), rtol=1e-6, atol=1e-9,
            generic=(
                "the gradient does not match the FedProx local gradient on a small test case.",
                "write it as the logistic gradient plus the derivative of the proximal term, "
                "and compare with a finite-difference estimate.",
            ),
        )
    return correct(
        "your FedProx gradient is right on all test cases: the loss gradient plus "
        "mu (theta - theta_global)."
    )


def _local(case: tuple[Any, ...], anchor: str = "global") -> np.ndarray:
    """Run FedProx's local steps on ``case``, with the proximal term anchored at ``anchor``.

    ``case`` is ``(theta_global, X, y, mu, lr, num_steps)``; ``anchor`` is
    ``"global"`` (right), ``"previous"`` (the previous local iterate),
    ``"none"`` (plain gradient descent) or ``"negative"`` (the wrong sign).
    """
    theta_global, X, y, mu, lr, steps = case
    theta, previous = theta_global.copy(), theta_global.copy()
    for _ in range(steps):
        target = previous if anchor == "previous" else theta_global
        sign = {"global": 1.0, "previous": 1.0, "none": 0.0, "negative": -1.0}[anchor]
        new = theta - lr * (logistic_grad(theta, X, y) + sign * mu * (theta - target))
        previous, theta = theta, new
    return theta


_LOCAL_MISTAKES = (
    Symptom(lambda got, *case: got.shape != case[0].shape,
            lambda got, *case: f"the result has shape {got.shape}; it must have the shape of "
            "theta_global.",
            "return the local model, not a list of iterates."),
    Mistake(lambda *case: _local(case, "previous"),
            "your proximal term pulls towards the previous local iterate.",
            "the anchor is the global model received at the start of the round; it "
            "stays fixed during all local steps."),
    Mistake(lambda *case: _local(case, "none"),
            "this is plain local gradient descent (FedAvg): the proximal term is missing.",
            "every local gradient needs the derivative of the proximal term, anchored "
            "at theta_global (if you anchored it at the current theta, the term is "
            "always zero)."),
    Mistake(lambda *case: _local(case, "negative"),
            "the proximal term has the wrong sign.",
            "it must pull theta back towards theta_global."),
)


@selfcheck(require_function=True)
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
    for _, theta_global, X, y, mu in _cases(11):
        lr, steps = 0.3, 4
        got = _lower(
            fn, theta_global, X, y, mu=mu, lr=lr, num_steps=steps,
            hint="take (theta_global, X, y) and the keywords mu, lr, num_steps; return theta.",
            inplace=(
                "your function changed theta_global in place.",
                "start from a copy (theta = theta_global.copy()); the server's model must "
                "stay as it was.",
            ),
        )
        case = (theta_global, X, y, mu, lr, steps)
        diagnose(
            got, _local(case), _LOCAL_MISTAKES, case, rtol=1e-6, atol=1e-9,
            generic=(
                "the local model does not match FedProx's local steps on a small test case.",
                "check the number of steps, the step size and that each step uses the "
                "gradient at the current theta.",
            ),
        )
    return correct("your FedProx local training is right on all test cases.")
