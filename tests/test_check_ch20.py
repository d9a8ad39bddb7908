"""Tests of the self-check of ch-encryption: correct answers pass, each mistake gets its hint."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from fedmed_lib import deid
from fedmed_lib.check.ch20_encryption import check_k_anonymity


def k_by_counting(table, quasi_identifiers):
    keys = table[quasi_identifiers].fillna(-1).itertuples(index=False, name=None)
    return min(Counter(keys).values())


def test_correct_answers_pass() -> None:
    for fn in (k_by_counting, deid.k_anonymity,
               lambda t, qi: t.groupby(qi, dropna=False).size().min()):
        fb = check_k_anonymity(fn)
        assert fb.passed, fb.message
        assert "smallest equivalence class" in fb.message


def _sizes(t, qi, dropna=False):
    return t.groupby(list(qi), dropna=dropna).size()


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda t, qi: len(_sizes(t, qi)), "not how many classes"),
        (lambda t, qi: _sizes(t, qi).max(), "only as anonymous as its smallest"),
        (lambda t, qi: (_sizes(t, qi) == 1).sum(), "how many records are unique"),
        (lambda t, qi: len(t) / len(_sizes(t, qi)), "minimum over classes, not the mean"),
        (lambda t, qi: _sizes(t, list(t.columns)).min(), "quasi_identifiers argument only"),
        (lambda t, qi: _sizes(t, qi[:1]).min(), "agree on all the quasi-identifiers"),
        (lambda t, qi: t.groupby(qi).size().min(), "dropna=True"),
        (lambda t, qi: -1, "a count of records"),
        (lambda t, qi: len(t) + 1, "a count of records"),
        (lambda t, qi: _sizes(t, qi).min() + 1, "which class decides k"),
        (lambda t, qi: _sizes(t, qi), "return one integer"),
        (lambda t, qi: t["zip"], "raised KeyError"),
    ],
)
def test_mistakes_get_their_hint(fn: Callable, hint: str) -> None:
    fb = check_k_anonymity(fn)
    assert not fb.passed
    assert hint in fb.message, fb.message
    assert "Hint:" in fb.message


def test_stub_is_recognised() -> None:
    def stub(table, quasi_identifiers):
        raise NotImplementedError

    fb = check_k_anonymity(stub)
    assert not fb.passed
    assert "NotImplementedError" in fb.message
