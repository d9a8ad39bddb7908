"""Tests for fedmed_lib.compression: error bounds, exact byte counts, top-k, wrapper."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.algorithms import FedAvg, numpy_client_fn
from fedmed_lib.compression import (
    CompressedClient,
    Quantized,
    Sparse,
    decode,
    densify,
    dequantize,
    payload_bytes,
    quantize_8bit,
    topk_compressor,
    topk_sparsify,
)
from fedmed_lib.models import LOGISTIC, add_intercept
from fedmed_lib.simulation import run_simulation


def test_quantize_hand_computed() -> None:
    x = np.array([1.27, -0.635, 0.004, 0.0])
    msg = quantize_8bit(x)
    assert msg.q.dtype == np.int8
    assert msg.scale == pytest.approx(0.01)
    np.testing.assert_array_equal(msg.q, [127, -64, 0, 0])  # -63.5 rounds to even: -64
    np.testing.assert_allclose(dequantize(msg), [1.27, -0.64, 0.0, 0.0])


@pytest.mark.parametrize("seed", range(5))
def test_quantize_round_trip_error_at_most_half_scale(seed: int) -> None:
    x = np.random.default_rng(seed).normal(scale=10.0 ** (seed - 2), size=(7, 13))
    msg = quantize_8bit(x)
    err = np.abs(dequantize(msg) - x)
    assert err.max() <= msg.scale / 2 * (1 + 1e-12)
    assert np.abs(msg.q).max() == 127  # the largest entry uses the full range
    assert np.array_equal(np.sign(msg.q[np.abs(x) > msg.scale]), np.sign(x[np.abs(x) > msg.scale]))


def test_stochastic_rounding_is_unbiased_and_within_one_level() -> None:
    x = np.array([0.3, -0.77, 1.0, 0.05])
    rng = np.random.default_rng(0)
    draws = np.stack([dequantize(quantize_8bit(x, rng=rng)) for _ in range(20_000)])
    scale = 1.0 / 127
    assert np.abs(draws - x).max() < scale
    np.testing.assert_allclose(draws.mean(axis=0), x, atol=scale * 0.02)


def test_zero_array_quantizes_to_zero() -> None:
    msg = quantize_8bit(np.zeros(3))
    assert msg.scale == 0.0
    np.testing.assert_array_equal(dequantize(msg), np.zeros(3))


def test_topk_keeps_exactly_k_largest_magnitudes_with_sign() -> None:
    x = np.array([[0.1, -5.0, 0.3], [4.0, -0.2, 0.0]])
    msg = topk_sparsify(x, 2)
    np.testing.assert_array_equal(msg.indices, [1, 3])
    np.testing.assert_array_equal(msg.values, [-5.0, 4.0])
    np.testing.assert_array_equal(densify(msg), [[0, -5.0, 0], [4.0, 0, 0]])
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    for k in (1, 7, 50):
        d = densify(topk_sparsify(y, k))
        assert np.count_nonzero(d) == k
        kept = np.abs(y[d != 0])
        dropped = np.abs(y[d == 0])
        assert dropped.size == 0 or kept.min() >= dropped.max()
        np.testing.assert_array_equal(d[d != 0], y[d != 0])


def test_byte_counts_hand_computed() -> None:
    x = np.arange(6, dtype=float).reshape(2, 3)
    assert payload_bytes(x) == 48                        # 6 float64
    assert payload_bytes(quantize_8bit(x)) == 6 + 8      # 6 int8 + float64 scale
    assert payload_bytes(topk_sparsify(x, 2)) == 2 * 8 + 2 * 4
    assert payload_bytes([x, quantize_8bit(x), topk_sparsify(x, 2)]) == 48 + 14 + 24
    big = np.ones(1000)
    assert payload_bytes(big) / payload_bytes(quantize_8bit(big)) == pytest.approx(8000 / 1008)


def test_decode_dispatches() -> None:
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_array_equal(decode(x), x)
    assert isinstance(quantize_8bit(x), Quantized) and isinstance(topk_sparsify(x, 1), Sparse)
    np.testing.assert_array_equal(decode(topk_sparsify(x, 1)), [0.0, -2.0, 0.0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: quantize_8bit(np.array([1.0, np.nan])), "x contains NaN"),
        (lambda: quantize_8bit(np.array([1.0 + 1j])), "x must be real"),
        (lambda: quantize_8bit(np.array(["0.5"])), "x must be a numeric array"),
        (lambda: quantize_8bit(np.array([True])), "x must be numeric"),
        (lambda: quantize_8bit(None), "x must be a numeric array"),
        (lambda: quantize_8bit(np.ones(3), rng=0), "rng must be a numpy Generator"),
        (lambda: quantize_8bit(np.ones(3), rng=np.random.RandomState(0)), "rng must be a numpy"),
        (lambda: quantize_8bit(np.array([])), "empty"),
        (lambda: topk_sparsify(np.ones(3), 0), r"k must lie in \[1, 3\]"),
        (lambda: topk_sparsify(np.ones(3), 4), r"k must lie in \[1, 3\]"),
        (lambda: topk_sparsify(np.ones(3), 1.5), "k must be an integer"),
        (lambda: topk_sparsify(np.array([np.inf]), 1), "x contains Inf"),
        (lambda: topk_sparsify(np.ones(3), True), "k must be an integer"),
        (lambda: topk_sparsify(np.ones(3), "2"), "k must be an integer"),
        (lambda: topk_compressor(0.0), "fraction"),
        (lambda: topk_compressor(1.5), "fraction"),
        (lambda: topk_compressor("0.1"), "fraction must be a real number"),
        (lambda: topk_compressor(None), "fraction must be a real number"),
        (lambda: dequantize(Quantized(np.ones(2), 1.0)), "msg.q must be an int8 array"),
        (lambda: dequantize(Quantized(np.full(2, -128, dtype=np.int8), 1.0)), "outside -127..127"),
        (lambda: dequantize(Quantized(np.ones(2, dtype=np.int8), np.nan)), "msg.scale contains NaN"),
        (lambda: dequantize(Quantized(np.ones(2, dtype=np.int8), -1.0)), "msg.scale must be >= 0"),
        (lambda: dequantize(np.ones(2)), "msg must be a Quantized message"),
        (lambda: densify(Sparse(np.ones(2), np.array([0, 5], np.int32), (3,))), r"\[0, 3\)"),
        (lambda: densify(Sparse(np.ones(2), np.array([1, 1], np.int32), (3,))), "repeated"),
        (lambda: densify(Sparse(np.ones(2), np.array([0], np.int32), (3,))), "2 values but 1"),
        (lambda: densify(Sparse(np.ones(1), np.array([0.0]), (3,))), "msg.indices must be an"),
        (lambda: densify(Sparse(np.ones(1), np.array([0], np.int32), (2.5,))), "msg.shape"),
        (lambda: decode([1.0, 2.0]), "msg must be a Quantized, a Sparse or a numpy array"),
        (lambda: decode(np.array([1j])), "msg must be real"),
        (lambda: payload_bytes("abc"), "msgs must be a message"),
        (lambda: payload_bytes([np.ones(2), [1.0]]), r"msgs\[1\] must be a Quantized"),
        (lambda: payload_bytes(np.array([True])), "msg must be numeric"),
    ],
)
def test_bad_input_raises(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def _clients() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for n in (20, 30):
        X = add_intercept(rng.normal(size=(n, 3)))
        out.append((X, (X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(float)))
    return out


def test_compressed_client_counts_bytes_and_returns_decoded_update() -> None:
    fit = numpy_client_fn(_clients(), model=LOGISTIC, lr=0.5, local_epochs=2)
    wrapped = CompressedClient(fit, quantize_8bit)
    h = run_simulation(client_fn=wrapped, num_clients=2, initial_parameters=[np.zeros(4)],
                       strategy=FedAvg(), num_rounds=3)
    assert wrapped.bytes_per_round == {1: 2 * (4 + 8), 2: 24, 3: 24}
    assert wrapped.total_bytes == 72
    assert sum(h.bytes_up) == 3 * 2 * 32  # what run_simulation sees: decoded float64
    rng = np.random.default_rng(0)
    raw, _ = fit(0, [np.zeros(4)], 1, rng)
    got, n = CompressedClient(fit, quantize_8bit)(0, [np.zeros(4)], 1, rng)
    assert n == 20
    np.testing.assert_array_equal(got[0], dequantize(quantize_8bit(raw[0])))


def test_error_feedback_carries_the_dropped_part() -> None:
    updates = [np.array([3.0, 1.0, 0.5]), np.array([1.0, 1.0, 0.5])]

    def fixed(cid, params, server_round, rng):
        return [updates[server_round - 1].copy()], 1

    ef = CompressedClient(fixed, topk_compressor(1 / 3), error_feedback=True)
    plain = CompressedClient(fixed, topk_compressor(1 / 3))
    rng = np.random.default_rng(0)
    first_ef, _ = ef(0, [np.zeros(3)], 1, rng)
    second_ef, _ = ef(0, [np.zeros(3)], 2, rng)
    second_plain, _ = plain(0, [np.zeros(3)], 2, rng)
    np.testing.assert_array_equal(first_ef[0], [3.0, 0.0, 0.0])
    # round 2 with feedback compresses [1, 1, 0.5] + [0, 1, 0.5] = [1, 2, 1]: keeps the 2
    np.testing.assert_array_equal(second_ef[0], [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(ef.residuals[0][0], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(second_plain[0], [1.0, 0.0, 0.0])
    # what was sent plus what is kept equals everything the client produced
    np.testing.assert_allclose(first_ef[0] + second_ef[0] + ef.residuals[0][0],
                               updates[0] + updates[1])


def test_compressed_client_rejects_bad_updates_naming_client() -> None:
    def bad(cid, params, server_round, rng):
        return [np.array([np.nan, 0.0])], 1

    def wrong_shape(cid, params, server_round, rng):
        return [np.zeros(3)], 1

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="client 4: array 0 contains NaN"):
        CompressedClient(bad, quantize_8bit)(4, [np.zeros(2)], 1, rng)
    with pytest.raises(ValueError, match="client 2: array 0 has shape"):
        CompressedClient(wrong_shape, quantize_8bit)(2, [np.zeros(2)], 1, rng)
    with pytest.raises(ValueError, match="client 1: update has 2 arrays"):
        CompressedClient(lambda *a: ([np.zeros(2), np.zeros(2)], 1), quantize_8bit)(
            1, [np.zeros(2)], 1, rng)


def test_compressed_client_rejects_bad_calls_and_keeps_its_state() -> None:
    calls = []

    def fixed(cid, params, server_round, rng):
        calls.append(cid)
        return [np.array([3.0, 1.0, 0.5])], 2

    wrapped = CompressedClient(fixed, topk_compressor(1 / 3), error_feedback=True)
    rng = np.random.default_rng(0)
    wrapped(0, [np.zeros(3)], 1, rng)
    residuals = [r.copy() for r in wrapped.residuals[0]]
    sent = dict(wrapped.bytes_per_round)
    bad_calls = [
        ((0.5, [np.zeros(3)], 2, rng), "cid must be an integer"),
        ((True, [np.zeros(3)], 2, rng), "cid must be an integer"),
        ((0, [np.zeros(3)], 2.5, rng), "server_round must be an integer"),
        ((0, [np.zeros(3)], 2, 7), "rng must be a numpy Generator"),
        ((0, np.zeros(3), 2, rng), "params must be a list of numpy arrays"),
        ((0, [np.array([np.nan, 0, 0])], 2, rng), r"params\[0\] contains NaN"),
        ((0, [np.zeros(4)], 2, rng), "client 0: array 0 has shape"),
    ]
    for args, match in bad_calls:
        with pytest.raises(ValueError, match=match):
            wrapped(*args)
        for a, b in zip(wrapped.residuals[0], residuals, strict=True):
            np.testing.assert_array_equal(a, b)
        assert wrapped.bytes_per_round == sent

    def bad_count(cid, params, server_round, rng):
        return [np.zeros(3)], 2.5

    def bad_message(cid, params, server_round, rng):
        return [np.zeros(3)], 1

    with pytest.raises(ValueError, match="client 3: num_examples must be an integer"):
        CompressedClient(bad_count, quantize_8bit)(3, [np.zeros(3)], 1, rng)
    with pytest.raises(TypeError, match="client 3: the compressor returned a ndarray"):
        CompressedClient(bad_message, lambda x: x)(3, [np.zeros(3)], 1, rng)
    with pytest.raises(TypeError, match="client_fn must be a client function"):
        CompressedClient(None, quantize_8bit)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="error_feedback must be True or False"):
        CompressedClient(fixed, quantize_8bit, error_feedback=1)  # type: ignore[arg-type]


def test_quantize_tiny_values_send_zeros_instead_of_dividing_by_zero() -> None:
    msg = quantize_8bit(np.array([5e-324, -5e-324]))
    assert msg.scale == 0.0
    np.testing.assert_array_equal(dequantize(msg), [0.0, 0.0])


def test_quantize_does_not_modify_its_input() -> None:
    x = np.array([0.3, -0.77, 1.0])
    quantize_8bit(x, rng=np.random.default_rng(1))
    topk_sparsify(x, 1)
    np.testing.assert_array_equal(x, [0.3, -0.77, 1.0])
