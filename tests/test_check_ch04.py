"""Tests of the self-check of ch-fedsgd: a right answer passes, each typical mistake is named."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.aggregate import weighted_average
from fedmed_lib.check.ch04_fedsgd import check_weighted_average


def good(results):
    n = sum(num for _, num in results)
    return [sum((num / n) * np.asarray(p[i]) for p, num in results) for i in range(len(results[0][0]))]


def unweighted(results):
    return [np.mean([p[i] for p, _ in results], axis=0) for i in range(len(results[0][0]))]


def not_normalised(results):
    return [sum(num * np.asarray(p[i]) for p, num in results) for i in range(len(results[0][0]))]


def divided_by_k(results):
    k = len(results)
    return [sum(num * np.asarray(p[i]) for p, num in results) / k for i in range(len(results[0][0]))]


def inverted(results):
    inv = sum(1 / num for _, num in results)
    return [sum((1 / num / inv) * np.asarray(p[i]) for p, num in results)
            for i in range(len(results[0][0]))]


def wrong_axis_shape(results):
    return [np.average(np.stack([p[i] for p, _ in results]), axis=-1) for i in range(len(results[0][0]))]


def wrong_axis_broadcast(results):
    w = np.array([num for _, num in results], float)
    w = w / w.sum()
    return [np.sum(np.stack([p[i] for p, _ in results]) * w, axis=0) for i in range(len(results[0][0]))]


def first_array_only(results):
    return good(results)[:1]


def single_array(results):
    return good(results)[0]


def in_place(results):
    n = sum(num for _, num in results)
    out = []
    for i in range(len(results[0][0])):
        acc = results[0][0][i]
        acc *= results[0][1] / n
        for p, num in results[1:]:
            acc += (num / n) * p[i]
        out.append(acc)
    return out


def raises(results):
    raise KeyError("params")


def test_correct_answers_pass():
    for fn in (good, lambda r: weighted_average(r)):
        fb = check_weighted_average(fn)
        assert fb.passed, fb.message
        assert bool(fb) is True
        assert "right" in fb.message


@pytest.mark.parametrize(
    ("fn", "needle"),
    [
        (unweighted, "plain mean"),
        (not_normalised, "do not sum to one"),
        (divided_by_k, "number of clients K"),
        (inverted, "inverted"),
        (wrong_axis_shape, "wrong axis"),
        (wrong_axis_broadcast, "broadcast the weights along the wrong axis"),
        (first_array_only, "average every array"),
        (single_array, "single array"),
        (in_place, "in place"),
        (raises, "raised KeyError"),
    ],
)
def test_typical_mistakes_are_named(fn, needle):
    fb = check_weighted_average(fn)
    assert not fb.passed
    assert needle in fb.message
    assert "Hint:" in fb.message
    assert str(fb).startswith("[not yet]")


def test_feedback_never_reveals_the_expected_values():
    from fedmed_lib.check.ch04_fedsgd import _cases, _reference

    for fn in (unweighted, not_normalised, divided_by_k, wrong_axis_broadcast):
        msg = check_weighted_average(fn).message
        for results in _cases():
            for arr in _reference(results):
                for v in np.ravel(arr):
                    assert f"{v:.3f}" not in msg


@pytest.mark.parametrize("check", [check_weighted_average])
@pytest.mark.parametrize("not_a_function", [None, 3.0, "fn", [1.0], (lambda: 0)()])
def test_a_called_function_instead_of_the_function_is_named(check, not_a_function):
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check(not_a_function)
