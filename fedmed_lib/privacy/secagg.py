"""Secure aggregation: the server learns the sum of the hospitals' updates and nothing else.

A simulation, in integer arithmetic, of the protocol of Bonawitz et al., "Practical
Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017, introduced in
:ref:`ch-secure-aggregation`:

1. **Fixed point.** Each update is encoded as integers modulo ``2**32``,
   ``q = round(x * scale)``, negative numbers in two's complement. The sum decodes
   exactly as long as the true sum of ``|q|`` stays below ``2**31``.
2. **Pairwise masks.** Every pair of hospitals ``i < j`` agrees on a seed (a toy
   Diffie-Hellman key agreement over the prime ``2**127 - 1``); hospital ``i`` adds
   the mask ``PRG(seed)`` (numpy's ``Generator(PCG64(seed))``) and ``j`` subtracts
   it, so all masks cancel in the sum.
3. **Dropouts.** Each hospital splits its Diffie-Hellman secret into ``n`` Shamir
   shares with threshold ``t`` (Shamir, "How to share a secret", CACM 1979). If a
   hospital drops out after the masks were agreed, any ``t`` survivors hand the server
   their shares; it rebuilds the dropped hospital's seeds and removes its dangling masks.

Everything is deterministic given ``seed``. The toy key agreement and the random
coefficients are for teaching, not for production cryptography.

One job: mask the updates and run one round. The key agreement of step 2 and the
Shamir shares of step 3 are in :mod:`fedmed_lib.privacy.secret_sharing`;
their names are also importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_int,
    check_positive_int,
    check_real_array,
    check_rng,
    check_seed,
    check_update,
    client_label,
)
from fedmed_lib.param_math import flatten, unflatten
from fedmed_lib.privacy.secret_sharing import GENERATOR as GENERATOR
from fedmed_lib.privacy.secret_sharing import KEY_BYTES as KEY_BYTES
from fedmed_lib.privacy.secret_sharing import PRIME as PRIME
from fedmed_lib.privacy.secret_sharing import dh_public_key as dh_public_key
from fedmed_lib.privacy.secret_sharing import dh_shared_seed as dh_shared_seed
from fedmed_lib.privacy.secret_sharing import random_field_element as random_field_element
from fedmed_lib.privacy.secret_sharing import shamir_reconstruct as shamir_reconstruct
from fedmed_lib.privacy.secret_sharing import shamir_split as shamir_split
from fedmed_lib.types import Params

MODULUS = 2**32
"""All masked arithmetic is modulo ``2**32`` (numpy ``uint32`` wraps around)."""

DEFAULT_SCALE = 2**16
"""Fixed-point scale: a resolution of ``2**-16`` and a range of ``[-2**15, 2**15)``."""

UInt32 = NDArray[np.uint32]


# --- fixed-point encoding --------------------------------------------------------------


def encode(
    values: np.ndarray, *, scale: int = DEFAULT_SCALE, client: int | str = "values"
) -> UInt32:
    """Encode real numbers as fixed-point integers modulo ``2**32`` (two's complement).

    Introduced in :ref:`ch-secure-aggregation`.

    Raises
    ------
    ValueError
        If a value is NaN/Inf or ``|round(value * scale)| >= 2**31`` (outside the range),
        naming ``client``.
    """
    who = client_label(client) if client != "values" else "values"
    try:
        a = check_real_array(values, name=who)
    except InputTypeError:
        raise
    except ValueError as err:
        if "NaN" in str(err) or "Inf" in str(err):
            raise ValueError(
                f"{who}: contains NaN or Inf, which has no fixed-point encoding"
            ) from err
        raise
    scale = _check_scale(scale)
    q = np.rint(a * scale)
    if a.size and np.max(np.abs(q)) >= 2**31:
        j = int(np.argmax(np.abs(q)))
        raise ValueError(
            f"{who}: value {a.ravel()[j]:.6g} is outside the fixed-point range "
            f"+-{2**31 / scale:.6g} (scale {scale})"
        )
    return np.asarray(np.mod(q.astype(np.int64), MODULUS).astype(np.uint32))


def _check_scale(scale: object) -> int:
    if isinstance(scale, bool | np.bool_) or not isinstance(scale, int | np.integer):
        raise InputTypeError(f"scale must be a positive integer, got {_describe(scale)}")
    if scale <= 0:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    return int(scale)


def _check_encoded(encoded: object, *, name: str = "encoded") -> NDArray[np.int64]:
    a = np.asarray(encoded) if not isinstance(encoded, str | bytes) else np.asarray([encoded])
    if a.dtype.kind not in "iu":
        raise InputTypeError(
            f"{name} must be an array of integers modulo 2**32 (uint32), got dtype {a.dtype}"
        )
    return a.astype(np.int64)


def decode(encoded: np.ndarray, *, scale: int = DEFAULT_SCALE) -> NDArray[np.float64]:
    """Decode integers modulo ``2**32`` (two's complement) back to real numbers.

    Introduced in :ref:`ch-secure-aggregation`.

    Raises
    ------
    InputTypeError
        If ``encoded`` is not an integer array or ``scale`` not a positive integer.
    """
    scale = _check_scale(scale)
    q = _check_encoded(encoded) % MODULUS
    signed = np.where(q >= 2**31, q - MODULUS, q)
    return np.asarray(signed / scale, dtype=np.float64)


# --- additive secret sharing and pairwise masks -----------------------------------------


def additive_shares(
    encoded: np.ndarray, num_shares: int, *, rng: np.random.Generator
) -> list[UInt32]:
    """Split ``encoded`` into ``num_shares`` uniform arrays that sum to it modulo ``2**32``.

    Any ``num_shares - 1`` of them are uniformly random whatever ``encoded`` is.
    Introduced in :ref:`ch-secure-aggregation`.
    """
    num_shares = check_positive_int(num_shares, name="num_shares")
    rng = check_rng(rng)
    x = (_check_encoded(encoded) % MODULUS).astype(np.uint32)
    shares = [
        rng.integers(0, MODULUS, size=x.shape, dtype=np.uint32) for _ in range(num_shares - 1)
    ]
    last = x.copy()
    for s in shares:
        last -= s  # uint32 arithmetic wraps modulo 2**32
    return [*shares, last]


def prg_mask(seed: int, shape: int | tuple[int, ...]) -> UInt32:
    """Expand a shared seed into a uniform mask modulo ``2**32`` with ``Generator(PCG64(seed))``.

    Introduced in :ref:`ch-secure-aggregation`.
    """
    s = check_seed(seed)
    dims = (shape,) if not isinstance(shape, tuple | list) else tuple(shape)
    for dim in dims:
        check_int(dim, name="shape", minimum=0)
    gen = np.random.Generator(np.random.PCG64(s))
    return np.asarray(gen.integers(0, MODULUS, size=shape, dtype=np.uint32))


def pair_seed_key(i: int, j: int) -> tuple[int, int]:
    """Return the key ``(min, max)`` under which the seed of the pair ``{i, j}`` is stored."""
    i, j = check_int(i, name="i"), check_int(j, name="j")
    return (i, j) if i < j else (j, i)


def mask(
    encoded: np.ndarray, k: int, pair_seeds: dict[tuple[int, int], int], others: Iterable[int]
) -> UInt32:
    """Hospital ``k``'s masked input ``x_k + sum_{j>k} m_kj - sum_{j<k} m_jk`` mod ``2**32``.

    ``pair_seeds[(i, j)]`` (with ``i < j``) is the seed shared by hospitals ``i`` and
    ``j``; ``others`` lists the hospitals ``k`` shares a mask with. Introduced in
    :ref:`ch-secure-aggregation`.
    """
    k = check_int(k, name="k (the hospital)")
    y = (_check_encoded(encoded) % MODULUS).astype(np.uint32)
    for j in others:
        j = check_int(j, name="others (hospital ids)")
        if j == k:
            continue
        key = pair_seed_key(k, j)
        if key not in pair_seeds:
            raise ValueError(f"no shared seed for the pair of hospitals {key} in pair_seeds")
        m = prg_mask(pair_seeds[key], y.shape)
        if k < j:
            y += m
        else:
            y -= m
    return y


# --- one round -------------------------------------------------------------------------


def _check_dropouts(dropouts: object, n: int) -> list[int]:
    """Return the sorted dropout ids, refusing anything that is not a hospital id, or twice."""
    if dropouts is None or isinstance(dropouts, str | bytes) or not isinstance(
        dropouts, Iterable
    ):
        raise InputTypeError(
            f"dropouts must be a list of hospital ids in [0, {n}), got {_describe(dropouts)}"
        )
    out: list[int] = []
    for d in list(dropouts):
        if isinstance(d, bool | np.bool_) or not isinstance(d, int | np.integer):
            raise InputTypeError(
                f"dropout {d!r} is not a hospital id: ids are integers in [0, {n}), "
                f"got {_describe(d)}"
            )
        if not 0 <= d < n:
            raise ValueError(f"dropout {d} is not a hospital index in [0, {n})")
        if int(d) in out:
            raise ValueError(f"dropout {d} is listed twice: each hospital drops out once")
        out.append(int(d))
    return sorted(out)


@dataclass
class SecAggResult:
    """The outcome of :func:`secure_sum`.

    Attributes
    ----------
    total
        The decoded sum of the survivors' updates, shaped like one update.
    total_encoded
        The same sum as fixed-point integers modulo ``2**32`` (flattened).
    survivors
        The hospitals whose updates are in the sum.
    masked
        What the server received from each survivor (flattened, uint32): its view.
    upload_bytes
        Bytes each hospital sent (public key, Shamir shares, masked update, and the
        shares that recover dropped hospitals).
    plain_bytes
        Bytes of one plain float32 update, for comparison.
    """

    total: Params
    total_encoded: UInt32
    survivors: list[int]
    masked: dict[int, UInt32] = field(default_factory=dict)
    upload_bytes: dict[int, int] = field(default_factory=dict)
    plain_bytes: int = 0


def secure_sum(
    updates: Sequence[Sequence[np.ndarray]],
    *,
    dropouts: Iterable[int] = (),
    threshold: int | None = None,
    seed: int = 0,
    scale: int = DEFAULT_SCALE,
) -> SecAggResult:
    """Sum the hospitals' updates with pairwise masking and Shamir dropout recovery.

    Hospitals in ``dropouts`` take part in the key agreement and share their secrets,
    then drop out before sending their masked update; the result is the exact
    fixed-point sum of the survivors' updates. Introduced in :ref:`ch-secure-aggregation`.

    Parameters
    ----------
    updates
        One update (a list of arrays of the same shapes) per hospital.
    dropouts
        Ids (indices ``0..n-1``, each at most once) of the hospitals that drop out
        after the shares were distributed.
    threshold
        Shares needed to rebuild a secret, ``t``; default ``n // 2 + 1``.
    seed
        Seed of every random choice (keys, shares): a non-negative integer (``None``
        is refused, as everywhere in the library).
    scale
        Fixed-point scale.

    Raises
    ------
    ValueError
        If there are fewer than 2 hospitals, an update has the wrong shape, NaN/Inf or
        values outside the fixed-point range (naming the hospital), the survivors' sum
        could overflow, a dropout id is not a hospital id (``1.5``, ``True``, out of
        range, listed twice), or fewer than ``threshold`` hospitals survive.
    InputTypeError
        If an argument has the wrong type (``seed=None``, ``threshold=2.0``, ...).
    """
    if updates is None or isinstance(updates, str | bytes | np.ndarray) or not isinstance(
        updates, Sequence
    ):
        raise InputTypeError(
            f"updates must be a list with one update (a list of arrays) per hospital, "
            f"got {_describe(updates)}"
        )
    n = len(updates)
    if n < 2:
        raise ValueError(f"secure aggregation needs at least 2 hospitals, got {n}")
    seed = check_seed(seed)
    scale = _check_scale(scale)
    first = updates[0]
    if isinstance(first, Sequence) and not isinstance(first, str | bytes):
        reference = check_update(first, first, client=0)
    else:
        reference = []  # check_update below names hospital 0 and the wrong type
    checked = [check_update(u, reference, client=k) for k, u in enumerate(updates)]
    t = n // 2 + 1 if threshold is None else threshold
    if isinstance(t, bool | np.bool_) or not isinstance(t, int | np.integer):
        raise InputTypeError(f"threshold must be an integer in [1, {n}], got {_describe(t)}")
    if not 1 <= t <= n:
        raise ValueError(f"threshold must be an integer in [1, {n}], got {threshold!r}")
    t = int(t)
    dropped = _check_dropouts(dropouts, n)
    survivors = [k for k in range(n) if k not in dropped]
    if len(survivors) < t:
        raise ValueError(
            f"{len(dropped)} hospitals dropped out and only {len(survivors)} survive, fewer "
            f"than the threshold {t}: the dropped hospitals' masks cannot be removed"
        )
    encoded = [encode(flatten(u), scale=scale, client=k) for k, u in enumerate(checked)]
    bound = sum(np.abs(decode(encoded[k], scale=scale)) * scale for k in survivors)
    if np.max(bound) >= 2**31:
        raise ValueError(
            "the sum of |values| * scale reaches 2**31: the fixed-point sum would "
            "overflow; lower the scale or clip the updates"
        )

    rng = np.random.default_rng(seed)
    # 1. Key agreement: every hospital publishes g**a mod p.
    secrets = [random_field_element(rng) for _ in range(n)]
    publics = [dh_public_key(a) for a in secrets]
    pair_seeds = {
        (i, j): dh_shared_seed(secrets[i], publics[j]) for i in range(n) for j in range(i + 1, n)
    }
    # 2. Each hospital sends a Shamir share of its secret to every other hospital.
    shares = [shamir_split(a, n, t, rng=rng) for a in secrets]
    upload = {k: KEY_BYTES + (n - 1) * KEY_BYTES for k in range(n)}
    # 3. Survivors send masked updates (masks with *all* n hospitals).
    masked = {k: mask(encoded[k], k, pair_seeds, range(n)) for k in survivors}
    size = encoded[0].size
    for k in survivors:
        upload[k] += 4 * size
    total = np.zeros(size, dtype=np.uint32)
    for k in survivors:
        total += masked[k]
    # 4. Recovery: t survivors send their shares of each dropped hospital's secret.
    helpers = survivors[:t]
    for d in dropped:
        a_d = shamir_reconstruct([shares[d][h] for h in helpers])
        for h in helpers:
            upload[h] += KEY_BYTES
        for k in survivors:  # remove the dangling mask between k and d
            m = prg_mask(dh_shared_seed(a_d, publics[k]), size)
            if k < d:
                total -= m
            else:
                total += m
    return SecAggResult(
        total=unflatten(decode(total, scale=scale), reference),
        total_encoded=total,
        survivors=survivors,
        masked=masked,
        upload_bytes=upload,
        plain_bytes=4 * size,
    )
