"""Plotting helpers: one colour per hospital, the same in every chapter.

Only this module draws; simulations return numbers (see :mod:`fedmed_lib.simulation`).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

HOSPITAL_COLORS: tuple[str, ...] = (
    "#1f77b4",  # 0 blue    (Cleveland in the heart-disease chapters)
    "#d62728",  # 1 red     (Hungary)
    "#2ca02c",  # 2 green   (Switzerland)
    "#ff7f0e",  # 3 orange  (Long Beach VA)
    "#9467bd",  # 4 purple
    "#8c564b",  # 5 brown
    "#e377c2",  # 6 pink
    "#17becf",  # 7 cyan
)
"""Colour of hospital ``k`` is ``HOSPITAL_COLORS[k % 8]`` throughout the book."""

GLOBAL_COLOR = "#000000"
"""The federated (global) model is drawn in black."""

POOLED_COLOR = "#7f7f7f"
"""The pooled (centralised) reference is drawn in grey."""


def hospital_color(k: int) -> str:
    """Return the colour of hospital ``k`` (the same in every chapter)."""
    return HOSPITAL_COLORS[k % len(HOSPITAL_COLORS)]


def plot_metric(
    histories: dict[str, object],
    metric: str,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    ylabel: str | None = None,
    colors: Sequence[str] | None = None,
) -> Axes:
    """Plot one metric against the communication round for several histories.

    ``histories`` maps a legend label to a :class:`fedmed_lib.simulation.History`.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    for i, (label, h) in enumerate(histories.items()):
        rounds = getattr(h, "rounds")  # noqa: B009
        values = getattr(h, "metrics")[metric]  # noqa: B009
        color = colors[i] if colors is not None else None
        ax.plot(rounds, values, label=label, color=color)
    ax.set_xlabel("communication round")
    ax.set_ylabel(ylabel or metric)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax
