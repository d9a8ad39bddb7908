"""Self-check for :ref:`ch-medical-images`: FedAvg over lists of Keras weight arrays.

The learner writes ``keras_fedavg(client_weights, num_examples)``: ``client_weights``
holds one ``model.get_weights()`` list per hospital (kernels and biases of every
layer), and the result is the list ``[sum_k (n_k / n) W_k[i] for each layer array i]``
(McMahan et al., 2017). The check runs it on small fake "models" with arrays of
different shapes and recognises the usual mistakes (an unweighted mean, weights that
are not normalised, weights ``1/n_k``, averaging all layers into one array, stacking
instead of averaging, keeping the first hospital's weights, changing the inputs in
place) without printing the expected values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import AnyOf, Mistake, Symptom, call, diagnose, selfcheck

FedAvgFn = Callable[[list[list[np.ndarray]], list[int]], list[np.ndarray]]

_SHAPES: tuple[tuple[int, ...], ...] = ((3, 3, 1, 2), (2,), (4, 1), (1,))


def _case(seed: int, sizes: list[int]) -> tuple[list[list[np.ndarray]], list[int]]:
    rng = np.random.default_rng(seed)
    weights = [
        [rng.normal(loc=k, size=s).astype(np.float32) for s in _SHAPES]
        for k in range(len(sizes))
    ]
    return weights, sizes


def _layerwise(weights: list[list[np.ndarray]], coef: list[float]) -> list[np.ndarray]:
    return [
        np.sum([c * np.asarray(w[i], np.float64) for w, c in zip(weights, coef, strict=True)],
               axis=0)
        for i in range(len(weights[0]))
    ]


_LAYER_HINT = ("average layer by layer: for each index i, combine the i-th array of "
               "every hospital, not all arrays of one hospital.")

_MISTAKES = (
    Symptom(lambda out, weights, sizes: isinstance(out, np.ndarray)
            or not isinstance(out, list | tuple),
            "Your function must return a list with one array per layer array.",
            "model.set_weights needs a list like model.get_weights(): average array i "
            "of every hospital into array i of the result."),
    Symptom(lambda out, weights, sizes: len(out) != len(weights[0])
            and len(out) in (1, len(sizes)),
            lambda out, weights, sizes: f"You return {len(out)} arrays; the model has "
            f"{len(weights[0])} weight arrays.", _LAYER_HINT),
    Symptom(lambda out, weights, sizes: len(out) != len(weights[0]),
            lambda out, weights, sizes: f"You return {len(out)} arrays; the model has "
            f"{len(weights[0])} weight arrays.",
            "the result must have the same structure as one hospital's list."),
    Symptom(lambda out, weights, sizes: any(
                np.shape(a) != np.shape(r) for a, r in zip(out, weights[0], strict=True)),
            "An array of your result has the wrong shape.",
            "np.stack the hospitals' arrays and reduce over axis 0, or sum arrays of "
            "the same layer; never concatenate different layers."),
    Mistake(lambda weights, sizes: _layerwise(weights, [1.0 / len(sizes)] * len(sizes)),
            "You computed the plain (unweighted) mean of the hospitals' weights.",
            "weight hospital k by n_k / n, its share of the examples: small "
            "hospitals must count less."),
    Mistake(lambda weights, sizes: _layerwise(weights, [float(s) for s in sizes]),
            "Your weights are not normalised: they add up to n, not to 1.",
            "divide by the total number of examples n = sum of num_examples."),
    Mistake(lambda weights, sizes: AnyOf(
                _layerwise(weights, [1 / s / sum(1 / t for t in sizes) for s in sizes]),
                _layerwise(weights, [1 / s for s in sizes])),
            "You weight hospitals by 1 / n_k: small hospitals count most.",
            "the weight of hospital k is n_k / n."),
    Mistake(lambda weights, sizes: weights[0],
            "Your result is the first hospital's model.",
            "loop over all hospitals, not only client_weights[0]."),
)


@selfcheck
def check_keras_fedavg(fn: FedAvgFn) -> Feedback:
    """Check a learner's ``keras_fedavg(client_weights, num_examples)``.

    Introduced in the exercises of :ref:`ch-medical-images`.

    Parameters
    ----------
    fn
        Takes one list of weight arrays per hospital (as ``model.get_weights()``
        returns it) and the hospitals' numbers of examples; returns one averaged
        array per layer array.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected values).
    """
    cases = [_case(1, [30, 10, 60]), _case(2, [5, 45]), _case(3, [12, 12, 100, 7])]
    for case_no, (weights, sizes) in enumerate(cases, start=1):
        out = call(fn, weights, list(sizes), where=f" (test case {case_no})",
                   hint="call it as keras_fedavg(client_weights, num_examples) where "
                   "client_weights is a list (hospitals) of lists (layer arrays).",
                   inplace=("Your function changed the hospitals' weight arrays in place.",
                            "build new arrays (e.g. start from np.zeros_like) instead of "
                            "using += on the first hospital's arrays."))
        expected = _layerwise(weights, [nk / sum(sizes) for nk in sizes])
        diagnose(list(out) if isinstance(out, list | tuple) else out, expected, _MISTAKES,
                 (weights, sizes), rtol=1e-5, atol=1e-6,
                 generic=(f"Your average differs from FedAvg's (test case {case_no}).",
                          "check every layer array against FedAvg's weighted average: "
                          "each hospital's weight (its share of the examples) and what is "
                          "summed (the hospitals' versions of the same layer)."))
    return correct(
        "Your FedAvg averages every layer array over the hospitals with weights n_k / n."
    )
