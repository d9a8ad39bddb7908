"""Paillier encryption from scratch: the additively homomorphic scheme, for reading.

One job: the Paillier cryptosystem (Paillier, "Public-Key Cryptosystems Based on
Composite Degree Residuosity Classes", EUROCRYPT 1999) written out in a few lines, with
``g = n + 1``: a public key ``n = p q``, encryption ``E(m) = (1 + m n) r^n mod n^2`` and
decryption ``m = L(c^lambda mod n^2) mu mod n`` with ``L(u) = (u - 1) / n``. Multiplying
two ciphertexts adds their plaintexts: ``E(a) E(b) = E(a + b mod n)``. Primes are tested
with Miller-Rabin (:func:`is_probable_prime`). Meant for small primes and for reading,
not for protecting anything: :mod:`fedmed_lib.privacy.he` wraps the libraries for real
key sizes. Introduced in :ref:`ch-encryption`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_int,
    check_positive_int,
    check_rng,
    check_seed,
)

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
