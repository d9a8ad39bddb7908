"""Self-checks for :ref:`ch-loss`: the gradient of the mean squared error.

The learner writes ``grad(theta, X, y)``, the gradient ``2/n X^T (X theta - y)`` of
the mean squared error ``J(theta) = 1/n sum_i (y_i - x_i theta)^2`` used for linear
regression on the diabetes data (Efron et al., 2004). The check runs it on small
random problems, compares with :func:`fedmed_lib.losses.mse_grad`, and recognises the
usual slips (a forgotten ``1/n``, the ``1/2`` convention that drops the factor 2, the
wrong sign, ``X`` instead of ``X^T``). It never shows the expected gradient.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import (
    AnyOf,
    Mistake,
    Symptom,
    as_array,
    call,
    diagnose,
    selfcheck,
)
from fedmed_lib.losses import mse_grad

_RTOL = 1e-8


def _cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Small problems with different n so that a missing ``1/n`` can be told apart."""
    rng = np.random.default_rng(2024)
    cases = []
    for n, d in [(7, 3), (12, 4), (5, 2)]:
        X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d - 1))])
        y = rng.normal(size=n)
        theta = rng.normal(size=d)
        cases.append((X, y, theta))
    return cases


def _shape_error(err: Exception, k: int, X: np.ndarray) -> tuple[str, str] | None:
    """Explain a matmul shape error: the learner multiplied by X instead of X.T."""
    if isinstance(err, ValueError) and any(w in str(err) for w in ("matmul", "shape", "aligned")):
        return (
            f"Your function fails with a shape error on test problem {k + 1} "
            f"(X has shape {X.shape}): {err}.",
            "the residual vector has one entry per example (n) and the gradient one per "
            "parameter (d): write down the shapes and ask which orientation of X turns "
            "an n-vector into a d-vector.",
        )
    return None


def _scaled(got: np.ndarray, ref: np.ndarray) -> bool:
    """Whether ``got`` is ``ref`` times some number (right direction, wrong length)."""
    s = float(got @ ref / (ref @ ref))
    return bool(np.allclose(got, s * ref, rtol=1e-7, atol=1e-10))


def _shape_message(got: np.ndarray, ref: np.ndarray, n: int) -> str:
    return f"Your gradient has shape {got.shape}, but theta has shape {ref.shape}."


_MISTAKES = (
    Symptom(lambda got, ref, n: got.shape != ref.shape and got.size == ref.size,
            _shape_message,
            "return a flat array like theta (no column vector); check for a stray "
            "reshape or a transposed result."),
    Symptom(lambda got, ref, n: got.shape == (n,),
            lambda got, ref, n: f"Your gradient has one entry per example (shape {got.shape}), "
            f"not one per parameter (shape {ref.shape}).",
            "you stopped at the residuals: each parameter's component still needs its "
            "sum over the examples, weighted by that parameter's feature."),
    Symptom(lambda got, ref, n: got.shape != ref.shape,
            _shape_message,
            "the gradient has one entry per parameter, like theta: check which axis "
            "each of your products sums over."),
    Symptom(lambda got, ref, n: not np.all(np.isfinite(got)),
            "Your gradient contains NaN or Inf.",
            "check for a division by zero."),
    Mistake(lambda ref, n: -ref,
            "Your gradient points the wrong way (its sign is flipped).",
            "differentiate the square with the chain rule and keep the sign of the "
            "inner derivative with respect to theta."),
    Mistake(lambda ref, n: 0.5 * ref,
            "Your gradient is too small by a constant factor.",
            "this book's loss has no 1/2 in front: the derivative of rho^2 is 2 rho, "
            "so keep the factor 2."),
    Mistake(lambda ref, n: -0.5 * ref,
            "Your gradient has the wrong sign and is too small by a constant factor.",
            "check the sign of the inner derivative, and keep the 2 from d(rho^2)/d(rho) = 2 rho."),
    Mistake(lambda ref, n: AnyOf(n * ref, n / 2.0 * ref, -n * ref),
            "Your gradient grows with the number of examples: it is the gradient "
            "of the sum of the losses, not of their mean.",
            "J is a mean, so its gradient carries the factor 1/n."),
    Mistake(lambda ref, n: AnyOf(ref / n, 0.5 * ref / n),
            "Your gradient shrinks with the number of examples: you divide by n twice.",
            "divide by n exactly once (np.mean already divides by n)."),
    Symptom(lambda got, ref, n: _scaled(got, ref),
            "Your gradient points in the right direction but has the wrong length.",
            "check the constant in front: the derivative of (1/n) sum rho_i^2."),
)


@selfcheck
def check_mse_grad(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> Feedback:
    """Check a learner's gradient of the mean squared error.

    Parameters
    ----------
    fn
        ``fn(theta, X, y)`` returning the gradient of
        ``J(theta) = 1/n sum_i (y_i - x_i theta)^2`` at ``theta``, an array of the
        same shape as ``theta``. ``X`` already has the intercept column.

    Returns
    -------
    Feedback
        Passed if ``fn`` agrees with the reference on every test problem; otherwise
        a message that names the mistake (forgotten ``1/n``, missing factor 2, wrong
        sign, ``X`` instead of ``X.T``) and a hint. Introduced in :ref:`ch-loss`.
    """
    for k, (X, y, theta) in enumerate(_cases()):
        out = call(
            fn, theta, X, y, explain=functools.partial(_shape_error, k=k, X=X),
            hint="call it as fn(theta, X, y) with numpy arrays and return a numpy array.",
        )
        got = as_array(out, "return a numpy array with one entry per parameter.")
        ref = mse_grad(theta, X, y)
        diagnose(
            got, ref, _MISTAKES, (ref, X.shape[0]), rtol=_RTOL, atol=1e-12,
            generic=(
                f"Your gradient is wrong on test problem {k + 1} (it is not just rescaled).",
                "write one component dJ/dtheta_j first, as a sum over the examples, check it "
                "against a finite difference, then write all components as one matrix product.",
            ),
        )
    return correct(
        "Your gradient matches the reference on every test problem, "
        "including the factor 2/n and the sign."
    )
