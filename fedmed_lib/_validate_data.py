"""Input checks of a client's data: ``X`` and ``y``, labels, patient columns, lists of clients.

One job: decide what one hospital's data set must look like before any model sees
it, and say which client is wrong and how. ``X`` is a non-empty 2-D real array and
``y`` a 1-D real array with one entry per row (a column ``y`` of shape ``(n, 1)`` is
refused: it broadcasts silently in ``X @ theta - y``); labels are 0/1 for a binary
model (1 is the disease) and class indices for softmax; two per-patient columns
(labels and scores, times and events) have one length and a 0/1 column; a list of
clients is non-empty and every client has the same columns. The checks of single
values, arrays, updates and calls (and :class:`~fedmed_lib._validate.InputTypeError`)
are in :mod:`fedmed_lib._validate`, which also makes these importable. Introduced
in :ref:`ch-fedsgd`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_list,
    check_real_array,
    client_label,
)


def check_xy(
    X: np.ndarray, y: np.ndarray, *, client: int | str = "data"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check a client's design matrix and targets.

    ``X`` must be a non-empty 2-D real array and ``y`` a 1-D real array with one
    entry per row of ``X`` (a column ``y`` of shape ``(n, 1)`` is refused: it
    broadcasts silently in ``X @ theta - y``). Both must be finite.
    """
    who = client_label(client) if client != "data" else "data"
    X = check_real_array(X, name=f"{who}: X")
    y = check_real_array(y, name=f"{who}: y")
    if X.ndim != 2:
        raise ValueError(f"{who}: X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{who}: empty data (X has 0 rows)")
    if y.ndim != 1:
        raise ValueError(f"{who}: y must be 1-D (n_samples,), got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{who}: X has {X.shape[0]} rows but y has {y.shape[0]} (shapes {X.shape}, {y.shape})"
        )
    return X, y


def check_binary_labels(y: np.ndarray, *, client: int | str = "data") -> None:
    """Check that labels are 0 or 1 (the logistic model's convention: 1 is the disease)."""
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        who = client_label(client) if client != "data" else "data"
        raise ValueError(
            f"{who}: labels must be 0 or 1 for the logistic model, got {np.unique(y[bad])[:5]}"
        )


def check_class_labels(y: np.ndarray, num_classes: int, *, client: int | str = "data") -> None:
    """Check that labels are class indices ``0..num_classes-1`` (the softmax model's convention)."""
    bad = (y != np.floor(y)) | (y < 0) | (y >= num_classes)
    if bad.any():
        who = client_label(client) if client != "data" else "data"
        raise ValueError(
            f"{who}: labels must be class indices 0..{num_classes - 1} for the softmax "
            f"model, got {np.unique(y[bad])[:5]}"
        )


def check_labels(
    model: Any, y: np.ndarray, theta: np.ndarray | None = None, *, client: int | str = "data"
) -> None:
    """Check that ``y`` suits ``model``: 0/1 for logistic, class indices for softmax.

    A binary model (``model.binary``, always true for the model named ``"logistic"``)
    needs labels in {0, 1} (1 is the disease); the model named ``"softmax"`` needs
    integer class indices, below the number of columns of ``theta`` when ``theta`` is
    given; ``"linear"`` takes any real targets. ``model`` is a
    :class:`fedmed_lib.models.Model` (only its ``name`` and ``binary`` are read).
    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If a label does not suit the model (the message names the client).
    """
    if getattr(model, "binary", False) or model.name == "logistic":
        check_binary_labels(y, client=client)
    elif model.name == "softmax":
        num_classes = int(theta.shape[1]) if theta is not None and theta.ndim == 2 else 2**62
        check_class_labels(y, num_classes, client=client)


