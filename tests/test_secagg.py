"""Tests of fedmed_lib.privacy.secagg: the masked sum equals the plain sum, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.privacy.secagg import (
    MODULUS,
    additive_shares,
    decode,
    dh_public_key,
    dh_shared_seed,
    encode,
    mask,
    prg_mask,
    secure_sum,
    shamir_reconstruct,
    shamir_split,
)


def random_updates(num_hospitals, rng, shapes=((3, 2), (4,))):
    return [[rng.normal(scale=5.0, size=s) for s in shapes] for _ in range(num_hospitals)]


def fixed_point_sum(updates, keep, scale=2**16):
    """Plain sum of the rounded values, in int64 (no modular arithmetic)."""
    flat = [np.concatenate([np.ravel(a) for a in u]) for u in updates]
    return sum(np.rint(flat[k] * scale).astype(np.int64) for k in keep)


def test_encode_decode_hand_computed():
    enc = encode(np.array([1.5, -1.0, 0.0]), scale=4)
    np.testing.assert_array_equal(enc, np.array([6, 2**32 - 4, 0], dtype=np.uint32))
    assert enc.dtype == np.uint32
    np.testing.assert_array_equal(decode(enc, scale=4), [1.5, -1.0, 0.0])


def test_encoded_sum_decodes_to_sum_of_rounded_values():
    rng = np.random.default_rng(0)
    x = rng.normal(scale=100.0, size=(5, 50))
    total = np.zeros(50, dtype=np.uint32)
    for row in x:
        total += encode(row)
    np.testing.assert_array_equal(
        decode(total) * 2**16, np.rint(x * 2**16).astype(np.int64).sum(axis=0)
    )
    assert np.max(np.abs(decode(total) - x.sum(axis=0))) <= 5 * 0.5 / 2**16


def test_overflow_wraps_around():
    # 2 * 20000 * 2**16 > 2**31: the sum of two in-range values wraps to a negative number.
    total = encode(np.array([20000.0])) + encode(np.array([20000.0]))
    assert decode(total)[0] < 0


def test_additive_shares_sum_back():
    rng = np.random.default_rng(1)
    x = encode(rng.normal(size=20))
    shares = additive_shares(x, 4, rng=rng)
    total = np.zeros_like(x)
    for s in shares:
        total += s
    np.testing.assert_array_equal(total, x)
    assert not any(np.array_equal(s, x) for s in shares)


def test_pairwise_masks_cancel():
    rng = np.random.default_rng(2)
    n, d = 5, 30
    seeds = {(i, j): int(rng.integers(2**62)) for i in range(n) for j in range(i + 1, n)}
    xs = [encode(rng.normal(size=d)) for _ in range(n)]
    ys = [mask(xs[k], k, seeds, range(n)) for k in range(n)]
    sum_x, sum_y = np.zeros(d, np.uint32), np.zeros(d, np.uint32)
    for x, y in zip(xs, ys, strict=True):
        sum_x += x
        sum_y += y
        assert not np.array_equal(x, y)
    np.testing.assert_array_equal(sum_y, sum_x)


def test_prg_mask_is_deterministic_and_uniform():
    a, b = prg_mask(123, 10_000), prg_mask(123, 10_000)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, prg_mask(124, 10_000))
    assert abs(a.astype(np.float64).mean() / MODULUS - 0.5) < 0.02


def test_dh_agreement_is_symmetric():
    a, b = 123456789, 987654321
    assert dh_shared_seed(a, dh_public_key(b)) == dh_shared_seed(b, dh_public_key(a))


def test_shamir_hand_computed():
    # f(x) = 5 + 3x mod 11: shares (1, 8), (2, 0); f(0) = 5.
    assert shamir_reconstruct([(1, 8), (2, 0)], prime=11) == 5
    assert shamir_reconstruct([(2, 0), (1, 8)], prime=11) == 5


def test_shamir_threshold():
    rng = np.random.default_rng(3)
    secret = 2**100 + 17
    shares = shamir_split(secret, 6, 4, rng=rng)
    for subset in ([0, 1, 2, 3], [5, 3, 1, 0], [2, 3, 4, 5], list(range(6))):
        assert shamir_reconstruct([shares[i] for i in subset]) == secret
    assert shamir_reconstruct(shares[:3]) != secret


def test_fewer_than_t_shares_reveal_nothing_small_field():
    # p = 11, t = 3: for every secret, the 121 polynomials give each pair of shares once.
    p = 11
    for secret in range(p):
        seen = {((secret + a1 + a2) % p, (secret + 2 * a1 + 4 * a2) % p)
                for a1 in range(p) for a2 in range(p)}
        assert len(seen) == p * p


@pytest.mark.parametrize("num_hospitals", [2, 3, 7])
def test_secure_sum_equals_plain_sum(num_hospitals):
    rng = np.random.default_rng(num_hospitals)
    updates = random_updates(num_hospitals, rng)
    res = secure_sum(updates, seed=1)
    expected = fixed_point_sum(updates, range(num_hospitals))
    np.testing.assert_array_equal(decode(res.total_encoded) * 2**16, expected)
    plain = [sum(u[i] for u in updates) for i in range(2)]
    for got, want in zip(res.total, plain, strict=True):
        assert got.shape == want.shape
        assert np.max(np.abs(got - want)) <= num_hospitals * 0.5 / 2**16


@pytest.mark.parametrize(("n", "t", "dropouts"), [(5, 3, [1]), (6, 3, [0, 5, 2]), (4, 4, [])])
def test_secure_sum_with_dropouts(n, t, dropouts):
    rng = np.random.default_rng(10 + n)
    updates = random_updates(n, rng)
    res = secure_sum(updates, dropouts=dropouts, threshold=t, seed=2)
    keep = [k for k in range(n) if k not in dropouts]
    assert res.survivors == keep
    np.testing.assert_array_equal(decode(res.total_encoded) * 2**16, fixed_point_sum(updates, keep))
    assert set(res.masked) == set(keep)


def _masked_samples(x, num_masks, seed):
    """Hospital 0's masked input for ``num_masks`` independent draws of its pair seeds."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num_masks):
        seeds = {(0, j): int(rng.integers(2**62)) for j in (1, 2, 3)}
        out.append(mask(x, 0, seeds, range(4)))
    return np.concatenate(out)


