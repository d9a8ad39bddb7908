"""Tests of fedmed_lib.survival: hand-computed cases, lifelines on data the chapter does not use.

The chapter uses the NCCTG lung data; these tests use lifelines' recidivism data
(Rossi et al., 1980: ``load_rossi``) and the Waltons fruit-fly data (``load_waltons``),
split over clients at random.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_rossi, load_waltons
from lifelines.statistics import logrank_test
from lifelines.utils import concordance_index

from fedmed_lib.survival import (
    ConcordanceCounts,
    check_survival_data,
    concordance_counts,
    cox_summaries,
    efron_derivatives,
    event_times,
    federated_concordance,
    federated_kaplan_meier,
    federated_logrank,
    km_counts,
    local_cox_derivatives,
    stratified_newton_step,
    webdisco_newton_step,
)

ROSSI_COVARIATES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
TIGHT = {"precision": 1e-12, "r_precision": 0.0}


def split(n: int, num_clients: int, seed: int) -> list[np.ndarray]:
    labels = np.random.default_rng(seed).integers(0, num_clients, size=n)
    return [np.flatnonzero(labels == k) for k in range(num_clients)]


# ---------------------------------------------------------------- hand-computed cases

def test_km_counts_and_curve_by_hand() -> None:
    time = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    event = np.array([1, 1, 0, 1, 0])
    grid = event_times(time, event)
    np.testing.assert_array_equal(grid, [1.0, 2.0, 3.0])
    # two clients: patients {0, 2, 4} and {1, 3}
    a0, e0 = km_counts(time[[0, 2, 4]], event[[0, 2, 4]], times=grid, client=0)
    a1, e1 = km_counts(time[[1, 3]], event[[1, 3]], times=grid, client=1)
    np.testing.assert_array_equal(a0 + a1, [5, 4, 2])  # the patient censored at 2 is at risk at 2
    np.testing.assert_array_equal(e0 + e1, [1, 1, 1])
    surv = federated_kaplan_meier([a0, a1], [e0, e1])
    np.testing.assert_allclose(surv, [4 / 5, 4 / 5 * 3 / 4, 4 / 5 * 3 / 4 * 1 / 2], rtol=1e-15)


def test_cox_two_patients_by_hand() -> None:
    # deaths at t=1 (x=0) and t=2 (x=1): loglik = -log(1 + e^theta)
    time, event, X = np.array([1.0, 2.0]), np.array([1, 1]), np.array([[0.0], [1.0]])
    for theta in (0.0, 0.7):
        ll, g, h = local_cox_derivatives(time, event, X, theta=np.array([theta]))
        p = np.exp(theta) / (1 + np.exp(theta))
        assert ll == pytest.approx(-np.log1p(np.exp(theta)), rel=1e-14)
        assert g[0] == pytest.approx(-p, rel=1e-14)
        assert h[0, 0] == pytest.approx(-p * (1 - p), rel=1e-14)


def test_efron_ties_by_hand() -> None:
    # two tied deaths (x=0, x=1) at theta=0: Efron gives -log 2 - log 1, Breslow would give -2 log 2
    time, event, X = np.array([1.0, 1.0]), np.array([1, 1]), np.array([[0.0], [1.0]])
    ll, g, _ = local_cox_derivatives(time, event, X, theta=np.zeros(1))
    assert ll == pytest.approx(-np.log(2.0), rel=1e-15)
    assert g[0] == pytest.approx(0.0, abs=1e-15)


def test_concordance_by_hand() -> None:
    time = np.array([1.0, 2.0, 3.0, 3.0])
    event = np.array([1, 1, 0, 1])
    risk = np.array([3.0, 1.0, 2.0, 2.0])
    c = concordance_counts(time, event, risk)
    # comparable (earlier death first): (0,1) (0,2) (0,3) (1,2) (1,3) and (3,2): the patient
    # censored at t=3 counts as outliving the death at t=3. Concordant: the three of patient 0;
    # (1,2) and (1,3) discordant; (3,2) tied risk.
    assert (c.concordant, c.tied, c.comparable) == (3, 1, 6)
    assert c.c_index == pytest.approx(concordance_index(time, -risk, event), rel=1e-15)
    tied = concordance_counts(time, event, np.array([3.0, 2.0, 2.0, 1.0]))
    assert (tied.concordant, tied.tied, tied.comparable) == (4, 1, 6)
    assert tied.c_index == pytest.approx(4.5 / 6)


# ---------------------------------------------------------------- against lifelines

def test_federated_kaplan_meier_equals_lifelines_on_waltons() -> None:
    df = load_waltons()
    parts = split(len(df), 4, seed=1)
    t, e = df["T"].to_numpy(), df["E"].to_numpy()
    grid = np.unique(np.concatenate([event_times(t[i], e[i], client=k) for k, i in enumerate(parts)]))
    counts = [km_counts(t[i], e[i], times=grid, client=k) for k, i in enumerate(parts)]
    surv = federated_kaplan_meier([a for a, _ in counts], [d for _, d in counts])
    ref = KaplanMeierFitter().fit(t, e).survival_function_at_times(grid).to_numpy()
    np.testing.assert_allclose(surv, ref, rtol=0, atol=1e-12)


def test_federated_logrank_equals_lifelines_on_waltons() -> None:
    df = load_waltons()
    parts = split(len(df), 3, seed=2)
    t, e = df["T"].to_numpy(), df["E"].to_numpy()
    g = (df["group"] == "miR-137").to_numpy()
    grid = np.unique(t[e == 1])
    at_risk, events = [], []
    for k, i in enumerate(parts):
        a0, e0 = km_counts(t[i][~g[i]], e[i][~g[i]], times=grid, client=k)
        a1, e1 = km_counts(t[i][g[i]], e[i][g[i]], times=grid, client=k)
        at_risk.append(np.column_stack([a0, a1]))
        events.append(np.column_stack([e0, e1]))
    res = federated_logrank(at_risk, events)
    ref = logrank_test(t[~g], t[g], e[~g], e[g])
    assert res.statistic == pytest.approx(ref.test_statistic, rel=1e-12)
    assert res.p_value == pytest.approx(ref.p_value, rel=1e-9)


def rossi_clients(num_clients: int = 3) -> tuple[list[tuple[np.ndarray, ...]], object]:
    df = load_rossi()
    df["client"] = np.random.default_rng(3).integers(0, num_clients, size=len(df))
    clients = [
        (g["week"].to_numpy(float), g["arrest"].to_numpy(float), g[ROSSI_COVARIATES].to_numpy(float))
        for _, g in df.groupby("client")
    ]
    return clients, df


def test_stratified_newton_equals_lifelines_strata_on_rossi() -> None:
    clients, df = rossi_clients()
    theta = np.zeros(len(ROSSI_COVARIATES))
    for _ in range(8):
        derivs = [local_cox_derivatives(t, e, X, theta=theta, client=k)
                  for k, (t, e, X) in enumerate(clients)]
        theta, loglik = stratified_newton_step(theta, derivs)
    ref = CoxPHFitter().fit(df[["week", "arrest", "client", *ROSSI_COVARIATES]], "week", "arrest",
                            strata=["client"], fit_options=TIGHT)
    np.testing.assert_allclose(theta, ref.params_[ROSSI_COVARIATES].to_numpy(), rtol=0, atol=1e-8)
    assert loglik == pytest.approx(ref.log_likelihood_, rel=1e-10)


def test_webdisco_newton_equals_lifelines_unstratified_on_rossi() -> None:
    clients, df = rossi_clients()
    grid = np.unique(np.concatenate([event_times(t, e, client=k) for k, (t, e, _) in enumerate(clients)]))
    theta = np.zeros(len(ROSSI_COVARIATES))
    for _ in range(8):
        summ = [cox_summaries(t, e, X, theta=theta, times=grid, client=k)
                for k, (t, e, X) in enumerate(clients)]
        theta, loglik = webdisco_newton_step(theta, summ)
    ref = CoxPHFitter().fit(df[["week", "arrest", *ROSSI_COVARIATES]], "week", "arrest",
                            fit_options=TIGHT)
    np.testing.assert_allclose(theta, ref.params_[ROSSI_COVARIATES].to_numpy(), rtol=0, atol=1e-8)
    assert loglik == pytest.approx(ref.log_likelihood_, rel=1e-10)


def test_stratified_and_unstratified_differ() -> None:
    """The test above can fail: the two models are different on rossi's random clients."""
    clients, _ = rossi_clients()
    theta = np.full(len(ROSSI_COVARIATES), 0.05)
    grid = np.unique(np.concatenate([event_times(t, e) for t, e, _ in clients]))
    pooled = efron_derivatives(
        sum((cox_summaries(t, e, X, theta=theta, times=grid) for t, e, X in clients[1:]),
            cox_summaries(*clients[0], theta=theta, times=grid)), theta)
    strat = [local_cox_derivatives(t, e, X, theta=theta) for t, e, X in clients]
    assert abs(pooled[0] - sum(s[0] for s in strat)) > 1.0


