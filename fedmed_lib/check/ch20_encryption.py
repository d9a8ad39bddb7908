"""Self-checks for :ref:`ch-encryption`: the k of a k-anonymous table.

The learner writes ``k_anonymity(table, quasi_identifiers) -> int``: the size of the
smallest equivalence class, the group of records that agree on every
quasi-identifier (Sweeney, IJUFKS 2002). A missing value is a value of its own
(the attacker sees the gap too). The check runs it on small tables that tell the
usual mistakes apart and never prints the expected value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Mistake, Symptom, as_number, call, diagnose, selfcheck

KAnonymityFn = Callable[[pd.DataFrame, Sequence[str]], object]

_QI = ["age", "sex", "bp"]


def _table(rows: list[tuple[float, int, float, int, int]]) -> pd.DataFrame:
    out = []
    for age, sex, bp, disease, count in rows:
        out += [(age, sex, bp, disease)] * count
    return pd.DataFrame(out, columns=["age", "sex", "bp", "disease"])


# Case 1: classes of 3, 2, 4 and 6 records (k = 2); the class of two disagrees on the
# disease, so grouping by every column gives 1; age alone gives 5.
_CASE1 = _table([
    (40, 0, 120, 1, 3),
    (40, 1, 130, 1, 1), (40, 1, 130, 0, 1),
    (50, 0, 120, 0, 4),
    (50, 1, 140, 1, 6),
])
# Case 2: two records with a missing blood pressure form the smallest class (k = 2);
# dropping them gives 4 (and three classes, so no other row of the table gives 4).
_CASE2 = _table([
    (60, 1, np.nan, 1, 2),
    (60, 1, 150, 1, 4),
    (70, 0, 150, 0, 5),
])


def _sizes(t: pd.DataFrame, qi: Sequence[str], dropna: bool = False) -> pd.Series:
    return t.groupby(list(qi), dropna=dropna).size()


_MISTAKES: tuple[Mistake | Symptom, ...] = (
    Mistake(lambda t, qi: len(_sizes(t, qi)),
            "Your k is the number of equivalence classes.",
            "k is the size of the smallest class, not how many classes there are."),
    Mistake(lambda t, qi: int(_sizes(t, qi).max()),
            "Your k is the size of the largest equivalence class.",
            "a table is only as anonymous as its smallest class."),
    Mistake(lambda t, qi: int((_sizes(t, qi) == 1).sum()),
            "Your k counts the records that are alone in their class.",
            "that count says how many records are unique; k is the size of the smallest class."),
    Mistake(lambda t, qi: len(t) / len(_sizes(t, qi)),
            "Your k is the average class size.",
            "take the minimum over classes, not the mean."),
    Mistake(lambda t, qi: int(_sizes(t, list(t.columns)).min()),
            "Your classes use every column of the table, not only the quasi-identifiers.",
            "group by the quasi_identifiers argument only: the attacker does not know the "
            "other columns."),
    Mistake(lambda t, qi: int(_sizes(t, qi[:1]).min()),
            "Your classes use only the first quasi-identifier.",
            "records are in the same class when they agree on all the quasi-identifiers."),
    Mistake(lambda t, qi: int(_sizes(t, qi, dropna=True).min()),
            "Your k ignores the records with a missing quasi-identifier.",
            "pandas' groupby drops NaN keys by default (dropna=True); a missing value is a "
            "value of its own."),
    Symptom(lambda got, t, qi: got < 1 or got > len(t),
            "Your k is not between 1 and the number of records.",
            "k is the size of an equivalence class: a count of records."),
)


@selfcheck
def check_k_anonymity(k_anonymity: KAnonymityFn) -> Feedback:
    """Check a learner's ``k_anonymity(table, quasi_identifiers) -> int``.

    Introduced in the exercises of :ref:`ch-encryption`.

    Parameters
    ----------
    k_anonymity
        Returns the size of the smallest group of records that share the values of
        all the quasi-identifiers (NaN counts as a value).

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected value).
    """
    hint = "k_anonymity(table, quasi_identifiers) takes a DataFrame and a list of column names."
    for case in (_CASE1, _CASE2):
        got = as_number(call(k_anonymity, case, list(_QI), hint=hint),
                        "return one integer, the size of the smallest class.")
        expected = int(_sizes(case, _QI).min())
        diagnose(got, expected, _MISTAKES, (case, list(_QI)), rtol=0.0, atol=1e-9,
                 generic=("Your k is not the size of the smallest equivalence class.",
                          "check the definition of k in section 'De-identification, and "
                          "why it is not enough': which records form a class, and which class "
                          "decides k."))
    return correct(
        "Your k is the size of the smallest equivalence class on every test table, "
        "missing values included."
    )
