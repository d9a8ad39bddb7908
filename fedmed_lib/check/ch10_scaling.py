"""Self-checks for :ref:`ch-scaling`: batched logits and the batched weighted average.

The vectorised simulator (McMahan et al., 2017's FedAvg, batched over clients as in
fedjax and TensorFlow Federated) holds all clients' weights in one ``(K, d)`` tensor
and their data in one ``(K, n_max, d)`` tensor. These checks run a learner's batched
functions on small random cases and explain what is wrong (client axes mixed up,
transposed result, missing bias, probabilities instead of logits, unweighted or
unnormalised average) without revealing the expected numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Mistake, Symptom, Wrong, as_array, call, diagnose, selfcheck

_HINT_EINSUM = (
    "client k's logits use client k's data and client k's weights only: "
    "your einsum (or product) must sum over the feature axis d only and keep both the "
    "client axis k and the example axis n in the result."
)


def _cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1010)
    out = []
    for K, n, d in [(4, 4, 2), (3, 5, 4), (2, 6, 3)]:  # K == n first: catches axis mix-ups
        X = rng.standard_normal((K, n, d))
        W = rng.standard_normal((K, d))
        b = rng.standard_normal(K) + 1.0
        out.append((X, W, b))
    return out


_STUB = ("Your function is still the stub (it raises NotImplementedError).",
         "replace `raise NotImplementedError` with your code.")


def _logits(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("knd,kd->kn", X, W) + b[:, None]


_LOGIT_MISTAKES = (
    Symptom(lambda got, X, W, b: got.shape == X.shape[1::-1] != X.shape[:2]
            and np.allclose(got.T, _logits(X, W, b)),
            lambda got, X, W, b: f"The result has shape {got.shape}: clients and examples "
            "are swapped.",
            "put the client axis first, shape (K, n_max)."),
    Symptom(lambda got, X, W, b: got.shape != X.shape[:2],
            lambda got, X, W, b: f"For K={X.shape[0]} clients, n={X.shape[1]} examples the "
            f"result has shape {got.shape}, not (K, n_max).",
            "did you multiply every client's data with every client's weights "
            "(a plain matrix product with W transposed)? " + _HINT_EINSUM),
    Mistake(lambda X, W, b: _logits(X, W, b).T,
            "Clients and examples are swapped (the result is transposed).",
            "put the client axis first, shape (K, n_max)."),
    Mistake(lambda X, W, b: _logits(X, W, b) - b[:, None],
            "The logits are off by a constant per client.",
            "add each client's bias b[k] to all of its examples."),
    Mistake(lambda X, W, b: _logits(X, W, b) - b[:, None] + b[None, :] if len(b) == X.shape[1]
            else None,
            "The bias is added along the wrong axis (example i gets client i's bias).",
            "b has one entry per client: give it a trailing axis so that it broadcasts "
            "over the examples (axis 1), not over the clients."),
    Mistake(lambda X, W, b: 1.0 / (1.0 + np.exp(-_logits(X, W, b))),
            "These are probabilities, not logits.",
            "the check asks for the logits, the values before the sigmoid; the loss "
            "applies the sigmoid itself."),
    Mistake(lambda X, W, b: np.einsum("knd,d->kn", X, W[0]) + b[:, None],
            "Every client uses client 0's weights.",
            "each client has its own row W[k]. " + _HINT_EINSUM),
    Mistake(lambda X, W, b: np.einsum("knd,d->kn", X, W.sum(axis=0)) + b[:, None],
            "The weights of all clients are summed together.", _HINT_EINSUM),
)


def _array(out: Any, what: str) -> np.ndarray:
    if out is None:
        raise Wrong("Your function did not return an array.", what)
    return as_array(out, what)


@selfcheck
def check_batched_logits(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], Any]) -> Feedback:
    """Check ``fn(X, W, b)``: the logits of every client's examples, all clients at once.

    ``X`` has shape ``(K, n_max, d)``, ``W`` shape ``(K, d)`` and ``b`` shape ``(K,)``; the
    answer has shape ``(K, n_max)`` with entry ``[k, i] = X[k, i] . W[k] + b[k]``. Numpy
    arrays and TensorFlow tensors are both accepted. Introduced in :ref:`ch-scaling`.
    """
    for X, W, b in _cases():
        out = call(fn, X, W, b, stub=_STUB, hint="check that each operation keeps the "
                   "client axis first; " + _HINT_EINSUM)
        diagnose(_array(out, "return the (K, n_max) logits."), _logits(X, W, b),
                 _LOGIT_MISTAKES, (X, W, b), rtol=1e-5, atol=1e-8,
                 generic=("The logits do not match the batched model.", _HINT_EINSUM))
    return correct("All clients' logits are right, bias included, on three test cases.")


_AVERAGE_MISTAKES = (
    Symptom(lambda got, W, sizes: got.shape == (len(W),) != W.shape[1:],
            lambda got, W, sizes: f"The result has shape {got.shape}: one number per client.",
            "average over the client axis (axis 0), not the feature axis."),
    Symptom(lambda got, W, sizes: got.shape != W.shape[1:],
            lambda got, W, sizes: f"The result has shape {got.shape}, not (d,).",
            "the global model has the shape of one client's model."),
    Mistake(lambda W, sizes: W.mean(axis=0),
            "This is the unweighted mean of the client models.",
            "weight client k by its share of the data, n_k / n."),
    Mistake(lambda W, sizes: sizes @ W,
            "The weights n_k do not sum to one.",
            "divide by the total number of examples n = sum_k n_k."),
    Mistake(lambda W, sizes: sizes @ W / len(W),
            "The result is divided by the number of clients.",
            "divide by the total number of examples n, not by K."),
)


@selfcheck
def check_batched_average(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Feedback:
    """Check ``fn(W, num_examples)``: the server's weighted average of ``K`` client models.

    ``W`` has shape ``(K, d)`` (one model per row) and ``num_examples`` shape ``(K,)``;
    the answer has shape ``(d,)``: ``sum_k (n_k / n) W[k]``. Introduced in
    :ref:`ch-scaling`.
    """
    rng = np.random.default_rng(1011)
    for K, d in [(3, 4), (5, 5), (2, 3)]:
        W = rng.standard_normal((K, d))
        sizes = rng.integers(1, 50, size=K).astype(np.float64)
        out = call(fn, W, sizes, stub=_STUB,
                   hint="weights of shape (K,) times models of shape (K, d), summed over k.")
        diagnose(_array(out, "return a vector of length d."), sizes / sizes.sum() @ W,
                 _AVERAGE_MISTAKES, (W, sizes), rtol=1e-5, atol=1e-8,
                 generic=("The average does not match the weighted FedAvg average.",
                          "check the weights (each client's share of the examples, "
                          "adding up to one) and the axis they sum over (the clients)."))
    return correct("The weighted average is right on three test cases.")
