"""Self-checks for :ref:`ch-robust`: coordinate-wise median, trimmed mean, mean around median.

The robust rules of Yin et al. (2018) work *per coordinate*, over the clients. The
chapter writes the median and the trimmed mean (:func:`check_median`,
:func:`check_trimmed_mean`); its exercise asks for a rule it does not show, the mean of
the ``K - f`` values nearest each parameter's median (:func:`check_mean_around_median`).
The checks run the learner's function on small stacks of updates (one row per
hospital) and name the typical mistakes without printing the expected values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import AnyOf, Mistake, Symptom, as_array, call, diagnose, selfcheck

MedianFn = Callable[[np.ndarray], np.ndarray]
TrimmedMeanFn = Callable[[np.ndarray, float], np.ndarray]


def _cases() -> list[np.ndarray]:
    rng = np.random.default_rng(14)
    odd = rng.normal(size=(5, 3))
    odd[0] = [40.0, -40.0, 40.0]  # one attacker far away
    even = rng.normal(size=(6, 4))
    even[5] = [-30.0, 30.0, -30.0, 30.0]
    skew = rng.normal(size=(10, 2))
    skew[:2] = 50.0  # two attackers on the same side
    return [odd, even, skew]


def _shape_mistakes(what: str) -> tuple[Symptom, ...]:
    """Build the shape slips of both rules: the wrong axis, all entries, another shape."""
    return (
        Symptom(lambda out, U, *_: out.shape == (U.shape[0],) != U.shape[1:],
                lambda out, U, *_: f"You returned one number per hospital ({U.shape[0]} "
                f"values): the {what} was taken over the wrong axis.",
                "rows are hospitals, columns are parameters; aggregate over the hospitals "
                "(axis=0) to get one value per parameter."),
        Symptom(lambda out, U, *_: out.size == 1,
                f"You returned a single number: the {what} of all entries together.",
                "take it per parameter (per column), over the hospitals: axis=0."),
        Symptom(lambda out, U, *_: out.shape != U.shape[1:],
                lambda out, U, *_: f"Your result has shape {out.shape}; the aggregate needs "
                "one value per parameter.",
                "the input has shape (num_clients, num_params); return shape (num_params,)."),
    )


def _run(fn: Callable[..., np.ndarray], U: np.ndarray, *args: float, hint: str) -> np.ndarray:
    return as_array(call(fn, U, *args, hint=hint, inplace=(
        "your function changed the array of updates it was given (in place).", hint)), hint)


def _middles(U: np.ndarray) -> AnyOf | None:
    m, s = U.shape[0], np.sort(U, axis=0)
    return AnyOf(s[m // 2], s[m // 2 - 1]) if m % 2 == 0 else None


_MEDIAN_MISTAKES: tuple[Mistake | Symptom, ...] = (
    *_shape_mistakes("median"),
    Mistake(lambda U: U.mean(axis=0),
            "Your aggregate equals the mean of the updates, which one far-away "
            "hospital can drag anywhere.",
            "the rule asked for is the coordinate-wise median, which looks at the order "
            "of each column's values (section 'Robust rules from scratch')."),
    Mistake(lambda U: AnyOf(*U),
            "Your aggregate is one hospital's whole update; the median is taken "
            "parameter by parameter, and different parameters can come from different "
            "hospitals.",
            "take the median of each column separately."),
    Mistake(_middles,
            "With an even number of hospitals you returned one of the two middle values.",
            "for an even count the median is the average of the two middle values."),
)


@selfcheck(require_function=True)
def check_median(fn: MedianFn) -> Feedback:
    """Check a learner's coordinate-wise median ``fn(updates) -> aggregate``.

    ``updates`` has one row per hospital and one column per parameter. Detects:
    the median over the wrong axis or of all entries, the mean instead of the
    median, returning one hospital's whole update, and the wrong middle for an
    even number of hospitals. Introduced in :ref:`ch-robust`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    for U in _cases():
        out = _run(fn, U, hint="your function receives one array (rows = hospitals, columns = "
                   "parameters) and returns one value per parameter.")
        diagnose(out, np.median(U, axis=0), _MEDIAN_MISTAKES, (U,), rtol=1e-5, atol=1e-8,
                 generic=("Your aggregate is not the coordinate-wise median of the updates.",
                          "check your rule against the coordinate-wise median of section "
                          "'Robust rules from scratch', one parameter (column) at a time."))
    return correct(
        "Your median is taken per parameter over the hospitals, for odd and even counts."
    )


