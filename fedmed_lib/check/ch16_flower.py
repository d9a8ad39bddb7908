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

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Symptom, Wrong, call, close, selfcheck, spot

ReplyFn = Callable[[np.ndarray, int, float], Any]

_CASES: tuple[tuple[tuple[float, ...], int, float], ...] = (
    ((0.5, -1.25, 2.0), 212, 0.41),
    ((-0.3, 0.7, 0.1), 86, 0.58),
    ((1.5, 0.25, -0.75), 9, 0.2),
)


def _arrays(content: Any) -> dict[str, Any]:
    return dict(content.array_records.items())


def _metrics(content: Any) -> dict[str, Any]:
    return dict(content.metric_records.items())


def _record(content: Any) -> Any:
    """Return the reply's only MetricRecord."""
    return next(iter(_metrics(content).values()))


def _count_in_config(content: Any) -> bool:
    return any("num-examples" in c for c in dict(content.config_records.items()).values())


def _bad_count(content: Any, theta: np.ndarray, n: int) -> bool:
    count = _record(content)["num-examples"]
    return isinstance(count, list | bool) or count != n


_MISTAKES = (
    Symptom(lambda content, theta, n, loss: len(_arrays(content)) != 1,
            lambda content, *_: f"The reply holds {len(_arrays(content))} ArrayRecords; "
            "FedAvg needs exactly one.",
            "put the model in a single ArrayRecord (section 'The same step as a Flower "
            "ClientApp'); a plain list or array is not an ArrayRecord."),
    Symptom(lambda content, theta, n, loss: not _metrics(content),
            lambda content, *_: "The reply has no MetricRecord"
            + (" (it is in a ConfigRecord)." if _count_in_config(content) else "."),
            "FedAvg reads the weight of each hospital from the reply's MetricRecord; "
            "a ConfigRecord is for settings the server sends, not for results."),
    Symptom(lambda content, theta, n, loss: len(_metrics(content)) != 1,
            lambda content, *_: f"The reply holds {len(_metrics(content))} MetricRecords; "
            "FedAvg needs exactly one.",
            "put num-examples and train-loss in the same MetricRecord."),
    Symptom(lambda content, theta, n, loss: "num-examples" not in _record(content)
            and bool({"num_examples", "num-samples", "num_samples", "n"}
                     & set(_record(content).keys())),
            "The MetricRecord has a count, but under another name.",
            "Flower's FedAvg weights replies by the key 'num-examples' (with a "
            "hyphen, as in its weighted_by_key default)."),
    Symptom(lambda content, theta, n, loss: "num-examples" not in _record(content),
            "The MetricRecord has no 'num-examples'.",
            "without it the server cannot weight your model by n_k / n."),
    Symptom(lambda content, theta, n, loss: "train-loss" not in _record(content),
            "The MetricRecord has no 'train-loss'.",
            "report the local training loss as 'train-loss' next to 'num-examples'."),
    Symptom(lambda content, theta, n, loss: _bad_count(content, theta, n)
            and _record(content)["num-examples"] == theta.size,
            "'num-examples' is not this hospital's number of examples.",
            "you sent the number of parameters; send the number of patients."),
    Symptom(lambda content, theta, n, loss: _bad_count(content, theta, n),
            "'num-examples' is not this hospital's number of examples.",
            "send num_examples, the number of training rows of this hospital."),
    Symptom(lambda content, theta, n, loss: not isinstance(_record(content)["num-examples"], int),
            "'num-examples' is not an integer.",
            "cast it with int(num_examples)."),
    Symptom(lambda content, theta, n, loss: not np.isclose(
                float(_record(content)["train-loss"]), loss, rtol=1e-9, atol=0.0),
            "'train-loss' is not the loss you were given.",
            "store train_loss as a float under 'train-loss'."),
    Symptom(lambda content, theta, n, loss: not close(
                next(iter(_arrays(content).values())).to_numpy_ndarrays(), [theta],
                rtol=1e-5, atol=1e-8),
            "The ArrayRecord does not hold the model you were given.",
            "the ArrayRecord must hold the locally trained model itself, the theta your "
            "function receives, not another array."),
)


@selfcheck
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
        content = call(fn, theta, n, loss, where=f" (test case {case_no})",
                       hint="call it as train_reply(theta, num_examples, train_loss) and "
                       "return a flwr.app.RecordDict.")
        if not isinstance(content, RecordDict):
            raise Wrong(
                f"Your function returned a {type(content).__name__}, not a RecordDict.",
                "wrap the records in a RecordDict, under names, as in section 'The same "
                "step as a Flower ClientApp'.",
            )
        spot(content, _MISTAKES, (theta, n, loss))
        replies.append(content)

    # Flower's own checks and aggregation must accept the replies.
    try:
        validate_message_reply_consistency(
            replies=replies, weighted_by_key="num-examples", check_arrayrecord=True
        )
        avg = aggregate_arrayrecords(replies, "num-examples").to_numpy_ndarrays()[0]
    except (InconsistentMessageReplies, KeyError, ValueError, TypeError) as err:
        raise Wrong(
            f"Flower's FedAvg rejects your replies: {err}",
            "use the same record names and metric keys in every reply.",
        ) from err
    sizes = np.array([c[1] for c in _CASES], dtype=np.float64)
    expected = sum(w * np.array(c[0]) for w, c in zip(sizes / sizes.sum(), _CASES, strict=True))
    if not close(avg, expected, rtol=1e-5, atol=1e-8):
        raise Wrong(
            "Flower averages your replies to an unexpected model.",
            "send the model (not an update) and the true num-examples.",
        )
    return correct(
        "Your reply has one ArrayRecord and one MetricRecord with 'num-examples' and "
        "'train-loss'; Flower's FedAvg accepts it and weights it by n_k / n."
    )
