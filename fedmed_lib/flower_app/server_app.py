"""The coordinating site's side of the Flower app: a ``ServerApp`` run by the SuperLink.

One run of the app (Beutel et al., 2020) does what :ref:`ch-four-hospitals` did in
simulation:

1. wait until ``num-partitions`` hospitals (SuperNodes) are connected;
2. federated preprocessing: send every hospital a ``query.stats`` message and
   combine the replies with :func:`fedmed_lib.federated_stats.combine`;
3. run Flower's message-based FedAvg (McMahan et al., 2017) for
   ``num-server-rounds`` rounds from ``theta = 0``, sending the global mean and
   standard deviation, ``lr`` and ``local-epochs`` with every ``train`` and
   ``evaluate`` message (``fraction-evaluate = 0`` skips federated evaluation,
   which halves the number of round trips);
4. write the final model and the per-round metrics as JSON to ``result-path``
   (run config), so that the notebook that launched the run can read them.

With the run config ``workload = "scaling"`` (Flower's simulation engine with many
virtual SuperNodes, :mod:`fedmed_lib.flower_app.simulation_engine`) step 2 is
skipped and the clients run the minibatch SGD of
:mod:`fedmed_lib.flower_app.scaling_task`; the result also holds the time at which
each round ended, for ``benchmarks/flower_sim.py``.

Introduced in :ref:`ch-flower`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from fedmed_lib.federated_stats import combine
from fedmed_lib.flower_app.scaling_task import initial_parameters
from fedmed_lib.flower_app.task import num_parameters
from fedmed_lib.stats_messages import ClientStats, GlobalStats

app = ServerApp()

NODE_WAIT_SECONDS = 60.0
"""How long the ServerApp waits for the hospitals to connect before giving up."""


def wait_for_nodes(grid: Grid, num_nodes: int, *, timeout: float = NODE_WAIT_SECONDS) -> list[int]:
    """Return the ids of the connected SuperNodes once there are ``num_nodes`` of them.

    Introduced in :ref:`ch-flower`.

    Raises
    ------
    TimeoutError
        If fewer than ``num_nodes`` SuperNodes are connected after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while len(ids := sorted(grid.get_node_ids())) < num_nodes:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(ids)} of {num_nodes} hospitals connected")
        time.sleep(0.2)
    return ids


def stats_from_content(node: int | str, content: RecordDict) -> ClientStats:
    """Rebuild a hospital's :class:`ClientStats` from the content of its ``query.stats`` reply.

    The reply holds ``[count, mean, m2, mean_residual]`` (see
    :func:`fedmed_lib.flower_app.client_app.stats_content`), so that :func:`combine`
    keeps the global standard deviation accurate far from zero. Introduced in
    :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If the reply does not hold four arrays or no ``num-examples`` metric (the
        message names the node).
    """
    if "stats" not in content.array_records or "metrics" not in content.metric_records:
        raise ValueError(f"node {node}: the statistics reply has no 'stats' or 'metrics' record")
    arrays = content.array_records["stats"].to_numpy_ndarrays()
    if len(arrays) != 4:
        raise ValueError(
            f"node {node}: the statistics reply holds {len(arrays)} arrays, expected 4 "
            "(count, mean, m2, mean_residual)"
        )
    count, mean, m2, mean_residual = arrays
    metrics = content.metric_records["metrics"]
    if "num-examples" not in metrics:
        raise ValueError(f"node {node}: the statistics reply has no 'num-examples' metric")
    n = int(metrics["num-examples"])  # type: ignore[arg-type]
    return ClientStats(node, n, count, mean=mean, m2=m2, mean_residual=mean_residual)


