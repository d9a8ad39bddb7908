"""Tests of fedmed_lib.personalize: federated loss, early stopping, fine-tuning."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.algorithms import local_sgd
from fedmed_lib.models import LOGISTIC, add_intercept
from fedmed_lib.personalize import early_stopping_round, federated_loss, fine_tune


def test_federated_loss_hand_computed() -> None:
    assert federated_loss([1.0, 4.0], [3, 1]) == pytest.approx(1.75)
    assert federated_loss([2.0], [5]) == pytest.approx(2.0)


def test_federated_loss_equals_pooled_loss() -> None:
    rng = np.random.default_rng(0)
    theta = rng.normal(size=4)
    sites = []
    for n in (5, 17, 40):
        X = add_intercept(rng.normal(size=(n, 3)))
        sites.append((X, (rng.random(n) < 0.4).astype(float)))
    losses = [LOGISTIC.loss(theta, X, y) for X, y in sites]
    pooled = LOGISTIC.loss(theta, np.vstack([X for X, _ in sites]),
                           np.concatenate([y for _, y in sites]))
    assert federated_loss(losses, [len(y) for _, y in sites]) == pytest.approx(pooled, abs=1e-12)
    assert abs(float(np.mean(losses)) - pooled) > 1e-3  # the unweighted mean is not


@pytest.mark.parametrize(
    ("losses", "counts", "match"),
    [
        ([], [], "list is empty"),
        ([1.0, 2.0], [3], "2 losses but 1 num_examples"),
        ([1.0, np.nan], [3, 4], "client 1: loss must be finite, got nan"),
        ([1.0, np.inf], [3, 4], "client 1: loss must be finite, got inf"),
        ([1.0, True], [3, 4], "client 1: loss must be a real number"),
        ([1.0, "0.5"], [3, 4], "client 1: loss must be a real number"),
        ([1.0, None], [3, 4], "client 1: loss must be a real number"),
        ([1.0, 1 + 0j], [3, 4], "client 1: loss must be a real number"),
        ([1.0, 2.0], [3, True], "client 1: num_examples must be an integer"),
        (None, [3], "losses must be a list"),
        ("1.0", [3], "losses must be a list"),
        ([1.0], 3, "num_examples must be a list"),
        (np.ones((1, 1)), [3], "losses must be 1-D"),
        ([-1.0, 2.0], [3, 4], "client 0: loss is negative"),
        ([1.0, 2.0], [3, 0], "client 1: num_examples must be positive"),
        ([1.0, 2.0], [3, 2.5], "client 1: num_examples must be an integer"),
    ],
)
def test_federated_loss_bad_input(losses: list, counts: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        federated_loss(losses, counts)


def test_early_stopping_round() -> None:
    losses = [3.0, 2.0, 1.0, 1.5, 0.5, 2.0, 2.0]
    assert early_stopping_round(losses) == 4
    assert early_stopping_round(losses, [0, 5, 10, 15, 20, 25, 30]) == 20
    # with patience 1 the server stops after the first increase (evaluation 3)
    assert early_stopping_round(losses, patience=1) == 2
    assert early_stopping_round(losses, patience=2) == 4
    assert early_stopping_round([1.0, 1.0, 2.0]) == 0  # first minimum on ties


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"losses": []}, "non-empty"),
        ({"losses": [1.0, np.nan]}, "NaN at evaluation 1"),
        ({"losses": [1.0, 2.0], "rounds": [0]}, "2 losses but 1 rounds"),
        ({"losses": [1.0], "patience": 0}, "patience must be at least 1"),
        ({"losses": [1.0], "patience": 1.5}, "patience must be an integer"),
        ({"losses": [1.0], "patience": True}, "patience must be an integer"),
        ({"losses": [1.0, "2"]}, r"losses\[1\] must be a real number"),
        ({"losses": [1.0, 1j]}, r"losses\[1\] must be a real number"),
        ({"losses": None}, "losses must be a list"),
        ({"losses": [1.0, 2.0], "rounds": [0, 1.5]}, r"rounds\[1\] must be an integer"),
        ({"losses": [1.0, 2.0], "rounds": "01"}, "rounds must be a list"),
    ],
)
def test_early_stopping_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        early_stopping_round(**kwargs)


def _site(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = add_intercept(rng.normal(size=(n, 3)))
    return X, (X[:, 1] + rng.normal(size=n) > 0).astype(float)


def test_fine_tune_picks_the_best_validated_step_count() -> None:
    train, val = _site(1, 30), _site(2, 30)
    theta = np.zeros(4)
    out = fine_tune(theta, train, val, model=LOGISTIC, lr=0.5, max_steps=12, every=3)
    assert out.steps == [0, 3, 6, 9, 12]
    # reproduce every candidate with plain local_sgd
    expected = [LOGISTIC.loss(local_sgd(theta, *train, model=LOGISTIC, lr=0.5,
                                        local_epochs=s)[0] if s else theta, *val)
                for s in out.steps]
    np.testing.assert_allclose(out.val_losses, expected, rtol=1e-12)
    best = int(np.argmin(expected))
    assert out.num_steps == out.steps[best]
    ref = local_sgd(theta, *train, model=LOGISTIC, lr=0.5, local_epochs=out.num_steps)[0]
    np.testing.assert_allclose(out.theta, ref, rtol=1e-12)
    assert np.all(theta == 0)  # the global model is not modified


def test_fine_tune_keeps_global_model_when_training_hurts() -> None:
    train, val = _site(3, 20), _site(4, 20)
    val = (val[0], 1.0 - val[1])  # validation labels flipped: any local step hurts
    theta = np.zeros(4)
    out = fine_tune(theta, train, val, model=LOGISTIC, lr=0.5, max_steps=5)
    assert out.num_steps == 0
    np.testing.assert_array_equal(out.theta, theta)


def test_fine_tune_bad_input() -> None:
    train, val = _site(1, 10), _site(2, 10)
    with pytest.raises(ValueError, match="client 'Bern': theta has 3 rows"):
        fine_tune(np.zeros(3), train, val, model=LOGISTIC, lr=0.1, max_steps=1, client="Bern")
    with pytest.raises(ValueError, match="client 'Bern': X contains NaN"):
        bad = (train[0].copy(), train[1])
        bad[0][0, 1] = np.nan
        fine_tune(np.zeros(4), bad, val, model=LOGISTIC, lr=0.1, max_steps=1, client="Bern")
    with pytest.raises(ValueError, match="client 'Bern': theta contains NaN"):
        fine_tune(np.full(4, np.nan), train, val, model=LOGISTIC, lr=0.1, max_steps=1,
                  client="Bern")
    with pytest.raises(ValueError, match="lr must be a positive number"):
        fine_tune(np.zeros(4), train, val, model=LOGISTIC, lr=0.0, max_steps=1)
    with pytest.raises(ValueError, match="max_steps must be at least 0"):
        fine_tune(np.zeros(4), train, val, model=LOGISTIC, lr=0.1, max_steps=-1)
    with pytest.raises(ValueError, match="max_steps must be an integer"):
        fine_tune(np.zeros(4), train, val, model=LOGISTIC, lr=0.1, max_steps=2.5)
    with pytest.raises(ValueError, match="every must be at least 1"):
        fine_tune(np.zeros(4), train, val, model=LOGISTIC, lr=0.1, max_steps=1, every=0)
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        fine_tune(np.zeros(4), train, val, model=LOGISTIC, lr=0.1, max_steps=1, l2=-1.0)
    with pytest.raises(ValueError, match="lr must be a real number"):
        fine_tune(np.zeros(4), train, val, model=LOGISTIC, lr=True, max_steps=1)
    with pytest.raises(ValueError, match="client 'Bern': labels must be 0 or 1"):
        fine_tune(np.zeros(4), (train[0], train[1] + 1), val, model=LOGISTIC, lr=0.1,
                  max_steps=1, client="Bern")
    with pytest.raises(ValueError, match=r"client 'Bern': y must be 1-D \(n_samples,\)"):
        fine_tune(np.zeros(4), (train[0], train[1][:, None]), val, model=LOGISTIC, lr=0.1,
                  max_steps=1, client="Bern")
    with pytest.raises(ValueError, match="client 'Bern': X has 10 rows but y has 9"):
        fine_tune(np.zeros(4), (train[0], train[1][:-1]), val, model=LOGISTIC, lr=0.1,
                  max_steps=1, client="Bern")
    with pytest.raises(ValueError, match="client 'Bern': val must be an"):
        fine_tune(np.zeros(4), train, val[0], model=LOGISTIC, lr=0.1, max_steps=1, client="Bern")
    with pytest.raises(TypeError, match="model must be a fedmed_lib.models.Model"):
        fine_tune(np.zeros(4), train, val, model="logistic", lr=0.1, max_steps=1)


def test_fine_tune_does_not_modify_its_inputs() -> None:
    train, val = _site(1, 10), _site(2, 10)
    copies = [a.copy() for a in (*train, *val)]
    theta = np.full(4, 0.1)
    fine_tune(theta, train, val, model=LOGISTIC, lr=0.5, max_steps=3)
    np.testing.assert_array_equal(theta, np.full(4, 0.1))
    for a, b in zip((*train, *val), copies, strict=True):
        np.testing.assert_array_equal(a, b)
