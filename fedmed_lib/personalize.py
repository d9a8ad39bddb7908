"""Against overfitting in a federation: federated validation loss, early stopping, fine-tuning.

Three tools of :ref:`ch-overfitting`, each computed without moving a row:

- :func:`federated_loss`: the validation loss of the global model over all sites,
  ``sum_k (n_k / n) L_k``, from the sites' own mean losses ``L_k`` and sizes
  ``n_k`` (the same weighted average that FedAvg uses for parameters, McMahan et
  al., AISTATS 2017);
- :func:`early_stopping_round`: the round whose federated validation loss is
  smallest, optionally stopping once it has not improved for ``patience``
  evaluations (Prechelt, "Early Stopping - But When?", 1998);
- :func:`fine_tune`: personalisation by fine-tuning the global model on a site's
  own data for the number of local steps that minimises that site's validation loss
  (the "FedAvg + local fine-tuning" baseline of personalised federated learning;
  Kairouz et al., "Advances and Open Problems in Federated Learning", 2021, sec. 3.3).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    check_int,
    check_nonnegative,
    check_num_examples,
    check_number,
    check_positive,
    check_positive_int,
    check_real_array,
    client_label,
)
from fedmed_lib._validate_data import check_xy
from fedmed_lib.local_training import local_sgd
from fedmed_lib.models import Model
from fedmed_lib.types import Array


def _sequence(value: object, *, name: str) -> Sequence[object]:
    """Check that ``value`` is a list, tuple or 1-D array (not None, a string or a scalar)."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {value.shape}")
        return list(value)
    if value is None or isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InputTypeError(f"{name} must be a list, got {type(value).__name__}")
    return value


def federated_loss(losses: Sequence[float], num_examples: Sequence[int]) -> float:
    """Combine the sites' mean losses into the loss over all their examples.

    ``sum_k n_k L_k / sum_k n_k``: equal to the mean loss of the pooled examples,
    computed from one number and one count per site. Introduced in
    :ref:`ch-overfitting`.

    Parameters
    ----------
    losses
        Site ``k``'s mean loss ``L_k`` of the global model on its own examples.
    num_examples
        Site ``k``'s number of examples ``n_k`` (positive integers).

    Raises
    ------
    ValueError
        If the lists are empty or of different lengths, a loss is not a finite
        number >= 0 (NaN, Inf, ``True``, a string...), or a count is not a positive
        integer (naming the client).

    Examples
    --------
    >>> federated_loss([1.0, 4.0], [3, 1])
    1.75
    """
    loss_list = _sequence(losses, name="losses")
    count_list = _sequence(num_examples, name="num_examples")
    if len(loss_list) == 0:
        raise ValueError("no site losses to combine: the list is empty")
    if len(loss_list) != len(count_list):
        raise ValueError(
            f"{len(loss_list)} losses but {len(count_list)} num_examples: one of each per site"
        )
    counts = np.array(
        [check_num_examples(n, client=k) for k, n in enumerate(count_list)], dtype=np.float64
    )
    values = np.empty(len(loss_list))
    for k, loss in enumerate(loss_list):
        value = check_number(loss, name=f"{client_label(k)}: loss")
        if value < 0:
            raise ValueError(f"{client_label(k)}: loss is negative ({value})")
        values[k] = value
    return float(counts @ values / counts.sum())


def early_stopping_round(
    losses: Sequence[float],
    rounds: Sequence[int] | None = None,
    *,
    patience: int | None = None,
) -> int:
    """Return the round with the smallest validation loss (the first one on ties).

    Introduced in :ref:`ch-overfitting`.

    Parameters
    ----------
    losses
        Validation loss at each evaluation, in order (e.g. ``History.metrics[...]``).
    rounds
        The ``server_round`` of each evaluation (e.g. ``History.rounds``); defaults
        to ``0, 1, 2, ...``.
    patience
        If given, training "stops" after ``patience`` evaluations without a new
        minimum, and only the evaluations seen until then are considered (what a
        server that cannot see the future would do). ``None`` uses all of them.

    Raises
    ------
    ValueError
        If ``losses`` is empty or holds NaN or a non-number (``+inf``, a diverged
        evaluation, is allowed), ``rounds`` has a different length or a
        non-integer, or ``patience`` is not a positive integer.
    """
    seq = _sequence(losses, name="losses")
    if len(seq) == 0:
        raise ValueError("losses must be a non-empty 1-D sequence")
    values = np.empty(len(seq))
    for i, loss in enumerate(seq):
        if isinstance(loss, bool | np.bool_) or not isinstance(loss, numbers.Real):
            raise InputTypeError(
                f"losses[{i}] must be a real number, got {loss!r} ({type(loss).__name__})"
            )
        values[i] = float(loss)
    if np.isnan(values).any():
        first = int(np.flatnonzero(np.isnan(values))[0])
        raise ValueError(f"losses contain NaN at evaluation {first}")
    if rounds is None:
        labels = list(range(values.size))
    else:
        seq_rounds = _sequence(rounds, name="rounds")
        labels = [check_int(r, name=f"rounds[{i}]") for i, r in enumerate(seq_rounds)]
    if len(labels) != values.size:
        raise ValueError(f"{values.size} losses but {len(labels)} rounds")
    if patience is not None:
        patience = check_positive_int(patience, name="patience")
    best, since = 0, 0
    for i in range(1, values.size):
        if values[i] < values[best]:
            best, since = i, 0
        else:
            since += 1
            if patience is not None and since >= patience:
                break
    return labels[best]


