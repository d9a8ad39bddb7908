"""The Flower app: hospital code in-process, then a real two-hospital federation on loopback."""

from __future__ import annotations

import math
import os
import socket
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, MessageType, MetricRecord, RecordDict

from fedmed_lib.algorithms import local_sgd
from fedmed_lib.federated_stats import client_statistics, combine
from fedmed_lib.flower_app import federation
from fedmed_lib.flower_app.client_app import (
    app,
    delivered_message,
    node_context,
    stats_content,
    train_reply,
)
from fedmed_lib.flower_app.federation import LocalFederation, free_port
from fedmed_lib.flower_app.server_app import stats_from_content
from fedmed_lib.flower_app.task import (
    design_matrices,
    global_stats_from_arrays,
    load_site,
    num_parameters,
    reference_simulation,
    site_stats,
    stratified_test_mask,
    train_site,
)
from fedmed_lib.models import LOGISTIC

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
os.environ.setdefault("FEDMED_DATA_DIR", str(DATA))


@pytest.fixture(scope="module")
def two_sites():
    sites = [load_site(k, 2) for k in range(2)]
    return sites, combine([site_stats(s) for s in sites])


def _config(gs, lr=1.0, local_epochs=3):
    return ConfigRecord({"lr": lr, "local-epochs": local_epochs,
                         "mean": [float(v) for v in gs.mean], "std": [float(v) for v in gs.std]})


# --- task: plain numpy -------------------------------------------------------------------

def test_load_site_reads_one_hospital_and_splits_70_30():
    site = load_site(2, 4)  # Switzerland: 123 patients, 8 without disease
    assert len(site.y_train) + len(site.y_test) == 123
    assert int((site.y_test == 0).sum()) == 2 and int((site.y_test == 1).sum()) == 35  # 0.3*8, 0.3*115
    assert np.isnan(site.X_train[:, 4]).all()  # its cholesterol zeros are marked missing


def test_stratified_test_mask_hand_case():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    mask = stratified_test_mask(y, 0.5, seed=3)
    assert mask.sum() == 5 and mask[y == 0].sum() == 2 and mask[y == 1].sum() == 3
    assert np.array_equal(mask, stratified_test_mask(y, 0.5, seed=3))  # seeded
    with pytest.raises(ValueError, match="test_size"):
        stratified_test_mask(y, 1.0, seed=0)
    with pytest.raises(ValueError, match="empty"):
        stratified_test_mask(np.array([]), 0.3, seed=0)


@pytest.mark.parametrize(("pid", "num", "msg"), [(2, 2, "partition-id 2"), (-1, 2, "partition-id -1"),
                                                (0, 5, "num_partitions"), (0, 0, "num_partitions")])
def test_load_site_bad_partition(pid, num, msg):
    with pytest.raises(ValueError, match=msg):
        load_site(pid, num)


def test_train_site_is_local_sgd(two_sites):
    sites, gs = two_sites
    theta = np.linspace(-0.2, 0.2, num_parameters())
    new, n, loss = train_site(theta, sites[1], gs, lr=0.5, local_epochs=4)
    (X, y), _ = design_matrices(sites[1], gs)
    expected, steps = local_sgd(theta, X, y, model=LOGISTIC, lr=0.5, local_epochs=4)
    assert steps == 4 and n == len(sites[1].y_train)
    np.testing.assert_array_equal(new, expected)
    assert loss == pytest.approx(LOGISTIC.loss(expected, X, y), abs=0)


@pytest.mark.parametrize(("theta", "msg"), [(np.zeros(3), "shape"), (np.full(14, np.nan), "NaN")])
def test_train_site_bad_theta(two_sites, theta, msg):
    sites, gs = two_sites
    with pytest.raises(ValueError, match=msg):
        train_site(theta, sites[0], gs, lr=1.0, local_epochs=1)


@pytest.mark.parametrize(("mean", "std", "msg"), [
    ([0.0, 1.0], [1.0], "equal length"), ([], [], "non-empty"),
    ([0.0], [np.nan], "finite"), ([0.0, 1.0], [1.0, 0.0], "feature 1"),
])
def test_global_stats_from_arrays_bad_input(mean, std, msg):
    with pytest.raises(ValueError, match=msg):
        global_stats_from_arrays(mean, std)


