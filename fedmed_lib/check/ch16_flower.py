"""Self-check for :ref:`ch-flower`: the content of a ClientApp's ``train`` reply.

Flower's message-based FedAvg (Beutel et al., 2020; McMahan et al., 2017) expects
every ``train`` reply to carry exactly one ``ArrayRecord`` (the local model) and
exactly one ``MetricRecord`` whose ``"num-examples"`` entry is the weight of the
hospital in the average. The learner writes ``train_reply(theta, num_examples,
train_loss)`` returning a ``flwr.app.RecordDict``; the check runs it on small
cases, passes the replies through Flower's own consistency check and aggregation,
and recognises the usual mistakes (Python's ``num_examples`` spelling, the count
in a ``ConfigRecord``, two metric records, the number of parameters instead of
the number of examples, a missing training loss, a list instead of an
``ArrayRecord``), without printing the expected values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fedmed_lib.check import Feedback, correct, wrong

ReplyFn = Callable[[np.ndarray, int, float], Any]

_CASES: tuple[tuple[tuple[float, ...], int, float], ...] = (
    ((0.5, -1.25, 2.0), 212, 0.41),
    ((-0.3, 0.7, 0.1), 86, 0.58),
    ((1.5, 0.25, -0.75), 9, 0.2),
)


def _metric_records(content: Any) -> dict[str, Any]:
    return dict(content.metric_records.items())


def check_train_reply(fn: ReplyFn) -> Feedback:
    """Check a learner's ``train_reply(theta, num_examples, train_loss) -> RecordDict``.

    Introduced in the exercises of :ref:`ch-flower`.

    Parameters
    ----------
    fn
        Builds the content of a ``train`` reply: one ``ArrayRecord`` holding
        ``theta`` and one ``MetricRecord`` holding ``"num-examples"`` and
        ``"train-loss"``.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected values).
    """
    from flwr.app import RecordDict
    from flwr.serverapp.exception import InconsistentMessageReplies
    from flwr.serverapp.strategy.strategy_utils import (
        aggregate_arrayrecords,
        validate_message_reply_consistency,
    )

    replies = []
    for case_no, (values, n, loss) in enumerate(_CASES, start=1):
        theta = np.array(values)
        try:
            content = fn(theta.copy(), n, loss)
        except Exception as err:  # noqa: BLE001 - any learner error becomes feedback
            return wrong(
                f"Your function raised {type(err).__name__}: {err} (test case {case_no}).",
                "call it as train_reply(theta, num_examples, train_loss) and return a "
                "flwr.app.RecordDict.",
            )
        if not isinstance(content, RecordDict):
            return wrong(
                f"Your function returned a {type(content).__name__}, not a RecordDict.",
                "wrap the records: RecordDict({'arrays': ArrayRecord(...), "
                "'metrics': MetricRecord(...)}).",
            )
        arrays = dict(content.array_records.items())
        if len(arrays) != 1:
            return wrong(
                f"The reply holds {len(arrays)} ArrayRecords; FedAvg needs exactly one.",
                "put the model in a single ArrayRecord, e.g. ArrayRecord([theta]); a plain "
                "list or array is not an ArrayRecord.",
            )
        metrics = _metric_records(content)
        configs = dict(content.config_records.items())
        if not metrics:
            where = " (it is in a ConfigRecord)" if any(
                "num-examples" in c for c in configs.values()
            ) else ""
            return wrong(
                f"The reply has no MetricRecord{where}.",
                "FedAvg reads the weight of each hospital from the reply's MetricRecord; "
                "a ConfigRecord is for settings the server sends, not for results.",
            )
        if len(metrics) != 1:
            return wrong(
                f"The reply holds {len(metrics)} MetricRecords; FedAvg needs exactly one.",
                "put num-examples and train-loss in the same MetricRecord.",
            )
        record = next(iter(metrics.values()))
        keys = set(record.keys())
        if "num-examples" not in keys:
            if {"num_examples", "num-samples", "num_samples", "n"} & keys:
                return wrong(
                    "The MetricRecord has a count, but under another name.",
                    "Flower's FedAvg weights replies by the key 'num-examples' (with a "
                    "hyphen, as in its weighted_by_key default).",
                )
            return wrong(
                "The MetricRecord has no 'num-examples'.",
                "without it the server cannot weight your model by n_k / n.",
            )
        if "train-loss" not in keys:
            return wrong(
                "The MetricRecord has no 'train-loss'.",
                "report the local training loss as 'train-loss' next to 'num-examples'.",
            )
        count = record["num-examples"]
        if isinstance(count, list) or isinstance(count, bool) or count != n:
            if count == theta.size:
                hint = "you sent the number of parameters; send the number of patients."
            else:
                hint = "send num_examples, the number of training rows of this hospital."
            return wrong("'num-examples' is not this hospital's number of examples.", hint)
        if not isinstance(count, int):
            return wrong(
                "'num-examples' is not an integer.",
                "cast it with int(num_examples).",
            )
        if not np.isclose(float(record["train-loss"]), loss, rtol=1e-9, atol=0.0):
            return wrong(
                "'train-loss' is not the loss you were given.",
                "store train_loss as a float under 'train-loss'.",
            )
        sent = next(iter(arrays.values())).to_numpy_ndarrays()
        if len(sent) != 1 or sent[0].shape != theta.shape or not np.allclose(sent[0], theta):
            return wrong(
                "The ArrayRecord does not hold the model you were given.",
                "send the locally trained model itself: ArrayRecord([theta]).",
            )
        replies.append(content)

    # Flower's own checks and aggregation must accept the replies.
    try:
        validate_message_reply_consistency(
            replies=replies, weighted_by_key="num-examples", check_arrayrecord=True
        )
        avg = aggregate_arrayrecords(replies, "num-examples").to_numpy_ndarrays()[0]
    except (InconsistentMessageReplies, KeyError, ValueError, TypeError) as err:
        return wrong(
            f"Flower's FedAvg rejects your replies: {err}",
            "use the same record names and metric keys in every reply.",
        )
    sizes = np.array([c[1] for c in _CASES], dtype=np.float64)
    expected = sum(w * np.array(c[0]) for w, c in zip(sizes / sizes.sum(), _CASES, strict=True))
    if not np.allclose(avg, expected):
        return wrong(
            "Flower averages your replies to an unexpected model.",
            "send the model (not an update) and the true num-examples.",
        )
    return correct(
        "Your reply has one ArrayRecord and one MetricRecord with 'num-examples' and "
        "'train-loss'; Flower's FedAvg accepts it and weights it by n_k / n."
    )
