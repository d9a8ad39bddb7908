"""Tests of the self-check of ch-evaluation: correct answers pass, each mistake gets its hint."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fedmed_lib.check.ch19_evaluation import check_histogram_auroc
from fedmed_lib.evaluation import histogram_auroc


def ties(hist, weight):
    neg, pos = np.asarray(hist, dtype=float)
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    return float(pos @ (below + weight * neg) / (neg.sum() * pos.sum()))


def server_auroc(histograms):
    return ties(np.sum(histograms, axis=0), 0.5)


def test_correct_answers_pass() -> None:
    fb = check_histogram_auroc(server_auroc)
    assert fb.passed, fb.message
    fb = check_histogram_auroc(histogram_auroc)
    assert fb.passed, fb.message
    assert "Mann-Whitney AUROC of the pooled patients" in fb.message


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda h: float(np.mean([ties(x, 0.5) for x in h])), "pairs across hospitals count too"),
        (lambda h: float(np.average([ties(x, 0.5) for x in h], weights=[np.sum(x) for x in h])),
         "weighting by size still leaves out"),
        (lambda h: ties(np.sum(h, axis=0), 0.0), "count it one half"),
        (lambda h: ties(np.sum(h, axis=0), 1.0), "count it one half"),
        (lambda h: 1 - server_auroc(h), "row 1 holds the patients with the disease"),
        (lambda h: server_auroc(h[:1]), "add up all the hospitals' histograms"),
        (lambda h: server_auroc(h) * 10, "divide the count of ordered pairs"),
        (lambda h: server_auroc(h) - 0.01, "AUROC from cumulative counts"),
        (lambda h: h[5], "raised IndexError"),
        (lambda h: "high", "not a number"),
        (lambda h: np.array([0.5, 0.6]), "returns 2 numbers, not one"),
    ],
)
def test_mistakes_get_their_hint(fn: Callable, hint: str) -> None:
    fb = check_histogram_auroc(fn)
    assert not fb.passed
    assert hint in fb.message
    assert "Hint:" in fb.message


def test_stub_and_inplace_are_explained() -> None:
    def stub(h):
        raise NotImplementedError

    def inplace(h):
        h[0][0, 0] += 1
        return server_auroc(h)

    assert "NotImplementedError" in check_histogram_auroc(stub).message
    fb = check_histogram_auroc(inplace)
    assert not fb.passed and "Hint:" in fb.message


def test_mistakes_differ_from_the_right_answer_on_the_test_federations() -> None:
    """Every row of the table gives another number than the right one (else it could not be named)."""
    from fedmed_lib.check import ch19_evaluation as m
    from fedmed_lib.check._core import Mistake

    for federation in m._FEDERATIONS:
        hists = [np.array([neg, pos]) for neg, pos in federation]
        right = m._reference(hists)
        assert abs(right - histogram_auroc(hists)) < 1e-12
        for row in m._MISTAKES:
            if isinstance(row, Mistake):
                assert abs(row.variant(hists) - right) > 1e-3


def test_feedback_never_reveals_expected_values() -> None:
    from fedmed_lib.check import ch19_evaluation as m

    for fn in (lambda h: server_auroc(h) - 0.01, lambda h: float(np.mean([ties(x, 0.5) for x in h]))):
        fb = check_histogram_auroc(fn)
        for federation in m._FEDERATIONS:
            right = m._reference([np.array([neg, pos]) for neg, pos in federation])
            assert f"{right:.3f}" not in fb.message and f"{right:.2f}" not in fb.message
