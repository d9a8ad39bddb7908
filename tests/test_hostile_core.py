"""Hostile input, generated: every public entry point of the core modules, bad arguments.

Property-based tests (Hypothesis) drive aggregation, algorithms, simulation, robust
rules, SCAFFOLD, differential privacy, secure aggregation and the vectorised
simulator with NaN, Inf, complex, boolean, string and object arrays, wrong shapes,
``None``, strings and ``True`` where numbers belong, non-integer counts and bad
seeds. Each call must raise a ``ValueError`` or ``TypeError`` (nothing else), whose
message names the parameter or the client, and must leave the global model
unchanged: the same list, the same arrays, the same values.

The vectorised simulator's hostile-input property lives in ``tests/test_vectorized.py``,
which imports TensorFlow anyway, so that this file stays fast (a few seconds).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fedmed_lib import robust
from fedmed_lib._validate import check_params
from fedmed_lib.aggregate import (
    FitResult,
    add,
    flatten,
    global_norm,
    unflatten,
    unweighted_average,
    validate_results,
    weighted_average,
)
from fedmed_lib.algorithms import (
    FedAvg,
    check_clients,
    fedsgd_round,
    local_sgd,
    numpy_client_fn,
)
from fedmed_lib.models import LINEAR, LOGISTIC, SOFTMAX
from fedmed_lib.privacy import secagg
from fedmed_lib.privacy.dp import (
    DifferentialPrivacyServerSideFixedClipping,
    clip_update,
    compute_epsilon,
    gaussian_noise_std,
)
from fedmed_lib.scaffold import Scaffold, scaffold_client_fn, scaffold_local
from fedmed_lib.simulation import run_simulation

FAST = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

ERRORS = (ValueError, TypeError)


def raises_naming(fn, *needles):
    """Call ``fn``; it must raise ValueError/TypeError whose message holds one of ``needles``."""
    with pytest.raises(ERRORS) as info:
        fn()
    message = str(info.value)
    assert any(n in message for n in needles), f"{message!r} names none of {needles}"
    return message


def wellformed(params):
    """Whether ``params`` is a list of finite real arrays (of any shapes)."""
    try:
        check_params(params)
    except (ValueError, TypeError):
        return False
    return True


def snapshot(params):
    return id(params), [id(a) for a in params], [np.array(a, copy=True) for a in params]


def assert_unchanged(params, snap):
    ident, ids, values = snap
    assert id(params) == ident and [id(a) for a in params] == ids
    for a, v in zip(params, values, strict=True):
        np.testing.assert_array_equal(a, v)


# --- generated bad values ----------------------------------------------------------------

NOT_A_NUMBER = st.sampled_from(
    [None, "0.5", "1", b"1", True, False, 1 + 2j, np.complex128(1), [0.5], (1,), {}, object(),
     np.array([0.5]), np.bool_(True)]
)
NON_FINITE = st.sampled_from([float("nan"), float("inf"), -float("inf"), np.float64("nan")])
NON_INTEGER = st.floats(allow_nan=True, allow_infinity=True).filter(
    lambda x: not float(x).is_integer()
)
BAD_POSITIVE = st.one_of(NOT_A_NUMBER, NON_FINITE, st.floats(max_value=0.0, allow_nan=False))
BAD_NONNEGATIVE = st.one_of(NOT_A_NUMBER, NON_FINITE,
                            st.floats(max_value=-1e-300, allow_infinity=False, allow_nan=False))
BAD_FRACTION = st.one_of(NOT_A_NUMBER, NON_FINITE,
                         st.floats(max_value=0.0, allow_nan=False),
                         st.floats(min_value=1.0, exclude_min=True, allow_nan=False))


def bad_count(minimum):
    """Values that are not an integer ``>= minimum``: 2.5, True, None, '2', 1e300, -1, ..."""
    return st.one_of(NOT_A_NUMBER, NON_INTEGER, st.integers(max_value=minimum - 1),
                     st.sampled_from([2.0, np.float64(3.0), "2", np.nan]))


BAD_SEED = st.one_of(st.sampled_from([None, "0", 1.5, True, np.nan, 2.0, [0]]),
                     st.integers(max_value=-1), NON_INTEGER)


@st.composite
def malformed_update(draw, shapes):
    """An update that does not fit a model with arrays of ``shapes``."""
    kind = draw(st.sampled_from(
        ["nan", "inf", "complex", "bool", "str", "object", "shape", "count", "scalar", "none",
         "string", "ragged"]))
    good = [np.zeros(s) for s in shapes]
    i = draw(st.integers(0, len(shapes) - 1))
    if kind in ("nan", "inf"):
        a = good[i].copy().ravel()
        a[draw(st.integers(0, a.size - 1))] = np.nan if kind == "nan" else -np.inf
        good[i] = a.reshape(shapes[i])
        return good
    if kind == "complex":
        good[i] = good[i] + 1j
        return good
    if kind == "bool":
        good[i] = good[i] > 0
        return good
    if kind == "str":
        good[i] = good[i].astype(str)
        return good
    if kind == "object":
        good[i] = good[i].astype(object)
        return good
    if kind == "shape":
        good[i] = np.zeros(draw(st.sampled_from([(7,), (2, 5), (), (1, 3, 2)])))
        return good
    if kind == "count":
        return good + [np.zeros(2)] if draw(st.booleans()) else good[:-1] or None
    if kind == "scalar":
        return np.zeros(shapes[0])
    if kind == "none":
        return None
    if kind == "string":
        return "0.5"
    return [[0.0, 1.0], [0.0]]


BAD_NUM_EXAMPLES = st.one_of(st.integers(max_value=0), NON_INTEGER,
                             st.sampled_from([True, None, "10", 2.0, 1 + 0j]))

SHAPES = [(3,), (2, 2)]
CIDS = [2, 5, 7, 9]


def _results(position, bad):
    out = [FitResult(cid, [np.full(s, 0.1 * cid) for s in SHAPES], 3) for cid in CIDS]
    out[position] = FitResult(CIDS[position], bad, 3)
    return out


RULES = {
    "weighted_average": weighted_average,
    "unweighted_average": unweighted_average,
    "coordinate_median": robust.coordinate_median,
    "trimmed_mean": partial(robust.trimmed_mean, beta=0.2),
    "krum": partial(robust.krum, num_malicious=0),
    "multi_krum": partial(robust.krum, num_malicious=0, num_selected=2),
    "norm_clipped_mean": partial(robust.norm_clipped_mean, clipping_norm=1.0),
}


# --- aggregation: a malformed update names its client and leaves the model alone ---------


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
@FAST
@given(bad=malformed_update(SHAPES), position=st.integers(0, 3))
def test_rules_name_the_client_of_a_malformed_update(rule, bad, position):
    current = [np.ones(s) for s in SHAPES]
    snap = snapshot(current)
    cid = CIDS[position]
    raises_naming(lambda: rule(_results(position, bad), reference=current), f"client {cid}")
    raises_naming(lambda: FedAvg(aggregate_fn=rule).aggregate_fit(1, _results(position, bad),
                                                                  current), f"client {cid}")
    assert_unchanged(current, snap)


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
@FAST
@given(n=BAD_NUM_EXAMPLES, position=st.integers(0, 3))
def test_rules_name_the_client_of_a_bad_num_examples(rule, n, position):
    results = _results(0, [np.zeros(s) for s in SHAPES])
    results[position] = FitResult(CIDS[position], results[position].params, n)
    raises_naming(lambda: rule(results), f"client {CIDS[position]}: num_examples")


@FAST
@given(bad=malformed_update(SHAPES), position=st.integers(0, 3))
def test_drop_malformed_drops_exactly_the_bad_client(bad, position):
    current = [np.ones(s) for s in SHAPES]
    snap = snapshot(current)
    strategy = FedAvg(aggregate_fn=robust.drop_malformed(weighted_average))
    new, metrics = strategy.aggregate_fit(1, _results(position, bad), current)
    assert metrics["dropped_clients"] == [CIDS[position]]
    assert f"client {CIDS[position]}" in metrics["dropped_reasons"][CIDS[position]]
    assert all(np.all(np.isfinite(a)) for a in new)
    assert_unchanged(current, snap)


@FAST
@given(bad=malformed_update([(3,), (3,)]), position=st.integers(0, 3))
def test_dp_wrapper_and_scaffold_name_the_client(bad, position):
    current = [np.ones(3), np.zeros(3)]
    snap = snapshot(current)
    results = [FitResult(cid, [np.full(3, 0.1), np.zeros(3)], 2) for cid in CIDS]
    results[position] = FitResult(CIDS[position], bad, 2)
    dp = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=1.0, clipping_norm=1.0, num_sampled_clients=4, seed=0)
    scaffold = Scaffold()
    scaffold.configure_fit(1, 10, np.random.default_rng(0))
    for strategy in (dp, scaffold):
        raises_naming(lambda s=strategy: s.aggregate_fit(1, results, current),
                      f"client {CIDS[position]}")
    assert_unchanged(current, snap)


@FAST
@given(results=st.sampled_from([None, "abc", np.zeros((2, 2)), {}, 3, [], [None], ["junk"],
                                [([np.zeros(3)], 1, 2)]]))
def test_results_that_are_not_a_list_of_results(results):
    current = [np.zeros(3)]
    snap = snapshot(current)
    for rule in (*RULES.values(), validate_results):
        raises_naming(lambda r=rule: r(results, reference=current), "results", "client 0")
    raises_naming(lambda: FedAvg().aggregate_fit(1, results, current), "results", "client 0")
    assert_unchanged(current, snap)


@FAST
@given(bad=malformed_update([(3,)]))
def test_a_malformed_global_model_is_named(bad):
    results = [([np.zeros(3)], 1)]
    if isinstance(bad, list) and len(bad) == 1 and np.shape(bad[0]) != (3,):
        return  # a different but well-formed shape is a legitimate model
    raises_naming(lambda: FedAvg().aggregate_fit(1, results, bad), "current", "client 0")


@FAST
@given(scale=st.floats(min_value=1e300, max_value=1.7e308), sign=st.sampled_from([1.0, -1.0]),
       server_lr=st.floats(min_value=0.5, max_value=4.0))
def test_aggregate_fit_never_returns_a_non_finite_model(scale, sign, server_lr):
    current = [np.full(2, sign * scale)]
    snap = snapshot(current)
    results = [([np.full(2, sign * scale)], 1), ([np.full(2, sign * scale)], 2)]
    for rule in RULES.values():
        strategy = FedAvg(server_lr=server_lr, aggregate_fn=rule)
        try:
            new, _ = strategy.aggregate_fit(1, results + [([np.full(2, sign * scale)], 3)],
                                            current)
        except ValueError as err:
            assert "not finite" in str(err)
        else:
            assert all(np.all(np.isfinite(a)) for a in new)
    assert_unchanged(current, snap)


# --- strategies and simulation: bad settings name the parameter -------------------------


@FAST
@given(v=BAD_FRACTION)
def test_fraction_fit(v):
    raises_naming(lambda: FedAvg(fraction_fit=v), "fraction_fit")
    raises_naming(lambda: Scaffold(fraction_fit=v), "fraction_fit")


@FAST
@given(v=BAD_POSITIVE)
def test_server_lr_and_lr(v):
    raises_naming(lambda: FedAvg(server_lr=v), "server_lr")
    X, y = np.ones((3, 2)), np.zeros(3)
    raises_naming(lambda: local_sgd(np.zeros(2), X, y, model=LINEAR, lr=v), "lr")
    raises_naming(lambda: numpy_client_fn([(X, y)], model=LINEAR, lr=v), "lr")
    raises_naming(lambda: scaffold_client_fn([(X, y)], model=LINEAR, lr=v), "lr")
    raises_naming(lambda: fedsgd_round(np.zeros(2), [(X, y)], model=LINEAR, lr=v), "lr")


@FAST
@given(v=BAD_NONNEGATIVE)
def test_mu_and_l2(v):
    X, y = np.ones((3, 2)), np.zeros(3)
    raises_naming(lambda: local_sgd(np.zeros(2), X, y, model=LINEAR, lr=0.1, mu=v), "mu")
    raises_naming(lambda: local_sgd(np.zeros(2), X, y, model=LINEAR, lr=0.1, l2=v), "l2")
    raises_naming(lambda: numpy_client_fn([(X, y)], model=LINEAR, lr=0.1, mu=v), "mu")


@FAST
@given(v=bad_count(1))
def test_counts_that_must_be_at_least_one(v):
    X, y = np.ones((3, 2)), np.zeros(3)
    raises_naming(lambda: FedAvg(min_fit_clients=v), "min_fit_clients")
    raises_naming(lambda: Scaffold(min_fit_clients=v), "min_fit_clients")
    raises_naming(lambda: local_sgd(np.zeros(2), X, y, model=LINEAR, lr=0.1, local_epochs=v),
                  "local_epochs")
    raises_naming(lambda: numpy_client_fn([(X, y)], model=LINEAR, lr=0.1, local_epochs=v),
                  "local_epochs")
    if v is not None:  # batch_size=None means full batch
        raises_naming(lambda: local_sgd(np.zeros(2), X, y, model=LINEAR, lr=0.1, batch_size=v,
                                        rng=np.random.default_rng(0)), "batch_size")
        raises_naming(lambda: numpy_client_fn([(X, y)], model=LINEAR, lr=0.1, batch_size=v),
                      "batch_size")
        raises_naming(lambda: scaffold_client_fn([(X, y)], model=LINEAR, lr=0.1, batch_size=v),
                      "batch_size")
    raises_naming(lambda: FedAvg().configure_fit(1, v, np.random.default_rng(0)),
                  "num_clients")
    kwargs = dict(client_fn=lambda *a: ([np.zeros(1)], 1), num_clients=2,
                  initial_parameters=[np.zeros(1)], strategy=FedAvg(), num_rounds=1)
    for name in ("num_clients", "eval_every"):
        raises_naming(lambda n=name: run_simulation(**{**kwargs, n: v}), name)
    rs = [([np.array([float(i)])], 1) for i in range(5)]
    raises_naming(lambda: robust.krum(rs, num_malicious=1, num_selected=v), "num_selected")


@FAST
@given(v=bad_count(0))
def test_counts_that_must_be_at_least_zero(v):
    kwargs = dict(client_fn=lambda *a: ([np.zeros(1)], 1), num_clients=2,
                  initial_parameters=[np.zeros(1)], strategy=FedAvg())
    raises_naming(lambda: run_simulation(**kwargs, num_rounds=v), "num_rounds")
    rs = [([np.array([float(i)])], 1) for i in range(5)]
    raises_naming(lambda: robust.krum(rs, num_malicious=v), "num_malicious")
    raises_naming(lambda: robust.krum_scores(np.zeros((5, 2)), v), "num_malicious")
    X, y = np.ones((3, 2)), np.zeros(3)
    if v is not None:  # max_steps=None means no limit
        raises_naming(lambda: local_sgd(np.zeros(2), X, y, model=LINEAR, lr=0.1, max_steps=v),
                      "max_steps")
    raises_naming(lambda: compute_epsilon(1.0, 0.5, v, 1e-5), "number of rounds")


@FAST
@given(seed=BAD_SEED)
def test_seeds_are_non_negative_integers_everywhere(seed):
    raises_naming(lambda: run_simulation(client_fn=lambda *a: ([np.zeros(1)], 1), num_clients=2,
                                         initial_parameters=[np.zeros(1)], strategy=FedAvg(),
                                         num_rounds=1, seed=seed), "seed")
    raises_naming(lambda: DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=1.0, clipping_norm=1.0, num_sampled_clients=2, seed=seed),
        "seed")
    raises_naming(lambda: secagg.secure_sum([[np.zeros(2)], [np.ones(2)]], seed=seed), "seed")
    raises_naming(lambda: secagg.prg_mask(seed, 3), "seed")


def test_seed_none_message_is_clear():
    message = raises_naming(lambda: run_simulation(
        client_fn=lambda *a: ([np.zeros(1)], 1), num_clients=2, initial_parameters=[np.zeros(1)],
        strategy=FedAvg(), num_rounds=1, seed=None), "seed")
    assert "None" in message and "len()" not in message


@FAST
@given(v=st.one_of(NOT_A_NUMBER, NON_FINITE, st.floats(max_value=0.0, allow_nan=False)))
def test_dp_settings(v):
    make = partial(DifferentialPrivacyServerSideFixedClipping, FedAvg(), noise_multiplier=1.0,
                   clipping_norm=1.0, num_sampled_clients=2)
    raises_naming(lambda: make(clipping_norm=v), "clipping norm")
    raises_naming(lambda: clip_update([np.ones(2)], v), "clipping norm")
    raises_naming(lambda: robust.norm_clipped_mean([([np.ones(2)], 1)], clipping_norm=v),
                  "clipping norm")
    raises_naming(lambda: gaussian_noise_std(1.0, 1.0, v), "number of sampled clients")
    raises_naming(lambda: compute_epsilon(1.0, v, 10, 1e-5), "sample rate")
    raises_naming(lambda: compute_epsilon(1.0, 0.5, 10, v), "delta")
    if not (isinstance(v, float) and v == 0.0):
        raises_naming(lambda: make(noise_multiplier=v), "noise multiplier")


@FAST
@given(v=bad_count(1))
def test_dp_num_sampled_clients(v):
    raises_naming(lambda: DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=1.0, clipping_norm=1.0, num_sampled_clients=v),
        "number of sampled clients")


@FAST
@given(beta=st.one_of(NOT_A_NUMBER, NON_FINITE, st.floats(max_value=-1e-9),
                      st.floats(min_value=0.5)))
def test_trimmed_mean_beta(beta):
    raises_naming(lambda: robust.trimmed_mean([([np.ones(2)], 1)] * 3, beta=beta), "beta")


@FAST
@given(server_round=bad_count(1))
def test_server_round(server_round):
    current = [np.zeros(2)]
    snap = snapshot(current)
    dp = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=1.0, clipping_norm=1.0, num_sampled_clients=2, seed=1)
    for strategy in (FedAvg(), dp):
        raises_naming(lambda s=strategy: s.aggregate_fit(server_round, [([np.ones(2)], 1)],
                                                         current), "server_round")
    assert_unchanged(current, snap)


# --- client data: NaN/Inf, no rows, y one short, y of shape (n, 1), labels ---------------


@st.composite
def bad_client_data(draw):
    """``(X, y, needle)``: a malformed data set for the logistic model and what names it."""
    n = draw(st.integers(2, 6))
    X = np.ones((n, 3))
    y = (np.arange(n) % 2).astype(float)
    kind = draw(st.sampled_from(["X nan", "X inf", "y nan", "no rows", "y short", "y column",
                                 "label 2", "label -1", "label 0.5", "X 1-D", "X complex",
                                 "y str", "X bool", "X None"]))
    if kind == "X nan":
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, 2))] = np.nan
        return X, y, "X contains NaN"
    if kind == "X inf":
        X[0, 0] = np.inf
        return X, y, "X contains Inf"
    if kind == "y nan":
        y[-1] = np.nan
        return X, y, "y contains NaN"
    if kind == "no rows":
        return np.ones((0, 3)), np.ones(0), "empty data (X has 0 rows)"
    if kind == "y short":
        return X, y[:-1], f"X has {n} rows but y has {n - 1}"
    if kind == "y column":
        return X, y[:, None], "y must be 1-D"
    if kind.startswith("label"):
        y[draw(st.integers(0, n - 1))] = float(kind.split()[1])
        return X, y, "labels must be 0 or 1"
    if kind == "X 1-D":
        return np.ones(n), y, "X must be 2-D"
    if kind == "X complex":
        return X + 1j, y, "X must be real"
    if kind == "y str":
        return X, y.astype(str), "y must be a numeric array"
    if kind == "X bool":
        return X > 0, y, "X must be numeric"
    return None, y, "X must be a numeric array"


@FAST
@given(bad=bad_client_data(), position=st.integers(0, 2))
def test_client_data_errors_name_the_client(bad, position):
    X, y, needle = bad
    clients = [(np.ones((3, 3)), np.array([0.0, 1.0, 1.0])) for _ in range(3)]
    clients[position] = (X, y)
    who = f"client {position}: "
    raises_naming(lambda: check_clients(clients, model=LOGISTIC), who + needle)
    raises_naming(lambda: numpy_client_fn(clients, model=LOGISTIC, lr=0.1), who + needle)
    raises_naming(lambda: scaffold_client_fn(clients, model=LOGISTIC, lr=0.1), who + needle)
    raises_naming(lambda: fedsgd_round(np.zeros(3), clients, model=LOGISTIC, lr=0.1),
                  who + needle)
    raises_naming(lambda: local_sgd(np.zeros(3), X, y, model=LOGISTIC, lr=0.1, client=7),
                  "client 7: " + needle)
    raises_naming(lambda: scaffold_local(np.zeros(3), np.zeros(3), np.zeros(3), X, y,
                                         model=LOGISTIC, lr=0.1), needle)


@FAST
@given(theta=st.one_of(
    arrays(np.float64, 3, elements=st.sampled_from([np.nan, np.inf, 0.0])).filter(
        lambda a: not np.all(np.isfinite(a))),
    st.sampled_from([np.zeros(4), np.zeros((3, 2)), np.zeros(3) + 1j, np.zeros(3, bool),
                     None, "0", np.zeros(3).astype(object)])))
def test_theta_errors_name_the_client(theta):
    X, y = np.ones((4, 3)), np.array([0.0, 1.0, 1.0, 0.0])
    fit = numpy_client_fn([(X, y)] * 6, model=LOGISTIC, lr=0.1)
    raises_naming(lambda: fit(5, [theta], 1, np.random.default_rng(0)), "client 5")
    sfit = scaffold_client_fn([(X, y)] * 6, model=LOGISTIC, lr=0.1)
    raises_naming(lambda: sfit(4, [theta, np.zeros(3)], 1, np.random.default_rng(0)),
                  "client 4")
    raises_naming(lambda: local_sgd(theta, X, y, model=LOGISTIC, lr=0.1, client=3), "client 3")
    raises_naming(lambda: fedsgd_round(theta, [(X, y)], model=LOGISTIC, lr=0.1), "theta")


@FAST
@given(cid=st.one_of(st.sampled_from([1.5, True, None, "0", -1, 6, 10**9, np.float64(1.0)]),
                     NON_INTEGER))
def test_client_functions_refuse_unknown_client_ids(cid):
    X, y = np.ones((4, 3)), np.array([0.0, 1.0, 1.0, 0.0])
    fit = numpy_client_fn([(X, y)] * 6, model=LOGISTIC, lr=0.1)
    sfit = scaffold_client_fn([(X, y)] * 6, model=LOGISTIC, lr=0.1)
    raises_naming(lambda: fit(cid, [np.zeros(3)], 1, np.random.default_rng(0)), "client")
    raises_naming(lambda: sfit(cid, [np.zeros(3)] * 2, 1, np.random.default_rng(0)), "client")


def test_softmax_labels_are_checked_against_the_number_of_classes():
    X, y = np.ones((4, 3)), np.array([0.0, 1.0, 2.0, 3.0])
    raises_naming(lambda: local_sgd(np.zeros((3, 3)), X, y, model=SOFTMAX, lr=0.1, client=2),
                  "client 2: labels must be class indices 0..2")
    raises_naming(lambda: check_clients([(X, y - 0.5)], model=SOFTMAX), "client 0: labels")


# --- the round loop ------------------------------------------------------------------------


@FAST
@given(bad=malformed_update([(3,)]), sampled=st.sampled_from([[2, 5, 7], [0, 4, 9], [8]]))
def test_run_simulation_names_the_real_client_and_keeps_the_initial_model(bad, sampled):
    class Fixed(FedAvg):
        def configure_fit(self, server_round, num_clients, rng):
            return list(sampled)

    culprit = sampled[-1]

    def client_fn(cid, params, server_round, rng):
        return (bad if cid == culprit else [np.zeros(3)]), 2

    initial = [np.zeros(3)]
    snap = snapshot(initial)
    raises_naming(lambda: run_simulation(client_fn=client_fn, num_clients=10,
                                         initial_parameters=initial,
                                         strategy=Fixed(fraction_fit=0.3), num_rounds=2),
                  f"client {culprit}")
    assert_unchanged(initial, snap)


@FAST
@given(reply=st.sampled_from([None, [np.zeros(3)], ([np.zeros(3)],), "x", 3,
                              ([np.zeros(3)], 1, 2)]))
def test_run_simulation_names_a_client_fn_that_breaks_the_contract(reply):
    raises_naming(lambda: run_simulation(client_fn=lambda cid, *a: reply if cid == 1 else
                                         ([np.zeros(3)], 1),
                                         num_clients=3, initial_parameters=[np.zeros(3)],
                                         strategy=FedAvg(), num_rounds=1), "client 1")


@FAST
@given(bad=malformed_update([(3,)]))
def test_run_simulation_names_bad_initial_parameters(bad):
    if wellformed(bad):
        return  # another shape is a legitimate model (the clients' updates then fail)
    raises_naming(lambda: run_simulation(client_fn=lambda *a: ([np.zeros(3)], 1), num_clients=2,
                                         initial_parameters=bad, strategy=FedAvg(),
                                         num_rounds=1), "initial_parameters")


@FAST
@given(value=st.sampled_from([None, "f", 3, FedAvg, object()]))
def test_run_simulation_names_bad_functions_and_strategies(value):
    kwargs = dict(client_fn=lambda *a: ([np.zeros(1)], 1), num_clients=2,
                  initial_parameters=[np.zeros(1)], strategy=FedAvg(), num_rounds=1)
    raises_naming(lambda: run_simulation(**{**kwargs, "strategy": value}), "strategy")
    if value is not FedAvg:  # a class is callable: only its result is checked
        raises_naming(lambda: run_simulation(**{**kwargs, "client_fn": value}), "client_fn")
        raises_naming(lambda: FedAvg(aggregate_fn=value), "aggregate_fn")


@FAST
@given(chosen=st.sampled_from([[1.5], [True], [0, 0], [5], [-1], [], "01", None]))
def test_run_simulation_names_a_strategy_that_samples_nonsense(chosen):
    class Broken(FedAvg):
        def configure_fit(self, server_round, num_clients, rng):
            return chosen

    raises_naming(lambda: run_simulation(client_fn=lambda *a: ([np.zeros(1)], 1), num_clients=3,
                                         initial_parameters=[np.zeros(1)], strategy=Broken(),
                                         num_rounds=1),
                  "sampled", "client id", "configure_fit")


# --- parameter arithmetic, secure aggregation ----------------------------------------------


@FAST
@given(bad=malformed_update([(3,)]), scale=st.one_of(st.just(1.0), NOT_A_NUMBER))
def test_parameter_arithmetic(bad, scale):
    good = [np.zeros(3)]
    if isinstance(scale, float):
        raises_naming(lambda: add(good, bad), "other", "params")
        if not wellformed(bad):
            raises_naming(lambda: flatten(bad), "params")
            raises_naming(lambda: global_norm(bad), "params")
    else:
        raises_naming(lambda: add(good, good, scale), "scale")
    raises_naming(lambda: unflatten(np.zeros(4), good), "vector has 4 entries")
    raises_naming(lambda: unflatten(np.array([1.0, np.nan, 0.0]), good), "vector")


@FAST
@given(dropouts=st.one_of(
    st.sampled_from([[1.5], [True], [np.float64(1.0)], [4], [-1], [1, 1], [0, 2, 2], None, "1",
                     3, [None], ["0"]]),
    st.lists(st.integers(min_value=4), min_size=1, max_size=3)))
def test_secure_sum_refuses_dropouts_that_are_not_client_ids(dropouts):
    updates = [[np.full(2, 0.1 * k)] for k in range(4)]
    raises_naming(lambda: secagg.secure_sum(updates, dropouts=dropouts, threshold=2, seed=0),
                  "dropout")


@FAST
@given(bad=malformed_update([(2,)]), position=st.integers(1, 3),
       threshold=st.one_of(st.none(), st.just(2)))
def test_secure_sum_names_the_hospital_of_a_malformed_update(bad, position, threshold):
    updates = [[np.full(2, 0.1 * k)] for k in range(4)]
    updates[position] = bad
    raises_naming(lambda: secagg.secure_sum(updates, threshold=threshold, seed=0),
                  f"client {position}")


@FAST
@given(v=st.one_of(bad_count(1), st.just(5)))
def test_secure_sum_threshold_and_scale(v):
    updates = [[np.full(2, 0.1 * k)] for k in range(4)]
    if v is not None:  # threshold=None means n // 2 + 1
        raises_naming(lambda: secagg.secure_sum(updates, threshold=v, seed=0), "threshold")
    if not (isinstance(v, int) and v == 5):
        raises_naming(lambda: secagg.secure_sum(updates, scale=v, seed=0), "scale")
        raises_naming(lambda: secagg.encode(np.zeros(2), scale=v), "scale")
        raises_naming(lambda: secagg.shamir_split(5, v, 1, rng=np.random.default_rng(0)),
                      "num_shares", "threshold")


@FAST
@given(values=st.sampled_from([np.array([1 + 1j]), np.array(["0.5"]), np.array([True]),
                               np.array([np.nan]), None, "0.5", np.array([object()])]))
def test_encode_refuses_what_has_no_fixed_point_encoding(values):
    raises_naming(lambda: secagg.encode(values, client=3), "client 3")