def federated_statistics(grid: Grid, node_ids: list[int]) -> GlobalStats:
    """Ask every hospital for its :class:`ClientStats` and combine them (step 2).

    Introduced in :ref:`ch-flower`.

    Raises
    ------
    RuntimeError
        If a hospital does not reply or replies with an error.
    """
    messages = [
        Message(
            content=RecordDict({"config": ConfigRecord({})}),
            dst_node_id=node_id,
            message_type=f"{MessageType.QUERY}.stats",
        )
        for node_id in node_ids
    ]
    replies = list(grid.send_and_receive(messages, timeout=120))
    stats = []
    for reply in replies:
        node = reply.metadata.src_node_id
        if reply.has_error():
            raise RuntimeError(f"node {node} failed to send statistics: {reply.error.reason}")
        stats.append(stats_from_content(node, reply.content))
    if len(stats) != len(node_ids):
        raise RuntimeError(f"{len(stats)} of {len(node_ids)} hospitals sent statistics")
    return combine(stats)


def _records(by_round: dict[int, Any]) -> dict[str, dict[str, float]]:
    return {str(r): {k: float(v) for k, v in rec.items()} for r, rec in by_round.items()}


def _write_result(cfg: Any, out: dict[str, Any]) -> None:
    path = Path(str(cfg["result-path"]))
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(out, indent=1), encoding="utf-8")
    tmp.replace(path)


def run_scaling(grid: Grid, context: Context) -> dict[str, Any]:
    """FedAvg over the many clients of the scaling workload; return the result record.

    All clients train in every round; no federated evaluation. ``round_ends`` holds
    ``time.perf_counter()`` when the ServerApp started (first entry) and when each
    round's aggregation finished. Introduced in :ref:`ch-flower`.
    """
    t_start = time.perf_counter()
    cfg = context.run_config
    num_clients = int(cfg["num-partitions"])
    num_rounds = int(cfg["num-server-rounds"])
    node_ids = wait_for_nodes(grid, num_clients)
    config = ConfigRecord(
        {
            "lr": float(cfg["lr"]),
            "local-epochs": int(cfg["local-epochs"]),
            "batch-size": int(cfg.get("batch-size", 10)),
            "seed": int(cfg.get("seed", 0)),
            "num-rounds": num_rounds,
        }
    )
    stamps = [t_start]

    def round_end(server_round: int, arrays: ArrayRecord) -> None:
        stamps.append(time.perf_counter())

    strategy = FedAvg(
        fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=num_clients,
        min_evaluate_nodes=0, min_available_nodes=num_clients,
    )
    result = strategy.start(
        grid=grid, initial_arrays=ArrayRecord(initial_parameters()),
        num_rounds=num_rounds, train_config=config, evaluate_fn=round_end,
    )
    params = result.arrays.to_numpy_ndarrays()
    return {
        "params": [a.tolist() for a in params],
        "num_nodes": len(node_ids),
        "round_ends": stamps[:1] + stamps[2:],  # stamps[1] is round 0, before training
    }


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run federated preprocessing, then FedAvg, and write the results to ``result-path``."""
    cfg = context.run_config
    if cfg.get("workload", "heart") == "scaling":
        _write_result(cfg, run_scaling(grid, context))
        return
    num_partitions = int(cfg["num-partitions"])
    num_rounds = int(cfg["num-server-rounds"])
    node_ids = wait_for_nodes(grid, num_partitions)
    global_stats = federated_statistics(grid, node_ids)
    config = ConfigRecord(
        {
            "lr": float(cfg["lr"]),
            "local-epochs": int(cfg["local-epochs"]),
            "mean": [float(v) for v in global_stats.mean],
            "std": [float(v) for v in global_stats.std],
        }
    )
    fraction_evaluate = float(cfg.get("fraction-evaluate", 1.0))
    strategy = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=fraction_evaluate,
        min_train_nodes=num_partitions,
        min_evaluate_nodes=num_partitions if fraction_evaluate > 0 else 0,
        min_available_nodes=num_partitions,
    )
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord([np.zeros(num_parameters())]),
        num_rounds=num_rounds,
        train_config=config,
        evaluate_config=config,
    )
    theta = result.arrays.to_numpy_ndarrays()[0]
    out = {
        "theta": [float(v) for v in theta],
        "global_mean": [float(v) for v in global_stats.mean],
        "global_std": [float(v) for v in global_stats.std],
        "num_nodes": len(node_ids),
        "train_metrics": _records(result.train_metrics_clientapp),
        "evaluate_metrics": _records(result.evaluate_metrics_clientapp),
    }
    _write_result(cfg, out)
