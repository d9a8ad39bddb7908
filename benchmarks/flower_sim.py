"""Flower's simulation engine (Ray backend) on the scaling workload, beside ``run_simulation``.

Run: python benchmarks/flower_sim.py [--clients 100 1000] [--rounds 3] [--out FILE]

For each number of clients it runs the workload of ``benchmarks/bench_scaling.py``
(:mod:`fedmed_lib.flower_app.scaling_task`: FedAvg of logistic regression on the
breast-cancer data, E = 1, B = 10, lr = 0.1) with the book's Flower ClientApp and
ServerApp on Flower's simulation engine (one virtual SuperNode per client, one Ray
worker per core), and the same setting with the book's in-process
``fedmed_lib.simulation.run_simulation``; it prints seconds per round of both, the
start-up cost of the Flower engine, and the largest difference between the two final
models (target <= 1e-12), and exits non-zero if a model differs. ``--out`` writes
the table as JSON (the chapter on Flower shows such a file, ``ch-flower``).

:func:`flower_seconds_per_round` is what ``bench_scaling.py`` calls for its three-way
row (Flower engine, ``run_simulation``, vectorised simulator).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fedmed_lib.flower_app.scaling_task import BATCH_SIZE, LR, scaling_reference
from fedmed_lib.flower_app.simulation_engine import run_flower_simulation

TOLERANCE = 1e-12
"""Largest allowed |Flower engine - run_simulation| in the final model (float64, numpy)."""


def flower_seconds_per_round(
    num_clients: int,
    num_rounds: int,
    local_epochs: int = 1,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
) -> dict[str, Any]:
    """Time the scaling workload on Flower's simulation engine (Ray backend, 2 CPUs).

    Returns a dict with

    * ``per_round_excluding_startup``: mean seconds of rounds 2..R on the ServerApp's
      clock (round 1 also pays Ray's workers importing the app and loading data;
      ``None`` if ``num_rounds == 1``);
    * ``per_round_including_startup``: wall-clock seconds of everything (SuperLink
      start, ``flwr run``, Ray start, all rounds, shutdown) divided by ``num_rounds``;
    * ``startup_seconds``: wall-clock seconds that are not rounds (total minus the
      sum of all rounds), ``first_round_seconds``, ``total_seconds``,
      ``round_seconds`` (list), ``num_nodes``, ``params`` (final model,
      ``[kernel (30, 1), bias (1,)]``) and the arguments.
    """
    res = run_flower_simulation(num_clients=num_clients, num_rounds=num_rounds,
                                local_epochs=local_epochs, batch_size=batch_size, seed=seed)
    later = res.round_seconds[1:]
    return {
        "num_clients": num_clients, "num_rounds": num_rounds, "local_epochs": local_epochs,
        "batch_size": batch_size, "seed": seed, "lr": LR,
        "per_round_excluding_startup": float(np.mean(later)) if later else None,
        "per_round_including_startup": res.total_seconds / num_rounds,
        "first_round_seconds": res.round_seconds[0],
        "startup_seconds": res.startup_seconds,
        "total_seconds": res.total_seconds,
        "round_seconds": res.round_seconds,
        "num_nodes": res.num_nodes,
        "params": res.params,
    }


def run_simulation_seconds_per_round(
    num_clients: int, num_rounds: int, local_epochs: int = 1, batch_size: int = BATCH_SIZE,
    seed: int = 0,
) -> tuple[float, list[np.ndarray]]:
    """Seconds per round of ``run_simulation`` on the same workload (data loaded first)."""
    scaling_reference(num_clients=num_clients, num_rounds=1, local_epochs=local_epochs,
                      batch_size=batch_size, seed=seed)  # loads the data, warms the caches
    t0 = time.perf_counter()
    history = scaling_reference(num_clients=num_clients, num_rounds=num_rounds,
                                local_epochs=local_epochs, batch_size=batch_size, seed=seed)
    return (time.perf_counter() - t0) / num_rounds, history.params


def main(argv: list[str] | None = None) -> int:
    """Run the comparison, print the table, optionally write JSON; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    for k in args.clients:
        flower = flower_seconds_per_round(k, args.rounds)
        t_sim, params_sim = run_simulation_seconds_per_round(k, args.rounds)
        diff = max(float(np.abs(a - b).max())
                   for a, b in zip(flower["params"], params_sim, strict=True))
        rows.append({**{key: v for key, v in flower.items() if key != "params"},
                     "run_simulation_per_round": t_sim, "max_abs_difference": diff,
                     "same_model": diff <= TOLERANCE})
    print(f"{'clients':>7}  {'Flower/round':>12}  {'incl. start-up':>14}  {'start-up':>8}  "
          f"{'run_simulation/round':>20}  {'max |diff|':>10}")
    for r in rows:
        excl = r["per_round_excluding_startup"]
        print(f"{r['num_clients']:>7}  {excl if excl is None else f'{excl:.2f} s':>12}  "
              f"{r['per_round_including_startup']:>12.2f} s  {r['startup_seconds']:>6.1f} s  "
              f"{r['run_simulation_per_round']:>18.3f} s  {r['max_abs_difference']:>10.1e}")
    if args.out is not None:
        meta = {"machine": f"{platform.machine()}, {platform.python_version()}",
                "date": dt.date.today().isoformat(), "rounds": args.rounds,
                "tolerance": TOLERANCE, "rows": rows}
        args.out.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return 0 if all(r["same_model"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
