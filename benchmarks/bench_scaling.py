"""Benchmark of chapter ch-scaling: per-client Keras fit loop vs the vectorised simulator.

Run: python benchmarks/bench_scaling.py   (or `make bench`)

Prints one table with both figures of each comparison, measured in this run, and
exits non-zero if a target is missed:

1. FedAvg, logistic regression, breast cancer data over 100 clients, E = 1, B = 10:
   the vectorised simulator is >= 1,000 times faster per round than the Keras loop.
2. The two produce the same global model from the same seed (max |difference| <= 1e-5).
3. 1,000 clients for 100 rounds in under 2 s, tracing (graph building) included.
4. 10,000 clients run; their time per round is printed.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.datasets import load_breast_cancer

import fedmed_lib  # noqa: F401  (import before TensorFlow: quiets its start-up logs)
from fedmed_lib.partition import iid_partition
from fedmed_lib.vectorized import VectorizedFedAvg, keras_fedavg, sample_devices

SEED = 0
LR = 0.1
B = 10


def load() -> tuple[np.ndarray, np.ndarray]:
    """Breast cancer data (569 x 30), standardised."""
    X, y = load_breast_cancer(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y.astype(np.float64)


def main() -> int:
    """Run the benchmark, print the table, return the exit code."""
    X, y = load()
    rows: list[tuple[str, str, str, bool]] = []

    # 1-2. 100 clients: Keras loop vs vectorised, same seed, same initial weights
    parts = iid_partition(len(y), 100, seed=SEED)
    Xc, yc = [X[i] for i in parts], [y[i] for i in parts]
    rng = np.random.default_rng(SEED)
    init = [0.1 * rng.standard_normal((X.shape[1], 1)), np.zeros(1)]
    keras_rounds = 2
    t0 = time.perf_counter()
    h_keras = keras_fedavg(Xc, yc, num_rounds=keras_rounds, local_epochs=1, batch_size=B,
                           lr=LR, seed=SEED, initial_parameters=init)
    keras_per_round = (time.perf_counter() - t0) / keras_rounds

    sim = VectorizedFedAvg(Xc, yc, local_epochs=1, batch_size=B, lr=LR)
    h_vec = sim.run(num_rounds=keras_rounds, seed=SEED, initial_parameters=init)  # traces
    vec_rounds = 200
    t0 = time.perf_counter()
    sim.run(num_rounds=vec_rounds, seed=SEED, initial_parameters=init)
    vec_per_round = (time.perf_counter() - t0) / vec_rounds
    speedup = keras_per_round / vec_per_round
    diff = max(float(np.abs(a - b).max()) for a, b in zip(h_keras.params, h_vec.params,
                                                            strict=True))
    rows.append(("100 clients, time per round: Keras fit loop | vectorised",
                 f"{keras_per_round * 1e3:.1f} ms | {vec_per_round * 1e3:.3f} ms",
                 f"speed-up {speedup:,.0f}x (target >= 1,000x)", speedup >= 1000))
    rows.append(("100 clients, global model after 2 rounds: max |Keras - vectorised|",
                 f"{diff:.1e}", "target <= 1e-5", diff <= 1e-5))

    # 3. 1,000 devices (resampled with replacement + jitter), 100 rounds, tracing included
    Xd, yd = sample_devices(X, y, 1000, min_size=10, max_size=40, noise=0.1, seed=SEED)
    t0 = time.perf_counter()
    sim_1k = VectorizedFedAvg(Xd, yd, local_epochs=1, batch_size=B, lr=LR)
    sim_1k.run(num_rounds=100, seed=SEED)
    t_1k = time.perf_counter() - t0
    rows.append(("1,000 clients x 100 rounds, tracing included: total | per round",
                 f"{t_1k:.2f} s | {t_1k / 100 * 1e3:.1f} ms", "target total < 2 s", t_1k < 2.0))

    # 4. 10,000 devices: time per round after tracing
    Xd, yd = sample_devices(X, y, 10_000, min_size=10, max_size=40, noise=0.1, seed=SEED)
    t0 = time.perf_counter()
    sim_10k = VectorizedFedAvg(Xd, yd, local_epochs=1, batch_size=B, lr=LR)
    sim_10k.run(num_rounds=1, seed=SEED)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    h_10k = sim_10k.run(num_rounds=10, seed=SEED)
    per_round_10k = (time.perf_counter() - t0) / 10
    ok_10k = bool(np.all(np.isfinite(h_10k.params[0])))
    rows.append(("10,000 clients: build + trace + 1 round | time per round",
                 f"{t_first:.2f} s | {per_round_10k * 1e3:.1f} ms", "runs, finite model", ok_10k))

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'measured':<24}  {'target':<32}  status")
    for name, value, target, ok in rows:
        print(f"{name:<{width}}  {value:<24}  {target:<32}  {'ok' if ok else 'MISSED'}")
    missed = [r[0] for r in rows if not r[3]]
    if missed:
        print(f"\n{len(missed)} target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
