"""Self-checks for :ref:`ch-secure-aggregation`: pairwise masks that cancel.

The learner writes ``mask_update(x, k, pair_seeds, num_hospitals)``: hospital ``k``'s
fixed-point update ``x`` (``uint32``) plus, for every other hospital ``j``, the mask
``prg_mask(pair_seeds[(min(k, j), max(k, j))], x.shape)``, added if ``k < j`` and
subtracted if ``k > j``, modulo ``2**32`` (Bonawitz et al., CCS 2017). The check runs
it for small groups of hospitals and names the typical mistake without printing the
expected masked values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib._validate import check_learner_fn
from fedmed_lib.check import Feedback, correct, wrong
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


def check_pairwise_masks(fn: MaskFn) -> Feedback:
    """Check a learner's ``mask_update(x, k, pair_seeds, num_hospitals) -> masked x``.

    Detects: no mask at all, masks that do not cancel because both parties add (or one
    party forgets to subtract), float arithmetic, and results that leave ``[0, 2**32)``
    (not working modulo ``2**32``).

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    check_learner_fn(fn)
    for num_hospitals, size, seed in ((3, 6, 12), (5, 8, 1212)):
        xs, seeds = _case(num_hospitals, size, seed)
        name = f"{num_hospitals} hospitals"
        outs = []
        for k in range(num_hospitals):
            try:
                out = fn(xs[k].copy(), k, dict(seeds), num_hospitals)
            except NotImplementedError:
                return wrong(
                    "Your function is not written yet (it raises NotImplementedError).",
                    "start from y = x.copy() and add or subtract one prg_mask per other hospital.",
                )
            except KeyError as err:
                return wrong(
                    f"With {name} your function looked up the seed {err}, which does not exist.",
                    "each pair's seed is stored once, under (min(k, j), max(k, j)).",
                )
            except Exception as err:  # noqa: BLE001  (report any learner error)
                return wrong(
                    f"With {name} your function raised {type(err).__name__}: {err}.",
                    "x is a uint32 array; prg_mask(seed, x.shape) gives a uint32 mask.",
                )
            a = np.asarray(out)
            if a.shape != xs[k].shape:
                return wrong(
                    f"With {name} hospital {k}'s masked update has shape {a.shape}.",
                    "return an array shaped like x.",
                )
            if not np.issubdtype(a.dtype, np.integer):
                return wrong(
                    f"With {name} your masked update has dtype {a.dtype}.",
                    "masks are integers modulo 2**32; floats lose digits above 2**53 and "
                    "never wrap around. Keep everything uint32.",
                )
            if a.min() < 0 or a.max() >= MODULUS:
                return wrong(
                    f"With {name} your masked values leave the range [0, 2**32).",
                    "work modulo 2**32: uint32 arithmetic wraps around by itself, or take "
                    "% 2**32 after adding and subtracting in int64.",
                )
            outs.append(a.astype(np.uint64))
        sum_x = sum(x.astype(np.uint64) for x in xs) % MODULUS
        sum_y = sum(outs) % MODULUS
        if np.array_equal(sum_y, sum_x):
            if any(np.array_equal(o, x) for o, x in zip(outs, xs, strict=True)):
                return wrong(
                    f"With {name} some hospital sends its update unmasked.",
                    "every hospital shares a mask with every other hospital.",
                )
            continue
        pair_sum = _pair_mask_sum(seeds, size)
        if np.array_equal(sum_y, (sum_x + 2 * pair_sum) % MODULUS) or np.array_equal(
            sum_y, (sum_x - 2 * pair_sum) % MODULUS
        ):
            return wrong(
                f"With {name} the masks do not cancel in the sum: both hospitals of a pair "
                "apply the mask with the same sign.",
                "one of the pair adds the mask (k < j), the other subtracts it (k > j).",
            )
        if np.array_equal(sum_y, (sum_x + pair_sum) % MODULUS) or np.array_equal(
            sum_y, (sum_x - pair_sum) % MODULUS
        ):
            return wrong(
                f"With {name} the masks do not cancel in the sum: each pair's mask appears "
                "only once.",
                "hospital k must also handle the hospitals j < k (subtracting their mask).",
            )
        return wrong(
            f"With {name} the masked updates do not sum to the sum of the updates.",
            "use the pair's shared seed for both hospitals and the same mask shape as x.",
        )
    return correct(
        "Your masks hide every update and cancel exactly in the sum modulo 2**32."
    )
