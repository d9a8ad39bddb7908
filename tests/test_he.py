"""Tests of fedmed_lib.privacy.he: Paillier from scratch, fixed point and packing, phe and CKKS."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedmed_lib.privacy import he, paillier

P, Q = 1789, 1861
PUBLIC, PRIVATE = he.paillier_keygen(P, Q)
N = P * Q


@pytest.fixture(scope="module")
def phe_keys():
    return he.phe_keypair(512)  # small and fast; the chapter uses 2048 bits


def test_keygen_by_hand() -> None:
    # p = 5, q = 7: n = 35, lambda = lcm(4, 6) = 12, mu = 12^-1 mod 35 = 3 (12 * 3 = 36).
    public, private = he.paillier_keygen(5, 7)
    assert public.n == 35 and public.n_square == 1225
    assert (private.lam, private.mu) == (12, 3)
    # E(m) = (1 + m n) r^n mod n^2 decrypts to m for every m and a unit r.
    for m in range(35):
        for r in (2, 3, 4, 6, 8):
            c = (1 + m * 35) * pow(r, 35, 1225) % 1225
            assert he.paillier_decrypt(private, c) == m


# --- the library's one Miller-Rabin test (also fedmed_lib.vertical.is_probable_prime) -------

PSI_13 = 3_317_044_064_679_887_385_961_981  # smallest strong pseudoprime to the primes 2..41


def test_is_probable_prime_against_trial_division() -> None:
    def brute(n: int) -> bool:
        return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))

    assert [n for n in range(5000) if he.is_probable_prime(n)] == [
        n for n in range(5000) if brute(n)
    ]
    assert he.is_probable_prime(2**127 - 1) and not he.is_probable_prime(2**128 + 1)


def test_is_probable_prime_against_a_sieve() -> None:
    limit = 2**20
    sieve = np.ones(limit, dtype=bool)
    sieve[:2] = False
    for i in range(2, math.isqrt(limit) + 1):
        sieve[i * i :: i] = False
    assert [he.is_probable_prime(n) for n in range(20000)] == sieve[:20000].tolist()
    # random 40-bit odd numbers, against trial division by every prime below 2**20
    primes = np.flatnonzero(sieve).astype(np.int64)
    rng = np.random.default_rng(0)
    found = 0
    for n in rng.integers(2**39, 2**40, size=300) | 1:
        truth = bool(np.all(int(n) % primes != 0))
        assert he.is_probable_prime(int(n)) == truth, n
        found += truth
    assert 5 < found < 100  # both answers occur (about 1 in 14 odd 40-bit numbers is prime)


def test_is_probable_prime_rejects_pseudoprimes() -> None:
    # Carmichael numbers, and strong pseudoprimes to many bases (OEIS A014233)
    for n in (561, 1105, 1729, 2047, 3215031751, 3825123056546413051,
              318665857834031151167461):
        assert not he.is_probable_prime(n), n
    assert not he.is_probable_prime(1000003 * 2147483579)  # a product of two primes
    # PSI_13 passes all 13 fixed bases (so the exact range must stop below it) ...
    d, s = PSI_13 - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    assert all(paillier._strong_probable_prime(PSI_13, a, d, s) for a in paillier._SMALL_PRIMES)
    assert paillier._DETERMINISTIC_BELOW == PSI_13
    # ... and the random bases above it catch it, for every seed tried
    assert not any(he.is_probable_prime(PSI_13, seed=seed) for seed in range(10))


def test_is_probable_prime_large_primes_and_seeds() -> None:
    mersenne = [2**p - 1 for p in (89, 107, 127, 521, 607)]
    for m in mersenne:
        assert all(he.is_probable_prime(m, rounds=4, seed=seed) for seed in range(3))
    assert not he.is_probable_prime(mersenne[0] * mersenne[1], rounds=1)
    assert he.is_probable_prime(np.int64(2147483579))  # numpy integers are integers


def test_is_probable_prime_is_the_one_in_vertical() -> None:
    from fedmed_lib import vertical

    assert vertical.is_probable_prime is he.is_probable_prime


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 7.0}, TypeError, "n must be an integer"),
        ({"n": "7"}, TypeError, "n must be an integer"),
        ({"n": True}, TypeError, "n must be an integer"),
        ({"n": 7, "rounds": 0}, ValueError, "rounds"),
        ({"n": 7, "rounds": 1.5}, TypeError, "rounds"),
        ({"n": 7, "seed": -1}, ValueError, "seed"),
        ({"n": 7, "seed": None}, TypeError, "seed"),
    ],
)
def test_is_probable_prime_bad_input(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        he.is_probable_prime(**kwargs)


@settings(max_examples=200, deadline=None)
@given(a=st.integers(0, N - 1), b=st.integers(0, N - 1), seed=st.integers(0, 2**32))
def test_homomorphism_on_random_inputs(a: int, b: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ca = he.paillier_encrypt(PUBLIC, a, rng=rng)
    cb = he.paillier_encrypt(PUBLIC, b, rng=rng)
    assert he.paillier_decrypt(PRIVATE, ca) == a
    assert he.paillier_decrypt(PRIVATE, he.paillier_add(PUBLIC, ca, cb)) == (a + b) % N
    # multiplying the ciphertexts directly is the same operation
    assert he.paillier_decrypt(PRIVATE, ca * cb % PUBLIC.n_square) == (a + b) % N


def test_encryption_is_randomised() -> None:
    rng = np.random.default_rng(0)
    cs = {he.paillier_encrypt(PUBLIC, 7, rng=rng) for _ in range(20)}
    assert len(cs) == 20
    assert {he.paillier_decrypt(PRIVATE, c) for c in cs} == {7}


@settings(max_examples=200, deadline=None)
@given(xs=st.lists(st.floats(-1000, 1000, allow_nan=False), min_size=1, max_size=5))
def test_fixed_point_sums_with_negatives(xs: list[float]) -> None:
    scale = 2**8
    total = sum(he.encode_fixed(x, N, scale=scale) for x in xs) % N
    exact = sum(round(x * scale) for x in xs) / scale
    assert he.decode_fixed(total, N, scale=scale) == exact
    for x in xs:
        assert abs(he.decode_fixed(he.encode_fixed(x, N, scale=scale), N, scale=scale) - x) <= 0.5 / scale


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=7, max_size=7),
                    min_size=1, max_size=9),
)
def test_pack_unpack_sum(values: list[list[int]]) -> None:
    k = len(values)
    bits = he.slot_bits_for(k)
    assert bits == 32 + (k - 1).bit_length()
    packed = [he.pack(v, slot_bits=bits, slots=3) for v in values]
    assert all(len(p) == 3 for p in packed)
    summed = [sum(col) for col in zip(*packed, strict=True)]
    out = he.unpack(summed, 7, slot_bits=bits, slots=3, num_summands=k)
    assert out == [sum(col) for col in zip(*values, strict=True)]


def test_phe_sum_is_exact_fixed_point_sum(phe_keys) -> None:
    public, private = phe_keys
    rng = np.random.default_rng(1)
    updates = [rng.normal(0, 3, size=40) for _ in range(3)]
    enc = [he.phe_encrypt_packed(public, u, num_clients=3) for u in updates]
    assert enc[0].slots == (public.n.bit_length() - 2) // 34
    total = he.phe_sum(enc)
    assert total.num_summands == 3
    got = he.phe_decrypt_packed(private, total)
    expected = np.sum([np.rint(u * he.DEFAULT_SCALE) for u in updates], axis=0) / he.DEFAULT_SCALE
    assert np.array_equal(got, expected)
    assert total.nbytes() == len(total.ciphertexts) * ((public.nsquare.bit_length() + 7) // 8)


def test_scratch_and_phe_agree_on_sums(phe_keys) -> None:
    """Encrypt packed plaintexts with our Paillier under phe's primes; the sums agree."""
    public, private = phe_keys
    s_public, s_private = he.paillier_keygen(private.p, private.q)
    assert s_public.n == public.n
    rng = np.random.default_rng(2)
    updates = [rng.normal(0, 1, size=20) for _ in range(4)]
    enc = [he.phe_encrypt_packed(public, u, num_clients=4) for u in updates]
    phe_total = he.phe_sum(enc)
    phe_plain = [private.decrypt(c) for c in phe_total.ciphertexts]
    bits, slots = enc[0].slot_bits, enc[0].slots
    scratch_total = None
    for u in updates:
        ms = he.pack(he.quantize(u), slot_bits=bits, slots=slots)
        cs = [he.paillier_encrypt(s_public, m, rng=rng) for m in ms]
        scratch_total = cs if scratch_total is None else [
            he.paillier_add(s_public, a, b) for a, b in zip(scratch_total, cs, strict=True)
        ]
    assert scratch_total is not None
    scratch_plain = [he.paillier_decrypt(s_private, c) for c in scratch_total]
    assert scratch_plain == phe_plain
    # and our decryption reads phe's ciphertext
    c = phe_total.ciphertexts[0].ciphertext(be_secure=False)
    assert he.paillier_decrypt(s_private, c) == phe_plain[0]