# --- the ClientApp, called in-process ---------------------------------------------------

def test_clientapp_train_equals_train_site(two_sites):
    sites, gs = two_sites
    theta = np.full(num_parameters(), 0.1)
    msg = delivered_message(RecordDict({"arrays": ArrayRecord([theta]), "config": _config(gs)}),
                            MessageType.TRAIN)
    reply = app(msg, node_context(1, 2))
    assert not reply.has_error()
    metrics = reply.content.metric_records["metrics"]
    new, n, loss = train_site(theta, sites[1], gs, lr=1.0, local_epochs=3)
    assert metrics["num-examples"] == n
    np.testing.assert_array_equal(reply.content.array_records["arrays"].to_numpy_ndarrays()[0], new)


def test_clientapp_stats_are_the_client_statistics(two_sites):
    sites, _ = two_sites
    reply = app(delivered_message(RecordDict({"config": ConfigRecord({})}), "query.stats"),
                node_context(0, 2))
    count, mean, m2, mean_residual = reply.content.array_records["stats"].to_numpy_ndarrays()
    s = site_stats(sites[0])
    np.testing.assert_array_equal(count, s.count)
    np.testing.assert_array_equal(mean, s.mean)
    np.testing.assert_array_equal(m2, s.m2)
    np.testing.assert_array_equal(mean_residual, s.mean_residual)
    assert reply.content.metric_records["metrics"]["num-examples"] == s.num_examples
    back = stats_from_content(1, reply.content)  # what the ServerApp rebuilds
    for name in ("count", "mean", "m2", "mean_residual"):
        np.testing.assert_array_equal(getattr(back, name), getattr(s, name))


def test_statistics_messages_keep_the_std_of_values_near_1e8():
    """Values near 1e8 with standard deviation 1: raw sums of squares would lose every
    digit; the reply's (count, mean, m2, mean_residual) keep the pooled std to 1e-9."""
    rng = np.random.default_rng(0)
    sites = [1e8 + rng.normal(size=(100, 2)), 1e8 + 5 + rng.normal(size=(50, 2))]
    sites[1][3, 1] = np.nan  # a missing value
    replies = [stats_content(client_statistics(x, client=k)) for k, x in enumerate(sites)]
    gs = combine([stats_from_content(k, content) for k, content in enumerate(replies)])
    pooled = np.vstack(sites)
    # independent reference: exact rational arithmetic on the pooled float64 values
    for j in range(2):
        col = [Fraction(float(v)) for v in pooled[:, j] if not np.isnan(v)]
        mean = sum(col, Fraction(0)) / len(col)
        var = sum(((v - mean) ** 2 for v in col), Fraction(0)) / (len(col) - gs.ddof)
        exact_std = math.sqrt(var)
        assert abs(gs.std[j] / exact_std - 1) < 1e-9
        assert abs(gs.mean[j] - float(mean)) <= 1e-7
    # the unstable form the app sent before (raw sums) is far off on the same data
    c = sum(np.sum(~np.isnan(x[:, 0])) for x in sites)
    q = sum(np.nansum(x[:, 0] ** 2) for x in sites)
    a = sum(np.nansum(x[:, 0]) for x in sites)
    naive = np.sqrt(max(q - a * a / c, 0.0) / (c - gs.ddof))
    assert abs(naive / gs.std[0] - 1) > 0.1


def test_statistics_reply_with_raw_sums_is_refused():
    content = RecordDict({"stats": ArrayRecord([np.ones(2), np.ones(2), np.ones(2)]),
                          "metrics": MetricRecord({"num-examples": 1})})
    with pytest.raises(ValueError, match="node 7: .*3 arrays"):
        stats_from_content(7, content)
    with pytest.raises(ValueError, match="node 7: .*no 'stats'"):
        stats_from_content(7, RecordDict({"metrics": MetricRecord({"num-examples": 1})}))


def test_clientapp_evaluate(two_sites):
    sites, gs = two_sites
    theta = np.zeros(num_parameters())
    msg = delivered_message(RecordDict({"arrays": ArrayRecord([theta]), "config": _config(gs)}),
                            MessageType.EVALUATE)
    metrics = app(msg, node_context(0, 2)).content.metric_records["metrics"]
    assert metrics["num-examples"] == len(sites[0].y_test)
    assert metrics["test-loss"] == pytest.approx(np.log(2))  # theta = 0 predicts 1/2


