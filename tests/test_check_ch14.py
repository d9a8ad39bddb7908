"""Tests of the chapter 14 self-checks: correct answers pass, typical mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.check.ch14_robust import (
    check_mean_around_median,
    check_median,
    check_trimmed_mean,
)

# --- median ----------------------------------------------------------------------------


def test_median_correct() -> None:
    fb = check_median(lambda U: np.median(U, axis=0))
    assert fb.passed, fb.message


def test_median_wrong_axis() -> None:
    fb = check_median(lambda U: np.median(U, axis=1))
    assert not fb.passed
    assert "wrong axis" in fb.message and "axis=0" in fb.message


def test_median_of_everything() -> None:
    fb = check_median(lambda U: np.median(U))
    assert not fb.passed and "single number" in fb.message


def test_median_is_mean() -> None:
    fb = check_median(lambda U: U.mean(axis=0))
    assert not fb.passed and "equals the mean" in fb.message
    assert "coordinate-wise median" in fb.message


def test_median_whole_client() -> None:
    def medoid(U):
        return U[np.argsort(np.linalg.norm(U, axis=1))[len(U) // 2]]

    fb = check_median(medoid)
    assert not fb.passed and "one hospital's whole update" in fb.message


def test_median_even_count() -> None:
    fb = check_median(lambda U: np.sort(U, axis=0)[len(U) // 2])
    assert not fb.passed and "two middle values" in fb.message


def test_median_in_place_and_errors() -> None:
    def in_place(U):
        U.sort(axis=0)
        return np.median(U, axis=0)

    assert "in place" in check_median(in_place).message
    assert "ZeroDivisionError" in check_median(lambda U: 1 / 0).message


# --- trimmed mean ----------------------------------------------------------------------


def good_trim(U, beta):
    m = U.shape[0]
    k = int(np.floor(beta * m))
    return np.sort(U, axis=0)[k : m - k].mean(axis=0)


def test_trimmed_correct() -> None:
    fb = check_trimmed_mean(good_trim)
    assert fb.passed, fb.message


def test_trimmed_one_side() -> None:
    def one_side(U, beta):
        k = int(np.floor(beta * len(U)))
        return np.sort(U, axis=0)[k:].mean(axis=0)

    fb = check_trimmed_mean(one_side)
    assert not fb.passed
    assert "only one side" in fb.message and "AND the n_trim largest" in fb.message


def test_trimmed_no_trim() -> None:
    fb = check_trimmed_mean(lambda U, beta: U.mean(axis=0))
    assert not fb.passed and "nothing was trimmed" in fb.message
    assert "how many values of each column you drop at EACH end" in fb.message


def test_trimmed_wrong_axis() -> None:
    def wrong_axis(U, beta):
        k = int(np.floor(beta * U.shape[1]))
        return np.sort(U, axis=1)[:, k : U.shape[1] - k].mean(axis=1)

    fb = check_trimmed_mean(wrong_axis)
    assert not fb.passed and "wrong axis" in fb.message


def test_trimmed_whole_clients() -> None:
    def by_norm(U, beta):
        m = U.shape[0]
        k = int(np.floor(beta * m))
        order = np.argsort(np.linalg.norm(U, axis=1))
        return U[order[k : m - k]].mean(axis=0)

    fb = check_trimmed_mean(by_norm)
    assert not fb.passed and "whole hospitals" in fb.message
    assert "order each column on its own" in fb.message


def test_trimmed_rounds_up() -> None:
    def ceil_trim(U, beta):
        m = U.shape[0]
        k = int(np.ceil(beta * m))
        return np.sort(U, axis=0)[k : m - k].mean(axis=0)

    fb = check_trimmed_mean(ceil_trim)
    assert not fb.passed and "one value too many" in fb.message
    assert "which way the chapter rounds it" in fb.message


def test_feedback_never_reveals_values() -> None:
    msgs = [
        check_median(lambda U: U.mean(axis=0)).message,
        check_trimmed_mean(lambda U, beta: U.mean(axis=0)).message,
    ]
    for msg in msgs:
        assert not any(ch.isdigit() for ch in msg.replace("axis=0", ""))


@pytest.mark.parametrize("check", [check_median, check_trimmed_mean, check_mean_around_median])
@pytest.mark.parametrize("not_a_function", [None, 3.0, "fn", [1.0], (lambda: 0)()])
def test_a_called_function_instead_of_the_function_is_named(check, not_a_function):
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check(not_a_function)


# --- mean around the median: every row of its table of mistakes ---------------------


def _nearest(U, center, keep):
    idx = np.argsort(np.abs(U - center), axis=0)[:keep]
    return np.take_along_axis(U, idx, axis=0).mean(axis=0)


def mam(U, f):
    return _nearest(U, np.median(U, axis=0), U.shape[0] - f)


def mam_loop(U, f):
    med = np.median(U, axis=0)
    out = np.empty(U.shape[1])
    for j in range(U.shape[1]):
        col = U[:, j]
        out[j] = col[np.argsort(np.abs(col - med[j]))[: len(col) - f]].mean()
    return out


def test_mam_correct() -> None:
    for fn in (mam, mam_loop):
        fb = check_mean_around_median(fn)
        assert fb.passed, fb.message
        assert "K - f values nearest its median" in fb.message


@pytest.mark.parametrize(("fn", "words"), [
    (lambda U, f: np.median(U, axis=0), "the median itself"),
    (lambda U, f: U.mean(axis=0), "plain mean"),
    (lambda U, f: _nearest(U, U.mean(axis=0), U.shape[0] - f), "closest to the MEAN"),
    (lambda U, f: _nearest(U, np.median(U, axis=0), f), "You kept f values"),
    (lambda U, f: _nearest(U, np.median(U, axis=0), U.shape[0] - f - 1), "one value too few"),
    (lambda U, f: _nearest(U, np.median(U, axis=0), U.shape[0] - f + 1), "one value too few"),
    (lambda U, f: np.sort(U, axis=0)[f: U.shape[0] - f].mean(axis=0), "at EACH end"),
    (lambda U, f: U[np.argsort(np.linalg.norm(U - np.median(U, axis=0), axis=1))
                    [: U.shape[0] - f]].mean(axis=0), "whole hospitals"),
    (lambda U, f: mam(U.T, 0), "wrong axis"),
    (lambda U, f: float(mam(U, f).mean()), "single number"),
])
def test_mam_mistakes(fn, words) -> None:
    fb = check_mean_around_median(fn)
    assert not fb.passed
    assert words in fb.message, fb.message
    if words != "wrong axis":   # that message names the number of hospitals it got
        assert not any(ch.isdigit() for ch in fb.message.replace("axis=0", ""))


def test_mam_generic_in_place_and_stub() -> None:
    fb = check_mean_around_median(lambda U, f: mam(U, f) + 1.0)
    assert not fb.passed and "not the mean around the median" in fb.message
    assert "one parameter (column) at a time" in fb.message


def test_median_other_mistake_gets_the_generic_hint() -> None:
    fb = check_median(lambda U: np.median(U, axis=0) + 1.0)
    assert not fb.passed and "not the coordinate-wise median" in fb.message
    assert "section 'Robust rules from scratch'" in fb.message

    def in_place(U, f):
        U.sort(axis=0)
        return mam(U, f)

    assert "in place" in check_mean_around_median(in_place).message

    def stub(updates, f):
        raise NotImplementedError

    assert not check_mean_around_median(stub).passed
