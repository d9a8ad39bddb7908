"""Self-checks for :ref:`ch-overfitting`: the federated validation loss.

The learner writes ``fn(site_losses, num_examples) -> float`` that combines the
hospitals' mean validation losses into the validation loss over all their
patients, ``J^val = sum_k n_k J_k^val / sum_k n_k`` with ``J_k^val`` the mean
validation loss of site ``k``: the number the server uses for early
stopping (McMahan et al., AISTATS 2017 weight clients the same way). The check
runs ``fn`` on small federations, recognises the usual mistakes, and never prints
the expected values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Mistake, Symptom, Wrong, as_number, call, diagnose, selfcheck

FederatedLossFn = Callable[[Sequence[float], Sequence[int]], float]

# (site losses, site sizes): unequal sizes so that every mistake gives another number.
_CASES: tuple[tuple[tuple[float, ...], tuple[int, ...]], ...] = (
    ((0.2, 0.9, 0.45), (300, 25, 40)),
    ((0.5, 0.1, 1.3), (60, 150, 10)),
    ((0.7, 0.4, 0.25, 0.6), (91, 89, 37, 60)),
)

_MISTAKES = (
    Mistake(lambda loss, n: np.mean(loss),
            "Your result is the plain average of the sites' losses, so a hospital with 25 "
            "patients counts as much as one with 300.",
            "weight each site's loss by its number of validation examples n_k."),
    Mistake(lambda loss, n: n @ loss,
            "Your result is the weighted *sum* of n_k * J_k^val, which grows with the number of "
            "patients.",
            "divide by the total number of examples, sum_k n_k."),
    Mistake(lambda loss, n: n @ loss / len(n),
            "Your result divides the weighted sum by the number of sites.",
            "the weights n_k / n must add up to 1: divide by sum_k n_k, not by K."),
    Mistake(lambda loss, n: (loss / n).sum() / (1 / n).sum(),
            "Your weights favour the *small* sites (you weight by 1 / n_k).",
            "a site with more examples should count more: weight by n_k."),
    Mistake(lambda loss, n: np.sum(loss),
            "Your result adds up the sites' losses without any weights.",
            "the federated loss is an average, weighted by n_k / sum_k n_k."),
    Mistake(lambda loss, n: np.median(loss),
            "Your result is the median of the sites' losses.",
            "the loss over all patients is the n_k-weighted mean of the sites' losses."),
    Symptom(lambda got, loss, n: not loss.min() - 1e-12 <= got <= loss.max() + 1e-12,
            "Your result lies outside the range of the sites' losses, which no "
            "weighted average can do.",
            "use weights n_k / sum_k n_k, which are positive and add up to 1."),
)


@selfcheck(require_function=True)
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
    hint = "it should take two lists (losses, num_examples) and return one number."
    for losses, counts in _CASES:
        loss = np.array(losses, dtype=np.float64)
        n = np.array(counts, dtype=np.float64)
        value = as_number(call(fn, list(losses), list(counts), hint=hint), hint)
        if not np.isfinite(value):
            raise Wrong("Your function returned NaN or Inf.",
                        "check for a division by zero or an empty list.")
        diagnose(
            value, n @ loss / n.sum(), _MISTAKES, (loss, n), rtol=1e-9, atol=1e-12,
            generic=(
                "Your result is a number between the sites' losses, but not the loss over "
                "all their patients.",
                "compare with the mean loss over all validation patients pooled (section "
                "'The federated validation loss'): how much loss does each site hold, and "
                "over how many patients?",
            ),
        )
    return correct(
        "Your federated validation loss equals the mean loss over all the hospitals' "
        "patients on every test federation, computed from one loss and one count per site."
    )
