"""Self-checks for :ref:`ch-differential-privacy`: clipping a model update to norm C.

DP-FedAvg (McMahan et al., 2018) bounds each hospital's influence on the sum of
updates by clipping the update's global L2 norm to ``C``. The check runs the
learner's clipping function on small updates and explains what is wrong, without
printing the expected arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Mistake, Symptom, Wrong, call, diagnose, selfcheck

ClipFn = Callable[[list[np.ndarray], float], Sequence[np.ndarray]]


def _norm(arrays: Sequence[np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(a))) for a in arrays)))


def _flat(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def _clipped(fn: ClipFn, update: list[np.ndarray], c: float, what: str) -> np.ndarray:
    """Run the learner's clip on ``update`` and return its answer flattened."""
    hint = "return new arrays, e.g. [u * scale for u in update], and never modify the input."
    if what == "Zero update":
        hint = "guard against dividing by a zero norm."
    out = call(fn, update, c, hint=hint, where=f" ({what.lower()})", inplace=(
        f"{what}: your function changed the update it was given (in place).", hint))
    if not isinstance(out, list | tuple) or len(out) != len(update):
        size = len(out) if hasattr(out, "__len__") else "?"
        raise Wrong(f"{what}: your function returned {type(out).__name__} of length {size}; "
                    f"expected a list with one array per input array ({len(update)}).", hint)
    arrays = [np.asarray(a, dtype=np.float64) for a in out]
    for a, u in zip(arrays, update, strict=True):
        if a.shape != u.shape:
            raise Wrong(f"{what}: an output array has shape {a.shape}, its input had shape "
                        f"{u.shape}.", hint)
    return _flat(arrays)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (max(float(np.linalg.norm(a)), 1e-300) * float(np.linalg.norm(b))))


_SMALL_MISTAKES = (
    Symptom(lambda got, u, c: np.isclose(np.linalg.norm(got), c) and _cos(got, u) > 1 - 1e-9,
            "An update whose norm is already below C came back with norm exactly C: "
            "you scaled a small update UP.",
            "the scale factor is min(1, C / norm); clipping only ever shrinks."),
)

_LARGE_MISTAKES = (
    Mistake(lambda u, c: np.clip(u, -c, c),
            "Each coordinate was clipped to [-C, C]: that changes the direction of the "
            "update and its norm can still exceed C.",
            "compute ONE norm of the whole update, then multiply every entry by the same "
            "factor min(1, C / norm)."),
    Symptom(lambda got, u, c: _cos(got, u) < 1 - 1e-9,
            "The clipped update points in a different direction from the original.",
            "clipping multiplies the whole update by one positive number."),
    Symptom(lambda got, u, c: np.linalg.norm(got) > c + 1e-9,
            "After clipping, the norm is still larger than C.",
            "use the Euclidean (L2) norm sqrt(sum of squares) over all entries."),
    Symptom(lambda got, u, c: any(np.isclose(np.linalg.norm(got), c * v) for v in (
                np.linalg.norm(u) / np.abs(u).sum(), 1 / np.linalg.norm(u), 1 / np.abs(u).max())),
            "The direction is right but the clipped norm is below C: you divided by a "
            "different norm (L1, squared L2 or max).",
            "the norm is np.sqrt(sum of squares), not the sum of absolute values, "
            "the sum of squares itself, or the largest entry."),
)

_LAYERS_MISTAKES = (
    Mistake(lambda u, c: u,
            "Every array had norm below C, but the update as a whole did not, and it came "
            "back unchanged: you clipped each array (layer) separately.",
            "the norm is over ALL arrays together: sqrt(sum over arrays of sum of squares)."),
)


@selfcheck(require_function=True)
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
    small = [np.array([0.3, -0.4]), np.array([[0.1], [0.2]])]
    big = [np.array([3.0, -4.0, 0.0])]
    layers = [np.array([0.6, 0.8]), np.array([[0.8], [-0.6]]), np.array([0.0])]
    for what, update, c, table, generic in (
        ("Small update", small, 2.0, _SMALL_MISTAKES, (
            "An update whose norm is already below C was changed.",
            "when ||update|| <= C, clipping must return the update unchanged.")),
        ("Large update", big, 1.0, _LARGE_MISTAKES, (
            "The direction is right but the clipped norm is below C.",
            "a large update should come back with norm exactly C.")),
        ("Update with several arrays", layers, 1.2, _LAYERS_MISTAKES, (
            "An update made of several arrays was not scaled as one vector.",
            "compute one global norm, then multiply every array by the same factor.")),
        ("Zero update", [np.zeros(3)], 1.0, (), (
            "The zero update did not come back as zeros (division by a zero norm?).",
            "min(1, C / norm) is 1 when the norm is 0; treat that case separately.")),
    ):
        u = _flat(update)
        with np.errstate(divide="ignore", invalid="ignore"):
            got = _clipped(fn, update, c, what)
            diagnose(got, u * min(1.0, c / max(_norm(update), 1e-300)), table, (u, c),
                     generic=generic, rtol=1e-9, atol=1e-12)
    return correct(
        "Your clipping bounds the global L2 norm by C, keeps the direction, and leaves "
        "small updates (and the zero update) unchanged."
    )
