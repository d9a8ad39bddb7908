"""Tests of fedmed_lib.simulation.run_simulation: determinism, order independence, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.algorithms import FedAvg, numpy_client_fn
from fedmed_lib.models import SOFTMAX, add_intercept
from fedmed_lib.simulation import History, round_rngs, run_simulation, sampler_rng, server_rng


def make_federation(num_clients=6, seed=0):
    rng = np.random.default_rng(seed)
    clients = []
    for k in range(num_clients):
        n = 10 + 5 * k
        X = add_intercept(rng.normal(size=(n, 4)))
        y = rng.integers(0, 3, size=n).astype(float)
        clients.append((X, y))
    return clients


def simulate(clients, *, seed=0, fraction_fit=0.5, num_rounds=5, **kwargs):
    theta0 = SOFTMAX.init(5, 3)
    return run_simulation(
        client_fn=numpy_client_fn(clients, model=SOFTMAX, lr=0.1, local_epochs=2, batch_size=4),
        num_clients=len(clients),
        initial_parameters=[theta0],
        strategy=FedAvg(fraction_fit=fraction_fit),
        num_rounds=num_rounds,
        seed=seed,
        **kwargs,
    )


def test_deterministic_from_a_seed_and_seed_matters():
    clients = make_federation()
    a, b, c = simulate(clients, seed=3), simulate(clients, seed=3), simulate(clients, seed=4)
    np.testing.assert_array_equal(a.params[0], b.params[0])
    assert a.clients_per_round == b.clients_per_round
    assert not np.allclose(a.params[0], c.params[0])


def test_independent_of_the_order_in_which_clients_run():
    clients = make_federation()
    base = numpy_client_fn(clients, model=SOFTMAX, lr=0.1, local_epochs=2, batch_size=4)

    class ReversedFedAvg(FedAvg):
        def configure_fit(self, server_round, num_clients, rng):
            return list(reversed(super().configure_fit(server_round, num_clients, rng)))

    kwargs = dict(client_fn=base, num_clients=len(clients), initial_parameters=[SOFTMAX.init(5, 3)],
                  num_rounds=4, seed=1)
    h1 = run_simulation(strategy=FedAvg(fraction_fit=0.5), **kwargs)
    h2 = run_simulation(strategy=ReversedFedAvg(fraction_fit=0.5), **kwargs)
    np.testing.assert_allclose(h1.params[0], h2.params[0], rtol=1e-12, atol=1e-14)
    assert [sorted(c) for c in h2.clients_per_round] == h1.clients_per_round


def test_round_rngs_are_the_generators_the_loop_hands_to_clients():
    # hand-computed from numpy's SeedSequence, independently of the library's helpers
    seed, server_round, num_clients = 5, 3, 4
    want = [np.random.default_rng(c).random(3)
            for c in np.random.SeedSequence([seed, server_round]).spawn(num_clients)]
    got = [g.random(3) for g in round_rngs(seed, server_round, num_clients)]
    np.testing.assert_array_equal(np.array(got), np.array(want))
    # the server's noise generator is the root of the round, the sampler its own stream
    np.testing.assert_array_equal(
        server_rng(seed, server_round).random(3),
        np.random.default_rng(np.random.SeedSequence([seed, server_round])).random(3))
    np.testing.assert_array_equal(
        sampler_rng(seed).random(3),
        np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]).random(3))

    seen = {}

    def client_fn(cid, params, rnd, rng):
        seen[(rnd, cid)] = rng.random()
        return params, 1

    run_simulation(client_fn=client_fn, num_clients=num_clients, initial_parameters=[np.zeros(2)],
                   strategy=FedAvg(fraction_fit=0.5), num_rounds=3, seed=seed)
    assert len(seen) == 6
    for (rnd, cid), value in seen.items():
        assert value == round_rngs(seed, rnd, num_clients)[cid].random()


@pytest.mark.parametrize("args, needle", [
    ((None, 1, 2), "seed"), ((-1, 1, 2), "seed"), ((0, 1.5, 2), "server_round"),
    ((0, -1, 2), "server_round"), ((0, 1, 0), "num_clients"), ((0, 1, True), "num_clients"),
])
def test_round_rngs_bad_input(args, needle):
    with pytest.raises(ValueError, match=needle):
        round_rngs(*args)


def test_full_participation_full_batch_equals_fedavg_by_hand():
    # FedAvg written out in numpy: local full-batch gradient descent, n_k-weighted mean
    clients = make_federation()
    theta = SOFTMAX.init(5, 3)
    n = sum(X.shape[0] for X, _ in clients)
    for _ in range(3):
        local = []
        for X, y in clients:
            t = theta.copy()
            for _ in range(2):  # local_epochs
                t = t - 0.2 * SOFTMAX.grad(t, X, y)
            local.append(X.shape[0] / n * t)
        theta = sum(local)
    history = run_simulation(
        client_fn=numpy_client_fn(clients, model=SOFTMAX, lr=0.2, local_epochs=2),
        num_clients=len(clients), initial_parameters=[SOFTMAX.init(5, 3)],
        strategy=FedAvg(), num_rounds=3, seed=0,
    )
    np.testing.assert_allclose(history.params[0], theta, rtol=1e-12)


def test_history_records_metrics_bytes_and_params():
    clients = make_federation()
    X = np.vstack([c[0] for c in clients])
    y = np.concatenate([c[1] for c in clients])
    h = simulate(clients, num_rounds=4, eval_fn=lambda p: {"accuracy": SOFTMAX.score(p[0], X, y)},
                 eval_every=2, keep_params=True)
    assert h.rounds == [0, 2, 4]
    assert len(h.metrics["accuracy"]) == 3
    assert len(h.params_per_round) == 5
    np.testing.assert_array_equal(h.params_per_round[-1][0], h.params[0])
    assert len(h.clients_per_round) == 4 and all(len(c) == 3 for c in h.clients_per_round)
    assert h.bytes_up == [3 * 5 * 3 * 8] * 4  # three clients, a 5x3 float64 update each
    assert h.as_dict()["round"] == [0, 2, 4]


def test_rounds_to_reach_and_stop_fn():
    h = History()
    for r, (acc, loss) in enumerate([(0.1, 2.0), (0.5, 1.0), (0.9, 0.4), (0.95, 0.3)]):
        h.add_metrics(r, {"accuracy": acc, "loss": loss})
    assert h.rounds_to_reach("accuracy", 0.9) == 2
    assert h.rounds_to_reach("accuracy", 0.99) is None
    assert h.rounds_to_reach("loss", 0.5, higher_is_better=False) == 2
    assert h.final("loss") == 0.3

    clients = make_federation()
    calls = []

    def eval_fn(params):
        calls.append(1)
        return {"round_seen": float(len(calls) - 1)}

    stopped = simulate(clients, num_rounds=10, eval_fn=eval_fn,
                       stop_fn=lambda hist: hist.metrics["round_seen"][-1] >= 3)
    assert stopped.rounds == [0, 1, 2, 3]
    full = simulate(clients, num_rounds=3)
    np.testing.assert_allclose(stopped.params[0], full.params[0])  # same first three rounds


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"num_clients": 0}, "num_clients must be at least 1"),
        ({"num_rounds": -1}, "num_rounds must be at least 0"),
        ({"eval_every": 0, "eval_fn": lambda p: {}}, "eval_every must be at least 1"),
        ({"stop_fn": lambda h: True}, "stop_fn needs eval_fn"),
        ({"initial_parameters": [np.array([np.nan])]}, "initial_parameters[0] contains NaN"),
        ({"initial_parameters": []}, "initial_parameters is empty"),
    ],
)
def test_bad_arguments(kwargs, needle):
    args = dict(client_fn=lambda *a: ([np.zeros(1)], 1), num_clients=2,
                initial_parameters=[np.zeros(1)], strategy=FedAvg(), num_rounds=1)
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        run_simulation(**args)
    assert needle in str(info.value)


def test_bad_client_update_raises_and_strategy_sampling_unknown_client():
    def client_fn(cid, params, server_round, rng):
        return ([np.full(1, np.nan)] if cid == 1 else [np.zeros(1)]), 1

    with pytest.raises(ValueError, match="client 1: array 0 contains NaN"):
        run_simulation(client_fn=client_fn, num_clients=2, initial_parameters=[np.zeros(1)],
                       strategy=FedAvg(), num_rounds=1)

    class Broken(FedAvg):
        def configure_fit(self, server_round, num_clients, rng):
            return [0, num_clients]

    with pytest.raises(ValueError, match="sampled client 2, but clients are 0..1"):
        run_simulation(client_fn=client_fn, num_clients=2, initial_parameters=[np.zeros(1)],
                       strategy=Broken(), num_rounds=1)


def test_a_clients_generator_built_alone_is_its_round_rngs_generator():
    from fedmed_lib.simulation import _client_rng

    for seed, server_round, num_clients in [(0, 1, 5), (7, 3, 100), (123, 0, 1)]:
        spawned = round_rngs(seed, server_round, num_clients)
        for cid in {0, num_clients // 2, num_clients - 1}:
            alone = _client_rng(seed, server_round, cid)
            assert alone.random(4).tolist() == spawned[cid].random(4).tolist()
