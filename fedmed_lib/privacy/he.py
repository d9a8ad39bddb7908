"""Homomorphic encryption: the server adds hospital updates that it cannot read.

Introduced in :ref:`ch-encryption`. Three layers, from scratch to production:

* **Paillier from scratch** (Paillier, "Public-Key Cryptosystems Based on Composite
  Degree Residuosity Classes", EUROCRYPT 1999), with ``g = n + 1``: a public key
  ``n = p q``, encryption ``E(m) = (1 + m n) r^n mod n^2`` and decryption
  ``m = L(c^lambda mod n^2) mu mod n`` with ``L(u) = (u - 1) / n``. Multiplying two
  ciphertexts adds their plaintexts: ``E(a) E(b) = E(a + b mod n)``. Meant for small
  primes and for reading, not for protecting anything.
* **Fixed-point encoding and packing.** Real numbers become integers
  ``q = round(x * scale)`` (negatives wrap around modulo ``n``); for packing, each value
  is shifted by ``2**(value_bits - 1)`` to be non-negative and several of them share one
  plaintext in slots of ``slot_bits`` bits, so that one 2048-bit encryption carries
  dozens of numbers and the sum of ``num_clients`` packed plaintexts decodes exactly.
* **Thin wrappers** of ``phe`` (python-paillier, CSIRO Data61) for real key sizes and
  of ``tenseal`` (OpenMined) for CKKS vectors (Cheon, Kim, Kim and Song, "Homomorphic
  Encryption for Arithmetic of Approximate Numbers", ASIACRYPT 2017), whose sums are
  exact up to a small approximation error.

The key holder (not the server) keeps the private key; see the chapter for what
happens when it colludes with the server and what the decrypted sum still reveals.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_int,
    check_positive_int,
    check_real_array,
    check_rng,
    check_seed,
)

DEFAULT_SCALE = 2**16
"""Fixed-point scale (as in :mod:`fedmed_lib.privacy.secagg`): resolution ``2**-16``."""

DEFAULT_VALUE_BITS = 32
"""Bits of one fixed-point value: ``|round(x * scale)| < 2**31``, i.e. ``|x| < 2**15``."""


# --- scratch Paillier ------------------------------------------------------------------


_SMALL_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)

_DETERMINISTIC_BELOW = 3_317_044_064_679_887_385_961_981
"""Below this bound, Miller-Rabin with the 13 primes up to 41 as bases is exact
(Sorenson and Webster, "Strong pseudoprimes to twelve prime bases", Mathematics of
Computation 86, 2017)."""


def _strong_probable_prime(n: int, a: int, d: int, s: int) -> bool:
    """Return whether odd ``n = d * 2**s + 1`` is a strong probable prime to base ``a``."""
    x = pow(a, d, n)
    if x in (1, n - 1):
        return True
    for _ in range(s - 1):
        x = x * x % n
        if x == n - 1:
            return True
    return False


def is_probable_prime(n: int, *, rounds: int = 32, seed: int = 0) -> bool:
    """Miller-Rabin primality test: exact below ``3.3 * 10**24``, else ``rounds`` random bases.

    The library's one primality test (Paillier keys here, the safe-prime groups of
    :mod:`fedmed_lib.vertical`). After trial division by the primes up to 41, a number
    below ``3_317_044_064_679_887_385_961_981`` is tested with those 13 primes as bases,
    which is exact (Sorenson and Webster, Mathematics of Computation 86, 2017); a larger
    one with ``rounds`` bases drawn from a generator seeded with ``seed``, so that a
    composite passes with probability below ``4**-rounds`` (Rabin, Journal of Number
    Theory 12, 1980) and the answer is reproducible. Introduced in :ref:`ch-encryption`.

    Parameters
    ----------
    n
        The integer to test (any Python or numpy integer; below 2 is not prime).
    rounds
        Number of random bases for ``n`` above the exact range (a positive integer).
    seed
        Seed of the generator of those bases (a non-negative integer).

    Raises
    ------
    ValueError
        If ``rounds`` is not a positive integer or ``seed`` not a valid seed;
        :class:`~fedmed_lib._validate.InputTypeError` (also a ``TypeError``) if ``n``
        is not an integer.

    Examples
    --------
    >>> [k for k in range(30) if is_probable_prime(k)]
    [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    >>> is_probable_prime(561)  # a Carmichael number
    False
    """
    n = check_int(n, name="n")
    rounds = check_positive_int(rounds, name="rounds")
    seed = check_seed(seed)
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    if n < _DETERMINISTIC_BELOW:
        return all(_strong_probable_prime(n, a, d, s) for a in _SMALL_PRIMES)
    rng = np.random.default_rng(seed)
    for _ in range(rounds):  # a uniform base in [2, n - 2]
        a = 2 + int.from_bytes(rng.bytes((n.bit_length() + 7) // 8 + 8), "big") % (n - 3)
        if not _strong_probable_prime(n, a, d, s):
            return False
    return True


@dataclass(frozen=True)
class PaillierPublicKey:
    """A Paillier public key ``n`` (with ``g = n + 1``). Introduced in :ref:`ch-encryption`."""

    n: int

    @property
    def n_square(self) -> int:
        """The ciphertext modulus ``n**2``."""
        return self.n * self.n


@dataclass(frozen=True)
class PaillierPrivateKey:
    """A Paillier private key ``(lambda, mu)`` for the public key ``n``.

    Introduced in :ref:`ch-encryption`.
    """

    public_key: PaillierPublicKey
    lam: int
    mu: int


def paillier_keygen(p: int, q: int) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """Paillier keys from two distinct primes: ``n = p q``, ``lambda = lcm(p-1, q-1)``.

    With ``g = n + 1``, ``mu = lambda^{-1} mod n``. Introduced in :ref:`ch-encryption`.

    Raises
    ------
    ValueError
        If ``p`` or ``q`` is not a prime, they are equal, or ``gcd(pq, (p-1)(q-1)) != 1``.
    """
    p, q = check_int(p, name="p"), check_int(q, name="q")
    for name, v in (("p", p), ("q", q)):
        if not is_probable_prime(v):
            raise ValueError(f"{name} = {v} is not a prime")
    if p == q:
        raise ValueError(f"p and q must be distinct primes, got p = q = {p}")
    n = p * q
    if math.gcd(n, (p - 1) * (q - 1)) != 1:
        raise ValueError(f"gcd(pq, (p-1)(q-1)) != 1 for p = {p}, q = {q}: choose other primes")
    lam = math.lcm(p - 1, q - 1)
    mu = pow(lam, -1, n)
    public = PaillierPublicKey(n)
    return public, PaillierPrivateKey(public, lam, mu)


def _check_public(key: object) -> PaillierPublicKey:
    if not isinstance(key, PaillierPublicKey):
        raise InputTypeError(f"public_key must be a PaillierPublicKey, got {_describe(key)}")
    return key


def _check_plaintext(m: object, n: int) -> int:
    m = check_int(m, name="plaintext m")
    if not 0 <= m < n:
        raise ValueError(f"plaintext m = {m} must lie in [0, n) with n = {n}")
    return m


def _check_ciphertext(c: object, key: PaillierPublicKey, name: str = "ciphertext") -> int:
    c = check_int(c, name=name)
    if not 0 < c < key.n_square or math.gcd(c, key.n) != 1:
        raise ValueError(f"{name} = {c} is not a valid ciphertext for n = {key.n}")
    return c


def paillier_encrypt(
    public_key: PaillierPublicKey, m: int, *, rng: np.random.Generator
) -> int:
    """Encrypt ``0 <= m < n`` as ``(1 + m n) r^n mod n^2`` with a random unit ``r``.

    Introduced in :ref:`ch-encryption`.
    """
    key = _check_public(public_key)
    m = _check_plaintext(m, key.n)
    rng = check_rng(rng)
    nbytes = (key.n.bit_length() + 7) // 8 + 8
    while True:
        r = int.from_bytes(rng.bytes(nbytes), "big") % key.n
        if r > 0 and math.gcd(r, key.n) == 1:
            break
    return (1 + m * key.n) * pow(r, key.n, key.n_square) % key.n_square


def paillier_decrypt(private_key: PaillierPrivateKey, c: int) -> int:
    """Decrypt: ``m = L(c^lambda mod n^2) mu mod n`` with ``L(u) = (u - 1) / n``.

    Introduced in :ref:`ch-encryption`.
    """
    if not isinstance(private_key, PaillierPrivateKey):
        raise InputTypeError(
            f"private_key must be a PaillierPrivateKey, got {_describe(private_key)}"
        )
    key = private_key.public_key
    c = _check_ciphertext(c, key)
    u = pow(c, private_key.lam, key.n_square)
    return (u - 1) // key.n * private_key.mu % key.n


def paillier_add(public_key: PaillierPublicKey, c1: int, c2: int) -> int:
    """Add the plaintexts of two ciphertexts: ``E(a) E(b) mod n^2 = E(a + b mod n)``.

    Introduced in :ref:`ch-encryption`.
    """
    key = _check_public(public_key)
    a = _check_ciphertext(c1, key, "c1")
    b = _check_ciphertext(c2, key, "c2")
    return a * b % key.n_square


# --- fixed-point encoding and packing ---------------------------------------------------


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


# --- python-paillier (phe) ------------------------------------------------------------


@dataclass
class PackedCiphertexts:
    """One hospital's (or the summed) packed Paillier update.

    Attributes
    ----------
    ciphertexts
        ``phe.EncryptedNumber`` objects, one per plaintext.
    count
        Number of real values packed.
    num_summands
        How many hospitals' updates have been added into these ciphertexts.
    scale, value_bits, slot_bits, slots
        The fixed-point and packing layout (see :func:`pack`).
    """

    ciphertexts: list[Any]
    count: int
    num_summands: int
    scale: int
    value_bits: int
    slot_bits: int
    slots: int

    def nbytes(self) -> int:
        """Bytes on the wire: each ciphertext is a number modulo ``n**2``."""
        if not self.ciphertexts:
            return 0
        nsq = self.ciphertexts[0].public_key.nsquare
        return len(self.ciphertexts) * ((nsq.bit_length() + 7) // 8)


def phe_keypair(n_length: int = 2048) -> tuple[Any, Any]:
    """Generate a ``phe`` (python-paillier) key pair with an ``n_length``-bit modulus.

    Introduced in :ref:`ch-encryption`.
    """
    import phe

    n_length = check_int(n_length, name="n_length", minimum=128)
    return phe.generate_paillier_keypair(n_length=n_length)


def phe_encrypt_packed(
    public_key: Any,
    values: np.ndarray,
    *,
    num_clients: int,
    scale: int = DEFAULT_SCALE,
    value_bits: int = DEFAULT_VALUE_BITS,
) -> PackedCiphertexts:
    """Quantize, pack and encrypt one update with a ``phe`` public key.

    The layout leaves room for the sum of ``num_clients`` updates. Introduced in
    :ref:`ch-encryption`.
    """
    import phe

    if not isinstance(public_key, phe.PaillierPublicKey):
        raise InputTypeError(
            f"public_key must be a phe.PaillierPublicKey, got {_describe(public_key)}"
        )
    q = quantize(values, scale=scale, value_bits=value_bits)
    slot_bits = slot_bits_for(num_clients, value_bits)
    # phe encodes an integer only below n / 3: keep two bits of headroom.
    slots = slots_per_plaintext(public_key.n.bit_length() - 2, slot_bits)
    plaintexts = pack(q, slot_bits=slot_bits, slots=slots, value_bits=value_bits)
    ciphertexts = [public_key.encrypt(m) for m in plaintexts]
    return PackedCiphertexts(ciphertexts, len(q), 1, scale, value_bits, slot_bits, slots)


def phe_sum(updates: Sequence[PackedCiphertexts]) -> PackedCiphertexts:
    """Add packed encrypted updates slot by slot, without the private key.

    Introduced in :ref:`ch-encryption`.

    Raises
    ------
    ValueError
        If there are no updates, the layouts differ, or the slots could overflow.
    """
    if not isinstance(updates, Sequence) or isinstance(updates, str | bytes):
        raise InputTypeError(
            f"updates must be a list of PackedCiphertexts, got {_describe(updates)}"
        )
    if len(updates) == 0:
        raise ValueError("no encrypted updates to add")
    for i, u in enumerate(updates):
        if not isinstance(u, PackedCiphertexts):
            raise InputTypeError(f"client {i}: expected PackedCiphertexts, got {_describe(u)}")
    first = updates[0]
    layout = (first.count, first.scale, first.value_bits, first.slot_bits, first.slots)
    for i, u in enumerate(updates):
        if (u.count, u.scale, u.value_bits, u.slot_bits, u.slots) != layout:
            raise ValueError(f"client {i}: packing layout differs from client 0's")
    total = sum(u.num_summands for u in updates)
    if first.value_bits + max(0, (total - 1).bit_length()) > first.slot_bits:
        raise ValueError(
            f"the sum of {total} updates overflows slots of {first.slot_bits} bits"
        )
    ciphertexts = list(first.ciphertexts)
    for u in updates[1:]:
        ciphertexts = [a + b for a, b in zip(ciphertexts, u.ciphertexts, strict=True)]
    return PackedCiphertexts(ciphertexts, first.count, total, *layout[1:])


def phe_decrypt_packed(private_key: Any, packed: PackedCiphertexts) -> np.ndarray:
    """Decrypt, unpack and decode a packed (summed) update: the key holder's step.

    Introduced in :ref:`ch-encryption`.
    """
    import phe

    if not isinstance(private_key, phe.PaillierPrivateKey):
        raise InputTypeError(
            f"private_key must be a phe.PaillierPrivateKey, got {_describe(private_key)}"
        )
    if not isinstance(packed, PackedCiphertexts):
        raise InputTypeError(f"packed must be PackedCiphertexts, got {_describe(packed)}")
    plaintexts = [private_key.decrypt(c) for c in packed.ciphertexts]
    q = unpack(plaintexts, packed.count, slot_bits=packed.slot_bits, slots=packed.slots,
               num_summands=packed.num_summands, value_bits=packed.value_bits)
    return np.asarray(q, dtype=np.float64) / packed.scale


# --- TenSEAL (CKKS) ---------------------------------------------------------------------


def ckks_context(
    *,
    poly_modulus_degree: int = 8192,
    coeff_mod_bit_sizes: Sequence[int] = (60, 40, 40, 60),
    global_scale: float = 2.0**40,
) -> Any:
    """Make a TenSEAL CKKS context holding the secret key (the key holder's copy).

    Introduced in :ref:`ch-encryption`.
    """
    if "tenseal" not in sys.modules and "tensorflow" in sys.modules:
        # TenSEAL and TensorFlow each bring their own protobuf runtime; loaded in this
        # order, TenSEAL's serialize() crashes the process (segmentation fault).
        raise RuntimeError(
            "tensorflow was imported before tenseal in this process, and TenSEAL then "
            "crashes when it serialises a ciphertext: import fedmed_lib.privacy.he "
            "(or tenseal) before tensorflow, or use a fresh kernel"
        )
    import tenseal as ts

    poly_modulus_degree = check_positive_int(poly_modulus_degree, name="poly_modulus_degree")
    context = ts.context(
        ts.SCHEME_TYPE.CKKS,
        poly_modulus_degree=poly_modulus_degree,
        coeff_mod_bit_sizes=[int(b) for b in coeff_mod_bit_sizes],
    )
    context.global_scale = float(global_scale)
    return context


def ckks_encrypt(context: Any, values: np.ndarray, *, slots: int = 4096) -> list[Any]:
    """Encrypt a vector as CKKS ciphertexts of ``slots`` numbers each (batching).

    ``slots`` is at most half the polynomial degree (4096 for the default context);
    a longer chunk would be split by TenSEAL with a warning. Introduced in
    :ref:`ch-encryption`.
    """
    import tenseal as ts

    a = check_real_array(values, name="values").ravel()
    slots = check_positive_int(slots, name="slots")
    return [ts.ckks_vector(context, a[i : i + slots].tolist()) for i in range(0, a.size, slots)]


def ckks_sum(updates: Sequence[Sequence[Any]]) -> list[Any]:
    """Add encrypted CKKS updates chunk by chunk (no secret key needed).

    Introduced in :ref:`ch-encryption`.
    """
    if not isinstance(updates, Sequence) or len(updates) == 0:
        raise ValueError("no encrypted updates to add")
    lengths = {len(u) for u in updates}
    if len(lengths) != 1:
        raise ValueError(f"clients sent different numbers of ciphertexts: {sorted(lengths)}")
    total = list(updates[0])
    for u in updates[1:]:
        total = [a + b for a, b in zip(total, u, strict=True)]
    return total


def ckks_decrypt(chunks: Sequence[Any]) -> np.ndarray:
    """Decrypt CKKS chunks (needs the context with the secret key) into one vector.

    Introduced in :ref:`ch-encryption`.
    """
    return np.concatenate([np.asarray(c.decrypt(), dtype=np.float64) for c in chunks])


def ckks_nbytes(chunks: Sequence[Any]) -> int:
    """Bytes on the wire: the serialised size of the CKKS ciphertexts."""
    return int(sum(len(c.serialize()) for c in chunks))
