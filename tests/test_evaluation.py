"""Tests of fedmed_lib.evaluation: hand-computed cases and scikit-learn on data the chapter does not use.

The chapter uses the UCI heart-disease hospitals; these tests use scikit-learn's breast
cancer data (Wisconsin diagnostic) split at random into fake sites, and random scores
with many ties.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, recall_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fedmed_lib._validate import InputTypeError
from fedmed_lib._validate_data import check_scores
from fedmed_lib.evaluation import (
    ConfusionCounts,
    auroc_bounds,
    calibration_counts,
    confusion_counts,
    counts_metrics,
    expected_calibration_error,
    histogram_auroc,
    reliability,
    score_histogram,
    site_histogram,
    suppress_small_cells,
    uniform_thresholds,
)


@pytest.fixture(scope="module")
def breast_sites() -> list[tuple[np.ndarray, np.ndarray]]:
    """Held-out scores of a scikit-learn model on breast cancer data, split into 3 fake sites."""
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(y))
    train, held = order[:300], order[300:]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000))
    model.fit(X[train], y[train])
    p = model.predict_proba(X[held])[:, 1]
    labels = rng.integers(0, 3, size=len(held))
    return [(y[held][labels == k].astype(float), p[labels == k]) for k in range(3)]


# ------------------------------------------------------------------ hand-computed cases

def test_confusion_counts_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 1])
    s = np.array([0.9, 0.4, 0.6, 0.1, 0.5])
    assert confusion_counts(y, s) == ConfusionCounts(tp=2, fp=1, tn=1, fn=1)
    assert confusion_counts(y, s, threshold=0.55) == ConfusionCounts(tp=1, fp=1, tn=1, fn=2)


def test_summed_counts_differ_from_mean_of_rates() -> None:
    a = ConfusionCounts(tp=1, fp=1, tn=1, fn=0)      # specificity 1/2 on two negatives
    b = ConfusionCounts(tp=5, fp=0, tn=98, fn=5)     # specificity 1
    m = counts_metrics([a, b])
    assert m["specificity"] == 99 / 100
    assert m["sensitivity"] == 6 / 11
    assert m["accuracy"] == 105 / 111 and m["n"] == 111
    assert abs(m["specificity"] - 0.75) > 0.2         # the mean of the two rates is 0.75


def test_counts_metrics_nan_without_positives() -> None:
    m = counts_metrics([ConfusionCounts(tp=0, fp=1, tn=3, fn=0)])
    assert np.isnan(m["sensitivity"]) and m["specificity"] == 0.75


def test_histogram_auroc_by_hand() -> None:
    # negatives at 0.1, 0.5; positives at 0.5, 0.9: pairs (0.5>0.1)=1, (0.5=0.5)=1/2,
    # (0.9>0.1)=1, (0.9>0.5)=1 -> 3.5 / 4
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.5, 0.5, 0.9])
    h = score_histogram(y, s, np.unique(s))
    np.testing.assert_array_equal(h, [[0, 1, 1, 0], [0, 0, 1, 1]])
    assert histogram_auroc([h]) == 3.5 / 4
    lo, hi = auroc_bounds([score_histogram(y, s, np.array([0.3]))])   # two bins
    assert (lo, hi) == (2 / 4, 4 / 4)


def test_uniform_thresholds() -> None:
    np.testing.assert_allclose(uniform_thresholds(4), [0.25, 0.5, 0.75])
    assert uniform_thresholds(1).size == 0


def test_calibration_by_hand() -> None:
    y = np.array([0, 1, 1, 0])
    s = np.array([0.05, 0.1, 0.55, 0.95])             # 0.1 is an inner edge: lower bin
    c = calibration_counts(y, s, num_bins=10)
    assert c[0, 0] == 2 and c[1, 0] == pytest.approx(0.15) and c[2, 0] == 1
    ece = expected_calibration_error([c])
    assert ece == pytest.approx((abs(1 - 0.15) + abs(1 - 0.55) + abs(0 - 0.95)) / 4, abs=1e-15)


def test_suppress_small_cells_by_hand() -> None:
    out = suppress_small_cells(np.array([[0, 1, 4], [5, 12, 3]]), 5)
    assert out.tolist() == [["0", "<5", "<5"], ["5", "12", "<5"]]
    assert suppress_small_cells(np.array([2, 3]), 3).tolist() == ["<3", "3"]


def test_site_histogram_matches_numpy_and_skips_missing() -> None:
    x = np.array([25.0, 39.9, 40.0, 80.0, np.nan, 55.5])
    edges = np.array([25.0, 40.0, 60.0, 80.0])
    np.testing.assert_array_equal(site_histogram(x, edges), [2, 2, 1])
    np.testing.assert_array_equal(site_histogram(x, edges), np.histogram(x[~np.isnan(x)], edges)[0])


# ------------------------------------------------- scikit-learn on data the chapter does not use

def test_exact_auroc_equals_sklearn_on_breast_cancer(breast_sites) -> None:
    y = np.concatenate([a for a, _ in breast_sites])
    s = np.concatenate([b for _, b in breast_sites])
    thr = np.unique(s)
    h = [score_histogram(a, b, thr, client=k) for k, (a, b) in enumerate(breast_sites)]
    assert abs(histogram_auroc(h) - roc_auc_score(y, s)) < 1e-12
    # ... and it is not the mean of the sites' AUROCs
    mean_site = np.mean([roc_auc_score(a, b) for a, b in breast_sites])
    assert mean_site != histogram_auroc(h)


def test_binned_auroc_inside_its_bounds(breast_sites) -> None:
    y = np.concatenate([a for a, _ in breast_sites])
    s = np.concatenate([b for _, b in breast_sites])
    truth = roc_auc_score(y, s)
    widths = []
    for m in (2, 5, 10, 50, 200, 1000):
        h = [score_histogram(a, b, uniform_thresholds(m), client=k)
             for k, (a, b) in enumerate(breast_sites)]
        lo, hi = auroc_bounds(h)
        assert lo - 1e-15 <= truth <= hi + 1e-15
        assert abs(histogram_auroc(h) - truth) <= (hi - lo) / 2 + 1e-15
        widths.append(hi - lo)
    assert widths[-1] < widths[0]


def test_counts_metrics_equal_sklearn(breast_sites) -> None:
    y = np.concatenate([a for a, _ in breast_sites])
    s = np.concatenate([b for _, b in breast_sites])
    for t in (0.3, 0.5, 0.8):
        m = counts_metrics([confusion_counts(a, b, threshold=t, client=k)
                            for k, (a, b) in enumerate(breast_sites)])
        pred = (s >= t).astype(int)
        assert m["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-15)
        assert m["sensitivity"] == pytest.approx(recall_score(y, pred), abs=1e-15)
        assert m["specificity"] == pytest.approx(recall_score(y, pred, pos_label=0), abs=1e-15)


@pytest.mark.parametrize("num_bins", [3, 10, 17])
def test_reliability_equals_sklearn_calibration_curve(breast_sites, num_bins: int) -> None:
    y = np.concatenate([a for a, _ in breast_sites])
    s = np.concatenate([b for _, b in breast_sites])
    c = [calibration_counts(a, b, num_bins=num_bins, client=k) for k, (a, b) in enumerate(breast_sites)]
    pred, true, n = reliability(c)
    prob_true, prob_pred = calibration_curve(y, s, n_bins=num_bins)
    np.testing.assert_allclose(true, prob_true, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pred, prob_pred, rtol=0, atol=1e-12)
    assert n.sum() == len(y)
    ece = np.sum(n / n.sum() * np.abs(prob_true - prob_pred))     # ECE from scikit-learn's bins
    assert abs(expected_calibration_error(c) - ece) < 1e-12
    # the federation's ECE never exceeds the patient-weighted mean of the sites' ECEs
    site = [expected_calibration_error([ck]) for ck in c]
    sizes = np.array([len(a) for a, _ in breast_sites])
    assert expected_calibration_error(c) <= sizes @ site / sizes.sum() + 1e-15


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 60), grid=st.sampled_from([2, 5, 11]), num_clients=st.integers(1, 4),
       seed=st.integers(0, 10_000))
def test_exact_auroc_with_ties_equals_sklearn(n: int, grid: int, num_clients: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    y[0], y[1] = 0, 1                                    # both classes present
    s = rng.integers(0, grid, size=n) / (grid - 1)       # heavy ties
    labels = rng.integers(0, num_clients, size=n)
    thr = np.unique(s)
    h = [score_histogram(y[labels == k], s[labels == k], thr, client=k)
         for k in range(num_clients) if np.any(labels == k)]
    assert abs(histogram_auroc(h) - roc_auc_score(y, s)) < 1e-12


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([0, 1], [0.2, np.nan], "client 'Basel': scores contains NaN"),
        ([0, 2], [0.2, 0.3], "client 'Basel': labels must be 0 or 1"),
        ([0, 1, 1], [0.2, 0.3], "client 'Basel': y has 3 entries but scores has 2"),
        ([], [], "client 'Basel': no patients"),
        ([0, 1], [0.2, np.inf], "client 'Basel': scores contains Inf"),
        ([[0, 1]], [[0.2, 0.3]], "client 'Basel': y must be 1-D"),
    ],
)
def test_bad_scores_name_the_client(y, s, message: str) -> None:
    for fn in (lambda: confusion_counts(np.array(y), np.array(s), client="Basel"),
               lambda: score_histogram(np.array(y), np.array(s), np.array([0.5]), client="Basel"),
               lambda: calibration_counts(np.array(y), np.array(s), client="Basel")):
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            fn()


def test_bad_types_and_parameters() -> None:
    with pytest.raises(InputTypeError, match="client 3: scores"):
        check_scores([0, 1], "high", client=3)
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        calibration_counts(np.array([0, 1]), np.array([0.5, 1.5]), client=0)
    with pytest.raises(ValueError, match="num_bins must be at least 1"):
        calibration_counts(np.array([0, 1]), np.array([0.5, 0.5]), num_bins=0)
    with pytest.raises(ValueError, match="threshold must be finite"):
        confusion_counts(np.array([0, 1]), np.array([0.5, 0.5]), threshold=np.nan)
    with pytest.raises(ValueError, match="strictly increasing"):
        score_histogram(np.array([0, 1]), np.array([0.5, 0.5]), np.array([0.6, 0.4]))
    with pytest.raises(ValueError, match="kappa must be at least 1"):
        suppress_small_cells(np.array([1, 2]), 0)
    with pytest.raises(ValueError, match="non-negative integers"):
        suppress_small_cells(np.array([1.5, 2]), 5)


def test_bad_histograms_name_the_client() -> None:
    good = np.array([[1, 2], [0, 3]])
    with pytest.raises(ValueError, match="client 1: histogram has 3 bins, client 0 has 2"):
        histogram_auroc([good, np.array([[1, 2, 0], [0, 3, 1]])])
    with pytest.raises(ValueError, match="client 0: histogram contains NaN"):
        histogram_auroc([np.array([[1.0, np.nan], [0, 3]])])
    with pytest.raises(ValueError, match="client 1: histogram must be 2 rows"):
        histogram_auroc([good, np.array([[1, -2], [0, 3]])])
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        histogram_auroc([np.array([[1, 2], [0, 0]])])
    with pytest.raises(ValueError, match="no clients"):
        histogram_auroc([])
    with pytest.raises(InputTypeError, match="client 1: expected ConfusionCounts"):
        counts_metrics([ConfusionCounts(1, 0, 0, 0), (1, 0, 0, 0)])
    with pytest.raises(ValueError, match="no clients"):
        counts_metrics([])
    with pytest.raises(ValueError, match="client 1: calibration counts has 3 bins, client 0 has 2"):
        expected_calibration_error([np.zeros((3, 2)) + 1, np.ones((3, 3))])
    with pytest.raises(ValueError, match="client 2: 1 values outside"):
        site_histogram(np.array([10.0, 50.0]), np.array([20.0, 60.0]), client=2)


def test_inputs_are_not_modified(breast_sites) -> None:
    y, s = breast_sites[0]
    y0, s0 = y.copy(), s.copy()
    score_histogram(y, s, uniform_thresholds(10))
    calibration_counts(y, s)
    confusion_counts(y, s)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(s, s0)


def test_check_scores_lives_in_validate() -> None:
    # the validation helper of this module is one of the library's shared checks
    import fedmed_lib.evaluation as evaluation

    assert "check_scores" not in evaluation.__all__
    y, s = check_scores(np.array([True, False]), [0.25, 1.0], client="Bern", probabilities=True)
    assert y.dtype == s.dtype == np.float64
    np.testing.assert_array_equal(y, [1.0, 0.0])
    with pytest.raises(ValueError, match="client 'Bern': no patients"):
        check_scores([], [], client="Bern")
    with pytest.raises(ValueError, match="client 'Bern': y has 2 entries but scores has 3"):
        check_scores([0, 1], [0.1, 0.2, 0.3], client="Bern")
