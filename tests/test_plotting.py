"""The hospital palette stays distinguishable under colour-vision deficiencies (issue 12)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fedmed_lib.plotting import GLOBAL_COLOR, HOSPITAL_COLORS, POOLED_COLOR, hospital_color

# Machado, Oliveira and Fernandes (IEEE TVCG 15(6), 2009): severity-1.0 simulation
# matrices, applied to linear RGB.
MACHADO = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(rgb_linear: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of a linear sRGB colour."""
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ np.clip(rgb_linear, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _distance(a: str, b: str, matrix: np.ndarray | None) -> float:
    la, lb = _linear(a), _linear(b)
    if matrix is not None:
        la, lb = matrix @ la, matrix @ lb
    return float(np.linalg.norm(_lab(la) - _lab(lb)))


@pytest.mark.parametrize("vision", [None, *MACHADO])
def test_four_hospitals_and_references_stay_apart(vision: str | None) -> None:
    colours = [*HOSPITAL_COLORS[:4], GLOBAL_COLOR, POOLED_COLOR]
    matrix = None if vision is None else MACHADO[vision]
    closest = min(_distance(a, b, matrix) for a, b in itertools.combinations(colours, 2))
    # CIE76 Delta E 15: a clearly visible difference between lines and bars of flat colour.
    assert closest > 15, f"{vision or 'normal vision'}: two of the chapter colours are {closest:.1f} apart"


def test_the_old_tableau_palette_would_fail() -> None:
    """The check can fail: Tableau's red and green (the palette before) merge for a deuteranope."""
    assert _distance("#d62728", "#2ca02c", MACHADO["deuteranopia"]) < 15


def test_hospital_color_cycles() -> None:
    assert hospital_color(0) == HOSPITAL_COLORS[0] == hospital_color(len(HOSPITAL_COLORS))