def test_clientapp_rejects_unknown_hospital(two_sites):
    _, gs = two_sites
    msg = delivered_message(RecordDict({"arrays": ArrayRecord([np.zeros(14)]), "config": _config(gs)}),
                            MessageType.TRAIN)
    with pytest.raises(ValueError, match="partition-id 3"):
        app(msg, node_context(3, 2))


def test_train_reply_has_what_fedavg_needs():
    content = train_reply(np.arange(3.0), 17, 0.25)
    assert list(content.array_records) == ["arrays"]
    assert dict(content.metric_records["metrics"]) == {"num-examples": 17, "train-loss": 0.25}


# --- the launcher ---------------------------------------------------------------------

def test_free_port_is_a_free_tcp_port_on_localhost():
    port = free_port()
    assert isinstance(port, int) and 1024 <= port <= 65535  # an unprivileged port number
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))  # nobody holds it: binding succeeds ...
        assert s.getsockname() == ("127.0.0.1", port)  # ... on exactly that port
        s.listen()
        # and it is a real port: while we hold it, nobody else can bind it
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
            with pytest.raises(OSError):
                other.bind(("127.0.0.1", port))
    assert free_port() != 0


def test_federation_bad_input():
    with pytest.raises(ValueError, match="num_partitions"):
        LocalFederation(num_partitions=0)
    with pytest.raises(RuntimeError, match="start the federation"):
        LocalFederation(num_partitions=1).run({})


def test_flower_config_points_at_the_superlink(tmp_path):
    fed = LocalFederation(num_partitions=1, workdir=tmp_path)
    fed.port = 12345
    fed._write_flower_config()
    text = (tmp_path / "flwr_home" / "config.toml").read_text()
    assert 'address = "127.0.0.1:12345"' in text and "insecure = true" in text
    assert fed.env()["FLWR_HOME"] == str(tmp_path / "flwr_home")
    assert fed.env()["FLWR_TELEMETRY_ENABLED"] == "0"


def test_app_pyproject_is_packaged():
    assert (federation.APP_DIR / "pyproject.toml").is_file()
    from flwr.cli.config_utils import load_and_validate
    config, _ = load_and_validate(federation.APP_DIR / "pyproject.toml")
    assert config["tool"]["flwr"]["app"]["components"]["clientapp"].startswith("fedmed_lib.")


@pytest.mark.xdist_group("live_flower")  # one worker runs the live federations, one after another
@pytest.mark.timeout(300)
def test_two_hospital_federation_matches_simulation(tmp_path):
    num_rounds, lr, local_epochs = 2, 1.0, 3
    history, gs = reference_simulation(num_partitions=2, num_rounds=num_rounds, lr=lr,
                                       local_epochs=local_epochs)
    fed = LocalFederation(num_partitions=2, workdir=tmp_path)
    with fed:
        run = fed.run({"num-server-rounds": num_rounds, "lr": lr, "local-epochs": local_epochs})
        pids = [p.pid for p in fed.processes]
        every = fed.pids()
    assert run.returncode == 0, run.log[-3000:]
    assert run.result is not None, run.log[-3000:]
    res = run.result
    assert res["num_nodes"] == 2
    np.testing.assert_allclose(res["global_mean"], gs.mean, rtol=1e-12)
    np.testing.assert_allclose(res["global_std"], gs.std, rtol=1e-12)
    # full-batch GD is deterministic: Flower and the simulation agree to rounding
    np.testing.assert_allclose(res["theta"], history.params[0], rtol=0, atol=1e-10)
    assert not np.allclose(res["theta"], 0)
    for r in range(1, num_rounds + 1):
        assert res["evaluate_metrics"][str(r)]["test-accuracy"] == pytest.approx(
            history.metrics["test_accuracy"][r], abs=1e-12)
    # every process the federation started, and their children, are gone
    assert len(every) > len(pids), "the SuperLink and SuperNodes start SuperExec children"
    assert not any(federation.is_running(p) for p in every)
