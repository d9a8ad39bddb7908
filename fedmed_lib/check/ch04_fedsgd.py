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

from fedmed_lib._validate import check_learner_fn
from fedmed_lib.check import Feedback, correct, wrong

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


def _reference(results: Results) -> list[np.ndarray]:
    w = _weights(results)
    arrays = range(len(results[0][0]))
    return [np.tensordot(w / w.sum(), _stack(results, i), axes=1) for i in arrays]


def _variants(results: Results) -> dict[str, list[np.ndarray]]:
    """Return what the typical wrong answers give on ``results``."""
    w = _weights(results)
    k = len(results)
    arrays = range(len(results[0][0]))
    variants = {
        "unweighted": [_stack(results, i).mean(axis=0) for i in arrays],
        "not_normalised": [np.tensordot(w, _stack(results, i), axes=1) for i in arrays],
        "divided_by_k": [np.tensordot(w, _stack(results, i), axes=1) / k for i in arrays],
        "weights_by_count": [
            np.tensordot(1.0 / w / np.sum(1.0 / w), _stack(results, i), axes=1) for i in arrays
        ],
    }
    # ``np.sum(stack * weights, axis=0)`` with weights of shape (K,): numpy broadcasts the
    # weights along the *last* axis of each array (the columns), not along the clients.
    if all(_stack(results, i).ndim >= 2 and _stack(results, i).shape[-1] == k for i in arrays):
        variants["wrong_axis"] = [
            np.sum(_stack(results, i) * (w / w.sum()), axis=0) for i in arrays
        ]
    return variants


_HINTS = {
    "unweighted": (
        "Your function returns the plain mean of the clients' arrays: every client gets "
        "the same vote whatever its size.",
        "weight client k by its share of the data, n_k / n, where n is the total number "
        "of examples.",
    ),
    "not_normalised": (
        "Your weights do not sum to one: the result grows with the number of examples.",
        "divide each n_k by n = sum_k n_k before multiplying.",
    ),
    "divided_by_k": (
        "You multiply by n_k but divide by the number of clients K.",
        "the weights are n_k / n with n the total number of examples, not n_k / K.",
    ),
    "weights_by_count": (
        "Small clients get the largest weights: the weights look inverted.",
        "the weight of client k grows with n_k (it is n_k / n, not 1 / n_k).",
    ),
    "wrong_axis": (
        "Your result has the right shape, but the weights multiply the columns of each "
        "array instead of the clients: numpy broadcast the weights along the wrong axis.",
        "the weights belong to axis 0 (one per client); reshape them to (K, 1, ..., 1) "
        "or use np.tensordot(weights, stacked, axes=1).",
    ),
}


def _same(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        np.shape(x) == np.shape(y) and np.allclose(x, y, rtol=1e-7, atol=1e-10)
        for x, y in zip(a, b, strict=True)
    )


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
    check_learner_fn(fn)
    for case_no, results in enumerate(_cases(), start=1):
        originals = [[np.array(a, copy=True) for a in p] for p, _ in results]
        try:
            out = fn(results)
        except Exception as err:  # noqa: BLE001 - any learner error becomes feedback
            return wrong(
                f"Your function raised {type(err).__name__}: {err} (test federation {case_no}).",
                "results is a list of (params, num_examples) pairs and params is a list of "
                "arrays; loop over the arrays of params and combine the clients' versions.",
            )
        if any(
            not np.array_equal(a, b)
            for p, orig in zip(results, originals, strict=True)
            for a, b in zip(p[0], orig, strict=True)
        ):
            return wrong(
                "Your function changed the clients' arrays in place.",
                "build the result in new arrays (e.g. start from np.zeros_like) instead of "
                "adding into a client's array with +=.",
            )
        if isinstance(out, np.ndarray):
            return wrong(
                "Your function returns a single array.",
                "return a list with one averaged array per array of params (a model has "
                "several arrays, e.g. weights and bias).",
            )
        try:
            out_list = [np.asarray(a, dtype=np.float64) for a in out]
        except (TypeError, ValueError):
            return wrong(
                "Your function does not return a list of numeric arrays.",
                "return [averaged array 0, averaged array 1, ...].",
            )
        expected = _reference(results)
        if len(out_list) != len(expected):
            return wrong(
                f"Your function returns {len(out_list)} arrays for params made of "
                f"{len(expected)} arrays (test federation {case_no}).",
                "average every array of params, not only the first one, and keep them in "
                "a list in the same order.",
            )
        for i, (got, exp) in enumerate(zip(out_list, expected, strict=True)):
            if got.shape != exp.shape:
                return wrong(
                    f"Array {i} of your result has shape {got.shape}, but each client's "
                    f"array {i} has shape {exp.shape}: you averaged over the wrong axis.",
                    "stack the clients' versions of one array (axis 0 = clients) and "
                    "reduce over axis 0 only, so the result has the shape of one client's "
                    "array.",
                )
        if _same(out_list, expected):
            continue
        for name, values in _variants(results).items():
            if _same(out_list, values):
                message, hint = _HINTS[name]
                return wrong(message, hint)
        return wrong(
            f"Your result is not the weighted average on test federation {case_no}.",
            "for every array i compute sum_k (n_k / n) * params_k[i], with n the total "
            "number of examples.",
        )
    return correct(
        "Your weighted average is right on every test federation (unequal sizes, "
        "several arrays, square matrices), and it leaves the inputs unchanged."
    )
