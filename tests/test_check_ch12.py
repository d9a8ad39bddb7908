"""Tests of the chapter 12 self-check: a correct answer and each typical mistake."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fedmed_lib.check.ch12_secure_aggregation import check_double_masks, check_pairwise_masks
from fedmed_lib.privacy.secagg import mask, prg_mask


def good(x, k, pair_seeds, num_hospitals):
    y = x.copy()
    for j in range(num_hospitals):
        if j == k:
            continue
        m = prg_mask(pair_seeds[(min(k, j), max(k, j))], x.shape)
        y = y + m if k < j else y - m
    return y


def good_int64(x, k, pair_seeds, num_hospitals):
    y = x.astype(np.int64)
    for j in range(num_hospitals):
        if j != k:
            m = prg_mask(pair_seeds[(min(k, j), max(k, j))], x.shape).astype(np.int64)
            y = y - m if k < j else y + m  # opposite convention: still cancels
    return y % 2**32


def test_correct_answers_pass():
    for fn in (good, good_int64, lambda x, k, s, n: mask(x, k, s, range(n))):
        fb = check_pairwise_masks(fn)
        assert fb.passed, fb.message
        assert "cancel exactly" in fb.message


def test_both_parties_add():
    def fn(x, k, pair_seeds, num_hospitals):
        y = x.copy()
        for j in range(num_hospitals):
            if j != k:
                y += prg_mask(pair_seeds[(min(k, j), max(k, j))], x.shape)
        return y

    fb = check_pairwise_masks(fn)
    assert not fb.passed
    assert "one of the pair adds the mask" in fb.message


def test_only_larger_partners():
    def fn(x, k, pair_seeds, num_hospitals):
        y = x.copy()
        for j in range(k + 1, num_hospitals):
            y += prg_mask(pair_seeds[(k, j)], x.shape)
        return y

    fb = check_pairwise_masks(fn)
    assert not fb.passed
    assert "hospitals j < k" in fb.message


def test_not_modulo_2_32():
    def fn(x, k, pair_seeds, num_hospitals):
        y = x.astype(np.int64)
        for j in range(num_hospitals):
            if j != k:
                m = prg_mask(pair_seeds[(min(k, j), max(k, j))], x.shape).astype(np.int64)
                y = y + m if k < j else y - m
        return y

    fb = check_pairwise_masks(fn)
    assert not fb.passed
    assert "work modulo 2**32" in fb.message


def test_float_arithmetic():
    def fn(x, k, pair_seeds, num_hospitals):
        return good(x, k, pair_seeds, num_hospitals).astype(np.float64)

    fb = check_pairwise_masks(fn)
    assert not fb.passed
    assert "Keep everything uint32" in fb.message


def test_no_mask_and_wrong_key():
    fb = check_pairwise_masks(lambda x, k, s, n: x)
    assert not fb.passed
    assert "unmasked" in fb.message

    def fn(x, k, pair_seeds, num_hospitals):
        y = x.copy()
        for j in range(num_hospitals):
            if j != k:
                y += prg_mask(pair_seeds[(k, j)], x.shape)
        return y

    fb = check_pairwise_masks(fn)
    assert not fb.passed
    assert "(min(k, j), max(k, j))" in fb.message


def test_unrelated_mask_and_stub():
    def fn(x, k, pair_seeds, num_hospitals):
        return x + prg_mask(1000 + k, x.shape)

    fb = check_pairwise_masks(fn)
    assert not fb.passed
    assert "do not sum to the sum" in fb.message

    def stub(x, k, pair_seeds, num_hospitals):
        raise NotImplementedError

    fb = check_pairwise_masks(stub)
    assert not fb.passed
    assert "not written yet" in fb.message


def test_feedback_never_reveals_values():
    def both_add(x, k, pair_seeds, num_hospitals):
        y = x.copy()
        for j in range(num_hospitals):
            if j != k:
                y += prg_mask(pair_seeds[(min(k, j), max(k, j))], x.shape)
        return y

    fb = check_pairwise_masks(both_add)
    assert re.search(r"\d{4,}", fb.message) is None, fb.message


@pytest.mark.parametrize("check", [check_pairwise_masks, check_double_masks])
@pytest.mark.parametrize("not_a_function", [None, 3.0, "fn", [1.0], (lambda: 0)()])
def test_a_called_function_instead_of_the_function_is_named(check, not_a_function):
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check(not_a_function)


# --- check_double_masks: every row of its table of mistakes -------------------------


def double(x, k, self_seed, pair_seeds, num_hospitals):
    return good(x, k, pair_seeds, num_hospitals) + prg_mask(self_seed, x.shape)


def double_int64(x, k, self_seed, pair_seeds, num_hospitals):
    y = good_int64(x, k, pair_seeds, num_hospitals) + prg_mask(self_seed, x.shape).astype(np.int64)
    return y % 2**32


def test_double_correct_answers_pass():
    for fn in (double, double_int64):
        fb = check_double_masks(fn)
        assert fb.passed, fb.message
        assert "self masks" in fb.message


def test_double_no_mask_at_all():
    fb = check_double_masks(lambda x, k, b, s, n: x)
    assert not fb.passed
    assert "unmasked" in fb.message


def test_double_no_self_mask():
    fb = check_double_masks(lambda x, k, b, s, n: good(x, k, s, n))
    assert not fb.passed
    assert "no self mask" in fb.message and "the hospital's own seed" in fb.message


def test_double_self_mask_subtracted():
    fb = check_double_masks(lambda x, k, b, s, n: (good_int64(x, k, s, n) - prg_mask(b, x.shape).astype(np.int64)) % 2**32)
    assert not fb.passed
    assert "subtracts its self mask" in fb.message


def test_double_only_self_mask():
    fb = check_double_masks(lambda x, k, b, s, n: x + prg_mask(b, x.shape))
    assert not fb.passed
    assert "only the self mask" in fb.message


def test_double_pairs_both_add_and_once():
    def both_add(x, k, b, pair_seeds, n):
        y = x + prg_mask(b, x.shape)
        for j in range(n):
            if j != k:
                y += prg_mask(pair_seeds[(min(k, j), max(k, j))], x.shape)
        return y

    fb = check_double_masks(both_add)
    assert not fb.passed
    assert "one of the pair adds the mask" in fb.message

    def once(x, k, b, pair_seeds, n):
        y = x + prg_mask(b, x.shape)
        for j in range(k + 1, n):
            y += prg_mask(pair_seeds[(k, j)], x.shape)
        return y

    fb = check_double_masks(once)
    assert not fb.passed   # the last hospital has no partner j > k: only its self mask
    assert "hospital 2's update carries only the self mask" in fb.message

    def once_down(x, k, b, pair_seeds, n):
        y = x + prg_mask(b, x.shape)
        for j in range(k):
            y -= prg_mask(pair_seeds[(j, k)], x.shape)
        return y

    fb = check_double_masks(once_down)
    assert not fb.passed   # hospital 0 has no partner j < k: the same row names it
    assert "hospital 0's update carries only the self mask" in fb.message


def test_double_output_rows_and_stub():
    fb = check_double_masks(lambda x, k, b, s, n: double(x, k, b, s, n).astype(np.float64))
    assert not fb.passed and "Keep everything uint32" in fb.message
    fb = check_double_masks(
        lambda x, k, b, s, n: good_int64(x, k, s, n) + prg_mask(b, x.shape).astype(np.int64))
    assert not fb.passed and "work modulo 2**32" in fb.message
    fb = check_double_masks(lambda x, k, b, s, n: double(x, k, b, s, n)[:-1])
    assert not fb.passed and "shape" in fb.message

    def stub(x, k, self_seed, pair_seeds, num_hospitals):
        raise NotImplementedError

    fb = check_double_masks(stub)
    assert not fb.passed and "not written yet" in fb.message


def test_double_generic_and_no_values():
    fb = check_double_masks(lambda x, k, b, s, n: double(x, k, b + 1, s, n))
    assert not fb.passed
    assert "once the server removes the self masks" in fb.message
    assert re.search(r"\d{4,}", fb.message) is None, fb.message
