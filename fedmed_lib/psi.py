"""Private set intersection: which patients two parties share, and nothing else.

One job: entity alignment for vertical federated learning (:mod:`fedmed_lib.vertical`).
The commutative Diffie-Hellman protocol (Meadows, IEEE S&P 1986; Huberman, Franklin and
Hogg, ACM EC 1999): each party hashes its patient ids into the prime-order subgroup of
a safe-prime group, raises them to a secret exponent, and the other party raises them
to its own: ``H(x)**(a*b)`` is the same at both sides, so equal ids give equal
doubly-blinded values, and nothing else is learnt (:func:`private_set_intersection`).
Two groups: :data:`TOY_GROUP` (a 31-bit safe prime, for reading) and :data:`MODP_2048`
(the 2048-bit MODP group 14 of RFC 3526), whose primes are checked with the library's
one Miller-Rabin test, :func:`fedmed_lib.privacy.paillier.is_probable_prime`.

Introduced in :ref:`ch-vertical`. The groups and hashing are meant for teaching: a
production system uses a vetted library (elliptic-curve PSI, constant-time code).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_int,
    check_seed,
)

# --- groups ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """A safe-prime group: ``p = 2q + 1`` with ``q`` prime; we work in its subgroup of order ``q``.

    The subgroup is the set of quadratic residues modulo ``p`` (the squares); every
    element but 1 generates it. Introduced in :ref:`ch-vertical`.

    Attributes
    ----------
    p
        The safe prime.
    name
        A short name for messages.
    exponent_bits
        Size of the secret exponents (``None``: uniform in ``[1, q)``).
    """

    p: int
    name: str
    exponent_bits: int | None = None

    @property
    def q(self) -> int:
        """Order of the subgroup of squares, ``(p - 1) / 2``."""
        return (self.p - 1) // 2

    @property
    def element_bytes(self) -> int:
        """Bytes needed to send one group element."""
        return (self.p.bit_length() + 7) // 8


TOY_GROUP = Group(p=2147483579, name="toy 31-bit safe prime")
"""The largest safe prime below ``2**31``: readable numbers, and breakable in a second."""

MODP_2048_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF"
)
"""The prime of the 2048-bit MODP group (group 14) of RFC 3526, in hexadecimal.

