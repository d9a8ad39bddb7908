"""Tests of the chapter 13 self-check: a correct clip passes, each typical mistake is named."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.check.ch13_differential_privacy import check_clip
from fedmed_lib.privacy.dp import clip_update


def _scaled(update: list[np.ndarray], scale: float) -> list[np.ndarray]:
    return [u * scale for u in update]


def _global(update: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(u**2) for u in update)))


def correct_clip(update, c):
    norm = _global(update)
    return _scaled(update, min(1.0, c / norm) if norm > 0 else 1.0)


def coordinate_clip(update, c):
    return [np.clip(u, -c, c) for u in update]


def always_scale(update, c):
    norm = _global(update)
    return _scaled(update, c / norm if norm > 0 else 1.0)


def per_array(update, c):
    out = []
    for u in update:
        n = float(np.linalg.norm(u))
        out.append(u * (min(1.0, c / n) if n > 0 else 1.0))
    return out


def l1_norm(update, c):
    norm = float(sum(np.abs(u).sum() for u in update))
    return _scaled(update, min(1.0, c / norm) if norm > 0 else 1.0)


def squared_norm(update, c):
    norm = _global(update) ** 2
    return _scaled(update, min(1.0, c / norm) if norm > 0 else 1.0)


def no_zero_guard(update, c):
    norm = np.float64(_global(update))
    with np.errstate(divide="ignore", invalid="ignore"):
        return [u / norm * min(norm, c) for u in update]


def in_place(update, c):
    norm = _global(update)
    for u in update:
        u *= min(1.0, c / norm) if norm > 0 else 1.0
    return update


def raises(update, c):
    raise RuntimeError("not implemented")


def test_correct_answers_pass() -> None:
    fb = check_clip(correct_clip)
    assert fb.passed, fb.message
    assert check_clip(clip_update).passed


def test_coordinate_clipping_detected() -> None:
    fb = check_clip(coordinate_clip)
    assert not fb.passed
    assert "Each coordinate was clipped" in fb.message and "ONE norm" in fb.message


def test_scaling_up_detected() -> None:
    fb = check_clip(always_scale)
    assert not fb.passed
    assert "scaled a small update UP" in fb.message and "min(1, C / norm)" in fb.message


def test_per_array_detected() -> None:
    fb = check_clip(per_array)
    assert not fb.passed
    assert "clipped each array (layer) separately" in fb.message


def test_wrong_norms_detected() -> None:
    for fn in (l1_norm, squared_norm):
        fb = check_clip(fn)
        assert not fb.passed
        assert "different norm" in fb.message and "sum of squares" in fb.message


def test_zero_update_detected() -> None:
    fb = check_clip(no_zero_guard)
    assert not fb.passed
    assert "zero update did not come back as zeros" in fb.message


def test_in_place_and_errors_detected() -> None:
    fb = check_clip(in_place)
    assert not fb.passed and "in place" in fb.message
    fb = check_clip(raises)
    assert not fb.passed and "RuntimeError" in fb.message


def test_feedback_never_reveals_expected_values() -> None:
    for fn in (coordinate_clip, always_scale, per_array, l1_norm, squared_norm):
        msg = check_clip(fn).message
        assert "0.6" not in msg and "0.8" not in msg and "0.3" not in msg


@pytest.mark.parametrize("check", [check_clip])
@pytest.mark.parametrize("not_a_function", [None, 3.0, "fn", [1.0], (lambda: 0)()])
def test_a_called_function_instead_of_the_function_is_named(check, not_a_function):
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check(not_a_function)
