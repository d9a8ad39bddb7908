"""Self-checks for :ref:`ch-scaling`: batched logits and the batched weighted average.

The vectorised simulator (McMahan et al., 2017's FedAvg, batched over clients as in
fedjax and TensorFlow Federated) holds all clients' weights in one ``(K, d)`` tensor
and their data in one ``(K, n, d)`` tensor. These checks run a learner's batched
functions on small random cases and explain what is wrong (client axes mixed up,
transposed result, missing bias, probabilities instead of logits, unweighted or
unnormalised average) without revealing the expected numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fedmed_lib.check import Feedback, correct, wrong

_HINT_EINSUM = (
    "client k's logits use client k's data and client k's weights only: "
    "sum over the feature axis d, keep the client axis k and the example axis n, "
    "e.g. an einsum with subscripts 'knd,kd->kn'."
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


_STUB = wrong("Your function is still the stub (it raises NotImplementedError).",
              "replace `raise NotImplementedError` with your code.")


def _as_array(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def check_batched_logits(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], Any]) -> Feedback:
    """Check ``fn(X, W, b)``: the logits of every client's examples, all clients at once.

    ``X`` has shape ``(K, n, d)``, ``W`` shape ``(K, d)`` and ``b`` shape ``(K,)``; the
    answer has shape ``(K, n)`` with entry ``[k, i] = X[k, i] . W[k] + b[k]``. Numpy
    arrays and TensorFlow tensors are both accepted. Introduced in :ref:`ch-scaling`.
    """
    for X, W, b in _cases():
        K, n, _ = X.shape
        try:
            got = _as_array(fn(X.copy(), W.copy(), b.copy()))
        except NotImplementedError:
            return _STUB
        except Exception as err:  # noqa: BLE001  (report any failure of learner code)
            return wrong(
                f"Your function raised {type(err).__name__}: {err}",
                "check that each operation keeps the client axis first; " + _HINT_EINSUM,
            )
        if got is None:
            return wrong("Your function did not return an array.", "return the (K, n) logits.")
        right = np.einsum("knd,kd->kn", X, W) + b[:, None]
        if got.shape != (K, n):
            if got.shape == (n, K) and np.allclose(got.T, right):
                return wrong(
                    f"The result has shape {got.shape}: clients and examples are swapped.",
                    "put the client axis first, shape (K, n).",
                )
            return wrong(
                f"For K={K} clients, n={n} examples the result has shape {got.shape}, "
                "not (K, n).",
                "did you multiply every client's data with every client's weights "
                "(X @ W.T)? " + _HINT_EINSUM,
            )
        if np.allclose(got, right):
            continue
        if np.allclose(got, right.T):
            return wrong("Clients and examples are swapped (the result is transposed).",
                         "put the client axis first, shape (K, n).")
        no_bias = right - b[:, None]
        if np.allclose(got, no_bias):
            return wrong("The logits are off by a constant per client.",
                         "add each client's bias b[k] to all of its examples.")
        if K == n and np.allclose(got, no_bias + b[None, :]):
            return wrong(
                "The bias is added along the wrong axis (example i gets client i's bias).",
                "give the bias a trailing axis, b[:, None], so it broadcasts over examples.",
            )
        if np.allclose(got, 1.0 / (1.0 + np.exp(-right))):
            return wrong("These are probabilities, not logits.",
                         "return z = Xw + b before the sigmoid; the loss applies it.")
        if np.allclose(got, np.einsum("knd,d->kn", X, W[0]) + b[:, None]):
            return wrong("Every client uses client 0's weights.",
                         "each client has its own row W[k]. " + _HINT_EINSUM)
        if np.allclose(got, np.einsum("knd,d->kn", X, W.sum(axis=0)) + b[:, None]):
            return wrong("The weights of all clients are summed together.", _HINT_EINSUM)
        return wrong("The logits do not match the batched model.", _HINT_EINSUM)
    return correct("All clients' logits are right, bias included, on three test cases.")


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
        try:
            got = _as_array(fn(W.copy(), sizes.copy()))
        except NotImplementedError:
            return _STUB
        except Exception as err:  # noqa: BLE001
            return wrong(f"Your function raised {type(err).__name__}: {err}",
                         "weights of shape (K,) times models of shape (K, d), summed over k.")
        if got is None:
            return wrong("Your function did not return an array.", "return a vector of length d.")
        p = sizes / sizes.sum()
        right = p @ W
        if got.shape != (d,):
            if got.shape == (K,):
                return wrong(f"The result has shape {got.shape}: one number per client.",
                             "average over the client axis (axis 0), not the feature axis.")
            return wrong(f"The result has shape {got.shape}, not (d,).",
                         "the global model has the shape of one client's model.")
        if np.allclose(got, right):
            continue
        if np.allclose(got, W.mean(axis=0)):
            return wrong("This is the unweighted mean of the client models.",
                         "weight client k by its share of the data, n_k / n.")
        if np.allclose(got, sizes @ W):
            return wrong("The weights n_k do not sum to one.",
                         "divide by the total number of examples n = sum_k n_k.")
        if np.allclose(got, sizes @ W / K):
            return wrong("The result is divided by the number of clients.",
                         "divide by the total number of examples n, not by K.")
        return wrong("The average does not match the weighted FedAvg average.",
                     "compute sum_k (n_k / n) W[k].")
    return correct("The weighted average is right on three test cases.")
