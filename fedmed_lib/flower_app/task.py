"""What one hospital computes in the Flower app: its data, its statistics, its training.

The functions here are plain numpy over the library (no Flower import), so the
Flower ``ClientApp`` in :mod:`fedmed_lib.flower_app.client_app` and the in-process
reference of :func:`reference_simulation` run exactly the same code. The setting
is the one of :ref:`ch-four-hospitals` on the UCI Heart Disease data (Janosi et
al., 1988; Detrano et al., 1989): each hospital marks impossible zeros as
missing, keeps 30 % of its patients for testing, standardises with the federated
statistics (Ogier du Terrail et al., 2022) and trains logistic regression with
full-batch gradient descent; the server runs FedAvg (McMahan et al., 2017).
Deployed with Flower (Beutel et al., 2020) in :ref:`ch-flower`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fedmed_lib.algorithms import FedAvg
from fedmed_lib.data import HEART_FEATURES, HEART_SITES, load_heart_disease
from fedmed_lib.federated_stats import client_statistics, combine, mark_missing, standardize_impute
from fedmed_lib.local_training import local_sgd, numpy_client_fn
from fedmed_lib.models import LOGISTIC, add_intercept
from fedmed_lib.simulation import History, run_simulation
from fedmed_lib.stats_messages import ClientStats, GlobalStats
from fedmed_lib.types import Array

TEST_SIZE = 0.3
"""Fraction of each hospital's patients kept for its local test set."""

ZERO_MEANS_MISSING: tuple[int, ...] = (
    HEART_FEATURES.index("trestbps"),
    HEART_FEATURES.index("chol"),
)
"""Columns where a recorded 0 means "not measured" (see :ref:`ch-four-hospitals`)."""


@dataclass(frozen=True)
class SiteData:
    """One hospital's raw train and test split (``NaN`` = missing).

    Introduced in :ref:`ch-flower`.

    Attributes
    ----------
    partition_id
        The hospital's index in :data:`fedmed_lib.data.HEART_SITES`.
    X_train, y_train, X_test, y_test
        Raw features (13 columns, not standardised) and 0/1 labels.
    """

    partition_id: int
    X_train: Array
    y_train: Array
    X_test: Array
    y_test: Array


def _check_partition(partition_id: int, num_partitions: int) -> None:
    if not 1 <= num_partitions <= len(HEART_SITES):
        raise ValueError(
            f"num_partitions must lie in 1..{len(HEART_SITES)} (the heart-disease "
            f"hospitals), got {num_partitions}"
        )
    if not 0 <= partition_id < num_partitions:
        raise ValueError(
            f"partition-id {partition_id} does not exist: hospitals are 0..{num_partitions - 1}"
        )


def _read_one_site(site: str, data_dir: str | Path | None) -> tuple[Array, NDArray[np.int64]]:
    """Read and verify one hospital's file, and no other (checks as in ``load_heart_disease``)."""
    return load_heart_disease(data_dir=data_dir, sites=[site])[site]