def _trim(U: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Average the sorted values ``lo:hi`` of every column."""
    return np.sort(U, axis=0)[lo:hi].mean(axis=0)


def _by_norm(U: np.ndarray, k: int) -> AnyOf:
    """Drop whole hospitals by the norm of their update (the largest, or both ends)."""
    order = np.argsort(np.linalg.norm(U, axis=1))
    m = U.shape[0]
    return AnyOf(U[order[: m - 2 * k]].mean(axis=0), U[order[k : m - k]].mean(axis=0))


def _ceil(U: np.ndarray, k: int, kc: int) -> np.ndarray | None:
    m = U.shape[0]
    return _trim(U, kc, m - kc) if kc != k and m - 2 * kc > 0 else None


_TRIMMED_MISTAKES: tuple[Mistake | Symptom, ...] = (
    *_shape_mistakes("trimmed mean"),
    Mistake(lambda U, k, kc: U.mean(axis=0),
            "Your aggregate equals the plain mean: nothing was trimmed.",
            "check how many values of each column you drop at EACH end: n_trim, from the "
            "trimmed fraction phi (your `beta`) and the number K of hospitals."),
    Mistake(lambda U, k, kc: AnyOf(_trim(U, k, len(U)), _trim(U, 0, len(U) - k)),
            "You trimmed only one side: attackers who push the other way survive.",
            "drop the n_trim smallest AND the n_trim largest values of each parameter."),
    Mistake(_ceil,
            "You trimmed one value too many at each end.",
            "phi * K is rarely a whole number: check which way the chapter rounds it "
            "(section 'Robust rules from scratch')."),
    Mistake(lambda U, k, kc: _by_norm(U, k),
            "You dropped whole hospitals (by the size of their update), not values "
            "per parameter.",
            "the trimming is per parameter: order each column on its own, over the "
            "hospitals (axis=0), so that different parameters may drop different hospitals."),
)


@selfcheck(require_function=True)
def check_trimmed_mean(fn: TrimmedMeanFn) -> Feedback:
    """Check a learner's coordinate-wise trimmed mean ``fn(updates, beta) -> aggregate``.

    For each parameter, drop the ``n_trim = floor(phi K)`` largest and ``n_trim`` smallest
    of the ``K`` hospitals' values and average the rest (the chapter's trimmed fraction
    ``phi`` is the argument ``beta``). Detects: trimming only one
    side, no trimming (the mean), trimming whole hospitals instead of values per
    parameter, the wrong axis, and rounding ``n_trim`` up. Introduced in :ref:`ch-robust`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    for U, beta in zip(_cases(), (0.2, 0.2, 0.25), strict=True):
        out = _run(fn, U, beta, hint="your function receives the updates (rows = hospitals) and "
                   "the trimmed fraction phi; it returns one value per parameter.")
        m = U.shape[0]
        k, kc = int(np.floor(beta * m)), int(np.ceil(beta * m))
        diagnose(out, _trim(U, k, m - k), _TRIMMED_MISTAKES, (U, k, kc), rtol=1e-5, atol=1e-8,
                 generic=("Your aggregate is not the coordinate-wise trimmed mean.",
                          "check each step against section 'Robust rules from scratch': "
                          "per column, how many values are dropped at each end, and which "
                          "are averaged."))
    return correct(
        "Your trimmed mean drops floor(phi K) values at both ends of every parameter."
    )


# --- mean around the median (the chapter's exercise) ----------------------------------

MeanAroundMedianFn = Callable[[np.ndarray, int], np.ndarray]


def _around(U: np.ndarray, center: np.ndarray, keep: int) -> np.ndarray | None:
    """Per column, the mean of the ``keep`` values closest to ``center``."""
    if not 1 <= keep <= U.shape[0]:
        return None
    order = np.argsort(np.abs(U - center), axis=0, kind="stable")[:keep]
    return np.take_along_axis(U, order, axis=0).mean(axis=0)


