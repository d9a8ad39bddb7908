"""Tests of the chapter 1 self-checks: right answers pass, each typical slip gets its hint."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from fedmed_lib.check.ch01_why_fl import (
    FIVE_STEPS,
    check_five_steps,
    check_weighted_accuracy,
)


def _letter(word: str) -> str:
    """Letter of the step whose text contains ``word`` (the order read from the texts)."""
    (letter,) = [k for k, v in FIVE_STEPS.items() if word in v]
    return letter


RIGHT = [_letter(w) for w in ("broadcasts", "trains", "upload", "aggregates", "repeats")]


def test_five_steps_right_order_passes_in_any_spelling() -> None:
    for answer in (RIGHT, "".join(RIGHT), ", ".join(RIGHT).lower(), tuple(RIGHT)):
        fb = check_five_steps(answer)
        assert fb.passed, fb.message
        assert fb.message.startswith("Right")


def test_five_steps_only_one_order_passes() -> None:
    passing = [p for p in permutations(FIVE_STEPS) if check_five_steps(list(p)).passed]
    assert passing == [tuple(RIGHT)]


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        # aggregation before upload
        (lambda b, t, u, a, r: [b, t, a, u, r], "already sent"),
        # upload before training
        (lambda b, t, u, a, r: [b, u, t, a, r], "result of local training"),
        # training first, before any model was broadcast
        (lambda b, t, u, a, r: [t, b, u, a, r], "where does their first model come from"),
        # repeat in the middle
        (lambda b, t, u, a, r: [b, t, r, u, a], "can only come after"),
    ],
)
def test_five_steps_typical_mistakes(answer, hint: str) -> None:  # type: ignore[no-untyped-def]
    fb = check_five_steps(answer(*RIGHT))
    assert not fb.passed
    assert hint in fb.message


def test_five_steps_malformed_answers() -> None:
    fb = check_five_steps(RIGHT[:4])
    assert not fb.passed and "missing" in fb.message
    fb = check_five_steps(RIGHT[:4] + RIGHT[:1])
    assert not fb.passed and "twice" in fb.message
    fb = check_five_steps(RIGHT[:4] + ["Z"])
    assert not fb.passed and "'Z' is not one of the steps" in fb.message
    fb = check_five_steps(5)  # type: ignore[arg-type]
    assert not fb.passed and "list of letters" in fb.message


def test_five_steps_feedback_never_reveals_the_order() -> None:
    for p in permutations(FIVE_STEPS):
        fb = check_five_steps(list(p))
        if not fb.passed:
            assert "".join(RIGHT) not in fb.message.replace(", ", "").replace(" ", "")


# --- weighted accuracy ---------------------------------------------------------------


def right_rule(acc: np.ndarray, n: np.ndarray) -> float:
    """Correct predictions over all hospitals divided by all test patients."""
    num_correct = sum(a * k for a, k in zip(acc, n, strict=True))
    return float(num_correct / sum(n))


def test_weighted_accuracy_right_answers_pass() -> None:
    for fn in (
        right_rule,
        lambda acc, n: float(np.average(acc, weights=n)),
        lambda acc, n: np.array([np.sum(acc * n) / np.sum(n)]),  # a 1-element array is fine
    ):
        fb = check_weighted_accuracy(fn)
        assert fb.passed, fb.message


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda acc, n: float(np.mean(acc)), "weight each accuracy by its number of patients"),
        (lambda acc, n: float(np.sum(acc * n)), "divide the number of correct predictions"),
        (lambda acc, n: float(np.sum(acc * n) / len(n)), "not by how many hospitals"),
        (lambda acc, n: float(np.sum(acc / n) / np.sum(1 / n)), "grow with its number"),
        (lambda acc, n: 100 * float(np.average(acc, weights=n)), "fraction between 0 and 1"),
        (lambda acc, n: acc * n / np.sum(n), "add them up"),
        (lambda acc, n: float(np.max(acc)), "how many correct predictions does each hospital"),
        (lambda acc, n: float(np.max(acc)) + 0.5, "stays in [0, 1]"),
    ],
)
def test_weighted_accuracy_typical_mistakes(fn, hint: str) -> None:  # type: ignore[no-untyped-def]
    fb = check_weighted_accuracy(fn)
    assert not fb.passed
    assert hint in fb.message
    assert "Hint:" in fb.message


def test_weighted_accuracy_learner_errors_are_reported() -> None:
    def stub(acc: np.ndarray, n: np.ndarray) -> float:
        raise NotImplementedError

    fb = check_weighted_accuracy(stub)
    assert not fb.passed and "NotImplementedError" in fb.message
    fb = check_weighted_accuracy(lambda acc, n: acc @ np.ones((5, 5)))
    assert not fb.passed and "raised ValueError" in fb.message


def test_weighted_accuracy_feedback_never_reveals_the_value() -> None:
    acc, n = np.array([0.9, 0.6, 0.75]), np.array([100, 10, 40])
    ref = float(np.sum(acc * n) / np.sum(n))
    for fn in (lambda a, k: float(np.mean(a)), lambda a, k: 0.3):
        msg = check_weighted_accuracy(fn).message
        for text in (f"{ref:.2f}", f"{ref:.3f}", f"{ref:.4f}"):
            assert text not in msg
