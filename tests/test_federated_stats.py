"""Tests of fedmed_lib.federated_stats: federated means, standard deviations, imputation."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from fedmed_lib.federated_stats import (
    ClientStats,
    GlobalStats,
    client_statistics,
    combine,
    mark_missing,
    site_statistics,
    standardize_impute,
)

NAN = np.nan


def test_client_statistics_hand_computed() -> None:
    X = np.array([[1.0, 2.0], [NAN, 4.0], [3.0, NAN]])
    s = client_statistics(X, client="A")
    assert s.client == "A"
    assert s.num_examples == 3
    np.testing.assert_array_equal(s.count, [2.0, 2.0])
    np.testing.assert_array_equal(s.mean, [2.0, 3.0])
    np.testing.assert_array_equal(s.m2, [2.0, 2.0])  # (1-2)^2 + (3-2)^2, (2-3)^2 + (4-3)^2
    np.testing.assert_array_equal(s.total, [4.0, 6.0])  # the raw sums are still available
    np.testing.assert_array_equal(s.total_sq, [10.0, 20.0])
    np.testing.assert_array_equal(s.n_missing, [1.0, 1.0])


def test_client_statistics_feature_never_observed_sends_zeros() -> None:
    s = client_statistics(np.array([[1.0, NAN], [2.0, NAN]]), client="A")
    np.testing.assert_array_equal(s.count, [2.0, 0.0])
    np.testing.assert_array_equal(s.mean, [1.5, 0.0])
    np.testing.assert_array_equal(s.m2, [0.5, 0.0])


def test_legacy_raw_sums_are_converted() -> None:
    # ClientStats(site, n, count, total, total_sq), e.g. rebuilt from a message of sums
    s = ClientStats("A", 3, np.array([2.0, 0.0]), np.array([4.0, 0.0]), np.array([10.0, 0.0]))
    np.testing.assert_array_equal(s.mean, [2.0, 0.0])
    np.testing.assert_array_equal(s.m2, [2.0, 0.0])
    ref = client_statistics(np.array([[1.0, NAN], [NAN, NAN], [3.0, NAN]]), client="A")
    for a, b in zip(dataclasses.astuple(s), dataclasses.astuple(ref), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="client 'A': feature 0 has total"):
        ClientStats("A", 2, np.array([2.0]), np.array([4.0]), np.array([1.0]))  # 16 > 2 * 1
    with pytest.raises(TypeError, match="client 'A': ClientStats needs mean= and m2="):
        ClientStats("A", 2, np.array([2.0]))
    with pytest.raises(TypeError, match="client 'A': give ClientStats either"):
        ClientStats("A", 2, np.array([2.0]), np.array([4.0]), mean=np.array([2.0]), m2=np.zeros(1))


def test_combine_hand_computed() -> None:
    # site A: values 1, 3 ; site B: value 5 (and one missing). Pooled: 1, 3, 5.
    a = client_statistics(np.array([[1.0], [3.0]]), client="A")
    b = client_statistics(np.array([[5.0], [NAN]]), client="B")
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
    g = combine([client_statistics(X, client=k) for k, X in enumerate(sites)], ddof=ddof)
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
    g = combine([client_statistics(X, client=k) for k, X in enumerate(sites)])
    scaler = StandardScaler().fit(np.vstack(sites))
    for k, X in enumerate(sites):
        np.testing.assert_allclose(standardize_impute(X, g, client=k), scaler.transform(X),
                                   atol=1e-12)


def test_standardize_impute_fills_missing_with_mean() -> None:
    g = combine([client_statistics(np.array([[0.0], [2.0]]))])  # mean 1, std 1
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
        (np.ones(3), "client 'H': X must be 2-D"),
        (np.ones((0, 2)), "client 'H': empty data"),
        (np.ones((2, 0)), "client 'H': X has no feature columns"),
        (np.array([[1.0, np.inf]]), "client 'H': X contains Inf"),
        (np.array([["a", "b"]]), "client 'H': X must be a numeric array"),
        (np.array([[1 + 2j, 3.0]]), "client 'H': X must be real"),
        (np.array([[True, False]]), "client 'H': X must be numeric, got a boolean"),
        (None, "client 'H': X must be a numeric array"),
        ([[1.0, 2.0], [3.0]], "client 'H': X is not a rectangular"),
    ],
)
def test_client_statistics_bad_input(X: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        client_statistics(X, client="H")


def _good(site: str = "A") -> ClientStats:
    return client_statistics(np.array([[1.0, 2.0], [3.0, 4.0]]), client=site)


def test_combine_empty() -> None:
    with pytest.raises(ValueError, match="list is empty"):
        combine([])


def test_combine_bad_ddof() -> None:
    with pytest.raises(ValueError, match="ddof must be 0 or 1"):
        combine([_good()], ddof=2)


def test_combine_not_sitestats() -> None:
    with pytest.raises(TypeError, match="expected a ClientStats"):
        combine([_good(), {"count": 1}])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="stats must be a list of ClientStats"):
        combine(_good())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"num_examples": 0}, "client 'B': num_examples must be positive"),
        ({"num_examples": 2.5}, "client 'B': num_examples must be an integer"),
        ({"num_examples": True}, "client 'B': num_examples must be an integer"),
        ({"count": np.array([1.0])}, "client 'B': count, mean and m2 must be 1-D of equal length"),
        ({"mean": np.array([NAN, 1.0])}, "client 'B': mean contains NaN"),
        ({"m2": np.array([np.inf, 1.0])}, "client 'B': m2 contains NaN or Inf"),
        ({"mean": np.array([1.0 + 1j, 1.0])}, "client 'B': mean must be a real numeric array"),
        ({"mean": np.array(["1", "2"])}, "client 'B': mean must be a real numeric array"),
        ({"count": np.array([True, True])}, "client 'B': count must be a real numeric array"),
        ({"count": None}, "client 'B': count must be a numeric array"),
        ({"count": np.array([3.0, 2.0])}, "client 'B': count must be whole numbers between"),
        ({"count": np.array([-1.0, 2.0])}, "client 'B': count must be whole numbers between"),
        ({"count": np.array([1.5, 2.0])}, "client 'B': count must be whole numbers between"),
        ({"m2": np.array([-1.0, 2.0])}, "client 'B': feature 0 has a negative sum of squared"),
    ],
)
def test_combine_bad_site(change: dict, match: str) -> None:
    bad = dataclasses.replace(_good("B"), **change)
    with pytest.raises(ValueError, match=match):
        combine([_good("A"), bad])


def test_combine_width_mismatch() -> None:
    other = client_statistics(np.ones((2, 3)), client="C")
    with pytest.raises(ValueError, match="client 'C': statistics for 3 features"):
        combine([_good("A"), other])


def test_combine_feature_never_observed() -> None:
    s = client_statistics(np.array([[1.0, NAN], [2.0, NAN]]), client="A")
    with pytest.raises(ValueError, match="feature 1 has 0 observed values"):
        combine([s])
    one = client_statistics(np.array([[1.0, 5.0], [2.0, NAN]]), client="A")
    combine([one])  # one value is enough for ddof=0 ...
    with pytest.raises(ValueError, match="feature 1 has 1 observed values"):
        combine([one], ddof=1)  # ... but not for ddof=1


def test_standardize_impute_bad_input() -> None:
    g = combine([_good()])
    with pytest.raises(ValueError, match="client 'D': X has 3 features"):
        standardize_impute(np.ones((2, 3)), g, client="D")
    with pytest.raises(ValueError, match="client 'D': X must be 2-D"):
        standardize_impute(np.ones(2), g, client="D")
    const = combine([client_statistics(np.array([[1.0, 2.0], [1.0, 3.0]]))])
    with pytest.raises(ValueError, match="feature 0 has zero standard deviation"):
        standardize_impute(np.ones((1, 2)), const)


def test_global_stats_unchanged_by_bad_input() -> None:
    g = combine([_good()])
    before = dataclasses.astuple(g)
    with pytest.raises(ValueError):
        standardize_impute(np.array([[np.inf, 1.0]]), g, client="E")
    after = dataclasses.astuple(g)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert isinstance(g, GlobalStats)


def test_mark_missing_bad_column() -> None:
    with pytest.raises(ValueError, match="client 'F': column 5 out of range"):
        mark_missing(np.ones((2, 2)), [5], client="F")
    with pytest.raises(ValueError, match="client 'F': column must be an integer"):
        mark_missing(np.ones((2, 2)), [1.0], client="F")
    with pytest.raises(TypeError, match="client 'F': columns must be a list"):
        mark_missing(np.ones((2, 2)), 1, client="F")
    with pytest.raises(ValueError, match="value must be finite"):
        mark_missing(np.ones((2, 2)), [1], value=np.nan, client="F")
    # a 1-D integer array of columns is fine
    out = mark_missing(np.array([[0.0, 0.0]]), np.array([1]), client="F")
    assert out[0, 0] == 0.0 and np.isnan(out[0, 1])


# --- numerical stability: the parallel formula of Chan, Golub and LeVeque (1983) ----------


def _raw_sums_std(sites: list[np.ndarray]) -> np.ndarray:
    """The chapter's first formula, (sum q_k - c mean^2) / c: unstable far from zero."""
    obs = [~np.isnan(X) for X in sites]
    c = sum(o.sum(axis=0) for o in obs)
    s = sum(np.where(o, X, 0.0).sum(axis=0) for X, o in zip(sites, obs, strict=True))
    q = sum((np.where(o, X, 0.0) ** 2).sum(axis=0) for X, o in zip(sites, obs, strict=True))
    mean = s / c
    return np.sqrt(np.maximum(q - c * mean**2, 0.0) / c)


