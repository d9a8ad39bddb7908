"""The client contract: results say who sent them, aggregate_fit returns (parameters, metrics).

Sampled clients [2, 5, 7] with client 7 sending NaN must give an error that says
"client 7" (not "client 2", its position in the sampled list) for every aggregation
rule and wrapper; the metrics that the rules report (dropped, clipped, selected
clients) must reach ``History.fit_metrics`` with the clients' real ids.
"""

from __future__ import annotations

from fractions import Fraction
from functools import partial

import numpy as np
import pytest

from fedmed_lib import robust
from fedmed_lib._validate import InputTypeError
from fedmed_lib.aggregate import (
    AggregatedParams,
    FitResult,
    rule_metrics,
    unweighted_average,
    validate_results,
    weighted_average,
)
from fedmed_lib.algorithms import FedAvg
from fedmed_lib.privacy.dp import DifferentialPrivacyServerSideFixedClipping
from fedmed_lib.scaffold import Scaffold
from fedmed_lib.simulation import History, run_simulation

NUM_CLIENTS = 10
SAMPLED = [2, 5, 7]


class Pick257(FedAvg):
    """FedAvg with fraction_fit = 0.3 of 10 clients that samples clients 2, 5 and 7."""

    def configure_fit(self, server_round, num_clients, rng):
        super().configure_fit(server_round, num_clients, rng)  # the real sampler runs too
        return list(SAMPLED)


class Scaffold257(Scaffold):
    def configure_fit(self, server_round, num_clients, rng):
        super().configure_fit(server_round, num_clients, rng)
        return list(SAMPLED)


RULES = {
    "weighted_average": weighted_average,
    "unweighted_average": unweighted_average,
    "coordinate_median": robust.coordinate_median,
    "trimmed_mean": partial(robust.trimmed_mean, beta=0.2),
    "krum": partial(robust.krum, num_malicious=0),
    "norm_clipped_mean": partial(robust.norm_clipped_mean, clipping_norm=1.0),
}


def _strategies():
    out = {name: Pick257(fraction_fit=0.3, aggregate_fn=rule) for name, rule in RULES.items()}
    out["dp_wrapper"] = DifferentialPrivacyServerSideFixedClipping(
        Pick257(fraction_fit=0.3), noise_multiplier=0.5, clipping_norm=1.0,
        num_sampled_clients=3, seed=0)
    out["scaffold"] = Scaffold257(fraction_fit=0.3)
    return out


def _client_fn(bad_client, bad_update=None, *, arrays=1):
    def fit(cid, params, server_round, rng):
        if cid == bad_client:
            update = bad_update if bad_update is not None else [np.full(3, np.nan)] * arrays
            return update, 4
        return [np.full(3, 0.01 * cid)] * arrays, 4 + cid

    return fit


