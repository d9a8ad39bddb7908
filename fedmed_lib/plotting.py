"""Plotting helpers: one colour per hospital, the same in every chapter.

Only this module draws; simulations return numbers (see :mod:`fedmed_lib.simulation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from fedmed_lib._validate import InputTypeError, check_int

HOSPITAL_COLORS: tuple[str, ...] = (
    "#0072B2",  # 0 blue           (Cleveland in the heart-disease chapters)
    "#D55E00",  # 1 vermillion     (Hungary)
    "#009E73",  # 2 bluish green   (Switzerland)
    "#E69F00",  # 3 orange         (Long Beach VA)
    "#CC79A7",  # 4 reddish purple
    "#56B4E9",  # 5 sky blue
    "#F0E442",  # 6 yellow
    "#8C564B",  # 7 brown
)
"""Colour of hospital ``k`` is ``HOSPITAL_COLORS[k % 8]`` throughout the book.

The first seven are Okabe and Ito's palette ("Color Universal Design", 2008), chosen to
stay distinguishable under the common colour-vision deficiencies;
``tests/test_plotting.py`` checks the first four under simulated protanopia,
deuteranopia and tritanopia.
"""

GLOBAL_COLOR = "#000000"
"""The federated (global) model is drawn in black."""

POOLED_COLOR = "#b0b0b0"
"""The pooled (centralised) reference is drawn in grey."""


def hospital_color(k: int) -> str:
    """Return the colour of hospital ``k`` (the same in every chapter).

    Introduced in :ref:`ch-why-fl`.

    Raises
    ------
    ValueError
        If ``k`` is not an integer ``>= 0`` (``1.0`` and ``True`` are refused).
    """
    k = check_int(k, name="k", minimum=0)
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
    Introduced in :ref:`ch-scaling`.

    Raises
    ------
    ValueError
        If ``histories`` is not a non-empty mapping, a history lacks ``rounds`` or
        the metric (naming its label), its rounds and values differ in length, or
        fewer ``colors`` than histories are given. Nothing is drawn then.
    """
    if not isinstance(histories, Mapping) or len(histories) == 0:
        raise InputTypeError(
            "histories must be a non-empty dict {label: History}, got "
            f"{type(histories).__name__}"
            + (" (empty)" if isinstance(histories, Mapping) else "")
        )
    if not isinstance(metric, str):
        raise InputTypeError(f"metric must be a metric name (str), got {type(metric).__name__}")
    for name, text in (("title", title), ("ylabel", ylabel)):
        if text is not None and not isinstance(text, str):
            raise InputTypeError(f"{name} must be a string or None, got {type(text).__name__}")
    if colors is not None:
        if isinstance(colors, str) or not isinstance(colors, Sequence):
            raise InputTypeError(f"colors must be a list of colours, got {type(colors).__name__}")
        if len(colors) < len(histories):
            raise ValueError(f"{len(colors)} colors for {len(histories)} histories")
    if ax is not None and not isinstance(ax, Axes):
        raise InputTypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    series = []
    for label, h in histories.items():
        rounds = getattr(h, "rounds", None)
        metrics = getattr(h, "metrics", None)
        if rounds is None or not isinstance(metrics, Mapping):
            raise InputTypeError(f"history {label!r} is not a History (no rounds or metrics)")
        if metric not in metrics:
            raise ValueError(
                f"history {label!r} has no metric {metric!r} (it has {sorted(metrics)})"
            )
        values = metrics[metric]
        if len(values) != len(rounds):
            raise ValueError(
                f"history {label!r}: {len(rounds)} rounds but {len(values)} values of {metric!r}"
            )
        series.append((label, rounds, values))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    for i, (label, rounds, values) in enumerate(series):
        color = colors[i] if colors is not None else None
        ax.plot(rounds, values, label=label, color=color)
    ax.set_xlabel("communication round")
    ax.set_ylabel(ylabel or metric)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax
