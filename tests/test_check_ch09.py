"""The ch09 self-checks accept correct compressors and name each typical mistake."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.check.ch09_limited_resources import check_quantize, check_topk


def good_quantize(x):
    peak = np.abs(x).max()
    if peak == 0:
        return np.zeros(x.shape, np.int8), 0.0
    scale = peak / 127
    return np.rint(x / scale).astype(np.int8), scale


def _q(x, scale, rounding=np.rint, dtype=np.int8):
    return rounding(x / scale).astype(dtype), scale


WRONG_QUANTIZE = {
    "no_division": (lambda x: _q(x, np.abs(x).max()), "only three levels"),
    "unsigned": (lambda x: _q(x, np.abs(x).max() / 255), "255 or 256"),
    "max_not_abs": (lambda x: _q(x, x.max() / 127), "largest value"),
    "lost_sign": (lambda x: (np.rint(np.abs(x) / (np.abs(x).max() / 127)).astype(np.int8),
                             np.abs(x).max() / 127), "lost the sign"),
    "truncate": (lambda x: _q(x, np.abs(x).max() / 127, rounding=np.trunc), "nearest level"),
    "float_dtype": (lambda x: _q(x, np.abs(x).max() / 127, dtype=np.float64), "dtype"),
    "scale_128": (lambda x: _q(x, np.abs(x).max() / 128), "map the largest magnitude"),
    "zero_div": (lambda x: _q(x, np.abs(x).max() / 127), "all-zero"),
    "not_pair": (lambda x: np.rint(x), "unpacking"),
}


def test_correct_quantize_passes() -> None:
    fb = check_quantize(good_quantize)
    assert fb.passed, fb.message


@pytest.mark.parametrize("name", list(WRONG_QUANTIZE))
def test_wrong_quantize_is_named(name: str) -> None:
    fn, phrase = WRONG_QUANTIZE[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        fb = check_quantize(fn)
    assert not fb.passed
    assert phrase in fb.message, fb.message
    assert "Hint:" in fb.message


def good_topk(x, k):
    out = np.zeros_like(x).ravel()
    idx = np.argsort(-np.abs(x).ravel(), kind="stable")[:k]
    out[idx] = x.ravel()[idx]
    return out.reshape(x.shape)


def smallest_topk(x, k):
    out = np.zeros_like(x).ravel()
    idx = np.argsort(np.abs(x).ravel(), kind="stable")[:k]
    out[idx] = x.ravel()[idx]
    return out.reshape(x.shape)


def signed_topk(x, k):
    out = np.zeros_like(x).ravel()
    idx = np.argsort(-x.ravel(), kind="stable")[:k]
    out[idx] = x.ravel()[idx]
    return out.reshape(x.shape)


def abs_topk(x, k):
    return np.abs(good_topk(x, k))


def off_by_one_topk(x, k):
    return good_topk(x, k + 1)


def scaled_topk(x, k):
    return 2 * good_topk(x, k)


def in_place_topk(x, k):
    keep = good_topk(x, k) != 0
    x[~keep] = 0.0
    return x


def flat_topk(x, k):
    return good_topk(x, k).ravel()


@pytest.mark.parametrize(
    ("fn", "phrase"),
    [
        (smallest_topk, "SMALLEST"),
        (signed_topk, "largest VALUES"),
        (abs_topk, "sign is lost"),
        (off_by_one_topk, "non-zero entries"),
        (scaled_topk, "values were changed"),
        (in_place_topk, "in place"),
        (flat_topk, "shape"),
    ],
)
def test_wrong_topk_is_named(fn, phrase: str) -> None:
    fb = check_topk(fn)
    assert not fb.passed
    assert phrase in fb.message, fb.message


def test_correct_topk_passes() -> None:
    fb = check_topk(good_topk)
    assert fb.passed, fb.message


def test_messages_do_not_reveal_values() -> None:
    for fn, _ in WRONG_QUANTIZE.values():
        with np.errstate(divide="ignore", invalid="ignore"):
            msg = check_quantize(fn).message
        assert "array(" not in msg and "scale =" not in msg


@pytest.mark.parametrize("check", [check_quantize, check_topk])
@pytest.mark.parametrize("fn", [None, (np.zeros(3), 1.0), "quantize"])
def test_a_non_function_is_refused_naming_fn(check, fn) -> None:
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check(fn)
