"""Self-checks for :ref:`ch-differential-privacy`: clipping a model update.

DP-FedAvg (McMahan et al., 2018) bounds each hospital's influence on the sum of
updates by clipping the update's global L2 norm to ``S`` (:func:`check_clip`, the
chapter's ``clip``), or layer by layer, layer ``j`` to its own norm ``S_j``
(:func:`check_clip_per_layer`, the chapter's exercise; then the whole update has norm
at most ``sqrt(sum S_j**2)``). The checks run the learner's function on small updates
and explain what is wrong, without printing the expected arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import AnyOf, Mistake, Symptom, Wrong, call, diagnose, selfcheck

ClipFn = Callable[[list[np.ndarray], float], Sequence[np.ndarray]]
LayerClipFn = Callable[[list[np.ndarray], list[float]], Sequence[np.ndarray]]


def _norm(arrays: Sequence[np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(a))) for a in arrays)))


def _flat(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def _clipped(fn: ClipFn, update: list[np.ndarray], c: float, what: str) -> np.ndarray:
    """Run the learner's clip on ``update`` and return its answer flattened."""
    hint = "return a new list with one new array per input array, and never modify the input."
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
            "An update whose norm is already below S came back with norm exactly S: "
            "you scaled a small update UP.",
            "clipping only ever shrinks: an update already inside the ball of radius S "
            "comes back unchanged."),
)

_LARGE_MISTAKES = (
    Mistake(lambda u, c: np.clip(u, -c, c),
            "Each coordinate was clipped to [-S, S]: that changes the direction of the "
            "update and its norm can still exceed S.",
            "clipping rescales the whole update: ONE norm of all entries and ONE factor "
            "for all entries, so that the direction is kept."),
    Symptom(lambda got, u, c: _cos(got, u) < 1 - 1e-9,
            "The clipped update points in a different direction from the original.",
            "clipping multiplies the whole update by one positive number."),
    Symptom(lambda got, u, c: np.linalg.norm(got) > c + 1e-9,
            "After clipping, the norm is still larger than S.",
            "use the Euclidean (L2) norm sqrt(sum of squares) over all entries."),
    Symptom(lambda got, u, c: any(np.isclose(np.linalg.norm(got), c * v) for v in (
                np.linalg.norm(u) / np.abs(u).sum(), 1 / np.linalg.norm(u), 1 / np.abs(u).max())),
            "The direction is right but the clipped norm is below S: you divided by a "
            "different norm (L1, squared L2 or max).",
            "the norm is the Euclidean (L2) one, not the sum of absolute values, "
            "the sum of squares itself, or the largest entry."),
)

_LAYERS_MISTAKES = (
    Mistake(lambda u, c: u,
            "Every array had norm below S, but the update as a whole did not, and it came "
            "back unchanged: you clipped each array (layer) separately.",
            "the norm is over ALL arrays together: sqrt(sum over arrays of sum of squares)."),
)


