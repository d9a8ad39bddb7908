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

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fedmed_lib._validate import check_num_examples, check_positive, check_xy, client_label
from fedmed_lib.algorithms import local_sgd
from fedmed_lib.models import Array, Model


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
        If the lists are empty or of different lengths, a loss is NaN, Inf or
        negative, or a count is not a positive integer (naming the client).

    Examples
    --------
    >>> federated_loss([1.0, 4.0], [3, 1])
    1.75
    """
    if len(losses) == 0:
        raise ValueError("no site losses to combine: the list is empty")
    if len(losses) != len(num_examples):
        raise ValueError(
            f"{len(losses)} losses but {len(num_examples)} num_examples: one of each per site"
        )
    counts = np.array(
        [check_num_examples(n, client=k) for k, n in enumerate(num_examples)], dtype=np.float64
    )
    values = np.empty(len(losses))
    for k, loss in enumerate(losses):
        value = float(loss)
        if not np.isfinite(value):
            raise ValueError(f"{client_label(k)}: loss is {value}, expected a finite number")
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
        If ``losses`` is empty or contains NaN, ``rounds`` has a different length,
        or ``patience`` is not a positive integer.
    """
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("losses must be a non-empty 1-D sequence")
    if np.isnan(values).any():
        first = int(np.flatnonzero(np.isnan(values))[0])
        raise ValueError(f"losses contain NaN at evaluation {first}")
    labels = list(range(values.size)) if rounds is None else [int(r) for r in rounds]
    if len(labels) != values.size:
        raise ValueError(f"{values.size} losses but {len(labels)} rounds")
    if patience is not None and (isinstance(patience, bool) or patience < 1):
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
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
    """What :func:`fine_tune` returns.

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
    site: int | str = 0,
) -> FineTuneResult:
    """Personalise the global model: a few local gradient steps, as many as validation likes.

    Starting from the global ``theta``, run full-batch gradient descent on the
    site's training data, evaluate the site's validation loss every ``every``
    steps up to ``max_steps``, and keep the parameters with the smallest one
    (``0`` steps, i.e. the global model itself, is a candidate). Introduced in
    :ref:`ch-overfitting`.

    Parameters
    ----------
    theta
        The global model (not modified).
    train, val
        The site's ``(X, y)`` training and validation data.
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
    site
        The site's name or index for error messages.

    Raises
    ------
    ValueError
        If the data are malformed (naming the site), ``theta`` does not match the
        width of ``X`` or is not finite, or a hyper-parameter is out of range.
    """
    X_tr, y_tr = check_xy(train[0], train[1], client=site)
    X_val, y_val = check_xy(val[0], val[1], client=site)
    w = np.array(theta, dtype=np.float64)
    if w.shape[0] != X_tr.shape[1] or X_val.shape[1] != X_tr.shape[1]:
        raise ValueError(
            f"{client_label(site)}: theta has {w.shape[0]} rows, X_train has "
            f"{X_tr.shape[1]} columns and X_val {X_val.shape[1]}"
        )
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{client_label(site)}: theta contains NaN or Inf")
    check_positive(lr, name="lr")
    if max_steps < 0:
        raise ValueError(f"max_steps must be non-negative, got {max_steps}")
    if every < 1:
        raise ValueError(f"every must be a positive integer, got {every}")
    if l2 < 0:
        raise ValueError(f"l2 must be non-negative, got {l2}")
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