def _far_sites(offset: float, seed: int, sizes: list[int], missing: float = 0.1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sites = []
    for n in sizes:
        X = offset + rng.normal(size=(n, 3))  # true standard deviation 1
        X[rng.random(X.shape) < missing] = NAN
        sites.append(X)
    return sites


@pytest.mark.parametrize("offset", [1e7, 1e8])
@pytest.mark.parametrize("ddof", [0, 1])
def test_std_matches_pooled_far_from_zero(offset: float, ddof: int) -> None:
    for seed in range(5):
        sites = _far_sites(offset, seed, [120, 40, 300, 75])
        g = combine([client_statistics(X, client=k) for k, X in enumerate(sites)], ddof=ddof)
        pooled = np.vstack(sites)
        np.testing.assert_allclose(g.std, np.nanstd(pooled, axis=0, ddof=ddof), rtol=1e-9, atol=0)
        np.testing.assert_allclose(g.mean, np.nanmean(pooled, axis=0), rtol=1e-14)
        # the corrected two-pass mean is within one unit in the last place of the exact one
        col = pooled[:, 0][~np.isnan(pooled[:, 0])]
        exact = float(sum(Fraction(v) for v in col) / len(col))
        assert abs(g.mean[0] - exact) <= np.spacing(exact)
    # the raw sums of squares lose the answer on the same data (3.8 % at 1e7, all of it at 1e8)
    naive = _raw_sums_std(sites)
    assert np.max(np.abs(naive / np.nanstd(pooled, axis=0) - 1)) > 1e-3


def test_std_raw_sums_collapse_at_1e8_but_not_the_library() -> None:
    sites = [1e8 + np.random.default_rng(k).normal(size=(100, 1)) for k in range(4)]
    exact = np.std(np.vstack(sites))
    naive = float(_raw_sums_std(sites)[0])
    stable = float(combine([client_statistics(X, client=k) for k, X in enumerate(sites)]).std[0])
    assert abs(naive / exact - 1) > 0.1  # rounding noise, often exactly 0
    assert abs(stable / exact - 1) < 1e-9


def test_std_many_sites_with_missing_values() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.integers(5, 60, size=400).tolist()
    sites = _far_sites(1e8, 4, sizes, missing=0.3)
    sites[7][:, 1] = NAN  # a site that never measured feature 1
    sites[9][1:, 2] = NAN  # and one with a single value of feature 2
    stats = [client_statistics(X, client=k) for k, X in enumerate(sites)]
    assert stats[7].count[1] == 0 and stats[7].m2[1] == 0.0 and stats[9].count[2] == 1
    g = combine(stats)
    pooled = np.vstack(sites)
    np.testing.assert_allclose(g.std, np.nanstd(pooled, axis=0), rtol=1e-9, atol=0)
    np.testing.assert_array_equal(g.count, np.sum(~np.isnan(pooled), axis=0))


def test_std_at_1e12_is_within_the_documented_bound() -> None:
    # Each site's float64 mean is rounded by up to ulp/2; the module docstring bounds the
    # relative error of the standard deviation by about ulp(|mean|) / (2 std).
    offset = 1e12
    bound = np.spacing(offset) / 2  # / std, which is 1
    for seed in range(5):
        sites = _far_sites(offset, seed, [120, 40, 300, 75])
        g = combine([client_statistics(X, client=k) for k, X in enumerate(sites)])
        ref = np.nanstd(np.vstack(sites), axis=0)
        assert np.max(np.abs(g.std / ref - 1)) < bound
        assert np.max(np.abs(_raw_sums_std(sites) / ref - 1)) > 1.0  # no digit left


def test_std_bound_holds_when_site_means_differ() -> None:
    # the rounding of the means matters most when the sites' means are far apart
    rng = np.random.default_rng(5)
    for trial in range(20):
        sites = [1e8 + 5 * rng.normal() + rng.normal(size=(int(rng.integers(2, 40)), 1))
                 for _ in range(int(rng.integers(2, 8)))]
        ref = np.std(np.vstack(sites))
        g = combine([client_statistics(X, client=k) for k, X in enumerate(sites)])
        assert abs(g.std[0] / ref - 1) < np.spacing(1e8) / 2 / ref, trial


def test_merge_order_changes_only_the_last_digits() -> None:
    sites = _far_sites(1e8, 6, [10, 200, 3, 50, 80], missing=0.0)
    stats = [client_statistics(X, client=k) for k, X in enumerate(sites)]
    ref = np.std(np.vstack(sites), axis=0)
    bound = np.spacing(1e8) / 2 / ref
    for order in (stats, stats[::-1], stats[2:] + stats[:2]):
        g = combine(order)
        assert np.all(np.abs(g.std / ref - 1) < bound)


def test_client_statistics_huge_but_close_values() -> None:
    X = np.array([[1e308], [1e308], [1e308]])  # the plain sum would overflow
    s = client_statistics(X, client="big")
    assert s.mean[0] == 1e308 and s.m2[0] == 0.0
    with pytest.raises(ValueError, match="client 'big': feature 0 has values too far apart"):
        client_statistics(np.array([[1e200], [-1e200]]), client="big")  # M2 = 2e400


def test_former_names_site_statistics_and_site_keyword_still_work() -> None:
    # chapter 1 was written with the former names; they must give the same numbers
    X = np.array([[1.0, NAN], [3.0, 4.0], [2.0, 7.0]])
    old, new = site_statistics(X, site="A"), client_statistics(X, client="A")
    assert old.client == new.client == "A"
    for name in ("count", "mean", "m2"):
        np.testing.assert_array_equal(getattr(old, name), getattr(new, name))
    g = combine([new])
    np.testing.assert_array_equal(standardize_impute(X, g, site="A"),
                                  standardize_impute(X, g, client="A"))
    with pytest.raises(ValueError, match="client 'B': X has 1 features"):
        standardize_impute(np.ones((2, 1)), g, site="B")


# --- issue 10: the rounding of each client's float64 mean no longer reaches the std ------


def _exact_mean_std(values: np.ndarray, ddof: int = 0) -> tuple[Fraction, float]:
    """The pooled mean and standard deviation in exact rational arithmetic."""
    xs = [Fraction(float(v)) for v in values]
    mean = sum(xs, Fraction(0)) / len(xs)
    var = sum(((x - mean) ** 2 for x in xs), Fraction(0)) / (len(xs) - ddof)
    return mean, float(var) ** 0.5


@pytest.mark.parametrize("offset", [1e0, 1e2, 1e4, 1e6, 1e8, -1e8])
@pytest.mark.parametrize("sizes", [[1, 7, 50, 200], [3, 1], [1, 1, 1, 1, 90], [120, 40, 300, 75]])
def test_std_matches_pooled_within_1e9_at_every_offset(offset: float, sizes: list[int]) -> None:
    # Clients whose means differ by a few standard deviations (the case where the rounding
    # of a float64 mean used to cost ~3e-9 at 1e8), one client with a single row.
    for seed in range(3):
        rng = np.random.default_rng(seed)
        sites = [offset + 3 * rng.normal() + rng.normal(size=(n, 1)) for n in sizes]
        pooled = np.vstack(sites)[:, 0]
        for ddof in (0, 1):
            g = combine([client_statistics(X, client=k) for k, X in enumerate(sites)], ddof=ddof)
            exact_mean, exact_std = _exact_mean_std(pooled, ddof)
            assert abs(g.std[0] / exact_std - 1) < 1e-9
            assert abs(g.std[0] / np.std(pooled, ddof=ddof) - 1) < 1e-9  # numpy on the pooled rows
            # the mean is right to a unit in the last place of the data (of itself, far out)
            ulp = np.spacing(np.max(np.abs(pooled)))
            assert abs(Fraction(float(g.mean[0])) - exact_mean) <= Fraction(ulp)


def test_std_is_correctly_rounded_far_beyond_what_pooled_numpy_achieves() -> None:
    # at 1e12 even np.std of the pooled rows is off by ~1e-9; the double-double means are not
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 60, size=300).tolist()
    sites = [1e12 + 3 * rng.normal() + rng.normal(size=(n, 1)) for n in sizes]
    _, exact_std = _exact_mean_std(np.vstack(sites)[:, 0])
    g = combine([client_statistics(X, client=k) for k, X in enumerate(sites)])
    assert abs(g.std[0] / exact_std - 1) < 1e-14


