"""The self-check of ch16 accepts a correct train reply and explains each typical mistake."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from fedmed_lib.check.ch16_flower import check_train_reply
from fedmed_lib.flower_app.client_app import train_reply


def good(theta, n, loss):
    return RecordDict({
        "arrays": ArrayRecord([theta]),
        "metrics": MetricRecord({"num-examples": n, "train-loss": loss}),
    })


def test_correct_reply_passes():
    fb = check_train_reply(good)
    assert fb.passed, fb.message
    assert "accepts" in fb.message


def test_library_reply_passes():
    assert check_train_reply(train_reply).passed


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda t, n, l: {"arrays": [t], "num-examples": n}, "wrap the records"),
        (lambda t, n, l: RecordDict({"metrics": MetricRecord({"num-examples": n, "train-loss": l})}),
         "single ArrayRecord"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([t]),
                                     "config": ConfigRecord({"num-examples": n, "train-loss": l})}),
         "ConfigRecord is for settings"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([t]),
                                     "metrics": MetricRecord({"num-examples": n}),
                                     "loss": MetricRecord({"train-loss": l})}),
         "same MetricRecord"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([t]),
                                     "metrics": MetricRecord({"num_examples": n, "train-loss": l})}),
         "with a hyphen"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([t]),
                                     "metrics": MetricRecord({"train-loss": l})}),
         "cannot weight"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([t]),
                                     "metrics": MetricRecord({"num-examples": n})}),
         "'train-loss' next to"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([t]),
                                     "metrics": MetricRecord({"num-examples": t.size, "train-loss": l})}),
         "number of parameters"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([t]),
                                     "metrics": MetricRecord({"num-examples": 1, "train-loss": l})}),
         "number of training rows"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([t]),
                                     "metrics": MetricRecord({"num-examples": float(n), "train-loss": l})}),
         "int(num_examples)"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([t]),
                                     "metrics": MetricRecord({"num-examples": n, "train-loss": 0.0})}),
         "store train_loss"),
        (lambda t, n, l: RecordDict({"arrays": ArrayRecord([np.zeros_like(t)]),
                                     "metrics": MetricRecord({"num-examples": n, "train-loss": l})}),
         "the locally trained model itself"),
        (lambda t, n, l: 1 / 0, "train_reply(theta, num_examples, train_loss)"),
    ],
    ids=["plain-dict", "no-arrayrecord", "configrecord", "two-metricrecords", "underscore",
         "no-count", "no-loss", "num-params", "wrong-count", "float-count", "wrong-loss",
         "wrong-model", "raises"],
)
def test_typical_mistakes(fn, hint):
    fb = check_train_reply(fn)
    assert not fb.passed
    assert hint in fb.message, fb.message


def test_inconsistent_keys_across_replies_are_rejected_by_flower():
    calls = []

    def fn(theta, n, loss):
        calls.append(n)
        arrays = ArrayRecord([theta]) if len(calls) == 1 else ArrayRecord({"w": ArrayRecord([theta])["0"]})
        return RecordDict({"arrays": arrays,
                           "metrics": MetricRecord({"num-examples": n, "train-loss": loss})})

    fb = check_train_reply(fn)
    assert not fb.passed
    assert "rejects your replies" in fb.message, fb.message


def test_feedback_never_reveals_the_expected_model():
    fb = check_train_reply(lambda t, n, l: RecordDict({
        "arrays": ArrayRecord([t + 1]),
        "metrics": MetricRecord({"num-examples": n, "train-loss": l})}))
    assert not fb.passed
    assert "0.5" not in fb.message and "212" not in fb.message
