"""Self-checks for :ref:`ch-loss`: the gradient of the mean squared error.

The learner writes ``grad(theta, X, y)``, the gradient ``2/N X^T (X theta - y)`` of
the mean squared error ``J(theta) = 1/N sum_i (y_i - x_i theta)^2`` used for linear
regression on the diabetes data (Efron et al., 2004). The check runs it on small
random problems, compares with :func:`fedmed_lib.models.mse_grad`, and recognises the
usual slips (a forgotten ``1/N``, the ``1/2`` convention that drops the factor 2, the
wrong sign, ``X`` instead of ``X^T``). It never shows the expected gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct, wrong
from fedmed_lib.models import mse_grad

_RTOL = 1e-8


def _cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Small problems with different N so that a missing ``1/N`` can be told apart."""
    rng = np.random.default_rng(2024)
    cases = []
    for n, d in [(7, 3), (12, 4), (5, 2)]:
        X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d - 1))])
        y = rng.normal(size=n)
        theta = rng.normal(size=d)
        cases.append((X, y, theta))
    return cases


def _ratio(got: np.ndarray, ref: np.ndarray) -> float | None:
    """Return ``s`` if ``got == s * ref`` (to rounding), else ``None``."""
    s = float(got @ ref / (ref @ ref))
    if np.allclose(got, s * ref, rtol=1e-7, atol=1e-10):
        return s
    return None


def check_mse_grad(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> Feedback:
    """Check a learner's gradient of the mean squared error.

    Parameters
    ----------
    fn
        ``fn(theta, X, y)`` returning the gradient of
        ``J(theta) = 1/N sum_i (y_i - x_i theta)^2`` at ``theta``, an array of the
        same shape as ``theta``. ``X`` already has the intercept column.

    Returns
    -------
    Feedback
        Passed if ``fn`` agrees with the reference on every test problem; otherwise
        a message that names the mistake (forgotten ``1/N``, missing factor 2, wrong
        sign, ``X`` instead of ``X.T``) and a hint. Introduced in :ref:`ch-loss`.
    """
    for k, (X, y, theta) in enumerate(_cases()):
        n = X.shape[0]
        ref = mse_grad(theta, X, y)
        try:
            got_raw = fn(theta.copy(), X.copy(), y.copy())
        except NotImplementedError:
            return wrong(
                "Your function raises NotImplementedError.",
                "replace `raise NotImplementedError` with your formula.",
            )
        except ValueError as err:
            if "matmul" in str(err) or "shape" in str(err) or "aligned" in str(err):
                return wrong(
                    f"Your function fails with a shape error on test problem {k + 1} "
                    f"(X has shape {X.shape}): {err}.",
                    "the residual X @ theta - y has one entry per example (N); to get one "
                    "entry per parameter, multiply it by the transpose X.T, not by X.",
                )
            return wrong(f"Your function raised ValueError: {err}.", "check the shapes.")
        except Exception as err:  # noqa: BLE001 - any learner error is reported, not raised
            return wrong(
                f"Your function raised {type(err).__name__}: {err}.",
                "call it as fn(theta, X, y) with numpy arrays and return a numpy array.",
            )
        got = np.asarray(got_raw, dtype=np.float64)
        if got.shape != theta.shape:
            if got.size == theta.size:
                return wrong(
                    f"Your gradient has shape {got.shape}, but theta has shape {theta.shape}.",
                    "return a flat array like theta (no column vector); check for a stray "
                    "reshape or a transposed result.",
                )
            if got.shape == (n,):
                return wrong(
                    f"Your gradient has one entry per example (shape {got.shape}), "
                    f"not one per parameter (shape {theta.shape}).",
                    "you have the residuals; multiply them by X.T to collect them per "
                    "parameter.",
                )
            return wrong(
                f"Your gradient has shape {got.shape}, but theta has shape {theta.shape}.",
                "the gradient has one entry per parameter: X.T @ (residuals), scaled.",
            )
        if not np.all(np.isfinite(got)):
            return wrong("Your gradient contains NaN or Inf.", "check for a division by zero.")
        if np.allclose(got, ref, rtol=_RTOL, atol=1e-12):
            continue
        s = _ratio(got, ref)
        if s is not None:
            if np.isclose(s, -1.0):
                return wrong(
                    "Your gradient points the wrong way (its sign is flipped).",
                    "differentiate (x_i theta - y_i)^2, not (y_i - x_i theta) with the sign "
                    "dropped: the residual in the gradient is X @ theta - y.",
                )
            if np.isclose(s, 0.5):
                return wrong(
                    "Your gradient is too small by a constant factor.",
                    "this book's loss has no 1/2 in front: the derivative of r^2 is 2r, "
                    "so keep the factor 2.",
                )
            if np.isclose(s, -0.5):
                return wrong(
                    "Your gradient has the wrong sign and is too small by a constant factor.",
                    "use the residual X @ theta - y, and keep the 2 from d(r^2)/dr = 2r.",
                )
            if np.isclose(s, float(n)) or np.isclose(s, n / 2.0) or np.isclose(s, -float(n)):
                return wrong(
                    "Your gradient grows with the number of examples: it is the gradient "
                    "of the sum of the losses, not of their mean.",
                    "J is a mean, so its gradient carries the factor 1/N.",
                )
            if np.isclose(s, 1.0 / n) or np.isclose(s, 0.5 / n):
                return wrong(
                    "Your gradient shrinks with the number of examples: you divide by N twice.",
                    "divide by N exactly once (np.mean already divides by N).",
                )
            return wrong(
                "Your gradient points in the right direction but has the wrong length.",
                "check the constant in front: the derivative of (1/N) sum r_i^2.",
            )
        return wrong(
            f"Your gradient is wrong on test problem {k + 1} (it is not just rescaled).",
            "write one component first: dJ/dtheta_j = (2/N) sum_i (x_i theta - y_i) x_ij, "
            "then collect the components as X.T @ (X @ theta - y).",
        )
    return correct(
        "Your gradient matches the reference on every test problem, "
        "including the factor 2/N and the sign."
    )
