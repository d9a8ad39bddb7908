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

from fedmed_lib._validate import InputTypeError
from fedmed_lib.check import Feedback, correct, wrong

QuantizeFn = Callable[[np.ndarray], tuple[np.ndarray, float]]
TopkFn = Callable[[np.ndarray, int], np.ndarray]


def _arrays(seed: int = 9) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(4, 5))
    a.flat[7] = -3.0 * np.abs(a).max()  # the largest magnitude is negative
    b = rng.uniform(-0.02, 0.01, size=11)
    b[3] = -0.05
    return [a, b]


def _close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-6, atol=0.0))



def _check_fn(fn: object) -> None:
    """Refuse a check called on something that is not a function (a common slip: ``f()``)."""
    if not callable(fn):
        raise InputTypeError(
            f"fn must be your function itself (pass the name, without calling it), got "
            f"{type(fn).__name__}"
        )

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
    _check_fn(fn)
    for x in _arrays():
        x_in = x.copy()
        try:
            out = fn(x_in)
            q, scale = out
            q = np.asarray(q)
            scale = float(scale)
        except Exception as err:  # noqa: BLE001 - a learner's code may raise anything
            return wrong(
                f"calling your function or unpacking (q, scale) failed: {type(err).__name__}.",
                "return a pair: the integer levels and one float scale.",
            )
        if not np.array_equal(x_in, x):
            return wrong("your function changed its input array.", "work on a copy of x.")
        if q.shape != x.shape:
            return wrong(
                f"q has shape {q.shape}, x has shape {x.shape}.",
                "quantise every entry; keep the array's shape.",
            )
        peak = float(np.abs(x).max())
        if not np.isfinite(scale) or scale <= 0:
            return wrong(
                "the scale is not a positive number.",
                "the scale comes from the largest MAGNITUDE, max|x|, which is positive.",
            )
        if _close(scale, peak):
            return wrong(
                "the scale equals the largest magnitude, so only three levels are used.",
                "spread max|x| over the 127 positive levels of a signed byte.",
            )
        if _close(scale, peak / 255) or _close(scale, 2 * peak / 255):
            return wrong(
                "the scale is made for 255 or 256 levels.",
                "a SIGNED 8-bit integer has 127 positive and 127 negative levels.",
            )
        if _close(scale, float(x.max()) / 127) and not _close(scale, peak / 127):
            return wrong(
                "the scale uses the largest value, not the largest magnitude.",
                "a large negative entry must fit too: use np.abs before the max.",
            )
        if not _close(scale, peak / 127):
            return wrong(
                "the scale is not the one of symmetric 8-bit quantisation.",
                "map the largest magnitude exactly onto level 127.",
            )
        if q.dtype != np.int8:
            return wrong(
                f"q has dtype {q.dtype}: it would not travel as one byte per entry.",
                "convert the rounded levels with .astype(np.int8).",
            )
        xs = x[np.abs(x) > scale]
        qs = q[np.abs(x) > scale].astype(np.int64)
        if np.any(np.sign(qs) != np.sign(xs)):
            return wrong(
                "some levels have lost the sign of their entry.",
                "divide x itself (not |x|) by the scale; int8 holds negative levels.",
            )
        gap = np.abs(q.astype(np.float64) * scale - x)
        if gap.max() > scale / 2 * (1 + 1e-9):
            return wrong(
                "some entries are not at their nearest level (the error exceeds half a step).",
                "round to the nearest integer (np.rint), do not truncate or floor.",
            )
    try:
        with np.errstate(divide="raise", invalid="raise"):  # 0/0 must not pass silently
            q0, s0 = fn(np.zeros(4))
            back = np.asarray(q0, dtype=np.float64) * float(s0)
    except Exception as err:  # noqa: BLE001
        return wrong(
            f"an all-zero update made your function fail ({type(err).__name__}).",
            "when max|x| is 0, return zero levels and a zero scale instead of dividing.",
        )
    if not np.all(np.isfinite(back)) or np.any(back != 0):
        return wrong(
            "an all-zero update does not come back as zeros (division by zero?).",
            "when max|x| is 0, return zero levels and a zero scale instead of dividing.",
        )
    return correct(
        "your 8-bit quantiser is right: int8 levels, scale max|x|/127, nearest rounding, "
        "and the all-zero case."
    )


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
    _check_fn(fn)
    for x in _arrays(21):
        for k in (1, 3, x.size // 2):
            x_in = x.copy()
            try:
                got = np.asarray(fn(x_in, k), dtype=np.float64)
            except Exception as err:  # noqa: BLE001 - a learner's code may raise anything
                return wrong(
                    f"your function raised {type(err).__name__}: {err}.",
                    "take (x, k) and return an array shaped like x.",
                )
            if not np.array_equal(x_in, x):
                return wrong(
                    "your function changed its input array in place.",
                    "start from np.zeros_like(x) or x.copy(); the client still needs x "
                    "(e.g. for error feedback).",
                )
            if got.shape != x.shape:
                return wrong(
                    f"the result has shape {got.shape}, x has shape {x.shape}.",
                    "return a dense array like x with zeros where entries are dropped.",
                )
            flat, out = x.ravel(), got.ravel()
            order = np.argsort(-np.abs(flat), kind="stable")
            keep = np.zeros(flat.size, bool)
            keep[order[:k]] = True
            small = np.zeros(flat.size, bool)
            small[order[::-1][:k]] = True
            signed = np.zeros(flat.size, bool)
            signed[np.argsort(-flat, kind="stable")[:k]] = True
            if np.array_equal(out, np.where(keep, flat, 0.0)):
                continue
            if np.array_equal(out, np.where(small, flat, 0.0)):
                return wrong(
                    "you kept the entries of SMALLEST magnitude.",
                    "sort by -|x| (or take the end of an ascending argsort).",
                )
            if np.array_equal(out, np.where(signed, flat, 0.0)):
                return wrong(
                    "you kept the largest VALUES: large negative entries were dropped.",
                    "rank entries by their magnitude np.abs(x), not by their value.",
                )
            if np.array_equal(out, np.where(keep, np.abs(flat), 0.0)):
                return wrong(
                    "the right entries are kept but their sign is lost.",
                    "rank by |x| but copy the original values x into the result.",
                )
            nnz = int(np.count_nonzero(out))
            if nnz != k:
                return wrong(
                    f"the result has {nnz} non-zero entries for k = {k}.",
                    "keep exactly k entries (check the slice bounds of your argsort).",
                )
            if np.array_equal(out != 0, keep):
                return wrong(
                    "the right entries are kept but their values were changed.",
                    "copy the kept entries as they are; compression only drops entries.",
                )
            return wrong(
                "the kept entries are not the k of largest magnitude.",
                "rank entries by np.abs(x) over the whole (flattened) array.",
            )
    return correct("your top-k keeps exactly the k largest-magnitude entries, with their signs.")
