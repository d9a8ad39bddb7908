"""Self-checks for :ref:`ch-overfitting`: the federated validation loss.

The learner writes ``fn(site_losses, num_examples) -> float`` that combines the
hospitals' mean validation losses into the validation loss over all their
patients, ``sum_k n_k L_k / sum_k n_k``: the number the server uses for early
stopping (McMahan et al., AISTATS 2017 weight clients the same way). The check
runs ``fn`` on small federations, recognises the usual mistakes, and never prints
the expected values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib._validate import InputTypeError
from fedmed_lib.check import Feedback, correct, wrong

FederatedLossFn = Callable[[Sequence[float], Sequence[int]], float]

# (site losses, site sizes): unequal sizes so that every mistake gives another number.
_CASES: tuple[tuple[tuple[float, ...], tuple[int, ...]], ...] = (
    ((0.2, 0.9, 0.45), (300, 25, 40)),
    ((0.5, 0.1, 1.3), (60, 150, 10)),
    ((0.7, 0.4, 0.25, 0.6), (91, 89, 37, 60)),
)

_MISTAKES: dict[str, tuple[Callable[[np.ndarray, np.ndarray], float], str, str]] = {
    "unweighted": (
        lambda loss, n: float(np.mean(loss)),
        "Your result is the plain average of the sites' losses, so a hospital with 25 "
        "patients counts as much as one with 300.",
        "weight each site's loss by its number of validation examples n_k.",
    ),
    "no_normalisation": (
        lambda loss, n: float(n @ loss),
        "Your result is the weighted *sum* n_k * L_k, which grows with the number of "
        "patients.",
        "divide by the total number of examples, sum_k n_k.",
    ),
    "divided_by_sites": (
        lambda loss, n: float(n @ loss / len(n)),
        "Your result divides the weighted sum by the number of sites.",
        "the weights n_k / n must add up to 1: divide by sum_k n_k, not by K.",
    ),
    "inverse_weights": (
        lambda loss, n: float((loss / n).sum() / (1 / n).sum()),
        "Your weights favour the *small* sites (you weight by 1 / n_k).",
        "a site with more examples should count more: weight by n_k.",
    ),
    "sum": (
        lambda loss, n: float(np.sum(loss)),
        "Your result adds up the sites' losses without any weights.",
        "the federated loss is an average, weighted by n_k / sum_k n_k.",
    ),
    "median": (
        lambda loss, n: float(np.median(loss)),
        "Your result is the median of the sites' losses.",
        "the loss over all patients is the n_k-weighted mean of the sites' losses.",
    ),
}


def _close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))



def _check_fn(fn: object) -> None:
    """Refuse a check called on something that is not a function (a common slip: ``f()``)."""
    if not callable(fn):
        raise InputTypeError(
            f"fn must be your function itself (pass the name, without calling it), got "
            f"{type(fn).__name__}"
        )

def check_federated_validation_loss(fn: FederatedLossFn) -> Feedback:
    """Check a learner's federated validation loss.

    Introduced in the exercises of :ref:`ch-overfitting`.

    Parameters
    ----------
    fn
        ``fn(site_losses, num_examples) -> float``: the sites' mean validation
        losses and their numbers of validation examples, in the same order.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected numbers).

    Raises
    ------
    TypeError
        If ``fn`` is not a function
        (:class:`~fedmed_lib._validate.InputTypeError`, also a ``ValueError``).
    """
    _check_fn(fn)
    for losses, counts in _CASES:
        loss = np.array(losses, dtype=np.float64)
        n = np.array(counts, dtype=np.float64)
        try:
            value = float(fn(list(losses), list(counts)))
        except Exception as err:  # report any error of the learner's code
            return wrong(
                f"Your function raised {type(err).__name__}: {err}.",
                "it should take two lists (losses, num_examples) and return one number.",
            )
        if not np.isfinite(value):
            return wrong("Your function returned NaN or Inf.",
                         "check for a division by zero or an empty list.")
        if _close(value, float(n @ loss / n.sum())):
            continue
        for compute, message, hint in _MISTAKES.values():
            if _close(value, compute(loss, n)):
                return wrong(message, hint)
        lo, hi = float(loss.min()), float(loss.max())
        if not lo - 1e-12 <= value <= hi + 1e-12:
            return wrong(
                "Your result lies outside the range of the sites' losses, which no "
                "weighted average can do.",
                "use weights n_k / sum_k n_k, which are positive and add up to 1.",
            )
        return wrong(
            "Your result is a number between the sites' losses, but not the loss over "
            "all their patients.",
            "sum_k n_k L_k / sum_k n_k: the total loss over all patients divided by "
            "the number of patients.",
        )
    return correct(
        "Your federated validation loss equals the mean loss over all the hospitals' "
        "patients on every test federation, computed from one loss and one count per site."
    )
