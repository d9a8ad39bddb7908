"""Tests of the chapter 13 self-check: a correct clip passes, each typical mistake is named."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib.check.ch13_differential_privacy import check_clip, check_clip_per_layer
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
    assert "scaled a small update UP" in fb.message and "comes back unchanged" in fb.message


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


@pytest.mark.parametrize("check", [check_clip, check_clip_per_layer])
@pytest.mark.parametrize("not_a_function", [None, 3.0, "fn", [1.0], (lambda: 0)()])
def test_a_called_function_instead_of_the_function_is_named(check, not_a_function):
    with pytest.raises(TypeError, match="fn must be your function itself"):
        check(not_a_function)


# --- check_clip_per_layer: every row of its table of mistakes ----------------------


def layer_clip(update, norms):
    out = []
    for u, s in zip(update, norms):
        n = float(np.linalg.norm(u))
        out.append(u * (min(1.0, s / n) if n > 0 else 1.0))
    return out


def test_per_layer_correct_answers_pass() -> None:
    fb = check_clip_per_layer(layer_clip)
    assert fb.passed, fb.message
    assert "sqrt(sum of S_j**2)" in fb.message

    def with_inf(update, norms):   # s / 0 = inf, min(1, inf) = 1: right, if inelegant
        with np.errstate(divide="ignore"):
            return [u * min(1.0, s / np.linalg.norm(u)) for u, s in zip(update, norms)]

    assert check_clip_per_layer(with_inf).passed


def test_per_layer_global_clip_detected() -> None:
    total = lambda norms: float(np.sqrt(np.sum(np.square(norms))))  # noqa: E731
    for fn in (lambda u, norms: correct_clip(u, total(norms)),
               lambda u, norms: correct_clip(u, norms[0]),
               lambda u, norms: correct_clip(u, sum(norms))):
        fb = check_clip_per_layer(fn)
        assert not fb.passed
        assert "as a whole, with one global norm" in fb.message


def test_per_layer_coordinate_clip_detected() -> None:
    fb = check_clip_per_layer(lambda u, norms: [np.clip(a, -s, s) for a, s in zip(u, norms)])
    assert not fb.passed and "[-S_j, S_j]" in fb.message


def test_per_layer_scaling_up_detected() -> None:
    def fn(update, norms):
        return [u * s / np.linalg.norm(u) if np.linalg.norm(u) > 0 else u
                for u, s in zip(update, norms)]

    fb = check_clip_per_layer(fn)
    assert not fb.passed and "scaled a small layer UP" in fb.message


def test_per_layer_wrong_pairing_detected() -> None:
    for fn in (lambda u, norms: layer_clip(u, [norms[0]] * len(norms)),
               lambda u, norms: layer_clip(u, norms[::-1])):
        fb = check_clip_per_layer(fn)
        assert not fb.passed and "not to its own norm" in fb.message


def test_per_layer_wrong_norm_detected() -> None:
    def l1(update, norms):
        return [u * (min(1.0, s / np.abs(u).sum()) if np.abs(u).sum() > 0 else 1.0)
                for u, s in zip(update, norms)]

    def squared(update, norms):
        return [u * (min(1.0, s / np.sum(u**2)) if np.sum(u**2) > 0 else 1.0)
                for u, s in zip(update, norms)]

    for fn in (l1, squared):
        fb = check_clip_per_layer(fn)
        assert not fb.passed and "wrong norm" in fb.message


def test_per_layer_zero_layer_and_in_place_detected() -> None:
    def nan(update, norms):
        with np.errstate(divide="ignore", invalid="ignore"):
            return [u / np.linalg.norm(u) * min(np.linalg.norm(u), s)
                    for u, s in zip(update, norms)]

    fb = check_clip_per_layer(nan)
    assert not fb.passed and "NaN or infinite" in fb.message

    def in_place_layers(update, norms):
        for u, s in zip(update, norms):
            n = float(np.linalg.norm(u))
            u *= min(1.0, s / n) if n > 0 else 1.0
        return update

    fb = check_clip_per_layer(in_place_layers)
    assert not fb.passed and "in place" in fb.message


def test_per_layer_shape_stub_and_generic() -> None:
    fb = check_clip_per_layer(lambda u, norms: np.concatenate([a.ravel() for a in u]))
    assert not fb.passed and "one array per layer" in fb.message

    def stub(update, clipping_norms):
        raise NotImplementedError

    fb = check_clip_per_layer(stub)
    assert not fb.passed and "not written yet" in fb.message
    fb = check_clip_per_layer(lambda u, norms: [a * 0.5 for a in u])
    assert not fb.passed
    assert "layer 0 does not come back clipped to its own S_j" in fb.message
    assert "its norm is still above S_j" in fb.message and "clipping section" in fb.message
    assert "min(1" not in fb.message and "/ its norm" not in fb.message
    assert "0.6" not in fb.message and "0.8" not in fb.message


def test_per_layer_generic_names_the_layer_and_what_is_wrong() -> None:
    """The generic feedback names the first wrong layer and how, never the expression."""
    def reversed_layers(update, norms):      # right norms, wrong directions
        return [a.ravel()[::-1].reshape(a.shape) for a in layer_clip(update, norms)]

    def too_short(update, norms):            # long layers shrunk below their S_j
        return [a * 0.5 if np.linalg.norm(u) > s else a
                for a, u, s in zip(layer_clip(update, norms), update, norms)]

    def small_changed(update, norms):        # long layers right, a small layer changed
        return [a if np.linalg.norm(u) > s else a * 0.5
                for a, u, s in zip(layer_clip(update, norms), update, norms)]

    for fn, layer, what in (
        (reversed_layers, 0, "no longer points in the direction"),
        (too_short, 0, "shorter than S_j"),
        (small_changed, 1, "already inside its ball of radius S_j"),
    ):
        fb = check_clip_per_layer(fn)
        assert not fb.passed
        assert f"layer {layer} does not come back clipped to its own S_j" in fb.message, fb.message
        assert what in fb.message, fb.message
        assert "min(1" not in fb.message and "0.6" not in fb.message and "0.8" not in fb.message