@selfcheck(require_function=True)
def check_clip(fn: ClipFn) -> Feedback:
    """Check a learner's ``clip(update, clipping_norm) -> update``.

    ``update`` is a list of numpy arrays (one per layer); the result must be
    ``update * min(1, S / ||update||)`` with the norm taken over all arrays together.
    Detects: clipping each coordinate to ``[-S, S]``, scaling small updates up to
    norm ``S``, clipping each array separately, and using a wrong norm (L1,
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
            "An update whose norm is already below S was changed.",
            "when ||update|| <= S, clipping must return the update unchanged.")),
        ("Large update", big, 1.0, _LARGE_MISTAKES, (
            "The direction is right but the clipped norm is below S.",
            "a large update should come back with norm exactly S.")),
        ("Update with several arrays", layers, 1.2, _LAYERS_MISTAKES, (
            "An update made of several arrays was not scaled as one vector.",
            "compute one global norm, then multiply every array by the same factor.")),
        ("Zero update", [np.zeros(3)], 1.0, (), (
            "The zero update did not come back as zeros (division by a zero norm?).",
            "an update of norm 0 is inside the ball and comes back unchanged: do not "
            "divide by its norm.")),
    ):
        u = _flat(update)
        with np.errstate(divide="ignore", invalid="ignore"):
            got = _clipped(fn, update, c, what)
            diagnose(got, u * min(1.0, c / max(_norm(update), 1e-300)), table, (u, c),
                     generic=generic, rtol=1e-9, atol=1e-12)
    return correct(
        "Your clipping bounds the global L2 norm by S, keeps the direction, and leaves "
        "small updates (and the zero update) unchanged."
    )


# --- per-layer clipping (the chapter's exercise) -------------------------------------


def _per_layer(update: Sequence[np.ndarray], norms: Sequence[float],
               norm: Callable[[np.ndarray], float] = lambda a: float(np.linalg.norm(a))
               ) -> np.ndarray:
    """Each layer times min(1, S_j / norm(layer)); a zero layer stays zero."""
    return _flat([a * min(1.0, s / norm(a)) if norm(a) > 0 else a
                  for a, s in zip(update, norms, strict=True)])


def _whole(update: Sequence[np.ndarray], s: float) -> np.ndarray:
    return _flat(update) * min(1.0, s / max(_norm(update), 1e-300))


def _wrong_layer(got: Sequence[np.ndarray], update: Sequence[np.ndarray],
                 norms: Sequence[float]) -> str:
    """Name the first layer that does not come back clipped, and how, without any value."""
    for j, (a, u, s) in enumerate(zip(got, update, norms, strict=True)):
        if np.allclose(np.ravel(a), _per_layer([u], [s]), rtol=1e-9, atol=1e-12):
            continue
        what = f"layer {j} does not come back clipped to its own S_j"
        n_got, n_in = float(np.linalg.norm(a)), float(np.linalg.norm(u))
        if n_in <= s:
            return (f"{what}: it was already inside its ball of radius S_j, so clipping "
                    "must leave it as it is, yet it changed")
        if n_got > s * (1 + 1e-9):
            return f"{what}: its norm is still above S_j"
        if float(np.dot(np.ravel(a), np.ravel(u))) < n_got * n_in * (1 - 1e-9):
            return f"{what}: it no longer points in the direction of the layer it was given"
        return (f"{what}: it came back shorter than S_j, but clipping shrinks a long "
                "layer only down to S_j")
    return "some layer does not come back clipped to its own S_j"


_PER_LAYER_MISTAKES = (
    Symptom(lambda got, update, norms: not np.all(np.isfinite(got)),
            "Some entries came back NaN or infinite: a layer of norm zero was divided by "
            "its norm.",
            "a layer whose norm is 0 is already inside its ball; leave it unchanged."),
    Mistake(lambda update, norms: AnyOf(*(_whole(update, s) for s in (
                float(np.sqrt(np.sum(np.square(norms)))), float(np.sum(norms)),
                float(np.min(norms)), float(norms[0])))),
            "You clipped the update as a whole, with one global norm: that is the chapter's "
            "clip, not per-layer clipping.",
            "compute one norm PER LAYER and compare layer j with its own clipping norm "
            "S_j."),
    Mistake(lambda update, norms: _flat([np.clip(a, -s, s) for a, s in zip(update, norms,
                                                                          strict=True)]),
            "Each coordinate was clipped to [-S_j, S_j]: that changes the direction of a "
            "layer, and its norm can still exceed S_j.",
            "scale each layer by ONE factor computed from that layer's L2 norm."),
    Mistake(lambda update, norms: _flat([a * s / np.linalg.norm(a) for a, s in zip(
                update, norms, strict=True)]),
            "A layer whose norm was already below its S_j came back with norm exactly S_j: "
            "you scaled a small layer UP.",
            "clipping only shrinks: a layer already inside its ball of radius S_j comes "
            "back unchanged."),
    Mistake(lambda update, norms: AnyOf(
                _per_layer(update, [norms[0]] * len(norms)),
                _per_layer(update, [norms[-1]] * len(norms)),
                _per_layer(update, list(norms)[::-1])),
            "Every layer was clipped, but not to its own norm: the clipping norms went to "
            "the wrong layers (one norm for all, or another order).",
            "pair layer j with clipping_norms[j], in the order of the layers."),
    Mistake(lambda update, norms: AnyOf(
                _per_layer(update, norms, lambda a: float(np.abs(a).sum())),
                _per_layer(update, norms, lambda a: float(np.sum(np.square(a)))),
                _per_layer(update, norms, lambda a: float(np.abs(a).max()))),
            "Each layer was scaled in its own direction, but by the wrong norm (L1, "
            "squared L2 or max).",
            "the norm of a layer is the Euclidean one: the square root of its sum of "
            "squares."),
)


@selfcheck(require_function=True)
def check_clip_per_layer(fn: LayerClipFn) -> Feedback:
    """Check a learner's ``clip_per_layer(update, clipping_norms) -> update``.

    ``update`` is a list of numpy arrays (one per layer) and ``clipping_norms`` a list of
    one positive norm ``S_j`` per layer; layer ``j`` must come back as
    ``u_j * min(1, S_j / ||u_j||)`` (unchanged if it is zero). Detects: one global clip
    (the chapter's ``clip``), clipping each coordinate, scaling small layers up, norms
    paired with the wrong layers, a wrong norm (L1, squared, max), division by a zero
    norm, and changing the input in place. Introduced in :ref:`ch-differential-privacy`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    mixed = [np.array([3.0, -4.0]), np.array([[0.1], [0.2], [-0.2]]), np.array([6.0, 8.0, 0.0])]
    zero = [np.array([0.5, 1.2]), np.zeros((2, 2)), np.array([0.3])]
    for what, update, norms in (
        ("Update with a large, a small and a large layer", mixed, [1.0, 2.0, 4.0]),
        ("Update with a zero layer", zero, [0.65, 0.5, 1.0]),
    ):
        hint = ("return a new list with one new array per layer, and never modify "
                "the input.")
        out = call(fn, update, list(norms), hint=hint, where=f" ({what.lower()})", inplace=(
            f"{what}: your function changed the update it was given (in place).", hint),
            stub=("Your function is not written yet (it raises NotImplementedError).",
                  "compute each layer's L2 norm and scale that layer by its own factor."))
        if not isinstance(out, list | tuple) or len(out) != len(update):
            size = len(out) if hasattr(out, "__len__") else "?"
            raise Wrong(f"{what}: your function returned {type(out).__name__} of length "
                        f"{size}; expected a list with one array per layer "
                        f"({len(update)}).", hint)
        arrays = [np.asarray(a, dtype=np.float64) for a in out]
        for a, u in zip(arrays, update, strict=True):
            if a.shape != u.shape:
                raise Wrong(f"{what}: an output array has shape {a.shape}, its input had "
                            f"shape {u.shape}.", hint)
        with np.errstate(divide="ignore", invalid="ignore"):
            diagnose(_flat(arrays), _per_layer(update, norms), _PER_LAYER_MISTAKES,
                     (update, norms), prefix=f"{what}: ", rtol=1e-9, atol=1e-12,
                     generic=(_wrong_layer(arrays, update, norms) + ".",
                              "treat each layer on its own, as the chapter's clip treats "
                              "the whole update in its clipping section: its own norm, its "
                              "own S_j, one factor."))
    return correct(
        "Your per-layer clipping bounds every layer j by its own S_j, keeps each layer's "
        "direction and leaves small (and zero) layers unchanged; the whole update then "
        "has norm at most sqrt(sum of S_j**2)."
    )
