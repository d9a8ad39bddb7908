"""Tests of fedmed_lib.robust: hand-computed cases, Krum's guarantee, bad inputs."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from fedmed_lib import robust
from fedmed_lib.aggregate import rule_metrics, weighted_average
from fedmed_lib.algorithms import FedAvg


def _r(*rows, n=1):
    return [([np.asarray(r, dtype=float)], n) for r in rows]


# --- hand-computed cases ---------------------------------------------------------------


def test_median_hand_computed() -> None:
    rs = _r([1, 10], [2, 20], [100, -5])
    np.testing.assert_array_equal(robust.coordinate_median(rs)[0], [2.0, 10.0])
    rs4 = _r([1, 0], [2, 0], [4, 0], [100, 0])
    np.testing.assert_array_equal(robust.coordinate_median(rs4)[0], [3.0, 0.0])


def test_median_keeps_shapes_of_several_arrays() -> None:
    rs = [([np.array([[1.0, 2.0]]), np.array([5.0])], 3),
          ([np.array([[3.0, 0.0]]), np.array([7.0])], 1),
          ([np.array([[2.0, 9.0]]), np.array([6.0])], 2)]
    out = robust.coordinate_median(rs)
    np.testing.assert_array_equal(out[0], [[2.0, 2.0]])
    np.testing.assert_array_equal(out[1], [6.0])


def test_trimmed_mean_hand_computed() -> None:
    rs = _r([1, 5], [2, 6], [3, 7], [4, 8], [100, -100])
    # beta = 0.2 of 5 clients: drop 1 at each end per coordinate
    np.testing.assert_allclose(robust.trimmed_mean(rs, beta=0.2)[0], [3.0, 6.0])
    # beta = 0 is the plain mean
    np.testing.assert_allclose(robust.trimmed_mean(rs, beta=0.0)[0], [22.0, -74 / 5])
    # beta = 0.1 of 5 clients: floor(0.5) = 0, nothing dropped
    np.testing.assert_allclose(robust.trimmed_mean(rs, beta=0.1)[0], [22.0, -74 / 5])


def test_trimmed_mean_equals_scipy() -> None:
    from scipy.stats import trim_mean

    rng = np.random.default_rng(0)
    U = rng.normal(size=(11, 7))
    rs = [([u], 1) for u in U]
    np.testing.assert_allclose(robust.trimmed_mean(rs, beta=0.2)[0],
                               trim_mean(U, 0.2, axis=0), rtol=1e-12)


def test_krum_hand_computed() -> None:
    # n = 5, f = 1: each score sums the n - f - 2 = 2 nearest squared distances
    rs = _r([0.0], [1.0], [2.0], [3.0], [100.0])
    scores = robust.krum_scores(np.array([[0.0], [1.0], [2.0], [3.0], [100.0]]), 1)
    np.testing.assert_allclose(scores, [1 + 4, 1 + 1, 1 + 1, 1 + 4, 97**2 + 98**2])
    np.testing.assert_array_equal(robust.krum(rs, num_malicious=1)[0], [1.0])  # tie -> lowest
    np.testing.assert_allclose(robust.krum(rs, num_malicious=1, num_selected=2)[0], [1.5])


def test_krum_picks_an_honest_update_when_attackers_are_far() -> None:
    rng = np.random.default_rng(1)
    for f in range(0, 4):
        n = 2 * f + 3
        honest = rng.normal(size=(n - f, 6))
        attackers = 50.0 + rng.normal(size=(f, 6))
        rs = [([u], 1) for u in np.vstack([attackers, honest])]
        picked = robust.krum(rs, num_malicious=f)[0]
        assert any(np.array_equal(picked, h) for h in honest), f


def test_norm_clipped_mean_hand_computed() -> None:
    rs = _r([3.0, 4.0], [0.3, 0.4])
    np.testing.assert_allclose(robust.norm_clipped_mean(rs, clipping_norm=1.0)[0],
                               [(0.6 + 0.3) / 2, (0.8 + 0.4) / 2])


def test_rules_ignore_num_examples() -> None:
    rs = [([np.array([0.0])], 1), ([np.array([1.0])], 1), ([np.array([1e6])], 10**9)]
    assert robust.coordinate_median(rs)[0][0] == 1.0
    assert weighted_average(rs)[0][0] > 1e5  # the weighted mean is captured


def test_usable_as_fedavg_aggregate_fn() -> None:
    strategy = FedAvg(aggregate_fn=robust.coordinate_median)
    current = [np.array([1.0, 1.0])]
    new, metrics = strategy.aggregate_fit(1, _r([1, 0], [2, 0], [-50, 9]), current)
    np.testing.assert_array_equal(new[0], [2.0, 1.0])
    assert metrics == {"num_updates": 3}
    strategy = FedAvg(aggregate_fn=partial(robust.krum, num_malicious=1))
    new, metrics = strategy.aggregate_fit(1, _r([0], [1], [2], [3], [100]), [np.array([0.0])])
    np.testing.assert_array_equal(new[0], [1.0])
    assert metrics == {"num_updates": 5, "krum_selected": [1]}  # tie 1 vs 2 -> first


# --- malformed updates -----------------------------------------------------------------

BAD = [
    ([np.array([1.0, np.nan])], 4, "client 2: array 0 contains NaN"),
    ([np.array([np.inf, 1.0])], 4, "client 2: array 0 contains Inf"),
    ([np.ones(3)], 4, r"client 2: array 0 has shape \(3,\), expected \(2,\)"),
    ([np.ones(2), np.ones(1)], 4, "client 2: update has 2 arrays, the global model has 1"),
    ([np.array(["a", "b"])], 4, "client 2: array 0 must be a numeric array"),
    ([np.ones(2)], 0, "client 2: num_examples must be positive"),
    ([np.ones(2)], 2.5, "client 2: num_examples must be an integer"),
]
RULES = [
    robust.coordinate_median,
    partial(robust.trimmed_mean, beta=0.2),
    partial(robust.krum, num_malicious=0),
    partial(robust.norm_clipped_mean, clipping_norm=1.0),
]


@pytest.mark.parametrize(("update", "n", "message"), BAD)
@pytest.mark.parametrize("rule", RULES)
def test_bad_update_raises_and_model_unchanged(update, n, message, rule) -> None:
    current = [np.array([0.25, -0.25])]
    results = [([np.ones(2)], 3), ([np.zeros(2)], 3), (update, n), ([np.ones(2)], 3)]
    strategy = FedAvg(aggregate_fn=rule)
    with pytest.raises(ValueError, match=message):
        strategy.aggregate_fit(1, results, current)
    np.testing.assert_array_equal(current[0], [0.25, -0.25])


@pytest.mark.parametrize(("update", "n", "message"), BAD)
def test_validate_updates_gives_a_reason_per_client(update, n, message) -> None:
    current = [np.zeros(2)]
    results = [([np.ones(2)], 3), ([np.zeros(2)], 3), (update, n), ([np.full(2, 2.0)], 3)]
    accepted, rejected = robust.validate_updates(results, current)
    assert list(rejected) == [2]
    import re

    assert re.search(message, rejected[2])
    assert len(accepted) == 3
    out = robust.drop_malformed(robust.coordinate_median)(results, reference=current)
    np.testing.assert_array_equal(out[0], [1.0, 1.0])


def test_drop_malformed_all_rejected_and_missing_reference() -> None:
    rs = [([np.array([np.nan])], 1), ([np.ones(2)], 1)]
    with pytest.raises(ValueError, match="every update was rejected: client 0.*client 1"):
        robust.drop_malformed(weighted_average)(rs, reference=[np.zeros(1)])
    with pytest.raises(ValueError, match="needs the global model"):
        robust.validate_updates(rs)
    with pytest.raises(ValueError, match="empty"):
        robust.validate_updates([], [np.zeros(1)])


def test_bad_pair_rejected() -> None:
    accepted, rejected = robust.validate_updates([([np.ones(1)], 1), "junk"], [np.zeros(1)])
    assert "client 1: expected an (update, num_examples) pair" in rejected[1]


# --- bad parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("f", [2, 3])
def test_krum_needs_2f_plus_2_below_K(f: int) -> None:
    rs = _r([0], [1], [2], [3], [4], [5])  # K = 6: f = 2 gives 2f + 2 = 6, not < 6
    with pytest.raises(ValueError, match="Krum needs 2f \\+ 2 < K"):
        robust.krum(rs, num_malicious=f)
    robust.krum(rs, num_malicious=1)  # 4 < 6 is fine


def test_krum_bad_arguments() -> None:
    rs = _r([0], [1], [2], [3], [4])
    with pytest.raises(ValueError, match="non-negative"):
        robust.krum(rs, num_malicious=-1)
    with pytest.raises(ValueError, match="integer"):
        robust.krum(rs, num_malicious=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_selected"):
        robust.krum(rs, num_malicious=1, num_selected=0)
    # Multi-Krum may not average more than the K - f updates that can all be honest
    k = len(rs)
    robust.krum(rs, num_malicious=1, num_selected=k - 1)
    with pytest.raises(ValueError, match=r"K - f = "):
        robust.krum(rs, num_malicious=1, num_selected=k)


@pytest.mark.parametrize("beta", [-0.1, 0.5, 0.7, float("nan")])
def test_trimmed_mean_bad_beta(beta: float) -> None:
    with pytest.raises(ValueError, match="beta must lie in"):
        robust.trimmed_mean(_r([0], [1], [2]), beta=beta)


def test_norm_clip_bad_norm_and_empty() -> None:
    with pytest.raises(ValueError, match="clipping norm should be a positive"):
        robust.norm_clipped_mean(_r([0], [1]), clipping_norm=0.0)
    for rule in RULES:
        with pytest.raises(ValueError, match="empty"):
            rule([])


# --- Krum's distances: exact at a large offset, finite at 1e154 -----------------------------


def _exact_krum_choice(U, f):
    """Krum's pick with exact rational arithmetic on explicit differences (ties: lowest)."""
    from fractions import Fraction

    rows = [[Fraction(float(x)) for x in u] for u in U]
    m = len(rows)
    scores = []
    for i in range(m):
        d = sorted(sum((a - b) ** 2 for a, b in zip(rows[i], rows[j])) for j in range(m) if j != i)
        scores.append(sum(d[: m - f - 2]))
    return min(range(m), key=lambda i: (scores[i], i))


