"""Plotting helpers: the book's colours, and its figure of a metric per round per method.

One colour per hospital, the same in every chapter, and the common figure "a metric
per round, one line per method" (:func:`plot_history`). Only this module draws;
simulations return numbers (see :mod:`fedmed_lib.simulation`). Hospitals are
coloured with :data:`HOSPITAL_COLORS` (Okabe and Ito's palette); methods (FedAvg,
FedProx, SCAFFOLD, ...) with :data:`METHOD_COLORS` and :data:`LINE_STYLES`, which stay
outside the hospital palette so that a method is never mistaken for a hospital, and
whose line styles tell the lines apart in greyscale too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from fedmed_lib._validate import InputTypeError, _describe, check_int
from fedmed_lib.simulation import History

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

METHOD_COLORS: tuple[str, ...] = (
    GLOBAL_COLOR,  # 0 black       (FedAvg, the book's baseline)
    "#bcbd22",  # 1 olive
    "#393b79",  # 2 dark indigo
    "#843c39",  # 3 dark red
)
"""Colours of the methods compared in one figure, in order: method ``i`` is drawn in
``METHOD_COLORS[i % 4]`` with line style ``LINE_STYLES[i % 4]`` (the colours chapters 7 and
9 use for FedAvg, FedProx and SCAFFOLD). None of them is a hospital colour."""

LINE_STYLES: tuple[str, ...] = ("-", "--", "-.", ":")
"""Line styles of the methods, in order (solid, dashed, dash-dot, dotted)."""

REFERENCE_STYLES: tuple[str, ...] = ("--", ":", "-.")
"""Line styles of horizontal reference lines (pooled, local-only, ...), drawn in
:data:`POOLED_COLOR`."""


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


def _check_text(value: object, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InputTypeError(f"{name} must be a string or None, got {_describe(value)}")
    return value


def _check_styles(value: object, name: str, n: int) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InputTypeError(f"{name} must be a list of {n} strings, got {_describe(value)}")
    if any(not isinstance(v, str) for v in value):
        raise InputTypeError(f"{name} must be a list of strings, got {list(value)!r}")
    if len(value) < n:
        raise ValueError(f"{len(value)} {name} for {n} histories")
    return list(value)


def _check_histories(histories: object, metric: object) -> list[tuple[str, list[int], list[float]]]:
    """Validate ``{label: History}`` and ``metric``; return ``(label, rounds, values)`` per line."""
    if not isinstance(histories, Mapping) or len(histories) == 0:
        raise InputTypeError(
            "histories must be a non-empty dict {label: History}, got "
            + ("an empty dict" if isinstance(histories, Mapping) else _describe(histories))
        )
    if not isinstance(metric, str):
        raise InputTypeError(f"metric must be a metric name (str), got {_describe(metric)}")
    series = []
    for label, h in histories.items():
        if not isinstance(label, str):
            raise InputTypeError(f"history labels must be strings, got {_describe(label)}")
        if not isinstance(h, History):
            raise InputTypeError(
                f"history {label!r} must be a fedmed_lib.simulation.History, got {_describe(h)}"
            )
        if metric not in h.metrics:
            available = ", ".join(repr(m) for m in sorted(h.metrics))
            raise ValueError(
                f"history {label!r} has no metric {metric!r}; available metrics: "
                + (available or "none (no evaluation was recorded: pass eval_fn to "
                   "run_simulation)")
            )
        values = h.metrics[metric]
        if len(values) != len(h.rounds):
            raise ValueError(
                f"history {label!r}: {len(h.rounds)} rounds but {len(values)} values of {metric!r}"
            )
        series.append((label, list(h.rounds), list(values)))
    return series


def _check_references(references: object) -> list[tuple[str, float]]:
    if references is None:
        return []
    if not isinstance(references, Mapping):
        raise InputTypeError(
            f"references must be a dict {{label: value}} or None, got {_describe(references)}"
        )
    if len(references) > len(REFERENCE_STYLES):
        raise ValueError(
            f"at most {len(REFERENCE_STYLES)} references, got {len(references)}"
        )
    out = []
    for label, value in references.items():
        if not isinstance(label, str):
            raise InputTypeError(f"reference labels must be strings, got {_describe(label)}")
        if isinstance(value, bool) or not isinstance(value, Real) or value != value:
            raise InputTypeError(
                f"reference {label!r} must be a real number, got {_describe(value)}"
            )
        out.append((label, float(value)))
    return out


def plot_history(
    histories: Mapping[str, History],
    metric: str,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    ylabel: str | None = None,
    xlabel: str = "communication round",
    references: Mapping[str, float] | None = None,
    colors: Sequence[str] | None = None,
    linestyles: Sequence[str] | None = None,
    marker: str | None = None,
) -> Axes:
    """Plot one metric against the communication round, one line per method.

    The book's common figure: ``histories`` maps a legend label (the method, e.g.
    ``"FedAvg"``) to the :class:`~fedmed_lib.simulation.History` that
    :func:`~fedmed_lib.simulation.run_simulation` returned, and each line is
    ``history.metrics[metric]`` against ``history.rounds``. Method ``i`` (in the order
    of the mapping) is drawn in :data:`METHOD_COLORS` ``[i]`` with line style
    :data:`LINE_STYLES` ``[i]``; horizontal ``references`` (e.g. the pooled model) are
    drawn in :data:`POOLED_COLOR`. Introduced in :ref:`ch-scaling`.

    Parameters
    ----------
    histories
        ``{label: History}``, at least one; every history must have recorded ``metric``.
    metric
        The metric's name, a key of ``History.metrics`` (``"accuracy"``, ``"loss"``, ...).
    ax
        The Axes to draw on; by default a new ``6.4 x 4`` inch figure.
    title
        The title (say what to notice); none by default.
    ylabel
        The y-axis label (with units); by default the metric's name.
    xlabel
        The x-axis label.
    references
        ``{label: value}``: at most three horizontal lines, e.g. ``{"pooled": 0.91}``.
    colors, linestyles
        One colour / line style per history, replacing the defaults.
    marker
        A matplotlib marker for the evaluated rounds (e.g. ``"o"``); none by default.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on, with the legend and a light grid.

    Raises
    ------
    ValueError
        If a history lacks the metric (the message names the history and lists its
        metrics), its rounds and values differ in length, or fewer colours or line
        styles than histories are given. Nothing is drawn then.
        :class:`~fedmed_lib._validate.InputTypeError` (also a ``TypeError``) if
        ``histories`` is not a non-empty mapping of strings to ``History``, ``metric``
        or a label is not a string, a reference is not a real number, or ``ax`` is not
        an Axes.

    Examples
    --------
    >>> from fedmed_lib.simulation import History
    >>> h = History()
    >>> h.add_metrics(0, {"accuracy": 0.5}); h.add_metrics(1, {"accuracy": 0.8})
    >>> ax = plot_history({"FedAvg": h}, "accuracy", references={"pooled": 0.85})
    >>> [line.get_label() for line in ax.get_lines()]
    ['FedAvg', 'pooled']
    >>> plot_history({"FedAvg": h}, "loss")
    Traceback (most recent call last):
    ...
    ValueError: history 'FedAvg' has no metric 'loss'; available metrics: 'accuracy'
    """
    series = _check_histories(histories, metric)
    title = _check_text(title, "title")
    ylabel = _check_text(ylabel, "ylabel")
    if not isinstance(xlabel, str):
        raise InputTypeError(f"xlabel must be a string, got {_describe(xlabel)}")
    refs = _check_references(references)
    color_list = _check_styles(colors, "colors", len(series))
    style_list = _check_styles(linestyles, "linestyles", len(series))
    marker = _check_text(marker, "marker")
    if ax is not None and not isinstance(ax, Axes):
        raise InputTypeError(f"ax must be a matplotlib Axes or None, got {_describe(ax)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    for i, (label, rounds, values) in enumerate(series):
        color = color_list[i] if color_list else METHOD_COLORS[i % len(METHOD_COLORS)]
        style = style_list[i] if style_list else LINE_STYLES[i % len(LINE_STYLES)]
        ax.plot(rounds, values, label=label, color=color, linestyle=style, marker=marker,
                markersize=3 if marker else None)
    for j, (label, value) in enumerate(refs):
        ax.axhline(value, color=POOLED_COLOR, linestyle=REFERENCE_STYLES[j], label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or metric)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax
