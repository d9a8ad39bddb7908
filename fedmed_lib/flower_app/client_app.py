"""The hospital side of the Flower app: a ``ClientApp`` run by each hospital's SuperNode.

Flower (Beutel et al., 2020) delivers three kinds of messages to a hospital:

* ``query.stats``: reply with the per-feature counts, means, sums of squared
  deviations and mean residuals of the hospital's training rows (its
  :class:`~fedmed_lib.stats_messages.ClientStats`; federated preprocessing,
  :ref:`ch-four-hospitals`);
* ``train``: run ``local-epochs`` full-batch gradient steps of logistic regression
  from the received global model and reply with the local model and a
  ``MetricRecord`` holding ``num-examples``, the weight of FedAvg
  (McMahan et al., 2017);
* ``evaluate``: reply with the loss and accuracy of the global model on the
  hospital's test split.

The hospital is chosen by the SuperNode's ``--node-config "partition-id=K
num-partitions=N"``; a SuperNode reads only its own hospital's file. With the run config
``workload = "scaling"`` a ``train`` message runs instead the minibatch SGD of
client ``partition-id`` of :mod:`fedmed_lib.flower_app.scaling_task` (Flower's
simulation engine, many virtual SuperNodes). The numerical
work is in :mod:`fedmed_lib.flower_app.task`. Introduced in :ref:`ch-flower`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    Metadata,
    MetricRecord,
    RecordDict,
)
from flwr.clientapp import ClientApp

from fedmed_lib.flower_app.scaling_task import train_scaling_client
from fedmed_lib.flower_app.task import (
    SiteData,
    evaluate_site,
    global_stats_from_arrays,
    load_site,
    site_stats,
    train_site,
)
from fedmed_lib.stats_messages import ClientStats

app = ClientApp()


def site_from_context(context: Context) -> SiteData:
    """Load the hospital named by the SuperNode's ``partition-id`` / ``num-partitions``.

    The optional ``data-dir`` node config overrides the data search path. Introduced
    in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If ``partition-id`` or ``num-partitions`` is missing or out of range.
    """
    cfg = context.node_config
    for key in ("partition-id", "num-partitions"):
        if key not in cfg:
            raise ValueError(f"the SuperNode's --node-config has no {key!r}")
    data_dir = cfg.get("data-dir")
    return load_site(
        int(cfg["partition-id"]),
        int(cfg["num-partitions"]),
        data_dir=str(data_dir) if data_dir else None,
    )


def delivered_message(
    content: RecordDict, message_type: str, *, node_id: int = 1, run_id: int = 1
) -> Message:
    """Build a message as a SuperNode delivers it, to call the ClientApp in one process.

    ``app(delivered_message(content, "train"), context)`` runs the hospital's code
    without any network, which is how :ref:`ch-flower` and the tests check it before
    deploying. Introduced in :ref:`ch-flower`.
    """
    metadata = Metadata(
        run_id=run_id,
        message_id=f"local-{message_type}",
        src_node_id=0,
        dst_node_id=node_id,
        reply_to_message_id="",
        group_id="",
        created_at=time.time(),
        ttl=3600.0,
        message_type=message_type,
    )
    return Message(content=content, metadata=metadata)  # type: ignore[call-overload]


def node_context(
    partition_id: int, num_partitions: int, *, data_dir: str | None = None
) -> Context:
    """Build the ``Context`` a SuperNode started with ``--node-config`` gives the ClientApp.

    Introduced in :ref:`ch-flower`.
    """
    node_config: dict[str, int | str] = {
        "partition-id": partition_id,
        "num-partitions": num_partitions,
    }
    if data_dir is not None:
        node_config["data-dir"] = data_dir
    return Context(
        run_id=1, node_id=partition_id + 1, node_config=node_config,  # type: ignore[arg-type]
        state=RecordDict(), run_config={},
    )


def train_reply(theta: np.ndarray, num_examples: int, train_loss: float) -> RecordDict:
    """Build the content of a ``train`` reply: one ``ArrayRecord``, one ``MetricRecord``.

    Flower's FedAvg weights each reply by its ``"num-examples"`` metric. Introduced in
    :ref:`ch-flower`.
    """
    return RecordDict(
        {
            "arrays": ArrayRecord([np.asarray(theta, dtype=np.float64)]),
            "metrics": MetricRecord(
                {"num-examples": int(num_examples), "train-loss": float(train_loss)}
            ),
        }
    )


def _config_floats(config: ConfigRecord, key: str) -> Sequence[float]:
    value = config[key]
    if not isinstance(value, list):
        raise ValueError(f"config {key!r} must be a list of floats, got {value!r}")
    return [float(v) for v in value]


def stats_content(s: ClientStats) -> RecordDict:
    """Build the content of a ``query.stats`` reply from a hospital's statistics.

    One ``ArrayRecord`` ``"stats"`` holds ``[count, mean, m2, mean_residual]`` (the
    stable form of :mod:`fedmed_lib.federated_stats`, never raw sums of squares, which
    lose every digit for values far from zero) and one ``MetricRecord`` holds
    ``num-examples``. :func:`fedmed_lib.flower_app.server_app.stats_from_content`
    reads it back. Introduced in :ref:`ch-flower`.
    """
    return RecordDict(
        {
            "stats": ArrayRecord([s.count, s.mean, s.m2, s.mean_residual]),
            "metrics": MetricRecord({"num-examples": int(s.num_examples)}),
        }
    )


@app.query("stats")
def stats(msg: Message, context: Context) -> Message:
    """Reply with this hospital's :class:`~fedmed_lib.stats_messages.ClientStats`."""
    s = site_stats(site_from_context(context))
    return Message(content=stats_content(s), reply_to=msg)


