"""Self-checks for :ref:`ch-secure-aggregation`: pairwise masks that cancel.

The learner writes ``mask_update(x, k, pair_seeds, num_hospitals)``: hospital ``k``'s
fixed-point update ``x`` (``uint32``) plus, for every other hospital ``j``, the mask
``prg_mask(pair_seeds[(min(k, j), max(k, j))], x.shape)``, added if ``k < j`` and
subtracted if ``k > j``, modulo ``2**32`` (Bonawitz et al., CCS 2017). The check runs
it for small groups of hospitals and names the typical mistake without printing the
expected masked values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import (
    AnyOf,
    Mistake,
    Symptom,
    Wrong,
    call,
    diagnose,
    selfcheck,
    spot,
)
from fedmed_lib.privacy.secagg import MODULUS, encode, prg_mask

MaskFn = Callable[[np.ndarray, int, dict[tuple[int, int], int], int], np.ndarray]


def _case(num_hospitals: int, size: int, seed: int) -> tuple[list[np.ndarray], dict]:
    rng = np.random.default_rng(seed)
    xs = [encode(rng.normal(scale=3.0, size=size)) for _ in range(num_hospitals)]
    seeds = {
        (i, j): int(rng.integers(2**62))
        for i in range(num_hospitals) for j in range(i + 1, num_hospitals)
    }
    return xs, seeds


def _pair_mask_sum(seeds: dict[tuple[int, int], int], size: int) -> np.ndarray:
    total = np.zeros(size, dtype=np.uint64)
    for s in seeds.values():
        total += prg_mask(s, size)
    return total % MODULUS


_OUTPUT_MISTAKES = (
    Symptom(lambda a, x, k: a.shape != x.shape,
            lambda a, x, k: f"hospital {k}'s masked update has shape {a.shape}.",
            "return an array shaped like x."),
    Symptom(lambda a, x, k: not np.issubdtype(a.dtype, np.integer),
            lambda a, x, k: f"your masked update has dtype {a.dtype}.",
            "masks are integers modulo 2**32; floats lose digits above 2**53 and "
            "never wrap around. Keep everything uint32."),
    Symptom(lambda a, x, k: a.min() < 0 or a.max() >= MODULUS,
            "your masked values leave the range [0, 2**32).",
            "work modulo 2**32: uint32 arithmetic wraps around by itself, or take "
            "% 2**32 after adding and subtracting in int64."),
)

_SUM_MISTAKES = (
    Mistake(lambda sum_x, pairs: AnyOf((sum_x + 2 * pairs) % MODULUS,
                                       (sum_x - 2 * pairs) % MODULUS),
            "the masks do not cancel in the sum: both hospitals of a pair "
            "apply the mask with the same sign.",
            "one of the pair adds the mask (k < j), the other subtracts it (k > j)."),
    Mistake(lambda sum_x, pairs: AnyOf((sum_x + pairs) % MODULUS, (sum_x - pairs) % MODULUS),
            "the masks do not cancel in the sum: each pair's mask appears only once.",
            "hospital k must also handle the hospitals j < k (subtracting their mask)."),
)


def _error(err: Exception, name: str) -> tuple[str, str]:
    if isinstance(err, KeyError):
        return (f"With {name} your function looked up the seed {err}, which does not exist.",
                "each pair's seed is stored once, under (min(k, j), max(k, j)).")
    return (f"With {name} your function raised {type(err).__name__}: {err}.",
            "x is a uint32 array; prg_mask(seed, x.shape) gives a uint32 mask.")


@selfcheck(require_function=True)
def check_pairwise_masks(fn: MaskFn) -> Feedback:
    """Check a learner's ``mask_update(x, k, pair_seeds, num_hospitals) -> masked x``.

    Detects: no mask at all, masks that do not cancel because both parties add (or one
    party forgets to subtract), float arithmetic, and results that leave ``[0, 2**32)``
    (not working modulo ``2**32``). Introduced in :ref:`ch-secure-aggregation`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    for num_hospitals, size, seed in ((3, 6, 12), (5, 8, 1212)):
        xs, seeds = _case(num_hospitals, size, seed)
        name = f"{num_hospitals} hospitals"
        outs = []
        for k in range(num_hospitals):
            out = call(fn, xs[k], k, seeds, num_hospitals, hint="",
                       explain=functools.partial(_error, name=name), stub=(
                "Your function is not written yet (it raises NotImplementedError).",
                "start from y = x.copy() and add or subtract one prg_mask per other hospital."))
            a = np.asarray(out)
            spot(a, _OUTPUT_MISTAKES, (xs[k], k), prefix=f"With {name} ")
            outs.append(a.astype(np.uint64))
        sum_x = sum(x.astype(np.uint64) for x in xs) % MODULUS
        diagnose(sum(outs) % MODULUS, sum_x, _SUM_MISTAKES, (sum_x, _pair_mask_sum(seeds, size)),
                 prefix=f"With {name} ", rtol=0.0, atol=0.0,
                 generic=("the masked updates do not sum to the sum of the updates.",
                          "use the pair's shared seed for both hospitals and the same mask "
                          "shape as x."))
        if any(np.array_equal(o, x) for o, x in zip(outs, xs, strict=True)):
            raise Wrong(f"With {name} some hospital sends its update unmasked.",
                        "every hospital shares a mask with every other hospital.")
    return correct(
        "Your masks hide every update and cancel exactly in the sum modulo 2**32."
    )
