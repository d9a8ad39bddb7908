"""Vertical federated learning: the same patients, different features at different parties.

A hospital holds the clinical variables and the outcome of its patients (it is the
*label holder*); a laboratory holds test results of many of the same patients. The
module provides the three steps of a vertical logistic regression in the spirit of
Hardy et al., "Private federated learning on vertically partitioned data via entity
resolution and additively homomorphic encryption", arXiv:1711.10677 (2017), and of
the survey of Yang, Liu, Chen and Tong, "Federated machine learning: concept and
applications", ACM TIST 10(2), 2019:

1. **Entity alignment by private set intersection** (:func:`private_set_intersection`):
   the commutative Diffie-Hellman protocol (Meadows, IEEE S&P 1986; Huberman,
   Franklin and Hogg, ACM EC 1999). Each party hashes its patient ids into the
   prime-order subgroup of a safe-prime group, raises them to a secret exponent, and
   the other party raises them to its own: ``H(x)**(a*b)`` is the same at both sides,
   so equal ids give equal doubly-blinded values, and nothing else is learnt. Two
   groups: :data:`TOY_GROUP` (a 31-bit safe prime, for reading) and :data:`MODP_2048`
   (the 2048-bit MODP group 14 of RFC 3526).
2. **Training across the split** (:func:`vertical_logistic_regression`): every party
   computes its share ``X_k theta_k`` of the linear predictor, the label holder adds
   them up and computes the residuals ``sigmoid(z) - y``, every party updates its own
   coefficients with ``X_k^T r / n``: full-batch gradient descent on the joined data,
   step by step.
3. **Masking what travels** (:func:`masked_partial_sum`): the partial predictors of
   several feature holders reach the label holder under the pairwise additive masks
   of :ref:`ch-secure-aggregation` (Bonawitz et al., CCS 2017), so it learns only
   their sum per patient; ``residual_noise`` adds Gaussian noise to the residuals sent
   back (which otherwise reveal every label by their sign).

Step 1 is defined in :mod:`fedmed_lib.psi` (with its groups) and importable from here,
as is the primality test that checks the groups,
:func:`fedmed_lib.privacy.paillier.is_probable_prime`; steps 2 and 3 are this module's
job. Introduced in :ref:`ch-vertical`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_int,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_real_array,
    check_seed,
)
from fedmed_lib._validate_data import check_binary_labels
from fedmed_lib.privacy.paillier import is_probable_prime as is_probable_prime
from fedmed_lib.privacy.secagg import decode, encode, prg_mask
from fedmed_lib.psi import MODP_2048 as MODP_2048
from fedmed_lib.psi import MODP_2048_HEX as MODP_2048_HEX
from fedmed_lib.psi import TOY_GROUP as TOY_GROUP
from fedmed_lib.psi import Group as Group
from fedmed_lib.psi import PSIResult as PSIResult
from fedmed_lib.psi import blind as blind
from fedmed_lib.psi import hash_to_group as hash_to_group
from fedmed_lib.psi import modp_prime_from_pi as modp_prime_from_pi
from fedmed_lib.psi import pi_times_power_of_two as pi_times_power_of_two
from fedmed_lib.psi import private_set_intersection as private_set_intersection
from fedmed_lib.psi import psi_secret as psi_secret

Array = NDArray[np.float64]


# --- vertical logistic regression ------------------------------------------------------


def _party(k: int) -> str:
    return "party 0 (label holder)" if k == 0 else f"party {k}"


def check_vertical_data(X_parts: object, y: object) -> tuple[list[Array], Array]:
    """Check aligned vertical data: one block of columns per party, the labels at party 0.

    Introduced in :ref:`ch-vertical`.

    Raises
    ------
    ValueError
        Naming the party: no parties, a block that is not 2-D, has no rows or no
        columns, NaN/Inf, a different number of patients than party 0; labels not
        0/1 (1 = disease) or of the wrong length.
    """
    if X_parts is None or isinstance(X_parts, str | bytes | np.ndarray) or not isinstance(
        X_parts, Sequence
    ):
        raise InputTypeError(
            f"X_parts must be a list with one feature block per party, got {_describe(X_parts)}"
        )
    if len(X_parts) == 0:
        raise ValueError("X_parts is empty: expected one feature block per party")
    blocks: list[Array] = []
    for k, block in enumerate(X_parts):
        x = check_real_array(block, name=f"{_party(k)}: X")
        if x.ndim != 2:
            raise ValueError(
                f"{_party(k)}: X must be 2-D (patients, features), got shape {x.shape}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{_party(k)}: no patients (X has 0 rows)")
        if x.shape[1] == 0:
            raise ValueError(f"{_party(k)}: no features (X has 0 columns): an empty party")
        if blocks and x.shape[0] != blocks[0].shape[0]:
            raise ValueError(
                f"{_party(k)}: X has {x.shape[0]} patients but party 0 has {blocks[0].shape[0]}: "
                "align the parties' patients first (private set intersection)"
            )
        blocks.append(x)
    labels = check_real_array(y, name="party 0 (label holder): y", ndim=1)
    if labels.shape[0] != blocks[0].shape[0]:
        raise ValueError(
            f"party 0 (label holder): y has {labels.shape[0]} labels but X has "
            f"{blocks[0].shape[0]} patients"
        )
    check_binary_labels(labels, client="party 0 (label holder)")
    return blocks, labels


def _sigmoid(z: Array) -> Array:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def masked_partial_sum(
    partials: Sequence[object], *, pair_seeds: dict[tuple[int, int], int], server_round: int = 0,
    scale: int = 2**20,
) -> tuple[Array, list[NDArray[np.uint32]]]:
    """Add the feature holders' partial predictors under pairwise additive masks.

    Holder ``k`` encodes its vector ``u_k`` in fixed point modulo ``2**32``, adds
    ``PRG(s_kj, round)`` for every other holder ``j > k`` and subtracts it for
    ``j < k``; the masks cancel in the sum, which is decoded. The seed of each round
    is derived from the pair's shared seed and ``server_round``, so no mask is used
    twice. Introduced in :ref:`ch-vertical`.

    Parameters
    ----------
    partials
        One vector per feature holder (same length: one entry per patient).
    pair_seeds
        ``{(i, j): seed}`` for every pair ``i < j`` of holders (indices into ``partials``).
    server_round
        The round, mixed into every mask.
    scale
        Fixed-point scale (``2**20``: a resolution of about ``1e-6``, a range of +-2048).

    Returns
    -------
    total, masked
        The decoded sum of the partial predictors, and what each holder sent.

    Raises
    ------
    ValueError
        If there are fewer than two holders, vectors differ in length or contain
        NaN/Inf or values out of the fixed-point range (naming the holder), or a
        pair has no seed.
    """
    if partials is None or isinstance(partials, str | bytes | np.ndarray) or not isinstance(
        partials, Sequence
    ):
        raise InputTypeError(f"partials must be a list of vectors, got {_describe(partials)}")
    if len(partials) < 2:
        raise ValueError(f"masking needs at least 2 feature holders, got {len(partials)}")
    server_round = check_int(server_round, name="server_round", minimum=0)
    vectors = [check_real_array(u, name=f"holder {k}: partial predictor", ndim=1)
               for k, u in enumerate(partials)]
    for k, u in enumerate(vectors):
        if u.shape != vectors[0].shape:
            raise ValueError(f"holder {k}: {u.size} patients, holder 0 has {vectors[0].size}")
    encoded = [encode(u, scale=scale, client=f"holder {k}") for k, u in enumerate(vectors)]
    masked = []
    for k, e in enumerate(encoded):
        y = e.copy()
        for j in range(len(encoded)):
            if j == k:
                continue
            key = (min(j, k), max(j, k))
            if key not in pair_seeds:
                raise ValueError(f"no shared seed for the pair of holders {key} in pair_seeds")
            round_seed = int(np.random.SeedSequence([check_seed(pair_seeds[key]), server_round])
                             .generate_state(1)[0])
            m = prg_mask(round_seed, y.shape)
            if k < j:
                y += m
            else:
                y -= m
        masked.append(y)
    total = np.zeros(encoded[0].shape, dtype=np.uint32)
    for y in masked:
        total += y  # wraps modulo 2**32
    return decode(total, scale=scale), masked


@dataclass
class VerticalLRResult:
    """The outcome of :func:`vertical_logistic_regression`.

    Attributes
    ----------
    thetas
        Each party's own coefficients (party 0's block includes its intercept column).
    loss
        Mean cross-entropy (plus penalty) on the joined data before each round and at the end.
    residuals_sent
        The residual vectors the label holder sent to the other parties, one per round.
    partials_received
        What the label holder received each round: per other party its partial
        predictor (or, with ``pair_seeds``, only their sum under key ``"sum"``).
    num_rounds
        Rounds run.
    """

    thetas: list[Array]
    loss: list[float]
    residuals_sent: list[Array]
    partials_received: list[dict[str, Array]]
    num_rounds: int


def vertical_logistic_regression(
    X_parts: Sequence[object],
    y: object,
    *,
    lr: float,
    num_rounds: int,
    l2: float = 0.0,
    residual_noise: float = 0.0,
    pair_seeds: dict[tuple[int, int], int] | None = None,
    seed: int = 0,
    keep: int = 1,
) -> VerticalLRResult:
    """Fit a logistic regression whose features are split by columns across parties.

    Each round: party ``k`` sends ``u_k = X_k theta_k``; the label holder (party 0)
    computes ``z = sum_k u_k``, the residuals ``r = sigmoid(z) - y`` and its own step;
    it sends ``r`` (plus Gaussian noise of standard deviation ``residual_noise``) to
    the others, and each updates ``theta_k -= lr * (X_k^T r / n + l2 * theta_k)``
    (party 0 does not penalise its first column, the intercept). With
    ``residual_noise = 0`` this is full-batch gradient descent on the joined data.
    Introduced in :ref:`ch-vertical`.

    Parameters
    ----------
    X_parts
        Aligned feature blocks; party 0 holds the labels and (by convention) a first
        column of ones.
    y
        Labels at party 0, 1 = disease.
    lr, num_rounds, l2
        Step size, number of rounds, L2 penalty on the mean loss.
    residual_noise
        Standard deviation of the noise added to the residuals sent out.
    pair_seeds
        If given, parties ``1..K-1`` send their partial predictors under pairwise masks
        (:func:`masked_partial_sum`; keys index the feature holders ``0..K-2``).
    seed
        Seed of the residual noise.
    keep
        Keep what travels for the first ``keep`` rounds only (memory).

    Raises
    ------
    ValueError
        On misaligned or bad data (see :func:`check_vertical_data`) or bad settings.
    """
    blocks, labels = check_vertical_data(X_parts, y)
    lr = check_positive(lr, name="lr")
    num_rounds = check_int(num_rounds, name="num_rounds", minimum=0)
    l2 = check_nonnegative(l2, name="l2")
    residual_noise = check_nonnegative(residual_noise, name="residual_noise")
    keep = check_int(keep, name="keep", minimum=0)
    if pair_seeds is not None and len(blocks) < 3:
        raise ValueError("pair_seeds needs at least two feature holders besides the label holder")
    rng = np.random.default_rng(check_seed(seed))
    n = labels.size
    thetas = [np.zeros(x.shape[1]) for x in blocks]
    penalty = [np.ones(x.shape[1]) for x in blocks]
    penalty[0][0] = 0.0  # the intercept
    losses, residuals, partials = [], [], []
    for server_round in range(num_rounds + 1):
        u = [x @ t for x, t in zip(blocks, thetas, strict=True)]
        if pair_seeds is not None:
            others, _ = masked_partial_sum(u[1:], pair_seeds=pair_seeds, server_round=server_round)
            seen = {"sum": others}
        else:
            others = np.sum(u[1:], axis=0) if len(u) > 1 else np.zeros(n)
            seen = {f"party {k}": u[k] for k in range(1, len(u))}
        z = u[0] + others
        p = _sigmoid(z)
        losses.append(float(
            np.mean(np.logaddexp(0.0, z) - labels * z)
            + 0.5 * l2 * sum(float(np.sum(w * t**2)) for w, t in zip(penalty, thetas, strict=True))
        ))
        if server_round == num_rounds:
            break
        r = p - labels
        sent = r + residual_noise * rng.standard_normal(n) if residual_noise > 0 else r
        if server_round < keep:
            residuals.append(sent.copy())
            partials.append(seen)
        thetas[0] = thetas[0] - lr * (blocks[0].T @ r / n + l2 * penalty[0] * thetas[0])
        for k in range(1, len(blocks)):
            thetas[k] = thetas[k] - lr * (blocks[k].T @ sent / n + l2 * thetas[k])
    return VerticalLRResult(thetas=thetas, loss=losses, residuals_sent=residuals,
                            partials_received=partials, num_rounds=num_rounds)


def logistic_newton(
    X: object, y: object, *, l2: float = 0.0, tol: float = 1e-12, max_iter: int = 100
) -> Array:
    """Exact Newton fit of the penalised logistic regression on joined data (the reference).

    Minimises ``mean(log(1 + e^z) - y z) + l2/2 * ||theta[1:]||^2`` with ``z = X theta``
    (the first column is the unpenalised intercept). Introduced in :ref:`ch-vertical`.

    Raises
    ------
    ValueError
        On bad data, or if Newton has not converged in ``max_iter`` steps (separable
        data without a penalty).
    """
    blocks, labels = check_vertical_data([X], y)
    x = blocks[0]
    l2 = check_nonnegative(l2, name="l2")
    tol = check_positive(tol, name="tol")
    max_iter = check_positive_int(max_iter, name="max_iter")
    n, d = x.shape
    w = np.ones(d)
    w[0] = 0.0
    theta = np.zeros(d)
    for _ in range(max_iter):
        p = _sigmoid(x @ theta)
        grad = x.T @ (p - labels) / n + l2 * w * theta
        hess = (x * (p * (1 - p))[:, None]).T @ x / n + l2 * np.diag(w)
        step = np.linalg.solve(hess, grad)
        theta = theta - step
        if np.max(np.abs(step)) < tol:
            return theta
    raise ValueError(f"Newton did not converge in {max_iter} steps (separable data? add l2 > 0)")
