"""Tests of the chapter 11 self-check: a correct answer and each typical mistake."""

from __future__ import annotations

import numpy as np

from fedmed_lib.check.ch11_gradient_leakage import check_recover_input
from fedmed_lib.leakage import recover_from_dense_gradient


def best_row(grad_W, grad_b):
    i = int(np.argmax(np.abs(grad_b)))
    return grad_W[i] / grad_b[i]


def test_correct_answers_pass():
    for fn in (best_row, recover_from_dense_gradient):
        fb = check_recover_input(fn)
        assert fb.passed, fb.message
        assert "exactly" in fb.message


def test_wrong_way_round():
    def fn(grad_W, grad_b):
        i = int(np.argmax(np.abs(grad_b)))
        return grad_b[i] / grad_W[i]

    fb = check_recover_input(fn)
    assert not fb.passed
    assert "wrong way round" in fb.message


def test_column_instead_of_row():
    fb = check_recover_input(lambda grad_W, grad_b: grad_W[:, 0] / grad_b)
    assert not fb.passed
    assert "not a column" in fb.message


def test_always_row_zero_hits_inactive_unit():
    def fn(grad_W, grad_b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad_W[0] / grad_b[0]

    fb = check_recover_input(fn)
    assert not fb.passed
    assert "grad_b[i] != 0" in fb.message


def test_python_zero_division():
    def fn(grad_W, grad_b):
        return np.array([w / float(grad_b[0]) for w in grad_W[0].tolist()])

    fb = check_recover_input(fn)
    assert not fb.passed
    assert "divided by zero" in fb.message


def test_absolute_value_flips_sign():
    def fn(grad_W, grad_b):
        i = 1  # grad_b[1] < 0 in both cases
        return grad_W[i] / abs(grad_b[i])

    fb = check_recover_input(fn)
    assert not fb.passed
    assert "wrong sign" in fb.message


def test_mismatched_units():
    def fn(grad_W, grad_b):
        return grad_W[2] / grad_b[1]

    fb = check_recover_input(fn)
    assert not fb.passed
    assert "same output unit" in fb.message


def test_summed_rows_are_scaled():
    fb = check_recover_input(lambda grad_W, grad_b: grad_W.sum(axis=0))
    assert not fb.passed
    assert "which factor is left over" in fb.message


def test_unrelated_answer_and_exception():
    fb = check_recover_input(lambda grad_W, grad_b: np.ones(grad_W.shape[1]))
    assert not fb.passed
    assert "not the input" in fb.message

    def boom(grad_W, grad_b):
        raise KeyError("oops")

    fb = check_recover_input(boom)
    assert not fb.passed
    assert "raised KeyError" in fb.message


def test_feedback_never_reveals_the_record():
    import re

    wrong_answers = [
        lambda grad_W, grad_b: grad_W.sum(axis=0),
        lambda grad_W, grad_b: np.ones(grad_W.shape[1]),
        lambda grad_W, grad_b: grad_W[2] / grad_b[1],
    ]
    for fn in wrong_answers:
        fb = check_recover_input(fn)
        assert not fb.passed
        assert re.search(r"\d\.\d", fb.message) is None, fb.message


def test_stub_not_written_yet():
    def stub(grad_W, grad_b):
        raise NotImplementedError

    fb = check_recover_input(stub)
    assert not fb.passed
    assert "not written yet" in fb.message
