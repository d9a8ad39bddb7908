"""Tests of the membership-inference attack in fedmed_lib.leakage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from fedmed_lib.leakage import attack_auroc, logistic_losses, loss_threshold_attack
from fedmed_lib.models import LOGISTIC, add_intercept


def test_by_hand() -> None:
    res = loss_threshold_attack(np.array([0.1, 0.2]), np.array([0.3, 0.4]))
    assert res.auroc == 1.0
    assert res.threshold == pytest.approx(0.15)       # the mean member loss
    assert (res.tpr, res.fpr, res.advantage) == (0.5, 0.0, 0.5)
    res = loss_threshold_attack(np.array([0.1, 0.2]), np.array([0.3, 0.4]), threshold=0.35)
    assert (res.tpr, res.fpr, res.advantage) == (1.0, 0.5, 0.5)
    # ties count one half
    assert attack_auroc(np.array([1.0]), np.array([1.0])) == 0.5
    assert attack_auroc(np.array([2.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(0.875)


@settings(max_examples=100, deadline=None)
@given(
    pos=st.lists(st.integers(0, 5), min_size=1, max_size=25),
    neg=st.lists(st.integers(0, 5), min_size=1, max_size=25),
)
def test_auroc_equals_scikit_learn(pos, neg) -> None:
    p, n = np.array(pos, float), np.array(neg, float)
    expected = roc_auc_score(np.r_[np.ones(len(p)), np.zeros(len(n))], np.r_[p, n])
    assert attack_auroc(p, n) == pytest.approx(expected, abs=1e-12)


def test_logistic_losses() -> None:
    rng = np.random.default_rng(0)
    X = add_intercept(rng.normal(size=(50, 3)))
    y = (rng.random(50) < 0.5).astype(float)
    theta = rng.normal(size=4)
    losses = logistic_losses(theta, X, y)
    p = 1 / (1 + np.exp(-X @ theta))
    assert np.allclose(losses, -(y * np.log(p) + (1 - y) * np.log(1 - p)), rtol=1e-12)
    assert losses.mean() == pytest.approx(LOGISTIC.loss(theta, X, y), rel=1e-12)
    big = logistic_losses(np.array([1000.0]), np.array([[1.0], [1.0]]), np.array([0.0, 1.0]))
    assert np.isfinite(big).all() and big[0] == pytest.approx(1000.0) and big[1] == 0.0


W = np.r_[0.0, np.random.default_rng(1).normal(size=20) * 0.3]   # one population


def _data(rng: np.random.Generator, n: int, w: np.ndarray = W):
    X = add_intercept(rng.normal(size=(n, len(w) - 1)))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ w))).astype(float)
    return X, y


def _fit(X: np.ndarray, y: np.ndarray, steps: int = 2000) -> np.ndarray:
    theta = np.zeros(X.shape[1])
    for _ in range(steps):
        theta -= 1.0 * LOGISTIC.grad(theta, X, y)
    return theta


def test_auroc_is_chance_for_a_model_that_saw_no_members() -> None:
    """Statistical test with a fixed seed: members and non-members are both unseen."""
    rng = np.random.default_rng(2024)
    Xs, ys = _data(rng, 60)           # the model's real training set
    theta = _fit(Xs, ys)              # overfit on it (20 features, 60 records)
    X, y = _data(np.random.default_rng(7), 4000)   # the same population, never seen
    m, n = 2000, 2000
    res = loss_threshold_attack(logistic_losses(theta, X[:m], y[:m]),
                                logistic_losses(theta, X[m:], y[m:]))
    se = np.sqrt((m + n + 1) / (12 * m * n))
    assert abs(res.auroc - 0.5) < 3 * se
    # positive control: the same attack against the records the model was trained on
    res_seen = loss_threshold_attack(logistic_losses(theta, Xs, ys),
                                     logistic_losses(theta, X[m:], y[m:]))
    assert res_seen.auroc > 0.5 + 3 * np.sqrt((60 + n + 1) / (12 * 60 * n))


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: loss_threshold_attack(np.array([]), np.array([1.0])), ValueError,
         "member_losses is empty"),
        (lambda: loss_threshold_attack(np.array([1.0]), np.array([np.nan])), ValueError, "NaN"),
        (lambda: loss_threshold_attack(np.ones((2, 2)), np.ones(2)), ValueError, "1-D"),
        (lambda: loss_threshold_attack(np.ones(2), np.ones(2), threshold=np.nan), ValueError,
         "NaN"),
        (lambda: loss_threshold_attack("abc", np.ones(2)), TypeError, "numeric"),
        (lambda: attack_auroc(np.ones(2), np.array([])), ValueError, "nonmember_scores is empty"),
        (lambda: logistic_losses(np.ones(3), np.ones((4, 2)), np.ones(4)), ValueError, "columns"),
        (lambda: logistic_losses(np.ones(2), np.ones((4, 2)), np.ones(3)), ValueError, "labels"),
        (lambda: logistic_losses(np.ones(2), np.ones((4, 2)), np.full(4, 2.0)), ValueError, "0/1"),
    ],
)
def test_bad_input_is_named(call, error, words) -> None:
    with pytest.raises(error, match=words):
        call()


BAD_LOSSES = st.one_of(
    st.sampled_from([None, "loss", [], [[0.1, 0.2]], [0.1, np.nan], [np.inf], [1 + 2j],
                     [True, False], np.array(["a", "b"]), object()]),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5).filter(
        lambda v: not np.all(np.isfinite(v))),
)


@settings(max_examples=60, deadline=None)
@given(bad=BAD_LOSSES, which=st.sampled_from(["member_losses", "nonmember_losses"]))
def test_generated_bad_losses_are_named_and_inputs_unchanged(bad, which) -> None:
    good = np.array([0.1, 0.5, 0.9])
    other = good.copy()
    kwargs = {"member_losses": good, "nonmember_losses": other, which: bad}
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    with pytest.raises((ValueError, TypeError)) as err:
        loss_threshold_attack(**kwargs)
    assert which in str(err.value)
    for k, v in kwargs.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            assert np.array_equal(v, before[k], equal_nan=True)
