"""Self-checks for :ref:`ch-fedsgd`: the server's weighted average.

The learner writes ``weighted_average(results)`` that maps a list of
``(params, num_examples)`` pairs (``params`` a list of numpy arrays, as in Flower)
to ``sum_k (n_k / n) params_k`` array by array (McMahan et al., 2017). The check
runs it on small cases and recognises the usual mistakes (a plain mean, weights
that do not sum to one, dividing by the number of clients, averaging over the
wrong axis, dropping arrays, changing the inputs) without printing the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Mistake, Symptom, Wrong, call, diagnose, selfcheck

Results = list[tuple[list[np.ndarray], int]]


def _cases() -> list[Results]:
    """Small test federations: unequal sizes, several arrays of different shapes."""
    rng = np.random.default_rng(404)
    cases: list[Results] = []
    # Three clients, a matrix and a vector per client (a weight and a bias).
    cases.append([([rng.normal(size=(2, 3)), rng.normal(size=3)], n) for n in (5, 1, 14)])
    # Two clients, square matrices (so a wrong axis keeps the shape) and a scalar array.
    cases.append([([rng.normal(size=(3, 3)), rng.normal(size=())], n) for n in (3, 9)])
    # Four clients with one vector each.
    cases.append([([rng.normal(size=4)], n) for n in (2, 7, 30, 1)])
    return cases


def _stack(results: Results, i: int) -> np.ndarray:
    return np.stack([np.asarray(p[i], dtype=np.float64) for p, _ in results])


def _weights(results: Results) -> np.ndarray:
    return np.array([n for _, n in results], dtype=np.float64)


def _wrong_axis(results: Results) -> list[np.ndarray] | None:
    """Return ``np.sum(stack * weights, axis=0)``, if it runs, for every array.

    Numpy broadcasts the (K,) weights along the *last* axis of each array (the
    columns), not along the clients.
    """
    w, k = _weights(results), len(results)
    stacks = [_stack(results, i) for i in range(len(results[0][0]))]
    if all(s.ndim >= 2 and s.shape[-1] == k for s in stacks):
        return [np.sum(s * (w / w.sum()), axis=0) for s in stacks]
    return None


def _reference(results: Results) -> list[np.ndarray]:
    return _combine(results, _weights(results) / _weights(results).sum())


def _combine(results: Results, coef: np.ndarray) -> list[np.ndarray]:
    return [np.tensordot(coef, _stack(results, i), axes=1) for i in range(len(results[0][0]))]


_MISTAKES = (
    Symptom(lambda got, results: len(got) != len(results[0][0]),
            lambda got, results: f"Your function returns {len(got)} arrays for params made of "
            f"{len(results[0][0])} arrays.",
            "average every array of params, not only the first one, and keep them in "
            "a list in the same order."),
    Symptom(lambda got, results: any(
                g.shape != np.shape(a) for g, a in zip(got, results[0][0], strict=True)
            ),
            "An array of your result does not have the shape of the clients' arrays: you "
            "averaged over the wrong axis.",
            "stack the clients' versions of one array (axis 0 = clients) and "
            "reduce over axis 0 only, so the result has the shape of one client's array."),
    Mistake(lambda results: _combine(results, np.full(len(results), 1.0 / len(results))),
            "Your function returns the plain mean of the clients' arrays: every client gets "
            "the same vote whatever its size.",
            "weight client k by its share of the data, n_k / n, where n is the total number "
            "of examples."),
    Mistake(lambda results: _combine(results, _weights(results)),
            "Your weights do not sum to one: the result grows with the number of examples.",
            "divide each n_k by n = sum_k n_k before multiplying."),
    Mistake(lambda results: _combine(results, _weights(results) / len(results)),
            "You multiply by n_k but divide by the number of clients K.",
            "the weights are n_k / n with n the total number of examples, not n_k / K."),
    Mistake(
        lambda results: _combine(results, 1 / _weights(results) / np.sum(1 / _weights(results))),
        "Small clients get the largest weights: the weights look inverted.",
        "the weight of client k grows with n_k (it is n_k / n, not 1 / n_k).",
    ),
    Mistake(_wrong_axis,
            "Your result has the right shape, but the weights multiply the columns of each "
            "array instead of the clients: numpy broadcast the weights along the wrong axis.",
            "the weights belong to axis 0 (one per client), but numpy aligns a (K,) array "
            "with the LAST axis: give the weights trailing axes, or use a product that "
            "sums over the client axis."),
)


@selfcheck(require_function=True)
def check_weighted_average(fn: Callable[[Results], Sequence[np.ndarray]]) -> Feedback:
    """Check a learner's ``weighted_average(results) -> list of arrays``.

    Introduced in the exercises of :ref:`ch-fedsgd`.

    Parameters
    ----------
    fn
        The learner's function: takes ``[(params, num_examples), ...]`` and returns a
        list with one array per array of ``params``.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected values).

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    for case_no, results in enumerate(_cases(), start=1):
        out = call(
            fn, results, where=f" (test federation {case_no})",
            hint="results is a list of (params, num_examples) pairs and params is a list of "
            "arrays; loop over the arrays of params and combine the clients' versions.",
            inplace=(
                "Your function changed the clients' arrays in place.",
                "build the result in new arrays (e.g. start from np.zeros_like) instead of "
                "adding into a client's array with +=.",
            ),
        )
        if isinstance(out, np.ndarray):
            raise Wrong(
                "Your function returns a single array.",
                "return a list with one averaged array per array of params (a model has "
                "several arrays, e.g. weights and bias).",
            )
        try:
            got = [np.asarray(a, dtype=np.float64) for a in out]
        except (TypeError, ValueError) as err:
            raise Wrong(
                "Your function does not return a list of numeric arrays.",
                "return [averaged array 0, averaged array 1, ...].",
            ) from err
        diagnose(
            got, _reference(results), _MISTAKES, (results,), rtol=1e-7, atol=1e-10,
            generic=(
                f"Your result is not the weighted average on test federation {case_no}.",
                "check every array of params against the chapter's weighted average: "
                "each client's weight (its share of the examples) and the axis you sum "
                "over (the clients).",
            ),
        )
    return correct(
        "Your weighted average is right on every test federation (unequal sizes, "
        "several arrays, square matrices), and it leaves the inputs unchanged."
    )
