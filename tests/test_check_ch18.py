"""Tests of the self-check of ch-survival: correct answers pass, each mistake gets its hint."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fedmed_lib.check.ch18_survival import check_federated_km
from fedmed_lib.survival import federated_kaplan_meier, km_counts


def site_counts(time, event, grid):
    at_risk = np.array([(time >= s).sum() for s in grid], dtype=float)
    events = np.array([((time == s) & (event == 1)).sum() for s in grid], dtype=float)
    return at_risk, events


def server_km(counts):
    a = sum(c[0] for c in counts)
    e = sum(c[1] for c in counts)
    return np.cumprod(1 - e / a)


def site_km(a, e):
    return np.cumprod(1 - np.divide(e, a, out=np.zeros_like(e), where=a > 0))


def test_correct_answers_pass() -> None:
    fb = check_federated_km(site_counts, server_km)
    assert fb.passed, fb.message
    lib_counts = lambda t, e, g: km_counts(t, e, times=g)  # noqa: E731
    lib_server = lambda c: federated_kaplan_meier([a for a, _ in c], [e for _, e in c])  # noqa: E731
    fb = check_federated_km(lib_counts, lib_server)
    assert fb.passed, fb.message
    assert "equals the Kaplan-Meier curve of the pooled patients" in fb.message


@pytest.mark.parametrize(
    ("counts_fn", "hint"),
    [
        (lambda t, e, g: (np.array([((t >= s) & (e == 1)).sum() for s in g], float),
                          site_counts(t, e, g)[1]), "leave out the censored patients"),
        (lambda t, e, g: (len(t) - np.array([((t < s) & (e == 1)).sum() for s in g], float),
                          site_counts(t, e, g)[1]), "censored patients stay at risk"),
        (lambda t, e, g: (np.array([(t > s).sum() for s in g], float), site_counts(t, e, g)[1]),
         "time >= s, not time > s"),
        (lambda t, e, g: (site_counts(t, e, g)[0], np.array([(t == s).sum() for s in g], float)),
         "include patients censored"),
        (lambda t, e, g: (site_counts(t, e, g)[0] + 1, site_counts(t, e, g)[1]),
         "wrong numbers at risk"),
        (lambda t, e, g: site_counts(t, e, g)[0], "must return two arrays"),
        (lambda t, e, g: (t[10], e), "raised IndexError"),
    ],
)
def test_site_count_mistakes_get_their_hint(counts_fn: Callable, hint: str) -> None:
    fb = check_federated_km(counts_fn, server_km)
    assert not fb.passed
    assert hint in fb.message
    assert "Hint:" in fb.message


@pytest.mark.parametrize(
    ("server_fn", "hint"),
    [
        (lambda c: np.mean([site_km(a, e) for a, e in c], axis=0), "add up the counts first"),
        (lambda c: np.average([site_km(a, e) for a, e in c], axis=0, weights=[a[0] for a, _ in c]),
         "weights fixed at the start"),
        (lambda c: np.prod([site_km(a, e) for a, e in c], axis=0), "survive at every hospital"),
        (lambda c: np.exp(-np.cumsum(sum(x[1] for x in c) / sum(x[0] for x in c))),
         "Nelson-Aalen"),
        (lambda c: 1 - np.cumsum(sum(x[1] for x in c) / sum(x[0] for x in c)),
         "survival accumulates by multiplication"),
        (lambda c: 1 - sum(x[1] for x in c) / sum(x[0] for x in c), "accumulate the factors"),
        (lambda c: server_km(c)[:-1], "Kaplan-Meier curve of all the patients"),
        (lambda c: server_km(c) * 0.99, "Kaplan-Meier curve of all the patients"),
        (lambda c: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_server_mistakes_get_their_hint(server_fn: Callable, hint: str) -> None:
    fb = check_federated_km(site_counts, server_fn)
    assert not fb.passed
    assert hint in fb.message
    assert "Hint:" in fb.message


def test_mistakes_differ_from_the_right_answer_on_the_test_federations() -> None:
    """Every recognised mistake gives another curve than the right one (else it could not be named)."""
    from fedmed_lib.check import ch18_survival as m

    for federation in m._FEDERATIONS:
        sites = [(np.array(t, float), np.array(e, float)) for t, e in federation]
        grid = np.unique(np.concatenate([t[e == 1] for t, e in sites]))
        ref = [m._reference_counts(t, e, grid) for t, e in sites]
        right = server_km(ref)
        for compute, _, _ in m._SERVER_MISTAKES.values():
            assert not np.allclose(compute(ref), right)
    for compute, _, _ in m._COUNT_MISTAKES.values():
        differs = []
        for federation in m._FEDERATIONS:
            for t, e in federation:
                t, e = np.array(t, float), np.array(e, float)
                grid = np.unique(t[e == 1])
                a, d = compute(t, e, grid)
                ra, rd = m._reference_counts(t, e, grid)
                differs.append(not (np.array_equal(a, ra) and np.array_equal(d, rd)))
        assert any(differs)


def test_feedback_never_reveals_expected_values() -> None:
    fb = check_federated_km(site_counts, lambda c: np.mean([site_km(a, e) for a, e in c], axis=0))
    from fedmed_lib.check import ch18_survival as m

    sites = [(np.array(t, float), np.array(e, float)) for t, e in m._FEDERATIONS[0]]
    grid = np.unique(np.concatenate([t[e == 1] for t, e in sites]))
    right = server_km([site_counts(t, e, grid) for t, e in sites])
    for value in right:
        assert f"{value:.3f}" not in fb.message
