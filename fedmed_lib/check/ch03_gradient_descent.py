"""Self-checks for :ref:`ch-gradient-descent`: one descent step and the largest stable step.

Gradient descent on the mean squared error ``J(theta) = 1/n ||X theta - y||^2``
converges exactly when the step size is below ``2 / beta``, where ``beta`` (the
smoothness constant) is the largest eigenvalue of the Hessian ``2 X^T X / n``
(the classical bound for quadratics; see e.g. Boyd and Vandenberghe, *Convex
Optimization*, 2004, Sec. 9.3). The checks run a learner's functions on small
random problems and recognise the usual slips (the eigenvalue of ``X^T X / n``
instead of ``2 X^T X / n``, ``1/beta`` instead of ``2/beta``, an ascent step)
without revealing the expected numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import (
    AnyOf,
    Mistake,
    Symptom,
    Wrong,
    as_array,
    as_number,
    call,
    diagnose,
    selfcheck,
)
from fedmed_lib.losses import mse_grad


def _problems() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Small least-squares problems with different n and correlated columns."""
    rng = np.random.default_rng(303)
    out = []
    for n, d in [(9, 3), (14, 4)]:
        Z = rng.normal(size=(n, d - 1))
        Z[:, -1] += 0.8 * Z[:, 0]  # correlated columns: eigenvalues well apart
        X = np.hstack([np.ones((n, 1)), Z])
        out.append((X, rng.normal(size=n), rng.normal(size=d)))
    return out


_HINT = "check the shapes of your arrays and the order of the arguments."
_SHAPE_HINT = "the new theta keeps the shape of theta: check the shape of your gradient."


_STEP_MISTAKES = (
    Symptom(lambda got, X, eig: not np.isfinite(got) or got <= 0,
            "Your step size is not a positive finite number.",
            "step sizes are positive: check the sign of your result and which eigenvalue "
            "of the Hessian you use (section 'How large may a step be?')."),
    Mistake(lambda X, eig: 4.0 / eig[-1],
            "Your step size is too large: gradient descent would diverge with it.",
            "the Hessian of this J keeps the factor 2 of d(r^2)/dr = 2r: check the "
            "constant in front of your Hessian."),
    Mistake(lambda X, eig: 1.0 / eig[-1],
            "Your step size is safe but only half as large as the largest stable one.",
            "1/beta guarantees a monotone decrease; the divergence threshold is where "
            "|1 - lr * beta| = 1."),
    Mistake(lambda X, eig: AnyOf(2.0 / eig[-1] / len(X), 4.0 / eig[-1] / len(X)),
            "Your step size shrinks with the number of examples.",
            "the Hessian of a mean loss carries the factor 1/n: check the constant in "
            "front of your Hessian."),
    Mistake(lambda X, eig: AnyOf(2.0 / eig[0], 1.0 / eig[0]),
            "Your step size uses the wrong eigenvalue: it would make gradient descent diverge.",
            "the step must be stable in every direction, so the steepest direction "
            "(the largest eigenvalue) decides."),
    Mistake(lambda X, eig: AnyOf(eig[-1], eig[-1] / 2),
            "You returned a curvature (an eigenvalue), not a step size.",
            "beta is the curvature; the step size is the threshold on lr that the "
            "theorem of section 'How large may a step be?' derives from beta."),
    Mistake(lambda X, eig: 2.0 / np.sum(eig),
            "Your step size is safe but too small: you used the trace (the sum of all "
            "eigenvalues) instead of the largest eigenvalue.",
            "np.linalg.eigvalsh gives the eigenvalues; take the maximum."),
)