def _mam(U: np.ndarray, f: int) -> np.ndarray | None:
    return _around(U, np.median(U, axis=0), U.shape[0] - f)


def _whole_hospitals(U: np.ndarray, f: int) -> np.ndarray:
    """Keep the K - f hospitals whose whole update is nearest the median vector."""
    dist = np.linalg.norm(U - np.median(U, axis=0), axis=1)
    return U[np.argsort(dist, kind="stable")[: U.shape[0] - f]].mean(axis=0)


def _mam_cases() -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(1414)
    one_side = rng.normal(size=(7, 3))
    one_side[:2] = rng.normal(size=(2, 3)) + 25.0       # two attackers, far on one side
    two_sides = rng.normal(size=(10, 4))
    two_sides[:2] = 40.0 + rng.normal(size=(2, 4))
    two_sides[2] = -30.0 + rng.normal(size=4)           # three attackers, on both sides
    honest = rng.normal(size=(8, 5))                     # no attacker: each parameter keeps
    return [(one_side, 2), (two_sides, 3), (honest, 2)]  # values of different hospitals


_MAM_MISTAKES: tuple[Mistake | Symptom, ...] = (
    *_shape_mistakes("mean around the median"),
    Mistake(lambda U, f: np.median(U, axis=0),
            "Your aggregate is the median itself: nothing was averaged around it.",
            "the median only says where the centre is; average the values nearest to it."),
    Mistake(lambda U, f: U.mean(axis=0),
            "Your aggregate equals the plain mean: no value was left out, so far-away "
            "attackers still pull it.",
            "keep only the K - f values of each parameter that are closest to its median."),
    Mistake(lambda U, f: _around(U, U.mean(axis=0), U.shape[0] - f),
            "You kept the values closest to the MEAN of each parameter; the attackers "
            "drag the mean, so the values kept are the wrong ones.",
            "measure the distance of each value to the coordinate-wise median."),
    Mistake(lambda U, f: _around(U, np.median(U, axis=0), f),
            "You kept f values per parameter; f is the number to leave out.",
            "keep the K - f values nearest the median (K hospitals, f attackers)."),
    Mistake(lambda U, f: AnyOf(_around(U, np.median(U, axis=0), U.shape[0] - f - 1),
                               _around(U, np.median(U, axis=0), U.shape[0] - f + 1)),
            "You kept one value too few or too many per parameter.",
            "exactly K - f values per parameter: K hospitals, f of them left out."),
    Mistake(lambda U, f: _trim(U, f, U.shape[0] - f),
            "You trimmed f values at EACH end (the trimmed mean); this rule keeps the "
            "K - f values nearest the median, whichever side they lie on.",
            "sort each parameter's values by their distance |value - median|, not by "
            "the value itself."),
    Mistake(_whole_hospitals,
            "You kept whole hospitals (by the distance of their update to the median "
            "vector), not values per parameter.",
            "decide separately for every parameter (column) which values to keep."),
)


@selfcheck(require_function=True)
def check_mean_around_median(fn: MeanAroundMedianFn) -> Feedback:
    """Check ``fn(updates, f) -> aggregate``: the coordinate-wise mean around the median.

    For each parameter (column of ``updates``, one row per hospital), keep the ``K - f``
    values closest to the column's median and average them. Detects: the median itself,
    the plain mean, closeness to the mean instead of the median, keeping ``f`` values,
    an off-by-one count, the trimmed mean (``f`` values dropped at each end), keeping
    whole hospitals, and the wrong axis. Introduced in :ref:`ch-robust`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    for U, f in _mam_cases():
        out = _run(fn, U, f, hint="your function receives the updates (rows = hospitals) and "
                   "the number f of values to leave out; it returns one value per parameter.")
        diagnose(out, _mam(U, f), _MAM_MISTAKES, (U, f), rtol=1e-9, atol=1e-12,
                 generic=("Your aggregate is not the mean around the median.",
                          "check each step of the exercise's rule, one parameter (column) "
                          "at a time: the centre, the distances to it, how many values are "
                          "kept, what is averaged."))
    return correct(
        "Your rule keeps, for every parameter, the K - f values nearest its median and "
        "averages them."
    )