@pytest.mark.parametrize("name", [*RULES, "dp_wrapper", "scaffold"])
def test_client_7_sends_nan_and_the_message_names_client_7(name):
    strategy = _strategies()[name]
    arrays = 2 if name == "scaffold" else 1
    initial = [np.zeros(3)] * arrays
    before = [a.copy() for a in initial]
    with pytest.raises(ValueError) as info:
        run_simulation(client_fn=_client_fn(7, arrays=arrays), num_clients=NUM_CLIENTS,
                       initial_parameters=initial, strategy=strategy, num_rounds=1)
    message = str(info.value)
    assert "client 7: array 0 contains NaN" in message, message
    assert "client 2" not in message  # its position in the sampled list is 2
    for a, b in zip(initial, before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", [*RULES, "dp_wrapper", "scaffold"])
def test_aggregate_fit_with_fit_results_names_cid_and_keeps_the_model(name):
    strategy = _strategies()[name]
    arrays = 2 if name == "scaffold" else 1
    current = [np.arange(3.0)] * arrays if arrays == 1 else [np.arange(3.0), np.zeros(3)]
    ids = (id(current), [id(a) for a in current])
    values = [a.copy() for a in current]
    results = [FitResult(cid, [np.ones(3)] * arrays, 3) for cid in (2, 5)]
    results.append(FitResult(7, [np.array([1.0, np.inf, 0.0])] * arrays, 3))
    with pytest.raises(ValueError, match="client 7: array 0 contains Inf"):
        strategy.aggregate_fit(1, results, current)
    assert (id(current), [id(a) for a in current]) == ids
    for a, b in zip(current, values, strict=True):
        np.testing.assert_array_equal(a, b)
    # the same results as plain pairs are named by their position
    pairs = [(r.params, r.num_examples) for r in results]
    with pytest.raises(ValueError, match="client 2: array 0 contains Inf"):
        strategy.aggregate_fit(1, pairs, current)


@pytest.mark.parametrize("name", [*RULES, "dp_wrapper", "scaffold"])
def test_every_strategy_returns_parameters_and_metrics(name):
    strategy = _strategies()[name]
    arrays = 2 if name == "scaffold" else 1
    history = run_simulation(client_fn=_client_fn(None, arrays=arrays), num_clients=NUM_CLIENTS,
                             initial_parameters=[np.zeros(3)] * arrays, strategy=strategy,
                             num_rounds=2)
    assert len(history.fit_metrics) == 2
    for metrics in history.fit_metrics:
        assert metrics["num_updates"] == 3
    assert history.clients_per_round == [SAMPLED, SAMPLED]


def test_drop_malformed_records_the_dropped_clients_by_id_per_round():
    strategy = FedAvg(fraction_fit=0.5, aggregate_fn=robust.drop_malformed(weighted_average))
    history = run_simulation(client_fn=_client_fn(7), num_clients=NUM_CLIENTS,
                             initial_parameters=[np.zeros(3)], strategy=strategy,
                             num_rounds=6, seed=3)
    assert len(history.fit_metrics) == 6
    rounds_with_7 = 0
    for chosen, metrics in zip(history.clients_per_round, history.fit_metrics, strict=True):
        assert metrics["num_updates"] == 5
        if 7 in chosen:
            rounds_with_7 += 1
            assert metrics["dropped_clients"] == [7] and metrics["num_dropped"] == 1
            assert "client 7: array 0 contains NaN" in metrics["dropped_reasons"][7]
        else:
            assert metrics["dropped_clients"] == [] and metrics["num_dropped"] == 0
    assert 0 < rounds_with_7 < 6  # the test saw both cases
    assert np.all(np.isfinite(history.params[0]))


def test_drop_malformed_all_rejected_names_every_client():
    strategy = Pick257(fraction_fit=0.3, aggregate_fn=robust.drop_malformed(weighted_average))
    results = [FitResult(cid, [np.full(3, np.nan)], 1) for cid in SAMPLED]
    with pytest.raises(ValueError, match="every update was rejected") as info:
        strategy.aggregate_fit(1, results, [np.zeros(3)])
    assert all(f"client {c}: array 0 contains NaN" in str(info.value) for c in SAMPLED)


def _exact_krum(updates, f):
    """Krum's choice computed with exact rational arithmetic and explicit differences."""
    m = len(updates)
    rows = [[Fraction(float(x)) for x in u] for u in updates]
    scores = []
    for i in range(m):
        d = sorted(sum((a - b) ** 2 for a, b in zip(rows[i], rows[j], strict=True))
                   for j in range(m) if j != i)
        scores.append(sum(d[: m - f - 2]))
    return min(range(m), key=lambda i: (scores[i], i))


def test_krum_selected_clients_are_real_cids():
    rng = np.random.default_rng(0)
    updates = {cid: rng.normal(size=4) for cid in range(NUM_CLIENTS)}
    updates[3] = updates[3] + 100.0  # an attacker

    def fit(cid, params, server_round, rng_):
        return [updates[cid].copy()], 10

    strategy = FedAvg(fraction_fit=0.6, aggregate_fn=partial(robust.krum, num_malicious=1))
    history = run_simulation(client_fn=fit, num_clients=NUM_CLIENTS,
                             initial_parameters=[np.zeros(4)], strategy=strategy,
                             num_rounds=5, seed=1, keep_params=True)
    for r, (chosen, metrics) in enumerate(zip(history.clients_per_round, history.fit_metrics,
                                              strict=True)):
        assert chosen != list(range(len(chosen)))  # ids differ from positions
        (selected,) = metrics["krum_selected"]
        expected = chosen[_exact_krum([updates[c] for c in chosen], 1)]
        assert selected == expected and selected != 3
        step = history.params_per_round[r + 1][0] - history.params_per_round[r][0]
        np.testing.assert_allclose(step, updates[selected], rtol=1e-12, atol=1e-12)


def test_multi_krum_under_drop_malformed_reports_both():
    rule = robust.drop_malformed(partial(robust.krum, num_malicious=1, num_selected=2))
    results = [FitResult(cid, [np.array([float(v)])], 1)
               for cid, v in ((4, 0.0), (6, 1.0), (8, 2.0), (9, 50.0), (11, 3.0))]
    results.append(FitResult(13, [np.array([np.nan])], 1))
    out = rule(results, reference=[np.zeros(1)])
    metrics = rule_metrics(out)
    assert metrics["dropped_clients"] == [13]
    assert metrics["krum_selected"] == [6, 8]  # scores 2, 2 (tie -> first), then 5, 5, ...
    np.testing.assert_allclose(out[0], [1.5])


def test_dp_wrapper_and_norm_clipping_report_clipped_clients_by_id():
    small, big = [np.full(3, 0.01)], [np.full(3, 10.0)]
    results = [FitResult(2, small, 1), FitResult(5, big, 1), FitResult(7, big, 1)]
    dp = DifferentialPrivacyServerSideFixedClipping(
        Pick257(), noise_multiplier=0.0, clipping_norm=1.0, num_sampled_clients=3)
    _, metrics = dp.aggregate_fit(1, results, [np.zeros(3)])
    assert metrics["clipped_clients"] == [5, 7] and metrics["num_clipped"] == 2
    assert metrics["num_updates"] == 3 and metrics["noise_std"] == 0.0
    out = robust.norm_clipped_mean(results, clipping_norm=1.0)
    assert rule_metrics(out) == {"num_clipped": 2, "clipped_clients": [5, 7]}
    # in a simulation with fraction_fit < 1, the ids are the sampled clients'
    history = run_simulation(
        client_fn=lambda cid, p, r, g: ((big if cid % 2 else small), 1),
        num_clients=NUM_CLIENTS, initial_parameters=[np.zeros(3)],
        strategy=DifferentialPrivacyServerSideFixedClipping(
            FedAvg(fraction_fit=0.4), noise_multiplier=0.1, clipping_norm=1.0,
            num_sampled_clients=4, seed=0),
        num_rounds=3, seed=2)
    for chosen, m in zip(history.clients_per_round, history.fit_metrics, strict=True):
        assert m["clipped_clients"] == [c for c in chosen if c % 2]


def test_fit_result_unpacks_like_a_pair_and_checks_its_id():
    r = FitResult(7, [np.ones(2)], 3)
    params, n = r
    assert n == 3 and params is r.params
    # code written for pairs (Flower's aggregate, the chapters' scratch code) accepts it
    total = sum(num for _, num in [r, FitResult(9, [np.ones(2)], 5)])
    assert total == 8
    assert FitResult("hospital-A", [np.ones(1)], 1).cid == "hospital-A"
    for bad in (1.5, True, None, [7]):
        with pytest.raises(InputTypeError, match="FitResult.cid"):
            FitResult(bad, [np.ones(1)], 1)


def test_validate_results_keeps_ids_and_refuses_duplicates():
    checked = validate_results([FitResult(7, [np.array([1])], 2), ([np.array([2.0])], 1)])
    assert [c.cid for c in checked] == [7, 1]  # a pair is named by its position
    assert checked[0].params[0].dtype == np.float64
    with pytest.raises(ValueError, match="client 7 sent two results"):
        validate_results([FitResult(7, [np.ones(1)], 1), FitResult(7, [np.ones(1)], 1)])
    with pytest.raises(ValueError, match="client 'H3': num_examples must be positive"):
        weighted_average([FitResult("H3", [np.ones(1)], 0)])


def test_aggregated_params_is_a_list_of_arrays_with_metrics():
    out = AggregatedParams([np.ones(2)], {"krum_selected": [4]})
    assert isinstance(out, list) and out.metrics == {"krum_selected": [4]}
    assert rule_metrics(out) == {"krum_selected": [4]}
    assert rule_metrics([np.ones(2)]) == {}
    np.testing.assert_array_equal(out[0], [1.0, 1.0])


def test_a_strategy_that_breaks_the_contract_is_named():
    class OnlyParams(FedAvg):
        def aggregate_fit(self, server_round, results, current):
            return super().aggregate_fit(server_round, results, current)[0]

    with pytest.raises(InputTypeError, match=r"must return \(parameters, metrics\)"):
        run_simulation(client_fn=_client_fn(None), num_clients=3,
                       initial_parameters=[np.zeros(3)], strategy=OnlyParams(), num_rounds=1)

    class Reshapes(FedAvg):
        def aggregate_fit(self, server_round, results, current):
            return [np.zeros(4)], {}

    with pytest.raises(ValueError, match="aggregate_fit returned parameters of shapes"):
        run_simulation(client_fn=_client_fn(None), num_clients=3,
                       initial_parameters=[np.zeros(3)], strategy=Reshapes(), num_rounds=1)


def test_fedavg_docstring_says_it_averages_changes_not_models():
    for doc in (FedAvg.__doc__, FedAvg.aggregate_fit.__doc__, Scaffold.__doc__,
                DifferentialPrivacyServerSideFixedClipping.aggregate_fit.__doc__):
        assert "change" in doc and "Flower" in doc


def test_history_fit_metrics_default_and_one_per_round():
    assert History().fit_metrics == []
    h = run_simulation(client_fn=_client_fn(None), num_clients=4, initial_parameters=[np.zeros(3)],
                       strategy=FedAvg(fraction_fit=0.5), num_rounds=3)
    assert h.fit_metrics == [{"num_updates": 2}] * 3
    assert h.fit_metrics[0] is not h.fit_metrics[1]