RFC 3526 defines it as ``2**2048 - 2**1984 - 1 + 2**64 * (floor(2**1918 * pi) + 124476)``;
:func:`modp_prime_from_pi` recomputes it from that formula."""

MODP_2048 = Group(p=int(MODP_2048_HEX, 16), name="RFC 3526 2048-bit MODP", exponent_bits=256)
"""RFC 3526 group 14; secret exponents of 256 bits (short exponents, as is usual in DH)."""


def pi_times_power_of_two(bits: int) -> int:
    """Return ``floor(pi * 2**bits)`` exactly, by Machin's formula in integer arithmetic.

    ``pi = 16 atan(1/5) - 4 atan(1/239)``, each arctangent summed as a series with 64
    guard bits. Introduced in :ref:`ch-vertical`.
    """
    bits = check_int(bits, name="bits", minimum=0)
    guard = 64
    one = 1 << (bits + guard)

    def atan_inv(x: int) -> int:
        total, term, n, sign = 0, one // x, 1, 1
        while term:
            total += sign * (term // n)
            term //= x * x
            n += 2
            sign = -sign
        return total

    return (16 * atan_inv(5) - 4 * atan_inv(239)) >> guard


def modp_prime_from_pi(bits: int, offset: int) -> int:
    """RFC 2412/3526 MODP prime ``2**b - 2**(b-64) - 1 + 2**64 * (floor(2**(b-130) pi) + offset)``.

    Introduced in :ref:`ch-vertical`.
    """
    b = check_int(bits, name="bits", minimum=192)
    offset = check_int(offset, name="offset", minimum=0)
    return 2**b - 2 ** (b - 64) - 1 + 2**64 * (pi_times_power_of_two(b - 130) + offset)


def _check_group(group: object) -> Group:
    if not isinstance(group, Group):
        raise InputTypeError(
            f"group must be a Group (TOY_GROUP, MODP_2048), got {_describe(group)}"
        )
    return group


# --- private set intersection ------------------------------------------------------------


def _check_ids(ids: object, *, party: str) -> list[str]:
    if ids is None or isinstance(ids, str | bytes) or not isinstance(ids, Sequence | np.ndarray):
        raise InputTypeError(f"{party}: ids must be a list of patient ids, got {_describe(ids)}")
    out = [str(i) for i in ids]
    if not out:
        raise ValueError(f"{party}: empty list of patient ids")
    if len(set(out)) != len(out):
        raise ValueError(f"{party}: a patient id appears twice in its list")
    return out


def hash_to_group(ids: Sequence[object], group: Group, *, party: str = "ids") -> list[int]:
    """Map each id to the subgroup of squares: ``H(x) = (SHA-512 stream of x mod p)**2 mod p``.

    The digest stream is 128 bits longer than ``p`` so that ``x mod p`` is close to
    uniform; squaring lands in the subgroup of prime order ``q``. Introduced in
    :ref:`ch-vertical`.

    Raises
    ------
    ValueError
        Naming ``party``, if the list is empty or holds an id twice.
    """
    group = _check_group(group)
    labels = _check_ids(ids, party=party)
    nbytes = group.element_bytes + 16
    out = []
    for x in labels:
        stream = b""
        counter = 0
        while len(stream) < nbytes:
            stream += hashlib.sha512(f"fedmed-psi|{counter}|{x}".encode()).digest()
            counter += 1
        h = pow(int.from_bytes(stream[:nbytes], "big") % group.p, 2, group.p)
        out.append(h if h > 1 else 4)  # 0 and 1 have probability ~2**-2000; map them to 2**2
    return out


def psi_secret(group: Group, rng: np.random.Generator) -> int:
    """Draw a party's secret exponent in ``[1, q)`` (``exponent_bits`` bits for large groups).

    Introduced in :ref:`ch-vertical`.
    """
    group = _check_group(group)
    bits = group.exponent_bits or group.q.bit_length() + 64
    draw = int.from_bytes(rng.bytes((bits + 7) // 8), "big")
    bound = group.q - 1 if group.exponent_bits is None else min(2**bits, group.q - 1)
    return 1 + draw % bound


def blind(elements: Sequence[int], secret: int, group: Group) -> list[int]:
    """Raise every element to the secret exponent: ``e**secret mod p``.

    Exponentiation commutes, ``(e**a)**b == (e**b)**a``, which is what the
    protocol relies on. Introduced in :ref:`ch-vertical`.
    """
    group = _check_group(group)
    secret = check_int(secret, name="secret", minimum=1)
    return [pow(int(e), secret, group.p) for e in elements]


@dataclass
class PSIResult:
    """The outcome of :func:`private_set_intersection`.

    Attributes
    ----------
    shared_ids
        The ids in both lists, in party A's order.
    index_a, index_b
        Positions of the shared ids in A's and in B's list (same order as ``shared_ids``).
    seen_by_a, seen_by_b
        What each party received from the other: B's singly blinded set and A's
        doubly blinded set (at A); A's singly blinded set and the positions of the
        matches (at B).
    bytes_sent
        Bytes sent by each party (``"a"``, ``"b"``).
    """

    shared_ids: list[str]
    index_a: NDArray[np.int64]
    index_b: NDArray[np.int64]
    seen_by_a: dict[str, list[int]] = field(default_factory=dict)
    seen_by_b: dict[str, list[int]] = field(default_factory=dict)
    bytes_sent: dict[str, int] = field(default_factory=dict)


def private_set_intersection(
    ids_a: Sequence[object], ids_b: Sequence[object], *, group: Group = MODP_2048, seed: int = 0
) -> PSIResult:
    """Diffie-Hellman private set intersection of two parties' patient ids.

    1. A sends ``H(a)**alpha`` for its ids; B sends ``H(b)**beta`` for its ids, in an
       order shuffled with its own randomness.
    2. B raises A's values to ``beta`` and returns them in A's order; A raises B's to
       ``alpha``. Both doubly blinded sets are now at A, which matches them.
    3. A tells B the positions (in B's shuffled list) of the matches; B maps them back.

    Each party learns the shared ids and the size of the other's list, nothing about
    the other ids (under the decisional Diffie-Hellman assumption in the group).
    Introduced in :ref:`ch-vertical`.

    Raises
    ------
    ValueError
        Naming the party, if its list is empty or repeats an id.
    InputTypeError
        If a list is not a list, ``group`` not a :class:`Group`, or ``seed`` not a seed.
    """
    group = _check_group(group)
    a_ids = _check_ids(ids_a, party="party A")
    b_ids = _check_ids(ids_b, party="party B")
    seq = np.random.SeedSequence(check_seed(seed))
    rng_a, rng_b = (np.random.default_rng(s) for s in seq.spawn(2))
    alpha, beta = psi_secret(group, rng_a), psi_secret(group, rng_b)
    order_b = rng_b.permutation(len(b_ids))  # B shuffles so that positions say nothing
    a1 = blind(hash_to_group(a_ids, group, party="party A"), alpha, group)
    b1 = blind(hash_to_group([b_ids[i] for i in order_b], group, party="party B"), beta, group)
    a2 = blind(a1, beta, group)  # computed by B, returned to A in A's order
    b2 = blind(b1, alpha, group)  # computed by A
    position = {v: j for j, v in enumerate(b2)}
    index_a = [i for i, v in enumerate(a2) if v in position]
    matched = [position[a2[i]] for i in index_a]  # A sends these positions to B
    index_b = [int(order_b[j]) for j in matched]
    size = group.element_bytes
    return PSIResult(
        shared_ids=[a_ids[i] for i in index_a],
        index_a=np.asarray(index_a, dtype=np.int64),
        index_b=np.asarray(index_b, dtype=np.int64),
        seen_by_a={"b_blinded": b1, "a_double_blinded": a2},
        seen_by_b={"a_blinded": a1, "matched_positions": matched},
        bytes_sent={"a": size * len(a_ids) + 4 * len(matched),
                    "b": size * (len(b_ids) + len(a_ids))},
    )
