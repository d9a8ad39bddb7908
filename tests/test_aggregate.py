"""Tests of fedmed_lib.aggregate: hand-computed cases, Flower equivalence, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.aggregate import (
    add,
    flatten,
    global_norm,
    subtract,
    unflatten,
    unweighted_average,
    validate_results,
    weighted_average,
)


def test_weighted_average_hand_computed():
    # (1 * [0, 4] + 3 * [4, 0]) / 4 = [3, 1];  bias: (1 * 2 + 3 * 6) / 4 = 5
    results = [([np.array([0.0, 4.0]), np.array(2.0)], 1), ([np.array([4.0, 0.0]), np.array(6.0)], 3)]
    out = weighted_average(results)
    np.testing.assert_array_equal(out[0], [3.0, 1.0])
    np.testing.assert_array_equal(out[1], 5.0)
    # the unweighted rule gives each client 1/2
    plain = unweighted_average(results)
    np.testing.assert_array_equal(plain[0], [2.0, 2.0])
    np.testing.assert_array_equal(plain[1], 4.0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # click, imported by flwr
def test_weighted_average_equals_flower_aggregate():
    from flwr.server.strategy.aggregate import aggregate

    rng = np.random.default_rng(1)
    for trial in range(5):
        k = int(rng.integers(1, 7))
        results = [
            ([rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=())], int(rng.integers(1, 500)))
            for _ in range(k)
        ]
        ours = weighted_average(results)
        theirs = aggregate(results)
        assert len(ours) == len(theirs) == 3
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=f"trial {trial}")


def test_weighted_equals_unweighted_for_equal_sizes_and_differs_otherwise():
    rng = np.random.default_rng(2)
    params = [[rng.normal(size=3)] for _ in range(4)]
    equal = [(p, 10) for p in params]
    np.testing.assert_allclose(weighted_average(equal)[0], unweighted_average(equal)[0])
    unequal = [(p, n) for p, n in zip(params, (1, 2, 30, 400), strict=True)]
    assert not np.allclose(weighted_average(unequal)[0], unweighted_average(unequal)[0])


def test_weighted_average_does_not_modify_inputs_and_scales_invariantly():
    rng = np.random.default_rng(3)
    results = [([rng.normal(size=2)], n) for n in (3, 5)]
    copies = [p[0].copy() for p, _ in results]
    out = weighted_average(results)
    for (p, _), c in zip(results, copies, strict=True):
        np.testing.assert_array_equal(p[0], c)
    doubled = [(p, 2 * n) for p, n in results]
    np.testing.assert_allclose(weighted_average(doubled)[0], out[0])


@pytest.mark.parametrize(
    ("results", "needle"),
    [
        ([], "empty"),
        ([([np.array([1.0])], 1), ([np.array([1.0, 2.0])], 1)], "client 1: array 0 has shape"),
        ([([np.array([1.0])], 1), ([np.array([np.nan])], 1)], "client 1: array 0 contains NaN"),
        ([([np.array([np.inf])], 1), ([np.array([1.0])], 1)], "client 0: array 0 contains Inf"),
        ([([np.array([1.0])], 1), ([np.array([1.0])], 0)], "client 1: num_examples must be positive"),
        ([([np.array([1.0])], 1), ([np.array([1.0])], -3)], "client 1: num_examples must be positive"),
        ([([np.array([1.0])], 1.5)], "client 0: num_examples must be an integer"),
        ([([np.array([1.0])], True)], "client 0: num_examples must be an integer"),
        ([([np.array([1.0])], 1), ([np.array([1.0]), np.array([2.0])], 1)], "client 1: update has 2 arrays"),
        ([([np.array([1.0])], 1), (np.array([1.0]), 1)], "client 1: update must be a list"),
        ([([np.array([1.0])], 1), ([np.array([1.0])],)], "client 1: expected a (params, num_examples)"),
        ([([np.array(["a"])], 1)], "client 0: array 0 must be a numeric array"),
    ],
)
def test_bad_results_raise_value_error_naming_the_problem(results, needle):
    for fn in (weighted_average, unweighted_average, validate_results):
        with pytest.raises(ValueError) as info:
            fn(results)
        assert needle in str(info.value)


def test_reference_shapes_are_enforced():
    reference = [np.zeros(2)]
    with pytest.raises(ValueError, match=r"client 0: array 0 has shape \(3,\), expected \(2,\)"):
        weighted_average([([np.ones(3)], 1)], reference=reference)


def test_add_subtract_flatten_unflatten_norm():
    a = [np.array([1.0, 2.0]), np.array([[3.0]])]
    b = [np.array([0.5, 0.5]), np.array([[1.0]])]
    np.testing.assert_array_equal(add(a, b, 2.0)[0], [2.0, 3.0])
    np.testing.assert_array_equal(subtract(a, b)[1], [[2.0]])
    v = flatten(a)
    np.testing.assert_array_equal(v, [1.0, 2.0, 3.0])
    back = unflatten(v, a)
    assert back[1].shape == (1, 1)
    np.testing.assert_array_equal(back[1], a[1])
    assert global_norm(a) == pytest.approx(np.sqrt(14.0))
    with pytest.raises(ValueError, match="vector has 4 entries, the arrays need 3"):
        unflatten(np.zeros(4), a)


# --- numerics at the edges -----------------------------------------------------------------


def test_means_of_huge_values_are_finite_and_right():
    big = [([np.array([1e308, -1e308, 3.0])], 1), ([np.array([1e308, -1e308, 5.0])], 1)]
    for fn in (weighted_average, unweighted_average):
        np.testing.assert_array_equal(fn(big)[0], [1e308, -1e308, 4.0])
    from fedmed_lib.robust import coordinate_median, trimmed_mean

    np.testing.assert_array_equal(coordinate_median(big)[0], [1e308, -1e308, 4.0])
    np.testing.assert_array_equal(trimmed_mean(big, beta=0.0)[0], [1e308, -1e308, 4.0])
    # the plain formulas overflow: this is what the scaling avoids
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum([1e308, 1e308]) / 2)


def test_unweighted_average_is_bit_identical_to_sum_over_k_for_ordinary_values():
    rng = np.random.default_rng(10)
    for k in (2, 3, 7, 20):
        stack = rng.normal(size=(k, 50)) * 10.0 ** rng.integers(-200, 200, size=(1, 50))
        results = [([row], 1) for row in stack]
        np.testing.assert_array_equal(unweighted_average(results)[0], np.sum(stack, axis=0) / k)


def test_global_norm_does_not_overflow_and_is_exact_for_ordinary_values():
    assert global_norm([np.full(4, 1e200)]) == pytest.approx(2e200, rel=1e-15)
    assert global_norm([np.array([3e-200]), np.array([[4e-200]])]) == pytest.approx(5e-200)
    assert global_norm([np.full(4, 1e308)]) == np.inf  # the norm itself exceeds the largest float
    rng = np.random.default_rng(11)
    for _ in range(200):
        a = [rng.normal(size=5) * 10.0 ** rng.uniform(-50, 50), rng.normal(size=(2, 2))]
        assert global_norm(a) == float(np.sqrt(sum(float(np.sum(np.square(p))) for p in a)))


def test_add_refuses_mismatched_lists_and_bad_scale():
    with pytest.raises(ValueError, match="params has 1 arrays, other has 2"):
        add([np.zeros(2)], [np.zeros(2), np.zeros(1)])
    with pytest.raises(ValueError, match=r"array 0: params has shape \(2,\), other has \(3,\)"):
        add([np.zeros(2)], [np.zeros(3)])
    with pytest.raises(TypeError, match="scale must be a real number"):
        add([np.zeros(2)], [np.zeros(2)], None)  # type: ignore[arg-type]
