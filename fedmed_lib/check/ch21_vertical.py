"""Self-checks for :ref:`ch-vertical`: one round of vertical logistic regression.

The learner writes ``round_fn(X_A, X_B, y, theta_A, theta_B, lr) -> (theta_A, theta_B)``:
the laboratory's partial predictor ``u_B = X_B theta_B``, the hospital's residuals
``r = sigmoid(X_A theta_A + u_B) - y`` (1 = disease), and both parties' gradient
steps ``theta_k - lr * X_k^T r / n`` (Hardy et al., arXiv:1711.10677, without the
encryption). The check runs it on small aligned data sets with unequal numbers of
columns, recognises the usual mistakes, and never prints the expected values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Mistake, Symptom, Wrong, call, diagnose, selfcheck

RoundFn = Callable[..., tuple[np.ndarray, np.ndarray]]
Case = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]


def _cases() -> list[Case]:
    rng = np.random.default_rng(2121)
    cases = []
    for n, d_a, d_b, lr in ((7, 2, 3, 0.5), (12, 3, 5, 1.3)):
        X_A = np.column_stack([np.ones(n), rng.normal(size=(n, d_a - 1))])
        X_B = rng.normal(size=(n, d_b))
        y = (np.arange(n) % 3 == 0).astype(float)
        cases.append((X_A, X_B, y, rng.normal(size=d_a), rng.normal(size=d_b), lr))
    return cases


def _sig(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _step(X_A: np.ndarray, X_B: np.ndarray, r_A: np.ndarray, r_B: np.ndarray,
          t_A: np.ndarray, t_B: np.ndarray, lr: float, n: float) -> tuple[np.ndarray, np.ndarray]:
    return t_A - lr * X_A.T @ r_A / n, t_B - lr * X_B.T @ r_B / n


def _reference(X_A: np.ndarray, X_B: np.ndarray, y: np.ndarray, t_A: np.ndarray,
               t_B: np.ndarray, lr: float) -> tuple[np.ndarray, np.ndarray]:
    r = _sig(X_A @ t_A + X_B @ t_B) - y
    return _step(X_A, X_B, r, r, t_A, t_B, lr, len(y))


def _residual(X_A: np.ndarray, X_B: np.ndarray, y: np.ndarray, t_A: np.ndarray,
              t_B: np.ndarray) -> np.ndarray:
    return _sig(X_A @ t_A + X_B @ t_B) - y


_MISTAKES = (
    Symptom(lambda got, X_A, X_B, *_: len(got) == 2 and np.shape(got[0]) == (X_B.shape[1],)
            and np.shape(got[1]) == (X_A.shape[1],),
            "You return the laboratory's coefficients first and the hospital's second.",
            "return (theta_A, theta_B): the hospital's block first."),
    Mistake(lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, -_residual(X_A, X_B, y, a, b),
                                                -_residual(X_A, X_B, y, a, b), a, b, lr, len(y)),
            "Your step goes uphill: the residuals have the wrong sign.",
            "check the sign of the residuals against the theorem 'The gradient splits by "
            "parties': which is subtracted from which?"),
    Mistake(lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, _sig(X_A @ a) - y, _sig(X_B @ b) - y,
                                                a, b, lr, len(y)),
            "Each party uses only its own partial predictor in its residuals.",
            "the probability needs the whole linear predictor: the laboratory sends X_B theta_B "
            "to the hospital, which adds its own part and sends the residuals back."),
    Mistake(lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, _sig(X_A @ a) - y, _sig(X_A @ a) - y,
                                                a, b, lr, len(y)),
            "The hospital's residuals ignore the laboratory's partial predictor.",
            "the hospital's linear predictor must include the partial predictor that the "
            "laboratory sends."),
    Mistake(lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, X_A @ a + X_B @ b - y,
                                                X_A @ a + X_B @ b - y, a, b, lr, len(y)),
            "Your residuals are those of linear regression (no sigmoid).",
            "logistic regression compares a probability with the label: the linear "
            "predictor is not a probability yet."),
    Mistake(lambda X_A, X_B, y, a, b, lr: _step(X_A, X_B, _residual(X_A, X_B, y, a, b),
                                                _residual(X_A, X_B, y, a, b), a, b, lr, 1.0),
            "Your step sums the gradient over patients instead of averaging it.",
            "the loss is a mean over the n aligned patients: check the constant in front "
            "of each party's gradient."),
    Mistake(lambda X_A, X_B, y, a, b, lr: (_reference(X_A, X_B, y, a, b, lr)[0], b),
            "Only the hospital updates its coefficients; the laboratory's stay where they were.",
            "send the residuals to the laboratory so that it can take its own step."),
    Mistake(lambda X_A, X_B, y, a, b, lr: (a, _reference(X_A, X_B, y, a, b, lr)[1]),
            "Only the laboratory updates its coefficients; the hospital's stay where they were.",
            "the hospital takes its own gradient step in the same round, with the same "
            "residuals."),
)


@selfcheck
def check_vertical_round(round_fn: RoundFn) -> Feedback:
    """Check a learner's round of vertical logistic regression (no penalty).

    Introduced in the exercises of :ref:`ch-vertical`.

    Parameters
    ----------
    round_fn
        ``round_fn(X_A, X_B, y, theta_A, theta_B, lr) -> (theta_A, theta_B)``: the
        hospital holds ``X_A`` (first column of ones) and ``y`` (1 = disease), the
        laboratory ``X_B``; rows are aligned.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected numbers).
    """
    hint = "call it as round_fn(X_A, X_B, y, theta_A, theta_B, lr) and return two arrays."
    for case in _cases():
        out = call(round_fn, *case, hint=hint)
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise Wrong("round_fn must return two arrays (theta_A, theta_B).",
                        "return new_theta_A, new_theta_B")
        got = (np.asarray(out[0], dtype=float), np.asarray(out[1], dtype=float))
        diagnose(got, _reference(*case), _MISTAKES, case, rtol=1e-9, atol=1e-12,
                 generic=("Your round does not give the gradient step on the joined data.",
                          "check each message and step against the theorem 'The "
                          "gradient splits by parties': the joined linear predictor, the "
                          "residuals, each party's gradient on its own columns."))
    return correct(
        "Your round sends one partial predictor and one residual vector, and both parties' "
        "steps equal a gradient step on the joined data."
    )
