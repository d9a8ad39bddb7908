"""Homomorphic encryption: the server adds hospital updates that it cannot read.

Introduced in :ref:`ch-encryption`. Three layers, from scratch to production:

* **Paillier from scratch** (Paillier, "Public-Key Cryptosystems Based on Composite
  Degree Residuosity Classes", EUROCRYPT 1999), in :mod:`fedmed_lib.privacy.paillier`.
* **Fixed-point encoding and packing** of real numbers into plaintexts, in
  :mod:`fedmed_lib.privacy.fixed_point`.
* **Thin wrappers**, this module's own job: ``phe`` (python-paillier, CSIRO Data61) for
  real key sizes, with packed plaintexts, and ``tenseal`` (OpenMined) for CKKS vectors
  (Cheon, Kim, Kim and Song, "Homomorphic Encryption for Arithmetic of Approximate
  Numbers", ASIACRYPT 2017), whose sums are exact up to a small approximation error.

The names of the first two layers stay importable from here. The key holder (not the
server) keeps the private key; see the chapter for what happens when it colludes with
the server and what the decrypted sum still reveals.
"""

from __future__ import annotations

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
)
from fedmed_lib.privacy.fixed_point import DEFAULT_SCALE as DEFAULT_SCALE
from fedmed_lib.privacy.fixed_point import DEFAULT_VALUE_BITS as DEFAULT_VALUE_BITS
from fedmed_lib.privacy.fixed_point import decode_fixed as decode_fixed
from fedmed_lib.privacy.fixed_point import encode_fixed as encode_fixed
from fedmed_lib.privacy.fixed_point import pack as pack
from fedmed_lib.privacy.fixed_point import quantize as quantize
from fedmed_lib.privacy.fixed_point import slot_bits_for as slot_bits_for
from fedmed_lib.privacy.fixed_point import slots_per_plaintext as slots_per_plaintext
from fedmed_lib.privacy.fixed_point import unpack as unpack
from fedmed_lib.privacy.paillier import PaillierPrivateKey as PaillierPrivateKey
from fedmed_lib.privacy.paillier import PaillierPublicKey as PaillierPublicKey
from fedmed_lib.privacy.paillier import is_probable_prime as is_probable_prime
from fedmed_lib.privacy.paillier import paillier_add as paillier_add
from fedmed_lib.privacy.paillier import paillier_decrypt as paillier_decrypt
from fedmed_lib.privacy.paillier import paillier_encrypt as paillier_encrypt
from fedmed_lib.privacy.paillier import paillier_keygen as paillier_keygen

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
