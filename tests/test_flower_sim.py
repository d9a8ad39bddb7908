"""The scaling workload and Flower's simulation engine (Ray) against run_simulation."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ArrayRecord, Context, MessageType, RecordDict
from flwr.app import ConfigRecord as FlwrConfig

from fedmed_lib.flower_app import federation
from fedmed_lib.flower_app.client_app import app, delivered_message
from fedmed_lib.flower_app.scaling_task import (
    initial_parameters,
    minibatch_orders,
    scaling_clients,
    scaling_data,
    scaling_reference,
    sgd_client,
    train_scaling_client,
)
from fedmed_lib.flower_app.simulation_engine import LocalSimulation, run_flower_simulation


def test_data_is_the_books_breast_cancer_standardised():
    from fedmed_lib.data import load_breast_cancer

    X, y, _ = load_breast_cancer()  # 1 = malignant, the book's convention
    Xs, ys = scaling_data()
    np.testing.assert_array_equal(Xs, (X - X.mean(axis=0)) / X.std(axis=0))
    np.testing.assert_array_equal(ys, y)


def test_clients_iid_up_to_100_then_devices():
    Xc, yc = scaling_clients(100, seed=0)
    assert len(yc) == 100 and sum(len(v) for v in yc) == 569
    assert {len(v) for v in yc} == {5, 6}
    Xd, yd = scaling_clients(1000, seed=0)
    sizes = np.array([len(v) for v in yd])
    assert len(yd) == 1000 and sizes.min() >= 10 and sizes.max() <= 40
    assert Xd[0].shape == (sizes[0], 30)
    with pytest.raises(ValueError, match="num_clients"):
        scaling_clients(0)


def test_orders_are_the_vectorised_simulators_and_need_no_tensorflow():
    import subprocess
    import sys

    from fedmed_lib import vectorized

    assert minibatch_orders is vectorized.minibatch_orders  # one function, both paths
    sizes = [3, 7, 5]
    mine = minibatch_orders(sizes, num_rounds=2, local_epochs=2, seed=4)
    assert sorted(mine[1, 0, 0, :3]) == [0, 1, 2]
    with pytest.raises(ValueError, match="sizes"):
        minibatch_orders([3, 0], num_rounds=1, local_epochs=1, seed=0)
    with pytest.raises(TypeError, match="sizes"):
        minibatch_orders([1.5], num_rounds=1, local_epochs=1, seed=0)
    # a Ray worker imports the scaling task: that must not import TensorFlow (seconds each)
    code = ("import sys, fedmed_lib.flower_app.scaling_task; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sgd_client_hand_case():
    # one example, one feature, w = b = 0: p = 1/2, step = lr * (p - y) * x
    X, y = np.array([[2.0]]), np.array([1.0])
    w, b = sgd_client([np.zeros((1, 1)), np.zeros(1)], X, y, np.array([[0]]), lr=0.1,
                      batch_size=10)
    assert w[0, 0] == pytest.approx(0.1 * 0.5 * 2.0) and b[0] == pytest.approx(0.05)
    # two minibatches of one: the second step starts from the first
    X2, y2 = np.array([[1.0], [-1.0]]), np.array([1.0, 0.0])
    w2, b2 = sgd_client([np.zeros((1, 1)), np.zeros(1)], X2, y2, np.array([[1, 0]]), lr=1.0,
                       batch_size=1)
    # example 1 (x = -1, y = 0): err = 1/2, so w = 0.5, b = -0.5; example 0 (x = 1,
    # y = 1): z = 0.5 - 0.5 = 0, err = -1/2, so w = 1.0, b = 0.0
    assert w2[0, 0] == 1.0 and b2[0] == 0.0
    with pytest.raises(ValueError, match="shape"):
        sgd_client([np.zeros((2, 1)), np.zeros(1)], X, y, np.array([[0]]))
    with pytest.raises(ValueError, match="lr"):
        sgd_client([np.zeros((1, 1)), np.zeros(1)], X, y, np.array([[0]]), lr=0.0)


def test_reference_equals_the_vectorised_simulator():
    from fedmed_lib.vectorized import VectorizedFedAvg

    Xc, yc = scaling_clients(20, seed=1)
    vec = VectorizedFedAvg(Xc, yc, local_epochs=2, batch_size=10, lr=0.1).run(num_rounds=3,
                                                                              seed=1)
    ref = scaling_reference(num_clients=20, num_rounds=3, local_epochs=2, seed=1)
    for a, b in zip(ref.params, vec.params, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert np.abs(ref.params[0]).max() > 0.01


def test_clientapp_scaling_train_in_process():
    params = [np.full((30, 1), 0.01), np.array([0.2])]
    config = FlwrConfig({"lr": 0.1, "local-epochs": 1, "batch-size": 10, "seed": 0,
                         "num-rounds": 2, "server-round": 2})
    msg = delivered_message(RecordDict({"arrays": ArrayRecord(params), "config": config}),
                            MessageType.TRAIN)
    context = Context(run_id=1, node_id=8, node_config={"partition-id": 7, "num-partitions": 100},
                      state=RecordDict(), run_config={"workload": "scaling"})
    reply = app(msg, context)
    got = reply.content.array_records["arrays"].to_numpy_ndarrays()
    expected, n = train_scaling_client(7, params, 2, num_clients=100, num_rounds=2,
                                       local_epochs=1, seed=0)
    assert reply.content.metric_records["metrics"]["num-examples"] == n
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="client 100"):
        train_scaling_client(100, params, 1, num_clients=100, num_rounds=1, local_epochs=1,
                             seed=0)
    with pytest.raises(ValueError, match="server_round"):
        train_scaling_client(0, params, 3, num_clients=100, num_rounds=2, local_epochs=1, seed=0)


def test_simulation_superlink_command_and_bad_input(tmp_path):
    sim = LocalSimulation(num_supernodes=100, workdir=tmp_path)
    args = sim.superlink_args()
    assert "--simulation" in args and "--insecure" in args
    fc = sim.federation_config()
    assert fc["num-supernodes"] == 100 and fc["init-args-log-to-driver"] is False
    assert "RAY_TMPDIR" not in sim.env() or sim.env()["RAY_TMPDIR"] != str(tmp_path)
    assert sim.ray_prefix().startswith("fm-ray-")
    with pytest.raises(ValueError, match="num_supernodes"):
        LocalSimulation(num_supernodes=0)
    with pytest.raises(ValueError, match="num_rounds"):
        run_flower_simulation(num_clients=10, num_rounds=0)


@pytest.mark.xdist_group("live_flower")  # one worker runs the live federations, one after another
@pytest.mark.timeout(400)
def test_flower_engine_with_100_virtual_supernodes_equals_run_simulation(tmp_path, capfd):
    num_clients, num_rounds = 100, 2
    res = run_flower_simulation(num_clients=num_clients, num_rounds=num_rounds, seed=0,
                                workdir=tmp_path)
    ref = scaling_reference(num_clients=num_clients, num_rounds=num_rounds, seed=0)
    assert res.num_nodes == num_clients and len(res.round_seconds) == num_rounds
    for a, b in zip(res.params, ref.params, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert np.abs(ref.params[0]).max() > 0.01  # the model moved: the check can fail
    assert not np.allclose(ref.params[0], initial_parameters()[0])
    # Ray's and Flower's log lines went to files, not to this process's output
    out, err = capfd.readouterr()
    assert "ray" not in (out + err).lower() and not err
    # no process of the simulation is left
    prefix = LocalSimulation(num_supernodes=1, workdir=tmp_path).ray_prefix()
    leftover = [p for p in federation.descendants(1)
                if prefix in _cmdline(p) and federation.is_running(p)]
    assert not leftover


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
