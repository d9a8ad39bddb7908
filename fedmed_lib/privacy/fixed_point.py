"""Fixed-point encoding and packing: real numbers as the integers that encryption adds.

One job: turn real numbers into integers modulo a public key ``n`` and back. A value
becomes ``q = round(x * scale)`` (negatives wrap around modulo ``n``); for packing, each
value is shifted by ``2**(value_bits - 1)`` to be non-negative and several of them share
one plaintext in slots of ``slot_bits`` bits, so that one 2048-bit encryption carries
dozens of numbers and the sum of ``num_clients`` packed plaintexts decodes exactly.
:mod:`fedmed_lib.privacy.paillier` and :mod:`fedmed_lib.privacy.he` encrypt what this
module encodes. Introduced in :ref:`ch-encryption`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedmed_lib._validate import (
    check_int,
    check_positive_int,
    check_real_array,
)

DEFAULT_SCALE = 2**16
"""Fixed-point scale (as in :mod:`fedmed_lib.privacy.secagg`): resolution ``2**-16``."""

DEFAULT_VALUE_BITS = 32
"""Bits of one fixed-point value: ``|round(x * scale)| < 2**31``, i.e. ``|x| < 2**15``."""


def _check_scale(scale: object) -> int:
    return check_positive_int(scale, name="scale")


def quantize(
    values: np.ndarray, *, scale: int = DEFAULT_SCALE, value_bits: int = DEFAULT_VALUE_BITS
) -> list[int]:
    """Round real numbers to signed integers ``round(x * scale)`` (Python ints).

    Introduced in :ref:`ch-encryption`.

    Raises
    ------
    ValueError
        If a value is NaN/Inf or ``|round(x * scale)| >= 2**(value_bits - 1)``.
    """
    a = check_real_array(values, name="values").ravel()
    scale = _check_scale(scale)
    value_bits = check_int(value_bits, name="value_bits", minimum=2)
    q = np.rint(a * scale)
    limit = 2 ** (value_bits - 1)
    if a.size and np.max(np.abs(q)) >= limit:
        j = int(np.argmax(np.abs(q)))
        raise ValueError(
            f"value {a[j]:.6g} is outside the fixed-point range +-{limit / scale:.6g} "
            f"(scale {scale}, value_bits {value_bits})"
        )
    return [int(v) for v in q]


def encode_fixed(x: float, n: int, *, scale: int = DEFAULT_SCALE) -> int:
    """Encode one real number as an integer modulo ``n``; negatives become ``n - |q|``.

    Introduced in :ref:`ch-encryption`.
    """
    n = check_int(n, name="n", minimum=3)
    (q,) = quantize(np.array([x], dtype=float), scale=scale, value_bits=n.bit_length() - 1)
    return q % n


def decode_fixed(m: int, n: int, *, scale: int = DEFAULT_SCALE) -> float:
    """Decode an integer modulo ``n``: values above ``n / 2`` are negative.

    Introduced in :ref:`ch-encryption`.
    """
    n = check_int(n, name="n", minimum=3)
    m = check_int(m, name="m") % n
    scale = _check_scale(scale)
    signed = m - n if m > n // 2 else m
    return signed / scale


def slots_per_plaintext(plaintext_bits: int, slot_bits: int) -> int:
    """How many ``slot_bits``-bit slots fit in a plaintext of ``plaintext_bits`` bits.

    Introduced in :ref:`ch-encryption`.
    """
    plaintext_bits = check_positive_int(plaintext_bits, name="plaintext_bits")
    slot_bits = check_positive_int(slot_bits, name="slot_bits")
    slots = plaintext_bits // slot_bits
    if slots == 0:
        raise ValueError(
            f"a slot of {slot_bits} bits does not fit in a plaintext of {plaintext_bits} bits"
        )
    return slots


def slot_bits_for(num_clients: int, value_bits: int = DEFAULT_VALUE_BITS) -> int:
    """Bits per slot so that the sum of ``num_clients`` shifted values never overflows.

    ``value_bits + ceil(log2(num_clients))``. Introduced in :ref:`ch-encryption`.
    """
    num_clients = check_positive_int(num_clients, name="num_clients")
    value_bits = check_int(value_bits, name="value_bits", minimum=2)
    return value_bits + max(0, (num_clients - 1).bit_length())


def pack(
    quantized: Sequence[int], *, slot_bits: int, slots: int, value_bits: int = DEFAULT_VALUE_BITS
) -> list[int]:
    """Pack signed integers into plaintexts of ``slots`` slots of ``slot_bits`` bits.

    Each value ``q`` is shifted to ``q + 2**(value_bits - 1) >= 0``; slot ``j`` of a
    plaintext holds value ``j`` (least significant first). Introduced in
    :ref:`ch-encryption`.
    """
    slot_bits = check_positive_int(slot_bits, name="slot_bits")
    slots = check_positive_int(slots, name="slots")
    value_bits = check_int(value_bits, name="value_bits", minimum=2)
    if slot_bits < value_bits:
        raise ValueError(f"slot_bits ({slot_bits}) must be at least value_bits ({value_bits})")
    offset = 2 ** (value_bits - 1)
    out = []
    for start in range(0, len(quantized), slots):
        m = 0
        for j, q in enumerate(quantized[start : start + slots]):
            q = check_int(q, name=f"quantized[{start + j}]")
            if not -offset <= q < offset:
                raise ValueError(
                    f"quantized[{start + j}] = {q} does not fit in {value_bits} bits"
                )
            m |= (q + offset) << (slot_bits * j)
        out.append(m)
    return out


def unpack(
    plaintexts: Sequence[int],
    count: int,
    *,
    slot_bits: int,
    slots: int,
    num_summands: int = 1,
    value_bits: int = DEFAULT_VALUE_BITS,
) -> list[int]:
    """Inverse of :func:`pack` for the sum of ``num_summands`` packed plaintexts.

    Removes ``num_summands`` offsets from every slot and returns ``count`` signed
    integers. Introduced in :ref:`ch-encryption`.
    """
    count = check_int(count, name="count", minimum=0)
    slot_bits = check_positive_int(slot_bits, name="slot_bits")
    slots = check_positive_int(slots, name="slots")
    num_summands = check_positive_int(num_summands, name="num_summands")
    if len(plaintexts) * slots < count:
        raise ValueError(f"{len(plaintexts)} plaintexts of {slots} slots hold fewer than {count}")
    offset = num_summands * 2 ** (value_bits - 1)
    mask = (1 << slot_bits) - 1
    out: list[int] = []
    for m in plaintexts:
        m = check_int(m, name="plaintext")
        for j in range(slots):
            if len(out) == count:
                break
            out.append(((m >> (slot_bits * j)) & mask) - offset)
    return out
