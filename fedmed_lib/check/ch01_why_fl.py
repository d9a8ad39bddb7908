"""Self-checks for :ref:`ch-why-fl`: the server-client loop and federated evaluation.

Two checks for the first chapter's exercises:

* :func:`check_five_steps` checks the order of the five steps of one round of
  federated learning (McMahan et al., "Communication-Efficient Learning of Deep
  Networks from Decentralized Data", AISTATS 2017), given as the letters of the
  shuffled steps in :data:`FIVE_STEPS`.
* :func:`check_weighted_accuracy` checks a learner's function that combines the
  hospitals' test accuracies into the accuracy on all their test patients, the
  average weighted by ``n_k / n`` (the same weights as FedAvg's aggregation).

Both recognise the usual slips (aggregating before training, an unweighted mean,
a forgotten division by ``n``...) and give a hint; neither reveals the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib.check import Feedback, correct, wrong
from fedmed_lib.check._core import Mistake, Symptom, as_number, call, diagnose, selfcheck, spot

FIVE_STEPS: dict[str, str] = {
    "A": "The hospitals upload their model updates to the server.",
    "B": "The server initialises the global model and broadcasts it to the hospitals.",
    "C": "The server repeats the round until the model stops improving.",
    "D": "Each hospital trains the model on its own patients and computes its update.",
    "E": "The server aggregates the updates (weighted average) and updates the global model.",
}
"""The five steps of the server-client loop, shuffled; put the letters in order."""

# What each step is, so that feedback can talk about steps, not letters.
_ROLE = {"A": "upload", "B": "broadcast", "C": "repeat", "D": "train", "E": "aggregate"}
_ORDER = ("broadcast", "train", "upload", "aggregate", "repeat")


_ORDER_MISTAKES = (
    Symptom(lambda roles: roles[0] != "broadcast",
            "The first step is not the one that starts a round.",
            "nothing can be trained, uploaded or averaged before the hospitals have a model: "
            "where does their first model come from?"),
    Symptom(lambda roles: roles[-1] != "repeat",
            "The last step is not the one that closes the loop.",
            "'repeat' sends the new global model back out, so it can only come after the "
            "server has a new model."),
    Symptom(lambda roles: roles.index("aggregate") < roles.index("upload"),
            "The server aggregates before it has received anything.",
            "the server can only average updates that the hospitals have already sent."),
    Symptom(lambda roles: roles.index("upload") < roles.index("train"),
            "The hospitals upload before they have trained.",
            "an update is the result of local training: what would they send before it?"),
)


@selfcheck
def check_five_steps(order: Sequence[str] | str) -> Feedback:
    """Check the order of the five steps of a federated round.

    Parameters
    ----------
    order
        The five letters of :data:`FIVE_STEPS` in the order the steps happen,
        e.g. ``["A", "C", ...]`` or the string ``"AC..."``.

    Returns
    -------
    Feedback
        Passed if the order is right; otherwise which step is misplaced and why,
        without giving the order. Introduced in :ref:`ch-why-fl`.
    """
    if isinstance(order, str):
        letters = [c for c in order.upper() if not c.isspace() and c not in ",;-"]
    else:
        try:
            letters = [str(c).strip().upper() for c in order]
        except TypeError:
            return wrong(
                f"Expected a list of letters, got {type(order).__name__}.",
                'give the letters as a list such as ["A", "B", ...] or a string "AB...".',
            )
    unknown = [c for c in letters if c not in FIVE_STEPS]
    if unknown:
        return wrong(
            f"{unknown[0]!r} is not one of the steps.",
            f"use only the letters {', '.join(FIVE_STEPS)}, each once.",
        )
    if len(letters) != len(FIVE_STEPS) or len(set(letters)) != len(letters):
        missing = sorted(set(FIVE_STEPS) - set(letters))
        twice = sorted({c for c in letters if letters.count(c) > 1})
        problems = [f"missing: {', '.join(missing)}"] if missing else []
        problems += [f"appearing twice: {', '.join(twice)}"] if twice else []
        return wrong(
            f"You gave {len(letters)} letters ({'; '.join(problems)}).",
            "a round has exactly five steps: use each letter once.",
        )
    roles = [_ROLE[c] for c in letters]
    if roles == list(_ORDER):
        return correct("Right: broadcast, local training, upload, aggregation, repeat.")
    spot(roles, _ORDER_MISTAKES)
    return wrong(
        "The steps are not in the order of a round.",
        "follow one model: it goes out, is trained where the data are, comes back, is combined.",
    )


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """Hospitals of very different sizes, so each wrong rule gives a different number."""
    return [
        (np.array([0.9, 0.6, 0.75]), np.array([100, 10, 40])),
        (np.array([0.5, 1.0]), np.array([3, 1])),
        (np.array([0.8, 0.95, 0.7, 0.85]), np.array([303, 294, 123, 200])),
    ]


_ACCURACY_MISTAKES = (
    Mistake(lambda acc, n: 100 * np.sum(n * acc) / np.sum(n),
            "Your answer is a percentage.",
            "return a fraction between 0 and 1, like the accuracies you receive."),
    Mistake(lambda acc, n: np.mean(acc),
            "You give every hospital the same weight.",
            "a hospital with 100 test patients says more about the overall accuracy than "
            "one with 10: weight each accuracy by its number of patients."),
    Mistake(lambda acc, n: np.sum(n * acc),
            "Your answer counts correct predictions instead of giving a fraction "
            "(it can exceed 1).",
            "divide the number of correct predictions by the number of test patients."),
    Mistake(lambda acc, n: np.sum(n * acc) / len(acc),
            "You divide by the number of hospitals.",
            "the weights n_k / n must add up to 1: divide by the total number of "
            "patients, not by how many hospitals there are."),
    Mistake(lambda acc, n: np.sum((1.0 / n) / np.sum(1.0 / n) * acc),
            "Your weights favour the small hospitals.",
            "the weight of hospital k should grow with its number of patients n_k."),
    Symptom(lambda got, acc, n: not 0.0 <= got <= 1.0,
            "Your answer is not between 0 and 1, so it cannot be an accuracy.",
            "an average of accuracies, with weights that add up to 1, stays in [0, 1]."),
)


@selfcheck
def check_weighted_accuracy(
    fn: Callable[[np.ndarray, np.ndarray], float],
) -> Feedback:
    """Check a learner's combination of per-hospital accuracies into the overall accuracy.

    Parameters
    ----------
    fn
        ``fn(accuracies, num_examples)`` where ``accuracies[k]`` is hospital ``k``'s
        accuracy on its ``num_examples[k]`` test patients (fractions in [0, 1]); it
        should return the accuracy on all test patients together, a float.

    Returns
    -------
    Feedback
        Passed if ``fn`` is right on every test case; otherwise the mistake
        (unweighted mean, no division by ``n``, division by the number of hospitals,
        inverse weights, a percentage, an array instead of a number) and a hint.
        Introduced in :ref:`ch-why-fl`.
    """
    for acc, n in _cases():
        out = call(
            fn, acc, n,
            hint="call it as fn(accuracies, num_examples) with two numpy arrays and return "
            "one float.",
        )
        got = as_number(
            out, "you have one term per hospital; add them up into a single accuracy."
        )
        diagnose(
            got, np.sum(n * acc) / np.sum(n), _ACCURACY_MISTAKES, (acc, n),
            generic=(
                "Your overall accuracy does not match the accuracy on all test patients "
                "together.",
                "compare with the accuracy of all test patients pooled: how many correct "
                "predictions does each hospital contribute, and out of how many patients?",
            ),
            rtol=1e-9, atol=1e-12,
        )
    return correct(
        "Right: the accuracy on all patients is the n_k/n-weighted average of the "
        "hospitals' accuracies."
    )