def _chi_square_p(counts, expected):
    from scipy.stats import chi2

    stat = float(np.sum((counts - expected) ** 2 / expected))
    return float(chi2.sf(stat, df=counts.size - 1))


def test_masked_update_is_uniform_modulo_2_32():
    # whatever x is (here 0 and the largest value), x + mask mod 2^32 is uniform: a
    # chi-square test of the 64 bins of the top 6 bits and of the low 6 bits, fixed seed
    bins = 64
    for value in (0, MODULUS - 1):
        x = np.full(50, value, dtype=np.uint32)
        y = _masked_samples(x, 400, seed=11).astype(np.uint64)  # 20,000 values
        for digits in (y >> np.uint64(26), y & np.uint64(bins - 1)):
            counts = np.bincount(digits.astype(np.int64), minlength=bins).astype(float)
            assert _chi_square_p(counts, np.full(bins, y.size / bins)) > 1e-3


def test_masked_values_of_two_different_updates_are_identically_distributed():
    # the server cannot tell x = all zeros from x = a large update by its masked values:
    # a two-sample chi-square test on 32 bins of the masked values does not separate them
    bins = 32
    x_a = np.zeros(50, dtype=np.uint32)
    x_b = encode(np.linspace(-3.0, 3.0, 50))  # uint32: the update modulo 2^32
    a = _masked_samples(x_a, 400, seed=21).astype(np.uint64) >> np.uint64(27)
    b = _masked_samples(x_b, 400, seed=22).astype(np.uint64) >> np.uint64(27)
    ca = np.bincount(a.astype(np.int64), minlength=bins).astype(float)
    cb = np.bincount(b.astype(np.int64), minlength=bins).astype(float)
    pooled = (ca + cb) / 2
    from scipy.stats import chi2

    stat = float(np.sum((ca - pooled) ** 2 / pooled + (cb - pooled) ** 2 / pooled))
    assert chi2.sf(stat, df=bins - 1) > 1e-3
    # the test has power: without the mask the two updates are told apart at once
    ua = np.bincount((x_a.astype(np.uint64) >> np.uint64(27)).astype(np.int64), minlength=bins)
    ub = np.bincount((x_b.astype(np.uint64) >> np.uint64(27)).astype(np.int64), minlength=bins)
    assert not np.array_equal(ua, ub)