def _gram_krum_choice(U, f):
    """The old formula ||a||^2 + ||b||^2 - 2 a.b, which cancels catastrophically."""
    m = U.shape[0]
    sq = np.sum(U**2, axis=1)
    dist = np.maximum(sq[:, None] + sq[None, :] - 2.0 * U @ U.T, 0.0)
    np.fill_diagonal(dist, np.inf)
    return int(np.argsort(np.sort(dist, axis=1)[:, : m - f - 2].sum(axis=1), kind="stable")[0])


def test_krum_matches_exact_krum_at_a_large_offset() -> None:
    agree, gram_disagrees = 0, 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        U = 1e5 + 1e-3 * rng.normal(size=(7, 5))  # updates that share a large offset
        exact = _exact_krum_choice(U, 2)
        out = robust.krum([([u], 1) for u in U], num_malicious=2)
        agree += rule_metrics(out)["krum_selected"] == [exact]
        np.testing.assert_array_equal(out[0], U[exact])
        gram_disagrees += _gram_krum_choice(U, 2) != exact
    assert agree == 200
    assert gram_disagrees > 100  # the old formula picked another client in most seeds


def test_krum_does_not_overflow_at_1e154_and_is_scale_invariant() -> None:
    rng = np.random.default_rng(5)
    U = rng.normal(size=(6, 4))
    U[5] += 30.0  # the attacker
    small = robust.krum([([u], 1) for u in U], num_malicious=1)
    huge = robust.krum([([u * 1e154], 1) for u in U], num_malicious=1)
    assert rule_metrics(huge)["krum_selected"] == rule_metrics(small)["krum_selected"]
    assert rule_metrics(small)["krum_selected"] == [_exact_krum_choice(U, 1)]
    np.testing.assert_array_equal(huge[0], U[rule_metrics(small)["krum_selected"][0]] * 1e154)
    tiny = robust.krum([([u * 1e-300], 1) for u in U], num_malicious=1)
    assert rule_metrics(tiny)["krum_selected"] == rule_metrics(small)["krum_selected"]
    scores = robust.krum_scores(U * 1e100, 1)
    np.testing.assert_allclose(scores, robust.krum_scores(U, 1) * 1e200, rtol=1e-12)


