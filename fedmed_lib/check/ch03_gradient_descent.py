"""Self-checks for :ref:`ch-gradient-descent`: one descent step and the largest stable step.

Gradient descent on the mean squared error ``J(theta) = 1/N ||X theta - y||^2``
converges exactly when the step size is below ``2 / L``, where ``L`` is the largest
eigenvalue of the Hessian ``2 X^T X / N`` (the classical bound for quadratics; see
e.g. Boyd and Vandenberghe, *Convex Optimization*, 2004, Sec. 9.3). The checks run a
learner's functions on small random problems and recognise the usual slips (the
eigenvalue of ``X^T X / N`` instead of ``2 X^T X / N``, ``1/L`` instead of ``2/L``,
an ascent step) without revealing the expected numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct, wrong
from fedmed_lib.models import mse_grad


def _problems() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Small least-squares problems with different N and correlated columns."""
    rng = np.random.default_rng(303)
    out = []
    for n, d in [(9, 3), (14, 4)]:
        Z = rng.normal(size=(n, d - 1))
        Z[:, -1] += 0.8 * Z[:, 0]  # correlated columns: eigenvalues well apart
        X = np.hstack([np.ones((n, 1)), Z])
        out.append((X, rng.normal(size=n), rng.normal(size=d)))
    return out