def test_secure_sum_masks_each_update_and_the_sum_removes_the_masks():
    rng = np.random.default_rng(4)
    updates = random_updates(4, rng)
    res = secure_sum(updates, seed=3)
    x0 = encode(np.concatenate([np.ravel(a) for a in updates[0]]))
    # the server's view of hospital 0 differs from its encoded update in (almost) every entry
    assert np.mean(res.masked[0] != x0) > 0.9


def test_upload_bytes():
    rng = np.random.default_rng(5)
    updates = random_updates(5, rng)
    res = secure_sum(updates, dropouts=[4], threshold=3, seed=0)
    assert res.plain_bytes == 4 * 10
    # survivors 0..3: key + 4 shares + masked update; helpers 0..2 add one share.
    assert res.upload_bytes[0] == 16 + 4 * 16 + 40 + 16
    assert res.upload_bytes[3] == 16 + 4 * 16 + 40
    assert res.upload_bytes[4] == 16 + 4 * 16


def test_bad_input():
    rng = np.random.default_rng(6)
    updates = random_updates(4, rng)
    with pytest.raises(ValueError, match="at least 2 hospitals"):
        secure_sum(updates[:1])
    bad = [list(u) for u in updates]
    bad[2][0] = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"client 2: array 0 has shape \(2, 3\)"):
        secure_sum(bad)
    bad = [list(u) for u in updates]
    bad[1][1] = np.array([0.0, np.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match="client 1: array 1 contains NaN"):
        secure_sum(bad)
    bad = [list(u) for u in updates]
    bad[3][1] = np.array([0.0, 1e6, 0.0, 0.0])
    with pytest.raises(ValueError, match="client 3: value 1e.06 is outside the fixed-point range"):
        secure_sum(bad)
    big = [[np.full(2, 12000.0)] for _ in range(3)]
    with pytest.raises(ValueError, match="would overflow"):
        secure_sum(big)
    with pytest.raises(ValueError, match="only 2 survive, fewer than the threshold 3"):
        secure_sum(updates, dropouts=[0, 1], threshold=3)
    with pytest.raises(ValueError, match="dropout 7 is not a hospital"):
        secure_sum(updates, dropouts=[7])
    with pytest.raises(ValueError, match="threshold must be an integer"):
        secure_sum(updates, threshold=5)


def test_bad_input_helpers():
    with pytest.raises(ValueError, match="client 'H2': contains NaN"):
        encode(np.array([np.nan]), client="H2")
    with pytest.raises(ValueError, match="scale must be a positive integer"):
        encode(np.array([1.0]), scale=0)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="threshold must lie in"):
        shamir_split(5, 3, 4, rng=rng)
    with pytest.raises(ValueError, match="the same x"):
        shamir_reconstruct([(1, 2), (1, 3)])
    with pytest.raises(ValueError, match="no shares"):
        shamir_reconstruct([])
    with pytest.raises(ValueError, match="the secret must lie"):
        shamir_split(-1, 3, 2, rng=rng)
