"""Self-checks for :ref:`ch-differential-privacy`: clipping a model update to norm C.

DP-FedAvg (McMahan et al., 2018) bounds each hospital's influence on the sum of
updates by clipping the update's global L2 norm to ``C``. The check runs the
learner's clipping function on small updates and explains what is wrong, without
printing the expected arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib._validate import check_learner_fn
from fedmed_lib.check import Feedback, correct, wrong

ClipFn = Callable[[list[np.ndarray], float], Sequence[np.ndarray]]


def _norm(arrays: Sequence[np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(a))) for a in arrays)))


def _flat(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def _run(fn: ClipFn, update: list[np.ndarray], c: float) -> tuple[list[np.ndarray] | None, str]:
    given = [a.copy() for a in update]
    try:
        out = fn(given, c)
    except Exception as err:  # noqa: BLE001 - any learner error becomes feedback
        return None, f"your function raised {type(err).__name__}: {err}."
    if not isinstance(out, list | tuple) or len(out) != len(update):
        return None, (
            f"your function returned {type(out).__name__} of length "
            f"{len(out) if hasattr(out, '__len__') else '?'}; expected a list with one array "
            f"per input array ({len(update)})."
        )
    arrays = [np.asarray(a, dtype=np.float64) for a in out]
    for a, u in zip(arrays, update, strict=True):
        if a.shape != u.shape:
            return None, f"an output array has shape {a.shape}, its input had shape {u.shape}."
    for a, u in zip(given, update, strict=True):
        if not np.array_equal(a, u):
            return None, "your function changed the update it was given (in place)."
    return arrays, ""


def check_clip(fn: ClipFn) -> Feedback:
    """Check a learner's ``clip(update, clipping_norm) -> update``.

    ``update`` is a list of numpy arrays (one per layer); the result must be
    ``update * min(1, C / ||update||)`` with the norm taken over all arrays together.
    Detects: clipping each coordinate to ``[-C, C]``, scaling small updates up to
    norm ``C``, clipping each array separately, and using a wrong norm (L1,
    squared, max). Introduced in :ref:`ch-differential-privacy`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    check_learner_fn(fn)
    hint_copy = "return new arrays, e.g. [u * scale for u in update], and never modify the input."
    # 1. an update already inside the ball
    small = [np.array([0.3, -0.4]), np.array([[0.1], [0.2]])]
    out, err = _run(fn, small, 2.0)
    if out is None:
        return wrong(f"Small update: {err}", hint_copy)
    if not np.allclose(_flat(out), _flat(small), rtol=1e-9, atol=1e-12):
        if np.isclose(_norm(out), 2.0) and np.allclose(
            _flat(out) / _norm(out), _flat(small) / _norm(small)
        ):
            return wrong(
                "An update whose norm is already below C came back with norm exactly C: "
                "you scaled a small update UP.",
                "the scale factor is min(1, C / norm); clipping only ever shrinks.",
            )
        return wrong(
            "An update whose norm is already below C was changed.",
            "when ||update|| <= C, clipping must return the update unchanged.",
        )
    # 2. one array, large norm, coordinates larger than C
    big = [np.array([3.0, -4.0, 0.0])]
    out, err = _run(fn, big, 1.0)
    if out is None:
        return wrong(f"Large update: {err}", hint_copy)
    direction = _flat(out) @ _flat(big) / (max(_norm(out), 1e-300) * _norm(big))
    if np.allclose(_flat(out), np.clip(_flat(big), -1.0, 1.0)):
        return wrong(
            "Each coordinate was clipped to [-C, C]: that changes the direction of the "
            "update and its norm can still exceed C.",
            "compute ONE norm of the whole update, then multiply every entry by the same "
            "factor min(1, C / norm).",
        )
    if direction < 1 - 1e-9:
        return wrong(
            "The clipped update points in a different direction from the original.",
            "clipping multiplies the whole update by one positive number.",
        )
    n_out = _norm(out)
    if n_out > 1.0 + 1e-9:
        return wrong(
            "After clipping, the norm is still larger than C.",
            "use the Euclidean (L2) norm sqrt(sum of squares) over all entries.",
        )
    if n_out < 1.0 - 1e-9:
        if np.isclose(n_out, 5.0 / 7.0) or np.isclose(n_out, 1.0 / 5.0) or np.isclose(n_out, 0.25):
            return wrong(
                "The direction is right but the clipped norm is below C: you divided by a "
                "different norm (L1, squared L2 or max).",
                "the norm is np.sqrt(sum of squares), not the sum of absolute values, "
                "the sum of squares itself, or the largest entry.",
            )
        return wrong(
            "The direction is right but the clipped norm is below C.",
            "a large update should come back with norm exactly C.",
        )
    # 3. several arrays: each small, together large
    layers = [np.array([0.6, 0.8]), np.array([[0.8], [-0.6]]), np.array([0.0])]
    out, err = _run(fn, layers, 1.2)
    if out is None:
        return wrong(f"Update with several arrays: {err}", hint_copy)
    if np.allclose(_flat(out), _flat(layers)):
        return wrong(
            "Every array had norm below C, but the update as a whole did not, and it came "
            "back unchanged: you clipped each array (layer) separately.",
            "the norm is over ALL arrays together: sqrt(sum over arrays of sum of squares).",
        )
    if not np.isclose(_norm(out), 1.2) or (
        _flat(out) @ _flat(layers) / (_norm(out) * _norm(layers)) < 1 - 1e-9
    ):
        return wrong(
            "An update made of several arrays was not scaled as one vector.",
            "compute one global norm, then multiply every array by the same factor.",
        )
    # 4. the zero update
    out, err = _run(fn, [np.zeros(3)], 1.0)
    if out is None:
        return wrong(f"Zero update: {err}", "guard against dividing by a zero norm.")
    if not np.all(np.isfinite(_flat(out))) or np.any(_flat(out) != 0):
        return wrong(
            "The zero update did not come back as zeros (division by a zero norm?).",
            "min(1, C / norm) is 1 when the norm is 0; treat that case separately.",
        )
    return correct(
        "Your clipping bounds the global L2 norm by C, keeps the direction, and leaves "
        "small updates (and the zero update) unchanged."
    )
