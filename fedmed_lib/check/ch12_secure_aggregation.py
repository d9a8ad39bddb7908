"""Self-checks for :ref:`ch-secure-aggregation`: pairwise masks that cancel, and double masks.

:func:`check_pairwise_masks`: the learner writes
``mask_update(x, k, pair_seeds, num_hospitals)``: hospital ``k``'s fixed-point update
``x`` (``uint32``) plus, for every other hospital ``j``, the mask
``prg_mask(pair_seeds[(min(k, j), max(k, j))], x.shape)``, added if ``k < j`` and
subtracted if ``k > j``, modulo ``2**32`` (Bonawitz et al., CCS 2017). The check runs
it for small groups of hospitals and names the typical mistake without printing the
expected masked values.

:func:`check_double_masks` (the chapter's exercise, a variation it does not show): the
learner writes ``double_mask_update(x, k, self_seed, pair_seeds, num_hospitals)``,
Bonawitz et al.'s double masking, ``x + prg_mask(self_seed, x.shape)`` plus the same
pairwise masks. The check plays the server, which learns the self seed of every
hospital that sent and removes its mask, and names the typical mistake.
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
DoubleMaskFn = Callable[[np.ndarray, int, int, dict[tuple[int, int], int], int], np.ndarray]


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


def _pair_part(k: int, seeds: dict[tuple[int, int], int], num_hospitals: int, size: int,
               *, sign: int = 1) -> np.ndarray:
    """Hospital k's pairwise masks: +m for partners j > k, -m for j < k (times ``sign``)."""
    total = np.zeros(size, dtype=np.int64)
    for j in range(num_hospitals):
        if j != k:
            m = prg_mask(seeds[(min(k, j), max(k, j))], size).astype(np.int64)
            total += m if (k < j) == (sign > 0) else -m
    return total


def _variants(x: np.ndarray, k: int, self_seed: int, seeds: dict[tuple[int, int], int],
              n: int, *, self_sign: int, pairs: bool) -> AnyOf:
    """Return x plus or minus the self mask (or none), plus the pair masks in either sign."""
    base = x.astype(np.int64) + self_sign * prg_mask(self_seed, x.size).astype(np.int64)
    if not pairs:
        return AnyOf(base % MODULUS)
    return AnyOf(*((base + _pair_part(k, seeds, n, x.size, sign=s)) % MODULUS for s in (1, -1)))


_DOUBLE_HOSPITAL_MISTAKES = (
    Mistake(lambda x, k, b, seeds, n: x,
            lambda got, x, k, *_: f"hospital {k} sends its update unmasked.",
            "double masking hides the update twice: a self mask from the hospital's own "
            "seed, and the pairwise masks of the chapter."),
    Mistake(lambda x, k, b, seeds, n: _variants(x, k, b, seeds, n, self_sign=0, pairs=True),
            lambda got, x, k, *_: f"hospital {k}'s update carries the pairwise masks but no "
            "self mask: if the server claims that it dropped out, the survivors give it "
            "the shares of its Diffie-Hellman secret, it removes the pairwise masks and "
            "reads the update.",
            "double masking adds a second mask, drawn from the hospital's own seed "
            "self_seed, of the shape of x."),
    Mistake(lambda x, k, b, seeds, n: _variants(x, k, b, seeds, n, self_sign=-1, pairs=True),
            lambda got, x, k, *_: f"hospital {k} subtracts its self mask; the server "
            "subtracts it too once it has rebuilt the seed, so the sum is off by twice "
            "the self mask.",
            "check the sign of the self mask: the server removes it by subtracting."),
    Mistake(lambda x, k, b, seeds, n: _variants(x, k, b, seeds, n, self_sign=1, pairs=False),
            lambda got, x, k, *_: f"hospital {k}'s update carries only the self mask: the "
            "server rebuilds the self seed of every hospital that sent, so it reads "
            "each update on its own.",
            "the pairwise masks are what hide one update; the self mask only protects a "
            "hospital that the server falsely declares dropped. Use both."),
)


def _self_mask_sum(self_seeds: list[int], size: int) -> np.ndarray:
    total = np.zeros(size, dtype=np.uint64)
    for b in self_seeds:
        total += prg_mask(b, size)
    return total % MODULUS


@selfcheck(require_function=True)
def check_double_masks(fn: DoubleMaskFn) -> Feedback:
    """Check ``double_mask_update(x, k, self_seed, pair_seeds, num_hospitals) -> masked x``.

    Bonawitz et al.'s double masking: ``x + prg_mask(self_seed, x.shape)`` plus the
    pairwise masks of :func:`check_pairwise_masks`, modulo ``2**32``. The check runs it
    for every hospital of small federations, removes the self masks as the server does
    (it learns every self seed of a hospital that sent) and compares the sum. Detects:
    no mask, no self mask, a subtracted self mask, only the self mask, pairwise masks
    that do not cancel (both parties add, or a pair used once), float arithmetic and
    results outside ``[0, 2**32)``. Introduced in :ref:`ch-secure-aggregation`.

    Raises
    ------
    TypeError
        If ``fn`` is not a function (an ``InputTypeError``, also a ``ValueError``).
    """
    for num_hospitals, size, seed in ((3, 6, 21), (5, 8, 2121)):
        xs, seeds = _case(num_hospitals, size, seed)
        self_rng = np.random.default_rng(seed + 1)
        self_seeds = [int(b) for b in self_rng.integers(2**62, size=num_hospitals)]
        name = f"{num_hospitals} hospitals"
        outs = []
        for k in range(num_hospitals):
            out = call(fn, xs[k], k, self_seeds[k], seeds, num_hospitals, hint="",
                       explain=functools.partial(_error, name=name), stub=(
                "Your function is not written yet (it raises NotImplementedError).",
                "two kinds of masks go on x: one from the hospital's own seed, and one "
                "per other hospital from the seed of that pair."))
            a = np.asarray(out)
            spot(a, _OUTPUT_MISTAKES, (xs[k], k), prefix=f"With {name} ")
            spot(a, _DOUBLE_HOSPITAL_MISTAKES, (xs[k], k, self_seeds[k], seeds, num_hospitals),
                 prefix=f"With {name} ", rtol=0.0, atol=0.0)
            outs.append(a.astype(np.uint64))
        sum_x = sum(x.astype(np.uint64) for x in xs) % MODULUS
        unmasked = (sum(outs) % MODULUS + MODULUS - _self_mask_sum(self_seeds, size)) % MODULUS
        diagnose(unmasked, sum_x, _SUM_MISTAKES, (sum_x, _pair_mask_sum(seeds, size)),
                 prefix=f"With {name} ", rtol=0.0, atol=0.0,
                 generic=("once the server removes the self masks, the masked updates do "
                          "not sum to the sum of the updates.",
                          "each hospital adds exactly one self mask, from its own seed, and "
                          "the pairwise masks of the chapter."))
    return correct(
        "Your double masks hide every update, and once the server removes the self "
        "masks, the pairwise masks cancel exactly in the sum modulo 2**32."
    )