def stratified_test_mask(y: np.ndarray, test_size: float, *, seed: int) -> NDArray[np.bool_]:
    """Mark ``round(test_size * n_c)`` random examples of every class ``c`` as test examples.

    A numpy stratified split (scikit-learn's would cost each ClientApp process a
    second of imports). Introduced in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If ``test_size`` is not in (0, 1) or ``y`` is empty.
    """
    y = np.asarray(y)
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must lie in (0, 1), got {test_size!r}")
    if y.size == 0:
        raise ValueError("cannot split an empty data set")
    rng = np.random.default_rng(seed)
    mask = np.zeros(y.shape[0], dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        mask[idx[: int(np.floor(test_size * idx.size + 0.5))]] = True
    return mask


def load_site(
    partition_id: int, num_partitions: int = 4, *, data_dir: str | Path | None = None
) -> SiteData:
    """Load one hospital's data and split it, reading no other hospital's file.

    Introduced in :ref:`ch-flower`.

    Parameters
    ----------
    partition_id
        Hospital index ``0..num_partitions-1`` in :data:`fedmed_lib.data.HEART_SITES`
        order (Cleveland, Hungary, Switzerland, Long Beach VA).
    num_partitions
        Number of hospitals in the federation (the first ``num_partitions`` sites).
    data_dir
        Passed to :func:`fedmed_lib.data.load_heart_disease`.

    Returns
    -------
    SiteData
        A stratified 70/30 split (:func:`stratified_test_mask` seeded with the
        ``partition_id``).

    Raises
    ------
    ValueError
        If ``partition_id`` or ``num_partitions`` is out of range.
    """
    _check_partition(partition_id, num_partitions)
    site = HEART_SITES[partition_id]
    X, y = _read_one_site(site, data_dir)
    X = mark_missing(X, ZERO_MEANS_MISSING, client=site)
    test = stratified_test_mask(y, TEST_SIZE, seed=partition_id)
    return SiteData(
        partition_id,
        X[~test],
        y[~test].astype(np.float64),
        X[test],
        y[test].astype(np.float64),
    )


def site_stats(site: SiteData) -> ClientStats:
    """Return the per-feature statistics of the training rows (count, mean, m2, residual).

    What a hospital sends for federated preprocessing: per feature the number of observed
    values, their mean, the sum of squared deviations from it and the rounding residual
    of the mean (:class:`~fedmed_lib.stats_messages.ClientStats`), which the server
    merges with Chan, Golub and LeVeque's parallel formula. Introduced in
    :ref:`ch-flower`.
    """
    return client_statistics(site.X_train, client=site.partition_id)


def global_stats_from_arrays(mean: Sequence[float], std: Sequence[float]) -> GlobalStats:
    """Rebuild the server's :class:`~fedmed_lib.stats_messages.GlobalStats` at a hospital.

    Only ``mean`` and ``std`` travel in the training configuration; they are all that
    :func:`fedmed_lib.federated_stats.standardize_impute` uses. Introduced in
    :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If the two lists differ in length, are empty, or hold NaN/Inf or a
        non-positive standard deviation.
    """
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(std, dtype=np.float64)
    if m.ndim != 1 or m.shape != s.shape or m.size == 0:
        raise ValueError(
            f"mean and std must be non-empty lists of equal length, got {m.shape} and {s.shape}"
        )
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
        raise ValueError("mean and std must be finite")
    if np.any(s <= 0):
        raise ValueError(f"std must be positive, feature {int(np.argmin(s))} has {s.min()}")
    return GlobalStats(num_examples=1, count=np.ones_like(m), mean=m, std=s, ddof=0)


def design_matrices(
    site: SiteData, global_stats: GlobalStats
) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """Standardise, impute and add the intercept: ``((X_train, y_train), (X_test, y_test))``.

    Introduced in :ref:`ch-flower`.
    """
    who = site.partition_id
    X_tr = add_intercept(standardize_impute(site.X_train, global_stats, client=who))
    X_te = add_intercept(standardize_impute(site.X_test, global_stats, client=who))
    return (X_tr, site.y_train), (X_te, site.y_test)


def train_site(
    theta: np.ndarray,
    site: SiteData,
    global_stats: GlobalStats,
    *,
    lr: float,
    local_epochs: int,
) -> tuple[Array, int, float]:
    """One hospital's FedAvg client step: full-batch gradient descent from ``theta``.

    Introduced in :ref:`ch-flower`.

    Returns
    -------
    theta_local, num_examples, train_loss
        The locally trained model (not the update), the number of training rows and
        the training loss of ``theta_local``.

    Raises
    ------
    ValueError
        If ``theta`` has the wrong length or contains NaN/Inf, or ``lr`` /
        ``local_epochs`` is out of range.
    """
    (X, y), _ = design_matrices(site, global_stats)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (X.shape[1],):
        raise ValueError(
            f"client {site.partition_id}: theta has shape {theta.shape}, expected ({X.shape[1]},)"
        )
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"client {site.partition_id}: theta contains NaN or Inf")
    new, _ = local_sgd(theta, X, y, model=LOGISTIC, lr=lr, local_epochs=local_epochs)
    return new, int(X.shape[0]), LOGISTIC.loss(new, X, y)


def evaluate_site(
    theta: np.ndarray, site: SiteData, global_stats: GlobalStats
) -> tuple[int, float, float]:
    """Evaluate the global model on the hospital's test split.

    Introduced in :ref:`ch-flower`.

    Returns
    -------
    num_examples, loss, accuracy
        Number of test rows, mean cross-entropy and accuracy.
    """
    _, (X, y) = design_matrices(site, global_stats)
    theta = np.asarray(theta, dtype=np.float64)
    return int(X.shape[0]), LOGISTIC.loss(theta, X, y), LOGISTIC.score(theta, X, y)


def num_parameters() -> int:
    """Length of ``theta``: the 13 features and the intercept. Introduced in :ref:`ch-flower`."""
    return len(HEART_FEATURES) + 1


def reference_simulation(
    *,
    num_partitions: int,
    num_rounds: int,
    lr: float,
    local_epochs: int,
    seed: int = 0,
    data_dir: str | Path | None = None,
) -> tuple[History, GlobalStats]:
    """Run the same federation in one process with :func:`~fedmed_lib.simulation.run_simulation`.

    Every hospital's data is read here, which only a simulation may do; the result is
    what the Flower deployment must reproduce. Introduced in :ref:`ch-flower`.

    Returns
    -------
    history, global_stats
        The simulation's :class:`~fedmed_lib.simulation.History` (with ``test_accuracy``
        and ``test_loss``, weighted by the hospitals' test sizes, at each round) and
        the federated statistics used for preprocessing.
    """
    sites = [load_site(k, num_partitions, data_dir=data_dir) for k in range(num_partitions)]
    global_stats = combine([site_stats(s) for s in sites])
    splits = [design_matrices(s, global_stats) for s in sites]
    clients = [train for train, _ in splits]
    tests = [test for _, test in splits]
    n_test = np.array([len(y) for _, y in tests], dtype=np.float64)

    def evaluate(params: list[Array]) -> dict[str, float]:
        theta = params[0]
        acc = np.array([LOGISTIC.score(theta, X, y) for X, y in tests])
        loss = np.array([LOGISTIC.loss(theta, X, y) for X, y in tests])
        w = n_test / n_test.sum()
        return {"test_accuracy": float(w @ acc), "test_loss": float(w @ loss)}

    history = run_simulation(
        client_fn=numpy_client_fn(clients, model=LOGISTIC, lr=lr, local_epochs=local_epochs),
        num_clients=num_partitions,
        initial_parameters=[np.zeros(num_parameters())],
        strategy=FedAvg(),
        num_rounds=num_rounds,
        seed=seed,
        eval_fn=evaluate,
        keep_params=True,
    )
    return history, global_stats
