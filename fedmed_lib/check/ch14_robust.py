"""Self-checks for :ref:`ch-robust`: the coordinate-wise median and trimmed mean.

The robust rules of Yin et al. (2018) work *per coordinate*, over the clients.
The checks run the learner's function on small stacks of updates (one row per
hospital) and name the typical mistakes without printing the expected values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib._validate import check_learner_fn
from fedmed_lib.check import Feedback, correct, wrong

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


def _call(
    fn: Callable[..., np.ndarray], U: np.ndarray, *args: float
) -> tuple[np.ndarray | None, str]:
    given = U.copy()
    try:
        out = np.asarray(fn(given, *args), dtype=np.float64)
    except Exception as err:  # noqa: BLE001 - any learner error becomes feedback
        return None, f"your function raised {type(err).__name__}: {err}."
    if not np.array_equal(given, U):
        return None, "your function changed the array of updates it was given (in place)."
    return out, ""


def _shape_feedback(out: np.ndarray, U: np.ndarray, what: str) -> Feedback | None:
    m, d = U.shape
    if out.shape == (d,):
        return None
    if out.shape == (m,):
        return wrong(
            f"You returned one number per hospital ({m} values): the {what} was taken over "
            "the wrong axis.",
            "rows are hospitals, columns are parameters; aggregate over the hospitals "
            "(axis=0) to get one value per parameter.",
        )
    if out.size == 1:
        return wrong(
            f"You returned a single number: the {what} of all entries together.",
            "take it per parameter (per column), over the hospitals: axis=0.",
        )
    return wrong(
        f"Your result has shape {out.shape}; the aggregate needs one value per parameter.",
        "the input has shape (num_clients, num_params); return shape (num_params,).",
    )


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
    check_learner_fn(fn)
    for U in _cases():
        out, err = _call(fn, U)
        if out is None:
            return wrong(err, "take np.median of the stacked updates over the hospitals.")
        fb = _shape_feedback(out, U, "median")
        if fb is not None:
            return fb
        if np.allclose(out, np.median(U, axis=0)):
            continue
        if np.allclose(out, U.mean(axis=0)):
            return wrong(
                "Your aggregate equals the mean of the updates, which one far-away "
                "hospital can drag anywhere.",
                "sort each column and take its middle value (np.median over axis=0).",
            )
        if any(np.allclose(out, row) for row in U):
            return wrong(
                "Your aggregate is one hospital's whole update; the median is taken "
                "parameter by parameter, and different parameters can come from different "
                "hospitals.",
                "take the median of each column separately.",
            )
        s = np.sort(U, axis=0)
        m = U.shape[0]
        if m % 2 == 0 and (np.allclose(out, s[m // 2]) or np.allclose(out, s[m // 2 - 1])):
            return wrong(
                "With an even number of hospitals you returned one of the two middle "
                "values.",
                "for an even count the median is the average of the two middle values.",
            )
        return wrong(
            "Your aggregate is not the coordinate-wise median of the updates.",
            "for each parameter, the middle of the hospitals' sorted values.",
        )
    return correct(
        "Your median is taken per parameter over the hospitals, for odd and even counts."
    )


def check_trimmed_mean(fn: TrimmedMeanFn) -> Feedback:
    """Check a learner's coordinate-wise trimmed mean ``fn(updates, beta) -> aggregate``.

    For each parameter, drop the ``k = floor(beta * m)`` largest and ``k`` smallest
    of the ``m`` hospitals' values and average the rest. Detects: trimming only one
    side, no trimming (the mean), trimming whole hospitals instead of values per
    parameter, the wrong axis, and rounding ``k`` up. Introduced in :ref:`ch-robust`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    check_learner_fn(fn)
    for U, beta in zip(_cases(), (0.2, 0.2, 0.25), strict=True):
        out, err = _call(fn, U, beta)
        if out is None:
            return wrong(err, "sort the updates over the hospitals (axis=0), then slice.")
        fb = _shape_feedback(out, U, "trimmed mean")
        if fb is not None:
            return fb
        m = U.shape[0]
        k = int(np.floor(beta * m))
        s = np.sort(U, axis=0)
        if np.allclose(out, s[k : m - k].mean(axis=0)):
            continue
        if np.allclose(out, U.mean(axis=0)):
            return wrong(
                "Your aggregate equals the plain mean: nothing was trimmed.",
                "sort each column and drop k = floor(beta * m) values at EACH end.",
            )
        if np.allclose(out, s[k:].mean(axis=0)) or np.allclose(out, s[: m - k].mean(axis=0)):
            return wrong(
                "You trimmed only one side: attackers who push the other way survive.",
                "drop the k smallest AND the k largest values of each parameter.",
            )
        kc = int(np.ceil(beta * m))
        if kc != k and m - 2 * kc > 0 and np.allclose(out, s[kc : m - kc].mean(axis=0)):
            return wrong(
                "You trimmed one value too many at each end.",
                "k = floor(beta * m), rounded down.",
            )
        norms = np.linalg.norm(U, axis=1)
        order = np.argsort(norms)
        if np.allclose(out, U[order[: m - 2 * k]].mean(axis=0)) or np.allclose(
            out, U[order[k : m - k]].mean(axis=0)
        ):
            return wrong(
                "You dropped whole hospitals (by the size of their update), not values "
                "per parameter.",
                "sort each column independently: np.sort(updates, axis=0).",
            )
        return wrong(
            "Your aggregate is not the coordinate-wise trimmed mean.",
            "sort each column, drop k = floor(beta * m) at each end, average the rest.",
        )
    return correct(
        "Your trimmed mean drops floor(beta * m) values at both ends of every parameter."
    )
