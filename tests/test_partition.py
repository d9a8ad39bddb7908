"""Tests of fedmed_lib.partition: coverage, skew, determinism, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.partition import (
    dirichlet_partition,
    feature_shift,
    iid_partition,
    label_counts,
    quantity_skew_partition,
    shard_partition,
)

Y = np.repeat(np.arange(10), 60)  # 600 labels, 10 balanced classes


def assert_covers_once(parts, n):
    allidx = np.concatenate(parts)
    assert len(allidx) == n
    np.testing.assert_array_equal(np.sort(allidx), np.arange(n))
    assert all(p.dtype == np.int64 for p in parts)


@pytest.mark.parametrize(
    "make",
    [
        lambda: iid_partition(600, 7, seed=1),
        lambda: shard_partition(Y, 10, shards_per_client=2, seed=1),
        lambda: dirichlet_partition(Y, 8, alpha=0.3, seed=1),
        lambda: dirichlet_partition(Y, 8, alpha=100.0, seed=1),
        lambda: quantity_skew_partition(600, 5, alpha=0.5, seed=1, min_size=3),
    ],
)
def test_every_index_exactly_once_and_deterministic(make):
    parts = make()
    assert_covers_once(parts, 600)
    again = make()
    for a, b in zip(parts, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_iid_sizes_near_equal_and_seed_matters():
    parts = iid_partition(10, 3, seed=0)
    assert sorted(len(p) for p in parts) == [3, 3, 4]
    assert not all(np.array_equal(a, b) for a, b in zip(parts, iid_partition(10, 3, seed=1), strict=True))


def test_shards_give_few_classes_per_client():
    parts = shard_partition(Y, 10, shards_per_client=2, seed=0)
    classes = (label_counts(Y, parts) > 0).sum(axis=1)
    assert classes.max() <= 2  # each shard of 30 lies within one class of 60
    assert (label_counts(Y, iid_partition(600, 10, seed=0)) > 0).sum(axis=1).min() >= 8


def total_variation_from_global(parts):
    counts = label_counts(Y, parts, num_classes=10)
    props = counts / counts.sum(axis=1, keepdims=True)
    return 0.5 * np.abs(props - 0.1).sum(axis=1).mean()


def test_dirichlet_large_alpha_near_iid_small_alpha_skewed():
    near_iid = total_variation_from_global(dirichlet_partition(Y, 8, alpha=1000.0, seed=0))
    skewed = total_variation_from_global(dirichlet_partition(Y, 8, alpha=0.1, seed=0))
    iid = total_variation_from_global(iid_partition(600, 8, seed=0))
    assert near_iid < 0.1 and iid < 0.15
    assert skewed > 0.5
    assert skewed > 4 * near_iid


def test_dirichlet_min_size_and_quantity_skew_sizes():
    parts = dirichlet_partition(Y, 10, alpha=0.1, seed=0, min_size=10)
    assert min(len(p) for p in parts) >= 10
    sizes = [len(p) for p in quantity_skew_partition(600, 5, alpha=0.3, seed=0, min_size=5)]
    assert min(sizes) >= 5 and max(sizes) > 3 * min(sizes)


def test_label_counts_hand_computed():
    y = np.array([0, 1, 1, 2])
    counts = label_counts(y, [np.array([0, 1]), np.array([2, 3])])
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 1]])


def test_feature_shift_changes_each_client_differently():
    X = np.ones((6, 2))
    parts = iid_partition(6, 2, seed=0)
    shifted = feature_shift(X, 2, parts, scale=0.5, seed=0)
    assert [s.shape for s in shifted] == [(3, 2), (3, 2)]
    assert not np.allclose(shifted[0][0], shifted[1][0])
    np.testing.assert_array_equal(feature_shift(X, 2, parts, scale=0.0)[0], X[parts[0]])


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: iid_partition(10, 0), "num_clients must be at least 1"),
        (lambda: iid_partition(3, 5), "cannot split 3 examples over 5 clients"),
        (lambda: shard_partition(Y, 0), "num_clients must be at least 1"),
        (lambda: shard_partition(Y, 5, shards_per_client=0), "shards_per_client must be at least 1"),
        (lambda: shard_partition(Y[:5], 3, shards_per_client=2), "cannot split 5 examples"),
        (lambda: dirichlet_partition(Y, 4, alpha=0.0), "alpha must be a positive number"),
        (lambda: dirichlet_partition(Y, 4, alpha=float("nan")), "alpha must be finite"),
        (lambda: dirichlet_partition(Y, 4, alpha=0.01, min_size=140, max_tries=3), "could not give"),
        (lambda: dirichlet_partition(Y, 4, alpha=1.0, min_size=200), "cannot give 4 clients 200"),
        (lambda: quantity_skew_partition(10, 4, alpha=-1.0), "alpha must be a positive number"),
        (lambda: quantity_skew_partition(10, 4, alpha=1.0, min_size=3), "cannot split 10 examples"),
        (lambda: feature_shift(np.ones((4, 2)), 3, iid_partition(4, 2)), "got 2 index arrays for 3"),
        # counts are integers, never 2.5 or True; seeds are non-negative integers
        (lambda: iid_partition(10, 2.5), "num_clients must be an integer"),
        (lambda: iid_partition(10.0, 2), "n must be an integer"),
        (lambda: iid_partition(10, True), "num_clients must be an integer"),
        (lambda: iid_partition(10, 2, seed=None), "seed must be a non-negative integer, got None"),
        (lambda: iid_partition(10, 2, seed=-1), "seed must be at least 0"),
        (lambda: iid_partition(10, 2, seed=1.5), "seed must be an integer"),
        (lambda: shard_partition(Y, 5, shards_per_client=1.5), "shards_per_client must be an integer"),
        (lambda: shard_partition(Y, 5, seed=None), "seed must be a non-negative integer"),
        (lambda: dirichlet_partition(Y, 4, alpha="0.5"), "alpha must be a real number"),
        (lambda: dirichlet_partition(Y, 4, alpha=True), "alpha must be a real number"),
        (lambda: dirichlet_partition(Y, 4, alpha=1.0, min_size=1.5), "min_size must be an integer"),
        (lambda: dirichlet_partition(Y, 4, alpha=1.0, max_tries=0), "max_tries must be at least 1"),
        (lambda: quantity_skew_partition(10, 2, alpha=1.0, seed="0"), "seed must be an integer"),
        (lambda: quantity_skew_partition(10, 2, alpha=1.0, min_size=0), "min_size must be at least 1"),
        # labels: 1-D, real, finite, not empty
        (lambda: shard_partition(Y + 0j, 5), "y must be real"),
        (lambda: shard_partition(Y.astype(str), 5), "y must be a numeric array"),
        (lambda: dirichlet_partition(Y.astype(bool), 2, alpha=1.0), "y must be numeric"),
        (lambda: dirichlet_partition(np.array([0.0, np.nan, 1.0]), 2, alpha=1.0), "y contains NaN"),
        (lambda: dirichlet_partition(Y[:, None], 2, alpha=1.0), "y must be 1-D"),
        (lambda: shard_partition(Y[:0], 1), "y is empty"),
        (lambda: label_counts(np.array([0.0, 1.5]), [np.array([0, 1])]), "y must hold class labels"),
        (lambda: label_counts(np.array([0, -1]), [np.array([0, 1])]), "y must hold class labels"),
        (lambda: label_counts(Y, [np.array([0, 600])]), r"client 0: indices must lie in \[0, 600\)"),
        (lambda: label_counts(Y, [np.array([0.0, 1.0])]), "client 0: indices must be integers"),
        (lambda: label_counts(Y, [np.array([True])]), "client 0: indices must be integers"),
        (lambda: label_counts(Y, np.array([0, 1])), "parts must be a list of index arrays"),
        (lambda: label_counts(Y, iid_partition(600, 2), num_classes=5), "num_classes=5 but y holds"),
        (lambda: label_counts(Y, iid_partition(600, 2), num_classes=10.0), "num_classes must be"),
        (lambda: feature_shift(np.ones((4, 2)), 2, iid_partition(4, 2), scale=-1.0), "scale must be >= 0"),
        (lambda: feature_shift(np.ones((4, 2)), 2, [np.array([0, 7]), np.array([1])]),
         r"client 0: indices must lie in \[0, 4\)"),
        (lambda: feature_shift(np.full((4, 2), np.inf), 2, iid_partition(4, 2)), "X contains Inf"),
    ],
)
def test_bad_arguments_raise_value_error(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()


def test_label_counts_accepts_integer_valued_floats_and_an_empty_client():
    counts = label_counts(np.array([0.0, 1.0, 1.0]), [np.array([0, 1, 2]), np.array([], dtype=int)])
    np.testing.assert_array_equal(counts, [[1, 2], [0, 0]])


def test_inputs_are_not_modified():
    y = Y.copy()
    parts = iid_partition(600, 3, seed=0)
    before = [p.copy() for p in parts]
    dirichlet_partition(y, 4, alpha=0.5, seed=0)
    shard_partition(y, 5, seed=0)
    label_counts(y, parts)
    feature_shift(np.ones((600, 2)), 3, parts)
    np.testing.assert_array_equal(y, Y)
    for a, b in zip(parts, before, strict=True):
        np.testing.assert_array_equal(a, b)


# --- padded stacks (the layout of the vectorised simulator) ------------------------------


def _ragged_clients(seed=0, sizes=(4, 1, 6, 3)):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((n, 3)) for n in sizes]
    y = [(rng.random(n) < 0.5).astype(float) for n in sizes]
    return X, y


def test_pad_clients_fast_path_equals_client_by_client_path():
    from fedmed_lib.partition import pad_clients

    X, y = _ragged_clients()
    fast = pad_clients(X, y)  # numpy float arrays: one check of all values at once
    slow = pad_clients([Xk.tolist() for Xk in X], [yk.tolist() for yk in y])  # lists: per client
    for name in ("X", "y", "mask", "sizes"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    # hand-checked layout: client 1 holds one example, then padding
    assert fast.X.shape == (4, 6, 3)
    np.testing.assert_array_equal(fast.mask[1], [1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(fast.X[1, 0], X[1][0])
    assert np.all(fast.X[1, 1:] == 0) and np.all(fast.y[1, 1:] == 0)
    # integer data are accepted and converted, as by the per-client checks
    ints = pad_clients([np.ones((2, 3), dtype=np.int64)], [np.array([0, 1])])
    assert ints.X.dtype == np.float64 and ints.y.tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({2: (np.full((6, 3), np.inf), None)}, "client 2: X contains Inf"),
        ({1: (None, np.array([0.5]))}, "client 1: labels must be 0 or 1"),
        ({3: (None, np.array([0.0, 1.0, np.nan]))}, "client 3: y contains NaN"),
        # two bad clients: the first one is named
        ({1: (np.full((1, 3), np.nan), None), 3: (np.zeros((3, 4)), None)},
         "client 1: X contains NaN"),
    ],
)
def test_pad_clients_names_the_first_bad_client(bad, message):
    from fedmed_lib.partition import pad_clients

    X, y = _ragged_clients()
    for k, (Xk, yk) in bad.items():
        X[k] = X[k] if Xk is None else Xk
        y[k] = y[k] if yk is None else yk
    with pytest.raises(ValueError, match=message):
        pad_clients(X, y)