def test_krum_scores_equal_explicit_differences() -> None:
    rng = np.random.default_rng(6)
    U = rng.normal(size=(7, 3)) + 1e3
    dist = ((U[:, None, :] - U[None, :, :]) ** 2).sum(axis=2)
    expected = [np.sort(np.delete(dist[i], i))[:3].sum() for i in range(7)]
    np.testing.assert_allclose(robust.krum_scores(U, 2), expected, rtol=1e-12)


def test_norm_clipped_mean_clips_an_overflowing_update_to_norm_c() -> None:
    rs = [([np.full(3, 1e200)], 1), ([np.full(3, 1e-3)], 1)]
    out = robust.norm_clipped_mean(rs, clipping_norm=1.0)
    np.testing.assert_allclose(out[0], (np.full(3, 1 / np.sqrt(3)) + 1e-3) / 2, rtol=1e-15)
    assert rule_metrics(out) == {"num_clipped": 1, "clipped_clients": [0]}


def test_validate_updates_drops_a_second_result_from_the_same_client() -> None:
    from fedmed_lib.aggregate import FitResult

    results = [FitResult(4, [np.ones(1)], 1), FitResult(4, [np.zeros(1)], 1),
               FitResult(6, [np.array([np.nan])], 1), FitResult(6, [np.ones(1)], 1)]
    accepted, rejected = robust.validate_updates(results, [np.zeros(1)])
    assert [r.cid for r in accepted] == [4]
    np.testing.assert_array_equal(accepted[0].params[0], [1.0])  # the first one is kept
    assert list(rejected) == [4, 6]
    assert "client 4 sent two results" in rejected[4]
    assert "client 6: array 0 contains NaN" in rejected[6] and "two results" in rejected[6]
