"""Tests of fedmed_lib.vertical: PSI, vertical logistic regression, masks, bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from fedmed_lib.vertical import (
    MODP_2048,
    MODP_2048_HEX,
    TOY_GROUP,
    Group,
    blind,
    check_vertical_data,
    hash_to_group,
    is_probable_prime,
    logistic_newton,
    masked_partial_sum,
    modp_prime_from_pi,
    pi_times_power_of_two,
    private_set_intersection,
    vertical_logistic_regression,
)

# --- groups ------------------------------------------------------------------------------


def test_pi_bits_hand_value() -> None:
    # pi = 11.00100100001111110110101010001...b
    assert pi_times_power_of_two(0) == 3
    assert pi_times_power_of_two(4) == 50  # floor(16 pi) = floor(50.27)
    assert pi_times_power_of_two(30) == int(np.pi * 2**30)


def test_modp_primes_from_the_rfcs() -> None:
    assert modp_prime_from_pi(2048, 124476) == MODP_2048.p
    assert MODP_2048_HEX.endswith("15728E5A8AACAA68" + "F" * 16)
    # RFC 2409 / RFC 7296 group 2 (1024 bits), whose hex value the RFC prints.
    group2 = (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
        "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
        "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
    )
    assert modp_prime_from_pi(1024, 129093) == int(group2, 16)


@pytest.mark.parametrize("group", [TOY_GROUP, MODP_2048], ids=["toy", "modp2048"])
def test_groups_are_safe_primes(group: Group) -> None:
    assert is_probable_prime(group.p, rounds=8)
    assert is_probable_prime(group.q, rounds=8)
    assert group.p == 2 * group.q + 1


def test_miller_rabin_is_the_library_one() -> None:
    # tested in tests/test_he.py; the groups' primes are checked with the same function
    from fedmed_lib.privacy.he import is_probable_prime as he_is_probable_prime

    assert is_probable_prime is he_is_probable_prime
    assert not is_probable_prime(TOY_GROUP.p * 1000003)


def test_hash_lands_in_prime_order_subgroup_and_blinding_commutes() -> None:
    g = TOY_GROUP
    h = hash_to_group([f"MRN{i}" for i in range(200)], g)
    assert all(pow(x, g.q, g.p) == 1 and x != 1 for x in h)  # order q (prime): in the subgroup
    a, b = 123456789, 987654321
    assert blind(blind(h, a, g), b, g) == blind(blind(h, b, g), a, g)


# --- PSI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_psi_equals_plain_intersection_toy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    universe = rng.choice(10**6, size=600, replace=False)
    a = [f"{x:06d}" for x in rng.choice(universe, size=int(rng.integers(1, 300)), replace=False)]
    b = [f"{x:06d}" for x in rng.choice(universe, size=int(rng.integers(1, 300)), replace=False)]
    res = private_set_intersection(a, b, group=TOY_GROUP, seed=seed)
    assert set(res.shared_ids) == set(a) & set(b)
    assert [a[i] for i in res.index_a] == [b[j] for j in res.index_b] == res.shared_ids


def test_psi_equals_plain_intersection_modp() -> None:
    rng = np.random.default_rng(7)
    a = [f"P{x}" for x in rng.choice(400, size=40, replace=False)]
    b = [f"P{x}" for x in rng.choice(400, size=50, replace=False)]
    res = private_set_intersection(a, b, group=MODP_2048, seed=1)
    assert set(res.shared_ids) == set(a) & set(b)
    assert [b[j] for j in res.index_b] == res.shared_ids
    # What B saw of A's ids are group elements unrelated to the plain hashes.
    assert not set(res.seen_by_b["a_blinded"]) & set(hash_to_group(a, MODP_2048))


def test_psi_disjoint_and_identical_sets() -> None:
    assert private_set_intersection(["1", "2"], ["3"], group=TOY_GROUP).shared_ids == []
    res = private_set_intersection(["1", "2", "3"], ["3", "2", "1"], group=TOY_GROUP)
    assert res.shared_ids == ["1", "2", "3"]
    assert res.index_b.tolist() == [2, 1, 0]


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [([], ["1"], "party A: empty"), (["1"], [], "party B: empty"),
     (["1", "1"], ["1"], "party A: a patient id appears twice"), ("123", ["1"], "party A")],
)
def test_psi_bad_input(a: object, b: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        private_set_intersection(a, b, group=TOY_GROUP)  # type: ignore[arg-type]


# --- vertical logistic regression ------------------------------------------------------


def _breast_cancer_split() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    data = load_breast_cancer()
    X = (data.data - data.data.mean(0)) / data.data.std(0)
    y = (data.target == 0).astype(float)  # sklearn: 0 = malignant; the book: 1 = disease
    n = len(y)
    parts = [np.column_stack([np.ones(n), X[:, :10]]), X[:, 10:20], X[:, 20:]]
    return parts, y, np.column_stack(parts)


def test_vertical_lr_equals_centralised_fit_breast_cancer() -> None:
    parts, y, joined = _breast_cancer_split()
    l2 = 0.05
    lr = 4.0 / np.linalg.eigvalsh(joined.T @ joined / len(y)).max()
    res = vertical_logistic_regression(parts[:2] + parts[2:], y, lr=lr, num_rounds=4000, l2=l2)
    theta = np.concatenate(res.thetas)
    reference = logistic_newton(joined, y, l2=l2)
    assert np.max(np.abs(theta - reference)) < 1e-6
    # Independent reference: scikit-learn (intercept not penalised, C = 1 / (n * l2)).
    sk = LogisticRegression(C=1 / (len(y) * l2), tol=1e-12, max_iter=10000).fit(joined[:, 1:], y)
    assert abs(sk.intercept_[0] - reference[0]) < 1e-5
    assert np.max(np.abs(sk.coef_[0] - reference[1:])) < 1e-5
    assert np.all(np.diff(res.loss) <= 1e-15)  # gradient descent with lr <= 1/L decreases


def test_vertical_steps_equal_centralised_gradient_descent() -> None:
    parts, y, joined = _breast_cancer_split()
    res = vertical_logistic_regression(parts, y, lr=0.5, num_rounds=25, l2=0.01)
    theta = np.zeros(joined.shape[1])
    w = np.ones_like(theta)
    w[0] = 0
    for _ in range(25):
        p = 1 / (1 + np.exp(-joined @ theta))
        theta = theta - 0.5 * (joined.T @ (p - y) / len(y) + 0.01 * w * theta)
    assert np.max(np.abs(np.concatenate(res.thetas) - theta)) < 1e-12


def test_residual_signs_reveal_every_label() -> None:
    parts, y, _ = _breast_cancer_split()
    res = vertical_logistic_regression(parts, y, lr=0.5, num_rounds=3, keep=3)
    for r in res.residuals_sent:
        assert np.array_equal((r < 0).astype(float), y)


def test_masks_cancel_exactly_and_hide_the_parts() -> None:
    rng = np.random.default_rng(0)
    u = [rng.normal(size=50) for _ in range(3)]
    seeds = {(0, 1): 11, (0, 2): 22, (1, 2): 33}
    total, masked = masked_partial_sum(u, pair_seeds=seeds, server_round=4)
    from fedmed_lib.privacy.secagg import encode

    exact = sum(encode(x, scale=2**20) for x in u)
    assert np.array_equal(sum(masked), exact)  # uint32 sums: exact cancellation
    assert np.max(np.abs(total - sum(u))) <= 3 * 2**-21
    assert not np.array_equal(masked[0], encode(u[0], scale=2**20))
    _, masked_next = masked_partial_sum(u, pair_seeds=seeds, server_round=5)
    assert not np.array_equal(masked[0], masked_next[0])  # a fresh mask every round


def test_masked_vertical_lr_close_to_plain() -> None:
    parts, y, _ = _breast_cancer_split()
    plain = vertical_logistic_regression(parts, y, lr=0.5, num_rounds=50, l2=0.01)
    masked = vertical_logistic_regression(parts, y, lr=0.5, num_rounds=50, l2=0.01,
                                          pair_seeds={(0, 1): 5}, keep=2)
    gap = np.max(np.abs(np.concatenate(plain.thetas) - np.concatenate(masked.thetas)))
    assert gap < 1e-5
    assert set(masked.partials_received[0]) == {"sum"}


# --- bad input -----------------------------------------------------------------------------


def test_bad_vertical_input_names_the_party() -> None:
    parts, y, _ = _breast_cancer_split()
    with pytest.raises(ValueError, match="party 1: X has 568 patients but party 0 has 569"):
        check_vertical_data([parts[0], parts[1][:-1]], y)
    nan = parts[2].copy()
    nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="party 2: X contains NaN"):
        check_vertical_data([parts[0], parts[1], nan], y)
    with pytest.raises(ValueError, match="party 1: no features"):
        check_vertical_data([parts[0], np.zeros((569, 0))], y)
    with pytest.raises(ValueError, match="party 0 \\(label holder\\): no patients"):
        check_vertical_data([np.zeros((0, 2)), np.zeros((0, 2))], np.zeros(0))
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        check_vertical_data(parts, 2 * y - 1)
    with pytest.raises(ValueError, match="y has 568 labels"):
        check_vertical_data(parts, y[:-1])
    with pytest.raises(ValueError, match="X_parts is empty"):
        check_vertical_data([], y)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        vertical_logistic_regression(parts, y, lr=0.0, num_rounds=1)
    with pytest.raises(ValueError, match="pair_seeds needs at least two feature holders"):
        vertical_logistic_regression(parts[:2], y, lr=0.1, num_rounds=1, pair_seeds={(0, 1): 1})
    with pytest.raises(ValueError, match="no shared seed for the pair"):
        masked_partial_sum([np.ones(3), np.ones(3)], pair_seeds={})
    with pytest.raises(ValueError, match="holder 1: 2 patients"):
        masked_partial_sum([np.ones(3), np.ones(2)], pair_seeds={(0, 1): 1})
    with pytest.raises(TypeError, match="group must be a Group"):
        private_set_intersection(["1"], ["1"], group=7)  # type: ignore[arg-type]


def test_newton_refuses_separable_data_without_penalty() -> None:
    X = np.column_stack([np.ones(4), [-2.0, -1.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="did not converge"):
        logistic_newton(X, np.array([0.0, 0.0, 1.0, 1.0]), max_iter=30)


# --- hostile input, generated ----------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_N = 6


def _bad_block(kind: str, rng: np.random.Generator) -> object:
    good = rng.normal(size=(_N, 2))
    if kind == "nan":
        good[rng.integers(_N), rng.integers(2)] = np.nan
        return good
    if kind == "inf":
        good[rng.integers(_N), 0] = -np.inf
        return good
    return {
        "complex": good.astype(complex), "bool": good > 0, "str": good.astype(str),
        "rows": good[:-1], "no_columns": np.zeros((_N, 0)), "1d": good[:, 0],
        "none": None, "text": "lab.csv", "object": np.array([[object()] * 2] * _N),
    }[kind]


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["nan", "inf", "complex", "bool", "str", "rows", "no_columns", "1d",
                             "none", "text", "object"]),
       party=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_generated_bad_blocks_name_the_party_and_change_nothing(kind: str, party: int,
                                                                seed: int) -> None:
    rng = np.random.default_rng(seed)
    parts: list[object] = [np.column_stack([np.ones(_N), rng.normal(size=_N)]),
                           rng.normal(size=(_N, 3)), rng.normal(size=(_N, 2))]
    y = (np.arange(_N) % 2).astype(float)
    vertical_logistic_regression(parts, y, lr=0.1, num_rounds=2)  # the good call works
    parts[party] = _bad_block(kind, rng)
    before = copy.deepcopy(parts)
    with pytest.raises((ValueError, TypeError)) as err:
        vertical_logistic_regression(parts, y, lr=0.1, num_rounds=2)
    assert f"party {party}" in str(err.value)  # party 0 short: "party 1 has 6 but party 0 has 5"
    for a, b in zip(parts, before, strict=True):
        if isinstance(a, np.ndarray) and a.dtype != object:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


@settings(max_examples=30, deadline=None)
@given(labels=st.lists(st.sampled_from([0.0, 1.0, 2.0, -1.0, 0.5, np.nan]), min_size=1,
                       max_size=9))
def test_generated_bad_labels_name_the_label_holder(labels: list[float]) -> None:
    y = np.array(labels)
    parts = [np.ones((_N, 1)), np.ones((_N, 2))]
    if len(labels) == _N and set(labels) <= {0.0, 1.0}:
        return  # a valid label vector
    with pytest.raises(ValueError, match="party 0 \\(label holder\\)"):
        vertical_logistic_regression(parts, y, lr=0.1, num_rounds=1)