def _call(fn: Callable[..., object], *args: np.ndarray | float) -> tuple[object, Feedback | None]:
    """Call the learner's function, turning an exception into feedback."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, wrong(
            "Your function raises NotImplementedError.",
            "replace `raise NotImplementedError` with your code.",
        )
    except Exception as err:  # noqa: BLE001 - any learner error is reported, not raised
        return None, wrong(
            f"Your function raised {type(err).__name__}: {err}.",
            "check the shapes of your arrays and the order of the arguments.",
        )


def check_max_step_size(fn: Callable[[np.ndarray], float]) -> Feedback:
    """Check a learner's largest stable step size ``2 / L`` for the mean squared error.

    Parameters
    ----------
    fn
        ``fn(X)`` returning the step size above which gradient descent on
        ``J(theta) = 1/N ||X theta - y||^2`` diverges, a positive float. ``X`` already
        has the intercept column.

    Returns
    -------
    Feedback
        Passed if ``fn`` returns ``2 / L`` with ``L`` the largest eigenvalue of
        ``2 X^T X / N`` on every test problem; otherwise names the slip (Hessian
        without the 2, ``1/L`` instead of ``2/L``, missing ``1/N``, smallest instead of
        largest eigenvalue, ``L`` itself) with a hint. Introduced in
        :ref:`ch-gradient-descent`.
    """
    for X, _, _ in _problems():
        n = X.shape[0]
        eig = np.linalg.eigvalsh(2.0 * X.T @ X / n)
        lam_min, lam_max = float(eig[0]), float(eig[-1])
        ref = 2.0 / lam_max
        got_raw, fb = _call(fn, X.copy())
        if fb is not None:
            return fb
        try:
            got = float(np.asarray(got_raw, dtype=np.float64).reshape(()))
        except (TypeError, ValueError):
            return wrong(
                "Your function should return a single number.",
                "np.linalg.eigvalsh returns all eigenvalues; keep only the largest one.",
            )
        if not np.isfinite(got) or got <= 0:
            return wrong(
                "Your step size is not a positive finite number.",
                "a step size is 2 divided by a positive eigenvalue.",
            )
        r = got / ref
        if np.isclose(r, 1.0, rtol=1e-6):
            continue
        if np.isclose(r, 2.0, rtol=1e-6):
            return wrong(
                "Your step size is too large: gradient descent would diverge with it.",
                "the Hessian of this J is 2 X^T X / N; the 2 comes from d(r^2)/dr = 2r. "
                "Use its largest eigenvalue.",
            )
        if np.isclose(r, 0.5, rtol=1e-6):
            return wrong(
                "Your step size is safe but only half as large as the largest stable one.",
                "1/L guarantees a monotone decrease; the divergence threshold is where "
                "|1 - lr * L| = 1.",
            )
        if np.isclose(r, 1.0 / n, rtol=1e-6) or np.isclose(r, 2.0 / n, rtol=1e-6):
            return wrong(
                "Your step size shrinks with the number of examples.",
                "the Hessian of a mean loss carries the factor 1/N: use 2 X^T X / N.",
            )
        if np.isclose(got, 2.0 / lam_min, rtol=1e-6) or np.isclose(got, 1.0 / lam_min, rtol=1e-6):
            return wrong(
                "Your step size uses the wrong eigenvalue: it would make gradient descent "
                "diverge.",
                "the step must be stable in every direction, so the steepest direction "
                "(the largest eigenvalue) decides.",
            )
        if np.isclose(got, lam_max, rtol=1e-6) or np.isclose(got, lam_max / 2, rtol=1e-6):
            return wrong(
                "You returned a curvature (an eigenvalue), not a step size.",
                "the step size is 2 divided by the largest eigenvalue.",
            )
        if np.isclose(got, 2.0 / float(np.trace(2.0 * X.T @ X / n)), rtol=1e-6):
            return wrong(
                "Your step size is safe but too small: you used the trace (the sum of all "
                "eigenvalues) instead of the largest eigenvalue.",
                "np.linalg.eigvalsh gives the eigenvalues; take the maximum.",
            )
        return wrong(
            "Your step size is not the largest stable one.",
            "compute the Hessian 2 X^T X / N, its largest eigenvalue L, and return 2 / L.",
        )
    return correct("Your step size is 2/L on every test problem.")


def check_gd_step(
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray],
) -> Feedback:
    """Check a learner's gradient-descent step on the mean squared error.

    Parameters
    ----------
    fn
        ``fn(theta, X, y, lr)`` returning ``theta - lr * grad J(theta)`` for
        ``J(theta) = 1/N ||X theta - y||^2``, as a new array (``theta`` itself must
        not be modified).

    Returns
    -------
    Feedback
        Passed if ``fn`` takes the right step on every test problem; otherwise names
        the slip (ascent instead of descent, step size ignored, gradient without the
        2 or the ``1/N``, ``theta`` modified in place) with a hint. Introduced in
        :ref:`ch-gradient-descent`.
    """
    for lr in (0.05, 0.2):
        for X, y, theta in _problems():
            n = X.shape[0]
            grad = mse_grad(theta, X, y)
            theta_in = theta.copy()
            got_raw, fb = _call(fn, theta_in, X.copy(), y.copy(), lr)
            if fb is not None:
                return fb
            if not np.array_equal(theta_in, theta):
                return wrong(
                    "Your function changes the theta it was given (an in-place update).",
                    "return a new array, e.g. theta - lr * g, instead of theta -= lr * g; "
                    "in federated learning the server's global model must not change "
                    "behind its back.",
                )
            got = np.asarray(got_raw, dtype=np.float64)
            if got.shape != theta.shape:
                return wrong(
                    f"Your new theta has shape {got.shape}, but theta has shape {theta.shape}.",
                    "the update theta - lr * gradient keeps the shape of theta.",
                )
            step = got - theta  # the learner's step; the right one is -lr * grad
            if np.allclose(step, -lr * grad, rtol=1e-8, atol=1e-12):
                continue
            s = float(step @ (-lr * grad) / (lr**2 * grad @ grad))
            if not np.allclose(step, s * (-lr * grad), rtol=1e-7, atol=1e-10):
                return wrong(
                    "Your step does not point along the gradient.",
                    "compute the gradient 2/N X.T @ (X @ theta - y) first, then step "
                    "theta - lr * gradient.",
                )
            if s < 0:
                return wrong(
                    "Your step goes uphill: it increases the loss.",
                    "gradient DEScent subtracts the gradient: theta - lr * gradient.",
                )
            if np.isclose(s, 1.0 / lr):
                return wrong(
                    "Your step ignores the step size lr.",
                    "multiply the gradient by lr before subtracting it.",
                )
            if np.isclose(s, 0.5):
                return wrong(
                    "Your step is half as long as it should be.",
                    "the gradient of this loss has the factor 2 (no 1/2 in J).",
                )
            if np.isclose(s, float(n)) or np.isclose(s, n / 2.0):
                return wrong(
                    "Your step grows with the number of examples.",
                    "J is a mean: its gradient carries the factor 1/N.",
                )
            return wrong(
                "Your step has the right direction but the wrong length.",
                "check each factor of lr * 2/N X.T @ (X @ theta - y).",
            )
    return correct("Your gradient-descent step is right on every test problem and step size.")
