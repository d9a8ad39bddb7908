"""Tests of the self-check of ch-four-hospitals: it passes a correct answer and
recognises each typical mistake with its own hint."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fedmed_lib.check import Feedback
from fedmed_lib.check.ch06_four_hospitals import check_federated_mean_std


def _stats(x: np.ndarray) -> tuple[float, float, float]:
    obs = x[~np.isnan(x)]
    return float(obs.size), float(obs.sum()), float((obs**2).sum())


def correct_fn(sites: list[np.ndarray]) -> tuple[float, float]:
    c, s, q = (sum(v) for v in zip(*[_stats(x) for x in sites], strict=True))
    mean = s / c
    return mean, float(np.sqrt((q - c * mean**2) / (c - 1)))


def pooled_fn(sites: list[np.ndarray]) -> tuple[float, float]:
    pooled = np.concatenate(sites)
    return float(np.nanmean(pooled)), float(np.nanstd(pooled, ddof=1))


def unweighted_mean(sites: list[np.ndarray]) -> tuple[float, float]:
    mean = float(np.mean([np.nanmean(x) for x in sites]))
    return mean, correct_fn(sites)[1]


def nan_as_zero(sites: list[np.ndarray]) -> tuple[float, float]:
    rows = sum(x.size for x in sites)
    return float(sum(np.nansum(x) for x in sites) / rows), correct_fn(sites)[1]


def ignores_missing(sites: list[np.ndarray]) -> tuple[float, float]:
    pooled = np.concatenate(sites)
    return float(np.sum(pooled) / pooled.size), float(np.std(pooled, ddof=1))


def population_std(sites: list[np.ndarray]) -> tuple[float, float]:
    c, s, q = (sum(v) for v in zip(*[_stats(x) for x in sites], strict=True))
    mean = s / c
    return mean, float(np.sqrt((q - c * mean**2) / c))


def within_only(sites: list[np.ndarray]) -> tuple[float, float]:
    c = sum(_stats(x)[0] for x in sites)
    var = sum((_stats(x)[0] - 1) * np.nanvar(x, ddof=1) for x in sites if _stats(x)[0] > 1)
    return correct_fn(sites)[0], float(np.sqrt(var / (c - 1)))


def average_of_stds(sites: list[np.ndarray]) -> tuple[float, float]:
    stds = [np.nanstd(x, ddof=1) if _stats(x)[0] > 1 else 0.0 for x in sites]
    return correct_fn(sites)[0], float(np.mean(stds))


def mixed(sites: list[np.ndarray]) -> tuple[float, float]:
    # sites send their sample variances (ddof=1), the server treats them as if ddof=0
    mean = correct_fn(sites)[0]
    c = sum(_stats(x)[0] for x in sites)
    total = 0.0
    for x in sites:
        ck = _stats(x)[0]
        vk = np.nanvar(x, ddof=1) if ck > 1 else 0.0
        total += ck * vk + ck * (np.nanmean(x) - mean) ** 2
    return mean, float(np.sqrt(total / (c - 1)))


def _sample_var(obs: np.ndarray) -> float:
    # a learner's hand-written sample variance: 0/0 = NaN for a one-patient site
    return float(np.sum((obs - obs.mean()) ** 2) / (obs.size - 1))


def single_site_variance(sites: list[np.ndarray]) -> tuple[float, float]:
    mean = correct_fn(sites)[0]
    c = sum(_stats(x)[0] for x in sites)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = sum(
            (_stats(x)[0] - 1) * _sample_var(x[~np.isnan(x)])
            + _stats(x)[0] * (np.nanmean(x) - mean) ** 2
            for x in sites
        )
    return mean, float(np.sqrt(total / (c - 1)))


def raises(sites: list[np.ndarray]) -> tuple[float, float]:
    raise KeyError("oops")


def test_correct_answers_pass() -> None:
    for fn in (correct_fn, pooled_fn):
        fb = check_federated_mean_std(fn)
        assert isinstance(fb, Feedback)
        assert fb.passed, fb.message
        assert "equal the pooled ones" in fb.message


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (unweighted_mean, "a site with more observed values must weigh more"),
        (nan_as_zero, "a missing value is not a zero"),
        (ignores_missing, "the missing values leaked"),
        (population_std, "the *sample* standard deviation: check your denominator"),
        (within_only, "sites with different means add spread between them"),
        (average_of_stds, "standard deviations do not add up"),
        (mixed, "mixes conventions"),
        (single_site_variance, "a site cannot compute a sample variance of one value"),
        (raises, "Your function raised KeyError"),
    ],
)
def test_typical_mistakes_get_their_hint(fn: Callable, hint: str) -> None:
    fb = check_federated_mean_std(fn)
    assert not fb.passed
    assert hint in fb.message
    assert "Hint:" in fb.message


def test_feedback_never_reveals_expected_values() -> None:
    fb = check_federated_mean_std(unweighted_mean)
    sites = [np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), np.array([20.0, 22.0])]
    mean, std = correct_fn(sites)
    for value in (mean, std):
        for fmt in (f"{value:.2f}", f"{value:.3f}", f"{value:g}"):
            assert fmt not in fb.message


def chan_fn(sites: list[np.ndarray]) -> tuple[float, float]:
    """The stable form (count, mean, M2 per site; Chan, Golub and LeVeque) also passes."""
    obs = [x[~np.isnan(x)] for x in sites]
    c_k = np.array([o.size for o in obs], dtype=float)
    m_k = np.array([o.mean() if o.size else 0.0 for o in obs])
    M_k = np.array([((o - o.mean()) ** 2).sum() if o.size else 0.0 for o in obs])
    mean = float(c_k @ m_k / c_k.sum())
    return mean, float(np.sqrt((M_k.sum() + c_k @ (m_k - mean) ** 2) / (c_k.sum() - 1)))


def library_fn(sites: list[np.ndarray]) -> tuple[float, float]:
    from fedmed_lib.federated_stats import combine, site_statistics

    g = combine([site_statistics(x[:, None], site=k) for k, x in enumerate(sites)], ddof=1)
    return float(g.mean[0]), float(g.std[0])


@pytest.mark.parametrize("fn", [chan_fn, library_fn])
def test_the_stable_formula_and_the_library_pass(fn: Callable) -> None:
    fb = check_federated_mean_std(fn)
    assert fb.passed, fb.message


@pytest.mark.parametrize("fn", [None, (1.0, 2.0), "federated_mean_std"])
def test_a_non_function_is_refused_naming_fn(fn: object) -> None:
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check_federated_mean_std(fn)  # type: ignore[arg-type]