def test_without_the_residual_the_rounding_of_the_means_shows() -> None:
    # the same statistics with mean_residual dropped reproduce the old error (> 1e-9),
    # so the residual is what makes the difference
    rng = np.random.default_rng(0)
    sites = [1e8 + 3 * rng.normal() + rng.normal(size=(n, 1)) for n in [1, 7, 50, 200, 2, 1]]
    stats = [client_statistics(X, client=k) for k, X in enumerate(sites)]
    _, exact_std = _exact_mean_std(np.vstack(sites)[:, 0])
    plain = [ClientStats(s.client, s.num_examples, s.count, mean=s.mean, m2=s.m2) for s in stats]
    np.testing.assert_array_equal(plain[0].mean_residual, [0.0])
    worst = abs(combine(plain).std[0] / exact_std - 1)
    assert worst > 1e-10  # measured 2e-9
    assert abs(combine(stats).std[0] / exact_std - 1) < 1e-14


def test_client_statistics_mean_residual_hand_computed() -> None:
    # (1 + 2**-52) is exact; the mean of {1, 1 + 2**-52} is 1 + 2**-53, a tie that float64
    # rounds to 1 (to even): the residual is the 2**-53 it removed
    X = np.array([[1.0, 1.0], [1.0 + 2.0**-52, NAN]])
    s = client_statistics(X)
    np.testing.assert_array_equal(s.mean, [1.0, 1.0])
    np.testing.assert_array_equal(s.mean_residual, [2.0**-53, 0.0])
    assert Fraction(float(s.mean[0])) + Fraction(float(s.mean_residual[0])) == (
        Fraction(2) + Fraction(2) ** -52) / 2


@pytest.mark.parametrize(
    ("residual", "match"),
    [
        (np.array([1.0, 0.0]), "client 'B': feature 0 has a mean_residual larger than one unit"),
        (np.array([NAN, 0.0]), "client 'B': mean_residual contains NaN"),
        (np.zeros(3), "client 'B': mean_residual has shape"),
    ],
)
def test_combine_bad_mean_residual(residual: np.ndarray, match: str) -> None:
    bad = dataclasses.replace(_good("B"), mean_residual=residual)
    with pytest.raises(ValueError, match=match):
        combine([_good("A"), bad])


def test_mean_residual_must_be_zero_without_observations_and_not_with_raw_sums() -> None:
    s = client_statistics(np.array([[1.0, NAN], [2.0, NAN]]), client="C")
    with pytest.raises(ValueError, match="client 'C': mean_residual must be 0"):
        combine([dataclasses.replace(s, mean_residual=np.array([0.0, 1e-300]))])
    with pytest.raises(TypeError, match="client 'C': mean_residual= goes with mean="):
        ClientStats("C", 2, np.array([2.0]), np.array([4.0]), np.array([10.0]),
                    mean_residual=np.zeros(1))
