"""Keys and shares for secure aggregation: agree on pairwise seeds, split secrets.

One job: the secrets of the protocol of Bonawitz et al. (CCS 2017) that are not the
updates themselves. Every pair of hospitals agrees on a mask seed with a toy
Diffie-Hellman key agreement over the Mersenne prime ``2**127 - 1``
(:func:`dh_public_key`, :func:`dh_shared_seed`); each hospital splits its
Diffie-Hellman secret into Shamir shares with a threshold (Shamir, "How to share a
secret", CACM 1979; :func:`shamir_split`, :func:`shamir_reconstruct`), so that the
survivors can rebuild the seeds of a hospital that drops out. The masking and the
round itself are :mod:`fedmed_lib.privacy.secagg`, which also re-exports these
names. The toy key agreement and the random coefficients are for teaching, not for
production cryptography. Introduced in :ref:`ch-secure-aggregation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_int,
    check_positive_int,
    check_rng,
)

PRIME = 2**127 - 1
"""A Mersenne prime: the field of the Shamir shares and of the toy key agreement."""

GENERATOR = 3
"""Base of the toy Diffie-Hellman key agreement modulo :data:`PRIME`."""

KEY_BYTES = 16
"""Size of a public key, a seed or a Shamir share (127-bit numbers)."""


def random_field_element(rng: np.random.Generator, prime: int = PRIME) -> int:
    """Draw a random integer in ``[1, prime)`` from 16 random bytes of ``rng``."""
    check_rng(rng)
    return 1 + int.from_bytes(rng.bytes(KEY_BYTES), "big") % (prime - 1)


def dh_public_key(secret: int, *, prime: int = PRIME, generator: int = GENERATOR) -> int:
    """Public key ``generator**secret mod prime`` of a toy Diffie-Hellman key agreement."""
    return pow(check_int(generator, name="generator"), check_int(secret, name="secret"), prime)


def dh_shared_seed(secret: int, other_public: int, *, prime: int = PRIME) -> int:
    """Return the seed both parties compute: ``other_public**secret mod prime``."""
    other = check_int(other_public, name="other_public")
    return pow(other, check_int(secret, name="secret", minimum=0), prime)


def shamir_split(
    secret: int, num_shares: int, threshold: int, *, rng: np.random.Generator, prime: int = PRIME
) -> list[tuple[int, int]]:
    """Split ``secret`` into shares ``(x, f(x))``, ``x = 1..num_shares``, of a random polynomial.

    ``f`` has degree ``threshold - 1`` and ``f(0) = secret``: any ``threshold`` shares
    determine it, fewer reveal nothing. Introduced in :ref:`ch-secure-aggregation`.

    Raises
    ------
    ValueError
        If ``threshold`` is not in ``[1, num_shares]``, ``num_shares >= prime`` or the
        secret is not in ``[0, prime)``.
    """
    secret = check_int(secret, name="secret")
    num_shares = check_positive_int(num_shares, name="num_shares")
    threshold = check_int(threshold, name="threshold")
    rng = check_rng(rng)
    if not 1 <= threshold <= num_shares:
        raise ValueError(
            f"threshold must lie in [1, num_shares={num_shares}], got {threshold}"
        )
    if num_shares >= prime:
        raise ValueError(f"num_shares={num_shares} must be smaller than the prime {prime}")
    if not 0 <= secret < prime:
        raise ValueError(f"the secret must lie in [0, prime), got {secret}")
    coefficients = [secret] + [
        int.from_bytes(rng.bytes(KEY_BYTES), "big") % prime for _ in range(threshold - 1)
    ]
    shares = []
    for x in range(1, num_shares + 1):
        y = 0
        for c in reversed(coefficients):  # Horner's rule
            y = (y * x + c) % prime
        shares.append((x, y))
    return shares


def shamir_reconstruct(shares: Sequence[tuple[int, int]], *, prime: int = PRIME) -> int:
    """Lagrange-interpolate the shares at 0: ``f(0) = sum_i y_i prod_{j != i} x_j/(x_j - x_i)``.

    With at least ``threshold`` shares this is the secret; with fewer it is a value that
    says nothing about it. Introduced in :ref:`ch-secure-aggregation`.

    Raises
    ------
    ValueError
        If there are no shares or two shares have the same ``x``.
    """
    if len(shares) == 0:
        raise ValueError("no shares to reconstruct from")
    for i, share in enumerate(shares):
        if not isinstance(share, tuple | list) or len(share) != 2:
            raise InputTypeError(f"share {i} must be a pair (x, y), got {_describe(share)}")
        check_int(share[0], name=f"share {i}: x")
        check_int(share[1], name=f"share {i}: y")
    xs = [int(x) % prime for x, _ in shares]
    if len(set(xs)) != len(xs):
        raise ValueError("two shares have the same x: each share must come from a different holder")
    secret = 0
    for i, (xi, yi) in enumerate(zip(xs, (int(y) for _, y in shares), strict=True)):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * xj % prime
                den = den * (xj - xi) % prime
        secret = (secret + yi * num * pow(den, -1, prime)) % prime
    return secret
