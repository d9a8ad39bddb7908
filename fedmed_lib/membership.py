"""Membership inference: was a given record in the model's training set.

One job: the loss-threshold attack on a trained model and the score that measures
it. A record on which the model's loss is small was probably in its training set
(Yeom, Giacomelli, Fredrikson and Jha, "Privacy Risk in Machine Learning: Analyzing
the Connection to Overfitting", IEEE CSF 2018; Shokri, Stronati, Song and Shmatikov,
"Membership Inference Attacks Against Machine Learning Models", IEEE S&P 2017). The
attack's AUROC (members against held-out non-members) is 0.5 for a model that did
not see them. :mod:`fedmed_lib.leakage` holds the attacks on gradients; these
names are also importable from there. Introduced in :ref:`ch-encryption`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedmed_lib._validate import check_real_array
from fedmed_lib.types import Array


def logistic_losses(theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> Array:
    """Per-record cross-entropy ``-y log p - (1 - y) log(1 - p)`` of logistic regression.

    ``p = sigmoid(X theta)``, computed stably from the logits. Introduced in
    :ref:`ch-encryption`.

    Raises
    ------
    ValueError
        If the shapes disagree, an input is not finite real data, or ``y`` is not 0/1.
    """
    Xa = check_real_array(X, name="X", ndim=2)
    t = check_real_array(theta, name="theta", ndim=1)
    ya = check_real_array(y, name="y", ndim=1)
    if t.shape[0] != Xa.shape[1]:
        raise ValueError(f"theta has {t.shape[0]} entries, X has {Xa.shape[1]} columns")
    if ya.shape[0] != Xa.shape[0]:
        raise ValueError(f"y has {ya.shape[0]} labels, X has {Xa.shape[0]} rows")
    if not np.isin(ya, (0.0, 1.0)).all():
        raise ValueError("y must hold 0/1 labels")
    z = Xa @ t
    return np.asarray(np.logaddexp(0.0, z) - ya * z)


def _check_losses(losses: object, name: str) -> Array:
    a = check_real_array(losses, name=name, ndim=1)
    if a.size == 0:
        raise ValueError(f"{name} is empty: the attack needs at least one record")
    return a


def attack_auroc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """Probability that a random member scores higher than a random non-member (ties 1/2).

    The Mann-Whitney form of the area under the ROC curve. Introduced in
    :ref:`ch-encryption`.
    """
    pos = _check_losses(member_scores, "member_scores")
    neg = _check_losses(nonmember_scores, "nonmember_scores")
    both = np.concatenate([pos, neg])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(both.size)
    sorted_vals = both[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))


@dataclass
class MembershipResult:
    """The outcome of :func:`loss_threshold_attack`. Introduced in :ref:`ch-encryption`.

    Attributes
    ----------
    auroc
        Area under the ROC curve of the score ``-loss`` (0.5: no better than a coin).
    advantage
        Yeom's membership advantage ``TPR - FPR`` at ``threshold``.
    threshold
        Records with loss at or below it are called members.
    tpr, fpr
        True- and false-positive rates at ``threshold``.
    """

    auroc: float
    advantage: float
    threshold: float
    tpr: float
    fpr: float


def loss_threshold_attack(
    member_losses: np.ndarray,
    nonmember_losses: np.ndarray,
    *,
    threshold: float | None = None,
) -> MembershipResult:
    """Guess "member" when a record's loss is small (Yeom et al., 2018).

    Parameters
    ----------
    member_losses
        Per-record losses of the model on records it was trained on.
    nonmember_losses
        Per-record losses on held-out records from the same population.
    threshold
        Call a record a member when its loss is ``<= threshold``. By default the mean
        member loss, the training loss that Yeom et al.'s attacker is assumed to know.

    Returns
    -------
    MembershipResult
        AUROC over all thresholds and the advantage at ``threshold``.

    Raises
    ------
    ValueError
        If a set of losses is empty, not 1-D, or not finite; or ``threshold`` is NaN.

    Notes
    -----
    Introduced in :ref:`ch-encryption`.
    """
    pos = _check_losses(member_losses, "member_losses")
    neg = _check_losses(nonmember_losses, "nonmember_losses")
    if threshold is None:
        tau = float(pos.mean())
    else:
        tau = check_real_array(np.asarray(threshold), name="threshold", ndim=0).item()
    tpr = float(np.mean(pos <= tau))
    fpr = float(np.mean(neg <= tau))
    return MembershipResult(attack_auroc(-pos, -neg), tpr - fpr, tau, tpr, fpr)
