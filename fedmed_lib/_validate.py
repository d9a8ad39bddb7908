"""Input checks shared by the whole library.

Every public function that receives client data or client updates validates it
here, so that bad input fails early with a ``ValueError`` that says *which*
client sent *what*, before the global model is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Params = list[NDArray[np.float64]]
"""Model parameters: a list of numpy arrays (Flower calls this ``NDArrays``)."""


def client_label(client: int | str) -> str:
    """Return the name used for a client in error messages."""
    return f"client {client!r}" if isinstance(client, str) else f"client {client}"


def check_params(params: Sequence[np.ndarray], *, name: str = "params") -> Params:
    """Check that ``params`` is a non-empty list of finite float arrays and return a copy."""
    if isinstance(params, np.ndarray):
        raise ValueError(f"{name} must be a list of numpy arrays, got a single array")
    if len(params) == 0:
        raise ValueError(f"{name} is empty: expected at least one array")
    out: Params = []
    for i, p in enumerate(params):
        a = np.asarray(p, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}[{i}] contains NaN or Inf")
        out.append(a.copy())
    return out


def check_update(
    update: Sequence[np.ndarray],
    reference: Sequence[np.ndarray],
    *,
    client: int | str,
) -> Params:
    """Check one client's update against the shapes of the global model.

    Raises
    ------
    ValueError
        If the update has the wrong number of arrays, a wrong shape, or NaN/Inf,
        naming the client and the problem.
    """
    who = client_label(client)
    if isinstance(update, np.ndarray):
        raise ValueError(f"{who}: update must be a list of arrays, got a single array")
    if len(update) != len(reference):
        raise ValueError(
            f"{who}: update has {len(update)} arrays, the global model has {len(reference)}"
        )
    out: Params = []
    for i, (u, r) in enumerate(zip(update, reference, strict=True)):
        try:
            a = np.asarray(u, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{who}: array {i} is not numeric ({err})") from err
        if a.shape != np.shape(r):
            raise ValueError(
                f"{who}: array {i} has shape {a.shape}, expected {np.shape(r)}"
            )
        if np.isnan(a).any():
            raise ValueError(f"{who}: array {i} contains NaN")
        if np.isinf(a).any():
            raise ValueError(f"{who}: array {i} contains Inf")
        out.append(a)
    return out


def check_num_examples(num_examples: object, *, client: int | str) -> int:
    """Check that a client's ``num_examples`` is a positive integer."""
    who = client_label(client)
    if isinstance(num_examples, bool) or not isinstance(num_examples, int | np.integer):
        raise ValueError(f"{who}: num_examples must be an integer, got {num_examples!r}")
    if num_examples <= 0:
        raise ValueError(f"{who}: num_examples must be positive, got {num_examples}")
    return int(num_examples)


def check_xy(
    X: np.ndarray, y: np.ndarray, *, client: int | str = "data"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check a client's design matrix and targets: non-empty, 2-D ``X``, matching rows, finite."""
    who = client_label(client) if client != "data" else "data"
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{who}: X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{who}: empty data (X has 0 rows)")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{who}: X has {X.shape[0]} rows but y has {y.shape[0]} (shapes {X.shape}, {y.shape})"
        )
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{who}: X contains NaN or Inf")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{who}: y contains NaN or Inf")
    return X, y


def check_positive(value: float, *, name: str) -> float:
    """Check that a hyper-parameter is a finite positive number."""
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_fraction(value: float, *, name: str) -> float:
    """Check that ``value`` lies in (0, 1]."""
    if not np.isfinite(value) or not 0 < value <= 1:
        raise ValueError(f"{name} must lie in (0, 1], got {value!r}")
    return float(value)
