"""Self-checks for :ref:`ch-limited-resources`: 8-bit quantisation and top-k.

The checks run the learner's compressor on small arrays whose largest entry is
negative (so that sign and magnitude mistakes show) and recognise the usual
errors: a scale without the division by 127, an unsigned 255-level scale, the
largest value instead of the largest magnitude, a lost sign, truncation instead
of rounding, division by zero on an all-zero update; for top-k, keeping the
smallest magnitudes, the largest signed values, dropping the sign or keeping the
wrong number of entries. Expected values are never shown. After QSGD (Alistarh
et al., NeurIPS 2017).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import (
    AnyOf,
    Mistake,
    Symptom,
    Wrong,
    as_array,
    call,
    diagnose,
    selfcheck,
    spot,
)

QuantizeFn = Callable[[np.ndarray], tuple[np.ndarray, float]]
TopkFn = Callable[[np.ndarray, int], np.ndarray]


def _arrays(seed: int = 9) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(4, 5))
    a.flat[7] = -3.0 * np.abs(a).max()  # the largest magnitude is negative
    b = rng.uniform(-0.02, 0.01, size=11)
    b[3] = -0.05
    return [a, b]


_ZERO = ("an all-zero update does not come back as zeros (division by zero?).",
         "when max|x| is 0, return zero levels and a zero scale instead of dividing.")

_SCALE_MISTAKES = (
    Symptom(lambda scale, x, peak: not np.isfinite(scale) or scale <= 0,
            "the scale is not a positive number.",
            "the scale comes from the largest MAGNITUDE, max|x|, which is positive."),
    Mistake(lambda x, peak: peak,
            "the scale equals the largest magnitude, so only three levels are used.",
            "spread max|x| over the 127 positive levels of a signed byte."),
    Mistake(lambda x, peak: AnyOf(peak / 255, 2 * peak / 255),
            "the scale is made for 255 or 256 levels.",
            "a SIGNED 8-bit integer has 127 positive and 127 negative levels."),
    Mistake(lambda x, peak: x.max() / 127,
            "the scale uses the largest value, not the largest magnitude.",
            "a large negative entry must fit too: use np.abs before the max."),
)

_LEVEL_MISTAKES = (
    Symptom(lambda q, x, scale: q.dtype != np.int8,
            lambda q, x, scale: f"q has dtype {q.dtype}: it would not travel as one byte "
            "per entry.",
            "convert the rounded levels with .astype(np.int8)."),
    Symptom(lambda q, x, scale: np.any(
                np.sign(q[np.abs(x) > scale].astype(np.int64)) != np.sign(x[np.abs(x) > scale])),
            "some levels have lost the sign of their entry.",
            "divide x itself (not |x|) by the scale; int8 holds negative levels."),
    Symptom(lambda q, x, scale: np.abs(q * scale - x).max() > scale / 2 * (1 + 1e-9),
            "some entries are not at their nearest level (the error exceeds half a step).",
            "round to the nearest integer (np.rint), do not truncate or floor."),
)


@selfcheck(require_function=True)
def check_quantize(fn: QuantizeFn) -> Feedback:
    """Check ``fn(x) -> (q, scale)``: symmetric 8-bit quantisation, ``x ~ q * scale``.

    ``q`` must be an ``int8`` array of the shape of ``x`` with levels in
    ``[-127, 127]``, ``scale = max|x| / 127``, and ``q`` the nearest level.
    Introduced in :ref:`ch-limited-resources`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function
        (:class:`~fedmed_lib._validate.InputTypeError`, also a ``ValueError``).
    """
    hint = "return a pair: the integer levels and one float scale."
    for x in _arrays():
        out = call(fn, x, hint=hint, inplace=("your function changed its input array.",
                                              "work on a copy of x."))
        try:
            q, scale = np.asarray(out[0]), float(out[1])
            if len(out) != 2:
                raise ValueError("not a pair")
        except Exception as err:  # noqa: BLE001 - a learner's answer may be anything
            raise Wrong(f"unpacking (q, scale) failed: {type(err).__name__}.", hint) from err
        if q.shape != x.shape:
            raise Wrong(f"q has shape {q.shape}, x has shape {x.shape}.",
                        "quantise every entry; keep the array's shape.")
        peak = float(np.abs(x).max())
        diagnose(scale, peak / 127, _SCALE_MISTAKES, (x, peak), rtol=1e-6, atol=0.0,
                 generic=("the scale is not the one of symmetric 8-bit quantisation.",
                          "map the largest magnitude exactly onto level 127."))
        spot(q, _LEVEL_MISTAKES, (x, scale))
    with np.errstate(divide="raise", invalid="raise"):  # 0/0 must not pass silently
        out = call(fn, np.zeros(4), hint=_ZERO[1], explain=lambda err: (
            f"an all-zero update made your function fail ({type(err).__name__}).", _ZERO[1]))
        try:
            back = np.asarray(out[0], dtype=np.float64) * float(out[1])
        except Exception as err:  # noqa: BLE001
            raise Wrong(*_ZERO) from err
    if not np.all(np.isfinite(back)) or np.any(back != 0):
        raise Wrong(*_ZERO)
    return correct(
        "your 8-bit quantiser is right: int8 levels, scale max|x|/127, nearest rounding, "
        "and the all-zero case."
    )


def _kept(flat: np.ndarray, order: np.ndarray, k: int, values: np.ndarray | None = None,
          ) -> np.ndarray:
    """Keep the entries ``order[:k]`` of ``flat`` (or of ``values``), zero the rest."""
    keep = np.zeros(flat.size, bool)
    keep[order[:k]] = True
    return np.where(keep, flat if values is None else values, 0.0)


def _largest(flat: np.ndarray) -> np.ndarray:
    return np.argsort(-np.abs(flat), kind="stable")


_TOPK_MISTAKES = (
    Mistake(lambda flat, k: _kept(flat, _largest(flat)[::-1], k),
            "you kept the entries of SMALLEST magnitude.",
            "sort by -|x| (or take the end of an ascending argsort)."),
    Mistake(lambda flat, k: _kept(flat, np.argsort(-flat, kind="stable"), k),
            "you kept the largest VALUES: large negative entries were dropped.",
            "rank entries by their magnitude, not by their signed value."),
    Mistake(lambda flat, k: _kept(flat, _largest(flat), k, np.abs(flat)),
            "the right entries are kept but their sign is lost.",
            "rank by |x| but copy the original values x into the result."),
    Symptom(lambda out, flat, k: np.count_nonzero(out) != k,
            lambda out, flat, k: f"the result has {np.count_nonzero(out)} non-zero entries "
            f"for k = {k}.",
            "keep exactly k entries (check the slice bounds of your argsort)."),
    Symptom(lambda out, flat, k: np.array_equal(out != 0, _kept(flat, _largest(flat), k) != 0),
            "the right entries are kept but their values were changed.",
            "copy the kept entries as they are; compression only drops entries."),
)


@selfcheck(require_function=True)
def check_topk(fn: TopkFn) -> Feedback:
    """Check ``fn(x, k)``: keep the ``k`` largest-magnitude entries of ``x``, zero the rest.

    The result has the shape of ``x`` and keeps the kept entries unchanged (with
    their sign). Introduced in :ref:`ch-limited-resources`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function
        (:class:`~fedmed_lib._validate.InputTypeError`, also a ``ValueError``).
    """
    hint = "take (x, k) and return an array shaped like x."
    for x in _arrays(21):
        for k in (1, 3, x.size // 2):
            out = call(fn, x, k, hint=hint, inplace=(
                "your function changed its input array in place.",
                "build the result in a new array; the client still needs x "
                "(e.g. for error feedback)."))
            got = as_array(out, hint)
            if got.shape != x.shape:
                raise Wrong(f"the result has shape {got.shape}, x has shape {x.shape}.",
                            "return a dense array like x with zeros where entries are dropped.")
            flat = x.ravel()
            diagnose(got.ravel(), _kept(flat, _largest(flat), k), _TOPK_MISTAKES, (flat, k),
                     rtol=0.0, atol=0.0,
                     generic=("the kept entries are not the k of largest magnitude.",
                              "rank the entries by magnitude over the whole (flattened) "
                              "array."))
    return correct("your top-k keeps exactly the k largest-magnitude entries, with their signs.")