@selfcheck
def check_max_step_size(fn: Callable[[np.ndarray], float]) -> Feedback:
    """Check a learner's largest stable step size ``2 / beta`` for the mean squared error.

    Parameters
    ----------
    fn
        ``fn(X)`` returning the step size above which gradient descent on
        ``J(theta) = 1/n ||X theta - y||^2`` diverges, a positive float. ``X`` already
        has the intercept column.

    Returns
    -------
    Feedback
        Passed if ``fn`` returns ``2 / beta`` with ``beta`` the largest eigenvalue of
        ``2 X^T X / n`` on every test problem; otherwise names the slip (Hessian
        without the 2, ``1/beta`` instead of ``2/beta``, missing ``1/n``, smallest instead of
        largest eigenvalue, ``beta`` itself) with a hint. Introduced in
        :ref:`ch-gradient-descent`.
    """
    for X, _, _ in _problems():
        eig = np.linalg.eigvalsh(2.0 * X.T @ X / X.shape[0])
        got = as_number(
            call(fn, X, hint=_HINT),
            "np.linalg.eigvalsh returns all eigenvalues; keep only the largest one.",
        )
        diagnose(
            got, 2.0 / eig[-1], _STEP_MISTAKES, (X, eig), rtol=1e-6,
            generic=(
                "Your step size is not the largest stable one.",
                "check each piece against the theorem of section 'How large may a step "
                "be?': the Hessian of J, its largest eigenvalue beta, the threshold on lr.",
            ),
        )
    return correct("Your step size is 2/beta on every test problem.")


def _scale(step: np.ndarray, ref: np.ndarray) -> float | None:
    """Return ``s`` if ``step == s * ref`` (to rounding), else ``None``."""
    s = float(step @ ref / (ref @ ref))
    return s if np.allclose(step, s * ref, rtol=1e-7, atol=1e-10) else None


_GD_MISTAKES = (
    Symptom(lambda step, ref, lr, n: _scale(step, ref) is None,
            "Your step does not point along the gradient.",
            "the step must be a multiple of the gradient of J: check your gradient "
            "against chapter 2's (the residuals, the orientation of X that gives one "
            "entry per parameter, the constant in front)."),
    Symptom(lambda step, ref, lr, n: (_scale(step, ref) or 0.0) < 0,
            "Your step goes uphill: it increases the loss.",
            "gradient DEScent moves against the gradient: check the sign of your step."),
    Mistake(lambda ref, lr, n: ref / lr,
            "Your step ignores the step size lr.",
            "multiply the gradient by lr before subtracting it."),
    Mistake(lambda ref, lr, n: 0.5 * ref,
            "Your step is half as long as it should be.",
            "the gradient of this loss has the factor 2 (no 1/2 in J)."),
    Mistake(lambda ref, lr, n: AnyOf(n * ref, n / 2.0 * ref),
            "Your step grows with the number of examples.",
            "J is a mean: its gradient carries the factor 1/n."),
)


@selfcheck
def check_gd_step(
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray],
) -> Feedback:
    """Check a learner's gradient-descent step on the mean squared error.

    Parameters
    ----------
    fn
        ``fn(theta, X, y, lr)`` returning ``theta - lr * grad J(theta)`` for
        ``J(theta) = 1/n ||X theta - y||^2``, as a new array (``theta`` itself must
        not be modified).

    Returns
    -------
    Feedback
        Passed if ``fn`` takes the right step on every test problem; otherwise names
        the slip (ascent instead of descent, step size ignored, gradient without the
        2 or the ``1/n``, ``theta`` modified in place) with a hint. Introduced in
        :ref:`ch-gradient-descent`.
    """
    for lr in (0.05, 0.2):
        for X, y, theta in _problems():
            out = call(
                fn, theta, X, y, lr, hint=_HINT,
                inplace=(
                    "Your function changes the theta it was given (an in-place update).",
                    "an augmented assignment (-=) writes into the caller's array: build "
                    "the new theta as a new array; in federated learning the server's "
                    "global model must not change behind its back.",
                ),
            )
            got = as_array(out, _SHAPE_HINT)
            if got.shape != theta.shape:
                raise Wrong(
                    f"Your new theta has shape {got.shape}, but theta has shape {theta.shape}.",
                    _SHAPE_HINT,
                )
            ref = -lr * mse_grad(theta, X, y)  # the right step
            diagnose(
                got - theta, ref, _GD_MISTAKES, (ref, lr, X.shape[0]), rtol=1e-8, atol=1e-12,
                generic=(
                    "Your step has the right direction but the wrong length.",
                    "the direction is right, so check the constants: the step size lr, the "
                    "factor 2 of the square's derivative, the 1/n of the mean.",
                ),
            )
    return correct("Your gradient-descent step is right on every test problem and step size.")
