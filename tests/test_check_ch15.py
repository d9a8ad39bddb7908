"""The self-check of ch15 accepts FedAvg over Keras weight lists and explains each typical mistake."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.aggregate import weighted_average
from fedmed_lib.check.ch15_medical_images import check_keras_fedavg


def good(client_weights, num_examples):
    n = sum(num_examples)
    return [sum(nk / n * w[i] for w, nk in zip(client_weights, num_examples))
            for i in range(len(client_weights[0]))]


def test_correct_passes():
    fb = check_keras_fedavg(good)
    assert fb.passed, fb.message


def test_library_weighted_average_passes():
    assert check_keras_fedavg(lambda ws, ns: weighted_average(list(zip(ws, ns)))).passed


def in_place(ws, ns):
    n = sum(ns)
    out = ws[0]
    for i in range(len(out)):
        out[i] *= ns[0] / n
        for w, nk in zip(ws[1:], ns[1:]):
            out[i] += nk / n * w[i]
    return out


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda ws, ns: [np.mean([w[i] for w in ws], axis=0) for i in range(len(ws[0]))],
         "n_k / n, its share"),
        (lambda ws, ns: [sum(nk * w[i] for w, nk in zip(ws, ns)) for i in range(len(ws[0]))],
         "divide by the total"),
        (lambda ws, ns: [sum(w[i] / nk for w, nk in zip(ws, ns)) / sum(1 / nk for nk in ns)
                         for i in range(len(ws[0]))], "1 / n_k"),
        (lambda ws, ns: [np.mean(np.concatenate([a.ravel() for a in w])) * np.ones(1) for w in ws],
         "average layer by layer"),
        (lambda ws, ns: [np.stack([w[i] for w in ws]) for i in range(len(ws[0]))], "wrong shape"),
        (lambda ws, ns: np.concatenate([np.ravel(a) for a in good(ws, ns)]), "one array per layer"),
        (lambda ws, ns: [a.copy() for a in ws[0]], "first hospital"),
        (in_place, "in place"),
        (lambda ws, ns: [a * 1.1 for a in good(ws, ns)], "differs from FedAvg"),
        (lambda ws: ws[0], "keras_fedavg(client_weights, num_examples)"),
    ],
    ids=["unweighted", "unnormalised", "inverse", "across-layers", "stacked", "flat",
         "first-only", "in-place", "scaled", "wrong-signature"],
)
def test_typical_mistakes(fn, hint):
    fb = check_keras_fedavg(fn)
    assert not fb.passed
    assert hint in fb.message, fb.message