@dataclass
class FineTuneResult:
    """What :func:`fine_tune` returns. Introduced in :ref:`ch-overfitting`.

    Attributes
    ----------
    theta
        The personalised parameters (after ``num_steps`` local steps).
    num_steps
        The number of local steps chosen by the site's validation loss.
    steps
        The candidate step counts that were evaluated (``0, every, 2 every, ...``).
    val_losses
        The site's validation loss after each candidate step count.
    """

    theta: Array
    num_steps: int
    steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)


def fine_tune(
    theta: np.ndarray,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    model: Model,
    lr: float,
    max_steps: int,
    every: int = 1,
    l2: float = 0.0,
    client: int | str = 0,
) -> FineTuneResult:
    """Personalise the global model: a few local gradient steps, as many as validation likes.

    Starting from the global ``theta``, run full-batch gradient descent on the
    client's training data, evaluate the client's validation loss every ``every``
    steps up to ``max_steps``, and keep the parameters with the smallest one
    (``0`` steps, i.e. the global model itself, is a candidate). Introduced in
    :ref:`ch-overfitting`.

    Parameters
    ----------
    theta
        The global model (not modified).
    train, val
        The client's ``(X, y)`` training and validation data.
    model
        Loss and gradient, e.g. :data:`fedmed_lib.models.LOGISTIC`.
    lr
        Local learning rate (positive).
    max_steps
        Largest number of local steps tried (non-negative).
    every
        Evaluate the validation loss every ``every`` steps.
    l2
        L2 penalty used during fine-tuning.
    client
        The client's name or index for error messages.

    Raises
    ------
    ValueError
        If the data are malformed or the labels do not suit the model (naming the
        client), ``theta`` does not match the width of ``X`` or is not finite, or a
        hyper-parameter is not a number in range (``max_steps`` and ``every`` are
        integers).
    """
    if not isinstance(model, Model):
        raise InputTypeError(
            f"model must be a fedmed_lib.models.Model (e.g. LOGISTIC), got {type(model).__name__}"
        )
    who = client_label(client)
    pairs = []
    for part, data in (("train", train), ("val", val)):
        if not isinstance(data, tuple | list) or len(data) != 2:
            raise InputTypeError(f"{who}: {part} must be an (X, y) pair")
        pairs.append(check_xy(data[0], data[1], client=client))
    (X_tr, y_tr), (X_val, y_val) = pairs
    w = check_real_array(theta, name=f"{who}: theta").copy()
    if w.ndim not in (1, 2) or w.shape[0] != X_tr.shape[1] or X_val.shape[1] != X_tr.shape[1]:
        raise ValueError(
            f"{who}: theta has {w.shape[0] if w.ndim else 0} rows, X_train has "
            f"{X_tr.shape[1]} columns and X_val {X_val.shape[1]}"
        )
    n_classes = w.shape[1] if w.ndim == 2 else None
    model.check_labels(y_tr, n_classes=n_classes, client=client)
    model.check_labels(y_val, n_classes=n_classes, client=client)
    check_positive(lr, name="lr")
    max_steps = check_int(max_steps, name="max_steps", minimum=0)
    every = check_positive_int(every, name="every")
    l2 = check_nonnegative(l2, name="l2")
    steps, val_losses = [0], [model.loss(w, X_val, y_val)]
    best_theta, best_loss, best_steps = w.copy(), val_losses[0], 0
    done = 0
    while done + every <= max_steps:
        w, _ = local_sgd(w, X_tr, y_tr, model=model, lr=lr, local_epochs=every, l2=l2)
        done += every
        loss = model.loss(w, X_val, y_val)
        steps.append(done)
        val_losses.append(loss)
        if loss < best_loss:
            best_theta, best_loss, best_steps = w.copy(), loss, done
    return FineTuneResult(best_theta, best_steps, steps, val_losses)
