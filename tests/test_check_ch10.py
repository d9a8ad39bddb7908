"""Tests of the chapter 10 self-checks: right answers pass, each typical slip gets its hint."""

from __future__ import annotations

import numpy as np
import pytest

import fedmed_lib  # noqa: F401  (quiets TensorFlow before it is imported)
from fedmed_lib.check.ch10_scaling import check_batched_average, check_batched_logits


def right_logits(X, W, b):
    return np.einsum("knd,kd->kn", X, W) + b[:, None]


def test_batched_logits_right_answers_pass():
    import tensorflow as tf

    for fn in (
        right_logits,
        lambda X, W, b: np.matmul(X, W[:, :, None])[:, :, 0] + b[:, None],
        lambda X, W, b: tf.einsum("knd,kd->kn", X, W) + b[:, None],
        lambda X, W, b: tf.linalg.matvec(X, W) + tf.expand_dims(b, 1),
    ):
        fb = check_batched_logits(fn)
        assert fb.passed, fb.message
        assert "right" in fb.message


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda X, W, b: np.einsum("knd,kd->kn", X, W), "add each client's bias"),
        (lambda X, W, b: np.einsum("knd,kd->nk", X, W) + b[None, :], "client axis first"),
        (lambda X, W, b: X @ W.T, "with W transposed"),
        (lambda X, W, b: np.einsum("knd,kd->kn", X, W) + b[None, :], "give it a trailing axis"),
        (lambda X, W, b: 1 / (1 + np.exp(-right_logits(X, W, b))), "before the sigmoid"),
        (lambda X, W, b: X @ W[0] + b[:, None], "own row W[k]"),
        (lambda X, W, b: np.einsum("knd,jd->kn", X, W) + b[:, None], "summed together"),
        (lambda X, W, b: right_logits(X, W, b) * 2, "sum over the feature axis d only"),
        (lambda X, W, b: None, "return the (K, n_max) logits"),
    ],
)
def test_batched_logits_typical_slips_get_their_hint(fn, hint):
    fb = check_batched_logits(fn)
    assert not fb.passed
    assert hint in fb.message


def test_batched_logits_exception_is_reported_not_raised():
    def broken(X, W, b):
        raise RuntimeError("oops")

    fb = check_batched_logits(broken)
    assert not fb.passed and "RuntimeError: oops" in fb.message


def test_batched_logits_never_reveals_the_answer():
    fb = check_batched_logits(lambda X, W, b: np.zeros(X.shape[:2]))
    assert not fb.passed
    assert not any(ch.isdigit() for ch in fb.message.replace("(K, n_max)", ""))


def test_batched_average_right_answers_pass():
    for fn in (
        lambda W, n: (n / n.sum()) @ W,
        lambda W, n: np.average(W, axis=0, weights=n),
        lambda W, n: np.einsum("k,kd->d", n, W) / np.sum(n),
    ):
        fb = check_batched_average(fn)
        assert fb.passed, fb.message


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda W, n: W.mean(axis=0), "n_k / n"),
        (lambda W, n: n @ W, "divide by the total number of examples"),
        (lambda W, n: n @ W / len(n), "not by K"),
        (lambda W, n: (W * (n / n.sum())[:, None]).sum(axis=1), "client axis (axis 0)"),
        (lambda W, n: W, "shape of one client's model"),
        (lambda W, n: (n / n.sum()) @ W + 1, "share of the examples, adding up to one"),
    ],
)
def test_batched_average_typical_slips_get_their_hint(fn, hint):
    fb = check_batched_average(fn)
    assert not fb.passed
    assert hint in fb.message


def test_stub_is_recognised():
    def stub(*args):
        raise NotImplementedError

    for check in (check_batched_logits, check_batched_average):
        fb = check(stub)
        assert not fb.passed and "still the stub" in fb.message