def test_concordance_counts_equal_lifelines_on_rossi() -> None:
    clients, _ = rossi_clients()
    theta = np.linspace(-0.3, 0.3, len(ROSSI_COVARIATES))
    counts = []
    for k, (t, e, X) in enumerate(clients):
        risk = X @ theta
        c = concordance_counts(t, e, risk, client=k)
        assert c.c_index == pytest.approx(concordance_index(t, -risk, e), rel=1e-12)
        counts.append(c)
    total = ConcordanceCounts(sum(c.concordant for c in counts), sum(c.tied for c in counts),
                              sum(c.comparable for c in counts))
    assert federated_concordance(counts) == pytest.approx(total.c_index, rel=1e-15)


# ---------------------------------------------------------------- hostile input

@pytest.mark.parametrize(
    ("time", "event", "message"),
    [
        ([1.0, np.nan], [1, 0], "client 'Mayo': time contains NaN"),
        ([1.0, np.inf], [1, 0], "client 'Mayo': time contains Inf"),
        ([1.0, -2.0], [1, 0], "client 'Mayo': negative times"),
        ([1.0, 2.0], [1, 2], "client 'Mayo': event must be 1"),
        ([1.0, 2.0], [1, -1], "client 'Mayo': event must be 1"),
        ([], [], "client 'Mayo': no patients"),
        ([1.0, 2.0], [1], "client 'Mayo': time has 2 entries but event has 1"),
    ],
)
def test_bad_survival_data_names_the_client(time: list, event: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_survival_data(np.array(time), np.array(event), client="Mayo")
    with pytest.raises(ValueError, match=message):
        km_counts(np.array(time), np.array(event), times=np.array([1.0]), client="Mayo")
    with pytest.raises(ValueError, match=message):
        local_cox_derivatives(np.array(time), np.array(event), np.ones((len(time), 1)),
                              theta=np.zeros(1), client="Mayo")


def test_bad_covariates_theta_and_lists() -> None:
    t, e = np.array([1.0, 2.0]), np.array([1, 0])
    with pytest.raises(ValueError, match="client 4: X has 3 rows"):
        cox_summaries(t, e, np.ones((3, 1)), theta=np.zeros(1), times=t, client=4)
    with pytest.raises(ValueError, match="theta has shape"):
        local_cox_derivatives(t, e, np.ones((2, 2)), theta=np.zeros(3), client=4)
    with pytest.raises(ValueError, match="client 1: at_risk has shape"):
        federated_kaplan_meier([np.ones(3), np.ones(2)], [np.zeros(3), np.zeros(2)])
    with pytest.raises(ValueError, match="client 0: events contains negative"):
        federated_kaplan_meier([np.ones(2)], [np.array([0.0, -1.0])])
    with pytest.raises(ValueError, match="non-empty list"):
        federated_kaplan_meier([], [])
    with pytest.raises(ValueError, match="client 1: grad"):
        stratified_newton_step(np.zeros(2), [(0.0, np.zeros(2), np.eye(2)), (0.0, np.zeros(3), np.eye(2))])
    with pytest.raises(ValueError, match="strictly increasing"):
        km_counts(t, e, times=np.array([2.0, 1.0]))
    with pytest.raises(ValueError, match="client 2: expected ConcordanceCounts"):
        federated_concordance([ConcordanceCounts(1, 0, 1)] * 2 + ["x"])  # type: ignore[list-item]


def test_boolean_events_are_accepted() -> None:
    t = np.array([1.0, 2.0, 3.0])
    a, e = km_counts(t, np.array([True, False, True]), times=np.array([1.0, 3.0]))
    np.testing.assert_array_equal(e, [1, 1])
    np.testing.assert_array_equal(a, [3, 1])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=7),
    st.sampled_from([np.nan, np.inf, -np.inf, -1.0, -1e-9]),
    st.sampled_from(["time", "event"]),
)
def test_generated_hostile_values_raise_naming_the_client(pos: int, bad: float, where: str) -> None:
    t = np.arange(1.0, 9.0)
    e = np.array([1, 0, 1, 1, 0, 1, 0, 1], dtype=float)
    (t if where == "time" else e)[pos] = bad
    with pytest.raises(ValueError, match="client 7"):
        cox_summaries(t, e, np.ones((8, 2)), theta=np.zeros(2), times=np.array([1.0]), client=7)