def check_patient_columns(
    first: object,
    second: object,
    *,
    who: str,
    names: tuple[str, str],
    zero_one: int,
    rule: str,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check two per-patient columns of one client; return them as float64 arrays.

    Both must be finite real 1-D arrays of one length with at least one patient, and
    column ``zero_one`` (0 or 1) may hold only 0 and 1 (booleans are accepted there).
    Shared by :func:`check_scores` (labels and scores, :ref:`ch-evaluation`) and
    :func:`fedmed_lib.survival_counts.check_survival_data` (times and events,
    :ref:`ch-survival`).

    Raises
    ------
    ValueError
        Naming ``who``: no patients, columns of different lengths, NaN or Inf, or a
        value other than 0 and 1 in the 0/1 column (``rule`` says what it must be).
    InputTypeError
        If a column is not numeric (a string, ``None``, ...).
    """
    columns = [first, second]
    flag = columns[zero_one]
    if isinstance(flag, np.ndarray) and flag.dtype == np.bool_:
        columns[zero_one] = flag.astype(np.float64)
    a = check_real_array(columns[0], name=f"{who}: {names[0]}", ndim=1)
    b = check_real_array(columns[1], name=f"{who}: {names[1]}", ndim=1)
    if a.size == 0:
        raise ValueError(f"{who}: no patients (empty {names[0]})")
    if a.shape != b.shape:
        raise ValueError(f"{who}: {names[0]} has {a.size} entries but {names[1]} has {b.size}")
    values = (a, b)[zero_one]
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"{who}: {rule}, got {np.unique(values[bad])[:5]}")
    return a, b


def check_scores(
    y: object, scores: object, *, client: int | str = 0, probabilities: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check one client's labels (0/1, 1 = disease) and scores; return them as float64 arrays.

    ``probabilities=True`` also requires scores in [0, 1] (for calibration). Used by
    :mod:`fedmed_lib.evaluation`, introduced in :ref:`ch-evaluation`.

    Raises
    ------
    ValueError
        Naming the client: no patients, ``y`` and ``scores`` of different lengths or not
        1-D, a NaN or Inf score (or one outside [0, 1]), or a label that is not 0 or 1.
    InputTypeError
        If ``y`` or ``scores`` is not numeric (a string, ``None``, ...).
    """
    who = client_label(client)
    yy, ss = check_patient_columns(
        y, scores, who=who, names=("y", "scores"), zero_one=0,
        rule="labels must be 0 or 1 (1 = disease)",
    )
    if probabilities and ((ss < 0).any() or (ss > 1).any()):
        raise ValueError(f"{who}: scores must be probabilities in [0, 1] for calibration")
    return yy, ss


def check_clients(
    clients: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    model: Any = None,
) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Validate a list of ``(X, y)`` client data sets (non-empty, same width, finite).

    Introduced in :ref:`ch-fedsgd`.

    Parameters
    ----------
    clients
        One ``(X, y)`` pair per client: ``X`` 2-D with at least one row, ``y`` 1-D
        with one entry per row.
    model
        If given, the labels must suit it (:func:`check_labels`: 0/1 for the logistic
        model, class indices for softmax).

    Raises
    ------
    ValueError
        If the list is empty or a client's data is empty, not 2-D, has mismatched
        rows, a column ``y`` of shape ``(n, 1)``, a different number of columns,
        NaN/Inf, or labels that do not suit ``model`` (the message names the client).
    InputTypeError
        If ``clients`` is not a list, or a client's data is not numeric.
    """
    check_list(clients, what="clients must be a list of (X, y) pairs")
    if len(clients) == 0:
        raise ValueError("no clients: the list of client data sets is empty")
    if model is not None and not isinstance(getattr(model, "name", None), str):
        raise InputTypeError(
            "model must be a fedmed_lib.models.Model (LINEAR, LOGISTIC or SOFTMAX), "
            f"got {_describe(model)}"
        )
    out = []
    width = None
    for k, item in enumerate(clients):
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InputTypeError(f"{client_label(k)}: expected an (X, y) pair")
        X, y = check_xy(item[0], item[1], client=k)
        if width is None:
            width = X.shape[1]
        elif X.shape[1] != width:
            raise ValueError(
                f"{client_label(k)}: X has {X.shape[1]} columns, client 0 has {width}"
            )
        if model is not None:
            check_labels(model, y, client=k)
        out.append((X, y))
    return out