def _train_scaling(msg: Message, context: Context) -> Message:
    """Run the ``train`` step of the scaling workload (:mod:`.scaling_task`)."""
    cfg = context.node_config
    config = msg.content.config_records["config"]
    params = msg.content.array_records["arrays"].to_numpy_ndarrays()
    new, n = train_scaling_client(
        int(cfg["partition-id"]),
        params,
        int(config["server-round"]),  # type: ignore[arg-type]
        num_clients=int(cfg["num-partitions"]),
        num_rounds=int(config["num-rounds"]),  # type: ignore[arg-type]
        local_epochs=int(config["local-epochs"]),  # type: ignore[arg-type]
        seed=int(config["seed"]),  # type: ignore[arg-type]
        lr=float(config["lr"]),  # type: ignore[arg-type]
        batch_size=int(config["batch-size"]),  # type: ignore[arg-type]
    )
    content = RecordDict(
        {
            "arrays": ArrayRecord([np.asarray(a, dtype=np.float64) for a in new]),
            "metrics": MetricRecord({"num-examples": int(n)}),
        }
    )
    return Message(content=content, reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Train the received global model on this hospital's data and reply.

    With the run config ``workload = "scaling"`` the node is one of many simulated
    clients of :mod:`~fedmed_lib.flower_app.scaling_task` instead.
    """
    if context.run_config.get("workload", "heart") == "scaling":
        return _train_scaling(msg, context)
    site = site_from_context(context)
    config = msg.content.config_records["config"]
    theta = msg.content.array_records["arrays"].to_numpy_ndarrays()[0]
    global_stats = global_stats_from_arrays(
        _config_floats(config, "mean"), _config_floats(config, "std")
    )
    new, n, loss = train_site(
        theta,
        site,
        global_stats,
        lr=float(config["lr"]),  # type: ignore[arg-type]
        local_epochs=int(config["local-epochs"]),  # type: ignore[arg-type]
    )
    return Message(content=train_reply(new, n, loss), reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Evaluate the received global model on this hospital's test split and reply."""
    site = site_from_context(context)
    config = msg.content.config_records["config"]
    theta = msg.content.array_records["arrays"].to_numpy_ndarrays()[0]
    global_stats = global_stats_from_arrays(
        _config_floats(config, "mean"), _config_floats(config, "std")
    )
    n, loss, acc = evaluate_site(theta, site, global_stats)
    metrics = MetricRecord({"num-examples": n, "test-loss": loss, "test-accuracy": acc})
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
