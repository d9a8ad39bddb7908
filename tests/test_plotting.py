"""Tests of fedmed_lib.plotting: the palettes stay distinguishable under colour-vision
deficiencies (issue 12), and plot_history draws what the histories hold (issue 11)."""

from __future__ import annotations

import itertools

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest

from fedmed_lib.algorithms import FedAvg, numpy_client_fn
from fedmed_lib.models import LOGISTIC, add_intercept
from fedmed_lib.plotting import (
    GLOBAL_COLOR,
    HOSPITAL_COLORS,
    LINE_STYLES,
    METHOD_COLORS,
    POOLED_COLOR,
    REFERENCE_STYLES,
    hospital_color,
    plot_history,
)
from fedmed_lib.simulation import History, run_simulation

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


# --- plot_history: a metric per round, one line per method (issue 11) -----------------------



@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(values: list[float], rounds: list[int] | None = None, name: str = "accuracy"):
    h = History()
    for r, v in zip(rounds or range(len(values)), values, strict=True):
        h.add_metrics(r, {name: v, "loss": 1.0 - v})
    return h


def _hex(color: object) -> str:
    return mcolors.to_hex(color)  # type: ignore[arg-type]


def test_plot_history_draws_one_line_per_method_with_the_book_styles() -> None:
    histories = {"FedAvg": _history([0.5, 0.7, 0.8]), "FedProx": _history([0.5, 0.6, 0.9]),
                 "SCAFFOLD": _history([0.4, 0.9], rounds=[0, 2])}
    ax = plot_history(histories, "accuracy", references={"pooled": 0.95, "local": 0.6})
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["FedAvg", "FedProx", "SCAFFOLD", "pooled",
                                                    "local"]
    for i, (label, h) in enumerate(histories.items()):
        assert list(lines[i].get_xdata()) == h.rounds
        assert list(lines[i].get_ydata()) == h.metrics["accuracy"], label
        assert _hex(lines[i].get_color()) == METHOD_COLORS[i]
        assert lines[i].get_linestyle() == LINE_STYLES[i]
    for j, (line, value) in enumerate(zip(lines[3:], (0.95, 0.6), strict=True)):
        assert list(line.get_ydata()) == [value, value]
        assert _hex(line.get_color()) == POOLED_COLOR
        assert line.get_linestyle() == REFERENCE_STYLES[j]
    assert ax.get_xlabel() == "communication round" and ax.get_ylabel() == "accuracy"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "FedAvg", "FedProx", "SCAFFOLD", "pooled", "local"]


def test_plot_history_on_a_real_simulation_and_a_given_axes() -> None:
    rng = np.random.default_rng(0)
    clients = []
    for _ in range(3):
        X = add_intercept(rng.normal(size=(30, 2)))
        clients.append((X, (X[:, 1] > 0).astype(float)))
    Xall = np.vstack([X for X, _ in clients])
    yall = np.concatenate([y for _, y in clients])
    runs = {}
    for label, lr in (("lr 0.1", 0.1), ("lr 1.0", 1.0)):
        runs[label] = run_simulation(
            client_fn=numpy_client_fn(clients, model=LOGISTIC, lr=lr),
            num_clients=3, initial_parameters=[np.zeros(3)], strategy=FedAvg(), num_rounds=4,
            eval_fn=lambda p: {"loss": LOGISTIC.loss(p[0], Xall, yall)},
        )
    fig, ax = plt.subplots()
    out = plot_history(runs, "loss", ax, title="A larger step learns faster",
                       ylabel="training loss (nats)", marker="o")
    assert out is ax
    assert ax.get_title() == "A larger step learns faster"
    assert ax.get_ylabel() == "training loss (nats)"
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [
        runs["lr 0.1"].metrics["loss"], runs["lr 1.0"].metrics["loss"]]
    assert all(line.get_marker() == "o" for line in ax.get_lines())


def test_plot_history_unknown_metric_lists_the_available_ones() -> None:
    h = _history([0.5, 0.6])
    before = len(plt.get_fignums())
    with pytest.raises(ValueError, match=r"history 'FedAvg' has no metric 'auroc'; "
                                         r"available metrics: 'accuracy', 'loss'"):
        plot_history({"FedAvg": h}, "auroc")
    with pytest.raises(ValueError, match="history 'empty' has no metric 'accuracy'; available "
                                         "metrics: none .*pass eval_fn"):
        plot_history({"FedAvg": h, "empty": History()}, "accuracy")
    assert len(plt.get_fignums()) == before  # nothing was drawn


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"histories": {}}, TypeError, "histories must be a non-empty dict"),
        ({"histories": [History()]}, TypeError, "histories must be a non-empty dict"),
        ({"histories": {"A": object()}}, TypeError, "history 'A' must be a fedmed_lib"),
        ({"histories": {1: History()}}, TypeError, "history labels must be strings"),
        ({"metric": 3}, TypeError, "metric must be a metric name"),
        ({"ax": "ax"}, TypeError, "ax must be a matplotlib Axes"),
        ({"title": 3}, TypeError, "title must be a string"),
        ({"xlabel": None}, TypeError, "xlabel must be a string"),
        ({"colors": ["#000000"]}, ValueError, "1 colors for 2 histories"),
        ({"colors": "red"}, TypeError, "colors must be a list"),
        ({"linestyles": ["-", 3]}, TypeError, "linestyles must be a list of strings"),
        ({"references": {"pooled": "0.9"}}, TypeError, "reference 'pooled' must be a real"),
        ({"references": {"pooled": np.nan}}, TypeError, "reference 'pooled' must be a real"),
        ({"references": [0.9]}, TypeError, "references must be a dict"),
        ({"references": {"a": 1, "b": 2, "c": 3, "d": 4}}, ValueError, "at most 3 references"),
    ],
)
def test_plot_history_bad_input(kwargs: dict, error: type, match: str) -> None:
    base = {"histories": {"A": _history([0.5]), "B": _history([0.6])}, "metric": "accuracy"}
    before = len(plt.get_fignums())
    with pytest.raises(error, match=match):
        plot_history(**(base | kwargs))
    assert len(plt.get_fignums()) == before


def test_method_colours_are_not_hospital_colours_and_stay_apart() -> None:
    assert not set(METHOD_COLORS) & set(HOSPITAL_COLORS)
    assert POOLED_COLOR not in METHOD_COLORS
    assert len(set(zip(METHOD_COLORS, LINE_STYLES, strict=True))) == len(METHOD_COLORS)
    pairs = list(itertools.combinations(range(len(METHOD_COLORS)), 2))
    for vision in (None, "protanopia", "deuteranopia"):
        matrix = None if vision is None else MACHADO[vision]
        for i, j in pairs:
            assert _distance(METHOD_COLORS[i], METHOD_COLORS[j], matrix) > 15, (vision, i, j)
    # under tritanopia two colours come closer, and their line styles still differ
    for i, j in pairs:
        assert (_distance(METHOD_COLORS[i], METHOD_COLORS[j], MACHADO["tritanopia"]) > 15
                or LINE_STYLES[i] != LINE_STYLES[j])
