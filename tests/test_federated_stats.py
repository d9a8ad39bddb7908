"""Tests of fedmed_lib.federated_stats: federated means, standard deviations, imputation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fedmed_lib.federated_stats import (
    GlobalStats,
    SiteStats,
    combine,
    mark_missing,
    site_statistics,
    standardize_impute,
)

NAN = np.nan


def test_site_statistics_hand_computed() -> None:
    X = np.array([[1.0, 2.0], [NAN, 4.0], [3.0, NAN]])
    s = site_statistics(X, site="A")
    assert s.site == "A"
    assert s.num_examples == 3
    np.testing.assert_array_equal(s.count, [2.0, 2.0])
    np.testing.assert_array_equal(s.total, [4.0, 6.0])
    np.testing.assert_array_equal(s.total_sq, [10.0, 20.0])
    np.testing.assert_array_equal(s.n_missing, [1.0, 1.0])


def test_combine_hand_computed() -> None:
    # site A: values 1, 3 ; site B: value 5 (and one missing). Pooled: 1, 3, 5.
    a = site_statistics(np.array([[1.0], [3.0]]), site="A")
    b = site_statistics(np.array([[5.0], [NAN]]), site="B")
    g = combine([a, b])
    assert g.num_examples == 4
    np.testing.assert_array_equal(g.count, [3.0])
    np.testing.assert_allclose(g.mean, [3.0])
    np.testing.assert_allclose(g.std, [np.sqrt(8.0 / 3.0)])  # ((-2)^2 + 0 + 2^2) / 3
    np.testing.assert_allclose(combine([a, b], ddof=1).std, [2.0])  # 8 / 2
    np.testing.assert_allclose(g.missing_fraction, [0.25])


@pytest.mark.parametrize("ddof", [0, 1])
def test_combine_equals_pooled(ddof: int) -> None:
    rng = np.random.default_rng(0)
    sites = []
    for k, n in enumerate([40, 7, 120, 3]):
        X = rng.normal(loc=10.0 * k, scale=1.0 + k, size=(n, 5))
        X[rng.random(X.shape) < 0.2] = NAN
        sites.append(X)
    g = combine([site_statistics(X, site=k) for k, X in enumerate(sites)], ddof=ddof)
    pooled = np.vstack(sites)
    np.testing.assert_allclose(g.mean, np.nanmean(pooled, axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(g.std, np.nanstd(pooled, axis=0, ddof=ddof), rtol=1e-12)
    # and it is not the unweighted average of the site means
    site_means = np.mean([np.nanmean(X, axis=0) for X in sites], axis=0)
    assert np.max(np.abs(g.mean - site_means)) > 1.0


def test_standardize_impute_matches_sklearn_scaler() -> None:
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    sites = [rng.normal(size=(n, 3)) * [1.0, 5.0, 0.1] + 7.0 for n in (20, 30)]
    g = combine([site_statistics(X, site=k) for k, X in enumerate(sites)])
    scaler = StandardScaler().fit(np.vstack(sites))
    for k, X in enumerate(sites):
        np.testing.assert_allclose(standardize_impute(X, g, site=k), scaler.transform(X),
                                   atol=1e-12)


def test_standardize_impute_fills_missing_with_mean() -> None:
    g = combine([site_statistics(np.array([[0.0], [2.0]]))])  # mean 1, std 1
    X = np.array([[NAN], [3.0]])
    Z = standardize_impute(X, g)
    np.testing.assert_array_equal(Z, [[0.0], [2.0]])
    assert np.isnan(X[0, 0])  # input not modified


def test_mark_missing() -> None:
    X = np.array([[1.0, 0.0], [0.0, 5.0]])
    out = mark_missing(X, [1], value=0.0)
    np.testing.assert_array_equal(out[:, 0], [1.0, 0.0])  # column 0 untouched
    assert np.isnan(out[0, 1]) and out[1, 1] == 5.0
    assert X[0, 1] == 0.0  # input not modified


# --- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.ones(3), "site 'H': X must be 2-D"),
        (np.ones((0, 2)), "site 'H': empty data"),
        (np.ones((2, 0)), "site 'H': X has no feature columns"),
        (np.array([[1.0, np.inf]]), "site 'H': X contains Inf"),
        (np.array([["a", "b"]]), "site 'H': X is not numeric"),
    ],
)
def test_site_statistics_bad_input(X: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        site_statistics(X, site="H")


def _good(site: str = "A") -> SiteStats:
    return site_statistics(np.array([[1.0, 2.0], [3.0, 4.0]]), site=site)


def test_combine_empty() -> None:
    with pytest.raises(ValueError, match="list is empty"):
        combine([])


def test_combine_bad_ddof() -> None:
    with pytest.raises(ValueError, match="ddof must be 0 or 1"):
        combine([_good()], ddof=2)


def test_combine_not_sitestats() -> None:
    with pytest.raises(ValueError, match="expected a SiteStats"):
        combine([_good(), {"count": 1}])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"num_examples": 0}, "site 'B': num_examples must be positive"),
        ({"num_examples": 2.5}, "site 'B': num_examples must be an integer"),
        ({"count": np.array([1.0])}, "site 'B': count, total and total_sq must be 1-D"),
        ({"total": np.array([NAN, 1.0])}, "site 'B': total contains NaN"),
        ({"count": np.array([3.0, 2.0])}, "site 'B': count must lie between"),
        ({"count": np.array([-1.0, 2.0])}, "site 'B': count must lie between"),
        ({"total_sq": np.array([1.0, 20.0])}, "site 'B': feature 0 has total"),
    ],
)
def test_combine_bad_site(change: dict, match: str) -> None:
    bad = dataclasses.replace(_good("B"), **change)
    with pytest.raises(ValueError, match=match):
        combine([_good("A"), bad])


def test_combine_width_mismatch() -> None:
    other = site_statistics(np.ones((2, 3)), site="C")
    with pytest.raises(ValueError, match="site 'C': statistics for 3 features"):
        combine([_good("A"), other])


def test_combine_feature_never_observed() -> None:
    s = site_statistics(np.array([[1.0, NAN], [2.0, NAN]]), site="A")
    with pytest.raises(ValueError, match="feature 1 has 0 observed values"):
        combine([s])
    one = site_statistics(np.array([[1.0, 5.0], [2.0, NAN]]), site="A")
    combine([one])  # one value is enough for ddof=0 ...
    with pytest.raises(ValueError, match="feature 1 has 1 observed values"):
        combine([one], ddof=1)  # ... but not for ddof=1


def test_standardize_impute_bad_input() -> None:
    g = combine([_good()])
    with pytest.raises(ValueError, match="site 'D': X has 3 features"):
        standardize_impute(np.ones((2, 3)), g, site="D")
    with pytest.raises(ValueError, match="site 'D': X must be 2-D"):
        standardize_impute(np.ones(2), g, site="D")
    const = combine([site_statistics(np.array([[1.0, 2.0], [1.0, 3.0]]))])
    with pytest.raises(ValueError, match="feature 0 has zero standard deviation"):
        standardize_impute(np.ones((1, 2)), const)


def test_global_stats_unchanged_by_bad_input() -> None:
    g = combine([_good()])
    before = dataclasses.astuple(g)
    with pytest.raises(ValueError):
        standardize_impute(np.array([[np.inf, 1.0]]), g, site="E")
    after = dataclasses.astuple(g)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert isinstance(g, GlobalStats)


def test_mark_missing_bad_column() -> None:
    with pytest.raises(ValueError, match="site 'F': column 5 out of range"):
        mark_missing(np.ones((2, 2)), [5], site="F")