def test_ckks_sum_within_precision() -> None:
    ctx = he.ckks_context()
    rng = np.random.default_rng(3)
    updates = [rng.normal(0, 1, size=5000) for _ in range(3)]
    chunks = [he.ckks_encrypt(ctx, u) for u in updates]
    assert len(chunks[0]) == 2  # 5000 values in ciphertexts of 4096
    total = he.ckks_decrypt(he.ckks_sum(chunks))
    assert total.shape == (5000,)
    assert np.max(np.abs(total - np.sum(updates, axis=0))) < 1e-5
    assert he.ckks_nbytes(chunks[0]) > 8 * 5000


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: he.paillier_keygen(4, 7), ValueError, "p = 4 is not a prime"),
        (lambda: he.paillier_keygen(7, 7), ValueError, "distinct"),
        (lambda: he.paillier_keygen(2.5, 7), TypeError, "p must be an integer"),
        (lambda: he.paillier_keygen(3, 7), ValueError, "gcd"),  # 3 | (7 - 1)
        (lambda: he.paillier_encrypt(PUBLIC, N, rng=np.random.default_rng(0)), ValueError,
         "plaintext m"),
        (lambda: he.paillier_encrypt(PUBLIC, 1, rng=0), TypeError, "rng"),
        (lambda: he.paillier_encrypt(N, 1, rng=np.random.default_rng(0)), TypeError,
         "PaillierPublicKey"),
        (lambda: he.paillier_decrypt(PRIVATE, 0), ValueError, "not a valid ciphertext"),
        (lambda: he.paillier_decrypt(PUBLIC, 5), TypeError, "PaillierPrivateKey"),
        (lambda: he.paillier_add(PUBLIC, P, 5), ValueError, "c1"),
        (lambda: he.quantize([1.0, np.nan]), ValueError, "NaN"),
        (lambda: he.quantize([1e9]), ValueError, "outside the fixed-point range"),
        (lambda: he.quantize("1.0"), TypeError, "numeric"),
        (lambda: he.pack([1], slot_bits=16, slots=2), ValueError, "slot_bits"),
        (lambda: he.pack([2**40], slot_bits=40, slots=2), ValueError, r"quantized\[0\]"),
        (lambda: he.slots_per_plaintext(10, 34), ValueError, "does not fit"),
        (lambda: he.unpack([1], 5, slot_bits=34, slots=2), ValueError, "hold fewer"),
        (lambda: he.phe_sum([]), ValueError, "no encrypted updates"),
        (lambda: he.phe_sum([1, 2]), TypeError, "client 0"),
        (lambda: he.phe_encrypt_packed(PUBLIC, [1.0], num_clients=2), TypeError,
         "phe.PaillierPublicKey"),
        (lambda: he.ckks_sum([]), ValueError, "no encrypted updates"),
    ],
)
def test_bad_input_is_named(call, error, words) -> None:
    with pytest.raises(error, match=words):
        call()


def test_phe_sum_refuses_mixed_layouts(phe_keys) -> None:
    public, _ = phe_keys
    a = he.phe_encrypt_packed(public, np.zeros(3), num_clients=2)
    b = he.phe_encrypt_packed(public, np.zeros(4), num_clients=2)
    with pytest.raises(ValueError, match="client 1"):
        he.phe_sum([a, b])
    with pytest.raises(ValueError, match="overflows"):
        he.phe_sum([a, a, a])  # room for 2 summands only


def test_ckks_refuses_the_crashing_import_order() -> None:
    """After tensorflow without tenseal, ckks_context explains instead of crashing later."""
    import subprocess
    import sys

    code = (
        "import sys, types; sys.modules['tensorflow'] = types.ModuleType('tensorflow')\n"
        "from fedmed_lib.privacy import he\n"
        "try:\n    he.ckks_context()\nexcept RuntimeError as e:\n    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "refused:" in out.stdout and "before tensorflow" in out.stdout, out.stdout + out.stderr
