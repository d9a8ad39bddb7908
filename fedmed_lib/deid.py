"""De-identification: k-anonymity, generalisation and suppression, and the linkage attack.

Introduced in :ref:`ch-encryption`. A released table is *k-anonymous* with respect to
its quasi-identifiers when every record shares its quasi-identifier values with at
least ``k - 1`` others (Sweeney, "k-Anonymity: A Model for Protecting Privacy",
International Journal of Uncertainty, Fuzziness and Knowledge-Based Systems 10(5),
2002). Removing names is not enough: a *linkage attack* joins the release to an
auxiliary table (a registry that knows names and a few demographics) on the
quasi-identifiers, and every record alone in its class is re-identified (Sweeney,
"Simple Demographics Often Identify People Uniquely", CMU Data Privacy Working
Paper 3, 2000).

Tables are ``pandas.DataFrame`` objects; numeric quasi-identifiers are generalised
by rounding down to bins of a given width (``age 47 -> 45`` for width 5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from fedmed_lib._validate import InputTypeError, _describe, check_int

__all__ = [
    "LinkageResult",
    "class_sizes",
    "drop_identifiers",
    "generalize",
    "k_anonymity",
    "k_anonymize",
    "linkage_attack",
    "suppress",
]


def _check_frame(table: object, name: str = "table") -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise InputTypeError(f"{name} must be a pandas DataFrame, got {_describe(table)}")
    return table


def _check_columns(table: pd.DataFrame, columns: object, *, name: str, what: str) -> list[str]:
    if isinstance(columns, str | bytes) or not isinstance(columns, Sequence):
        hint = f" (did you mean [{columns!r}]?)" if isinstance(columns, str) else ""
        raise InputTypeError(
            f"{what} must be a list of column names, got {_describe(columns)}{hint}"
        )
    cols = list(columns)
    if not cols:
        raise ValueError(f"{what} is empty: name at least one column")
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"{what} {missing} are not columns of {name}: {list(table.columns)}")
    return cols


def drop_identifiers(table: pd.DataFrame, identifiers: Sequence[str]) -> pd.DataFrame:
    """Return a copy of ``table`` without its direct identifiers (names, record numbers).

    Introduced in :ref:`ch-encryption`.
    """
    t = _check_frame(table)
    cols = _check_columns(t, identifiers, name="table", what="identifiers")
    return t.drop(columns=cols)


def class_sizes(table: pd.DataFrame, quasi_identifiers: Sequence[str]) -> NDArray[np.int64]:
    """For each record, the size of its equivalence class (records with equal quasi-identifiers).

    Missing values (NaN) form a value of their own. Introduced in :ref:`ch-encryption`.
    """
    t = _check_frame(table)
    qi = _check_columns(t, quasi_identifiers, name="table", what="quasi_identifiers")
    if len(t) == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = t.groupby(qi, dropna=False, sort=False)[qi[0]].transform("size")
    return np.asarray(sizes, dtype=np.int64)


def k_anonymity(table: pd.DataFrame, quasi_identifiers: Sequence[str]) -> int:
    """Return the ``k`` of a table: the size of its smallest equivalence class.

    Introduced in :ref:`ch-encryption`.

    Raises
    ------
    ValueError
        If the table is empty or a quasi-identifier is not one of its columns.
    """
    sizes = class_sizes(table, quasi_identifiers)
    if sizes.size == 0:
        raise ValueError("the table is empty: k-anonymity is undefined")
    return int(sizes.min())


def _check_widths(table: pd.DataFrame, widths: object) -> dict[str, float]:
    if not isinstance(widths, Mapping):
        raise InputTypeError(
            f"widths must be a dict {{column: bin width}}, got {_describe(widths)}"
        )
    out = {}
    for col, w in widths.items():
        if col not in table.columns:
            raise ValueError(f"widths names {col!r}, which is not a column: {list(table.columns)}")
        number = int | float | np.integer | np.floating
        if isinstance(w, bool | np.bool_) or not isinstance(w, number):
            raise InputTypeError(f"bin width of {col!r} must be a number, got {_describe(w)}")
        if not np.isfinite(w) or w <= 0:
            raise ValueError(f"bin width of {col!r} must be positive, got {w!r}")
        if not pd.api.types.is_numeric_dtype(table[col]):
            raise InputTypeError(f"column {col!r} is not numeric: it cannot be binned")
        out[str(col)] = float(w)
    return out


def generalize(table: pd.DataFrame, widths: Mapping[str, float]) -> pd.DataFrame:
    """Generalise numeric columns to the lower edge of bins: ``floor(x / w) * w``.

    ``{"age": 10}`` turns ages 40-49 into 40. A width of ``inf`` is refused: drop the
    column instead. Introduced in :ref:`ch-encryption`.
    """
    t = _check_frame(table).copy()
    for col, w in _check_widths(t, widths).items():
        t[col] = np.floor(t[col].to_numpy(dtype=float) / w) * w
    return t


def suppress(
    table: pd.DataFrame, quasi_identifiers: Sequence[str], k: int
) -> tuple[pd.DataFrame, int]:
    """Remove every record whose equivalence class has fewer than ``k`` members.

    Returns the k-anonymous remainder and the number of suppressed records.
    Introduced in :ref:`ch-encryption`.
    """
    t = _check_frame(table)
    k = check_int(k, name="k", minimum=1)
    sizes = class_sizes(t, quasi_identifiers)
    keep = sizes >= k
    return t.loc[keep].copy(), int((~keep).sum())


def k_anonymize(
    table: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    k: int,
    candidates: Sequence[Mapping[str, float]],
    *,
    max_suppressed: float = 0.05,
) -> tuple[pd.DataFrame, dict[str, float], int]:
    """Reach k-anonymity with the first generalisation that needs little suppression.

    Tries the generalisations in ``candidates`` in order (from the most to the least
    precise), suppresses the records still in classes smaller than ``k``, and returns
    the first result that suppresses at most ``max_suppressed`` of the records (else
    the last candidate's). Returns ``(table, widths, num_suppressed)``.
    Introduced in :ref:`ch-encryption`.
    """
    t = _check_frame(table)
    k = check_int(k, name="k", minimum=1)
    if not isinstance(max_suppressed, int | float) or not 0 <= max_suppressed <= 1:
        raise ValueError(f"max_suppressed must be a fraction in [0, 1], got {max_suppressed!r}")
    if isinstance(candidates, Mapping) or not isinstance(candidates, Sequence) or not candidates:
        raise InputTypeError(
            f"candidates must be a non-empty list of {{column: width}} dicts, got "
            f"{_describe(candidates)}"
        )
    best: tuple[pd.DataFrame, dict[str, float], int] | None = None
    for widths in candidates:
        out, dropped = suppress(generalize(t, widths), quasi_identifiers, k)
        best = (out, dict(widths), dropped)
        if dropped <= max_suppressed * len(t):
            break
    assert best is not None
    return best


@dataclass
class LinkageResult:
    """The outcome of :func:`linkage_attack`. Introduced in :ref:`ch-encryption`.

    Attributes
    ----------
    matches
        For each registry row, how many released records agree with it on the
        linking columns.
    linked
        For each registry row, the index label of the released record it is linked
        to (exactly one record matches, and with ``one_to_one`` no other registry
        row has the same values), else ``None``.
    """

    matches: NDArray[np.int64]
    linked: list[object]

    @property
    def num_linked(self) -> int:
        """How many registry rows were linked to a single record."""
        return sum(r is not None for r in self.linked)


def linkage_attack(
    released: pd.DataFrame,
    registry: pd.DataFrame,
    on: Sequence[str],
    *,
    one_to_one: bool = True,
) -> LinkageResult:
    """Link each registry row to the released records that agree with it on ``on``.

    A registry row matching exactly one released record re-identifies it (the
    registry knows the name); with ``one_to_one`` (the default) the attacker also
    requires that no other registry row has the same values, as in Sweeney's join
    of a hospital release with a voter list. NaN matches nothing. If the release is
    generalised, generalise the registry the same way first (the bins are public).
    Introduced in :ref:`ch-encryption`.
    """
    if not isinstance(one_to_one, bool):
        raise InputTypeError(f"one_to_one must be True or False, got {_describe(one_to_one)}")
    rel = _check_frame(released, "released")
    reg = _check_frame(registry, "registry")
    cols = _check_columns(rel, on, name="released", what="linking columns")
    _check_columns(reg, cols, name="registry", what="linking columns")
    keys = rel[cols].dropna()
    groups: dict[tuple[object, ...], list[object]] = {}
    for idx, row in zip(keys.index, keys.itertuples(index=False, name=None), strict=True):
        groups.setdefault(tuple(row), []).append(idx)
    rows = [tuple(row) for row in reg[cols].itertuples(index=False, name=None)]
    in_registry: dict[tuple[object, ...], int] = {}
    for row in rows:
        in_registry[row] = in_registry.get(row, 0) + 1
    matches = np.zeros(len(reg), dtype=np.int64)
    linked: list[object] = []
    for i, row in enumerate(rows):
        hit = groups.get(row, [])
        matches[i] = len(hit)
        alone = in_registry[row] == 1 or not one_to_one
        linked.append(hit[0] if len(hit) == 1 and alone else None)
    return LinkageResult(matches, linked)
