"""Tests of fedmed_lib.deid: k-anonymity, generalisation, suppression and linkage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedmed_lib import deid


def small() -> pd.DataFrame:
    return pd.DataFrame({
        "name": ["a", "b", "c", "d", "e", "f"],
        "age": [41, 43, 47, 52, 58, 52],
        "sex": [1, 1, 1, 0, 0, 0],
        "bp": [120, 120, 130, np.nan, 140, np.nan],
        "disease": [1, 0, 1, 0, 1, 1],
    })


def test_by_hand() -> None:
    t = small()
    assert list(t.columns) != list(deid.drop_identifiers(t, ["name"]).columns)
    assert "name" not in deid.drop_identifiers(t, ["name"]).columns
    # (age, sex): 41/43/47 alone, the two 52-year-old women together, 58 alone
    assert deid.class_sizes(t, ["age", "sex"]).tolist() == [1, 1, 1, 2, 1, 2]
    assert deid.k_anonymity(t, ["age", "sex"]) == 1
    # NaN is a value of its own: records d and f (52, 0, NaN) form a class of 2
    assert deid.class_sizes(t, ["age", "sex", "bp"]).tolist() == [1, 1, 1, 2, 1, 2]
    g = deid.generalize(t, {"age": 10})
    assert g["age"].tolist() == [40, 40, 40, 50, 50, 50]
    assert deid.class_sizes(g, ["age", "sex"]).tolist() == [3, 3, 3, 3, 3, 3]
    assert deid.k_anonymity(g, ["age", "sex"]) == 3
    kept, dropped = deid.suppress(deid.generalize(t, {"age": 10}), ["age", "sex", "bp"], 2)
    # classes: (40,1,120) x2, (40,1,130), (50,0,NaN) x2, (50,0,140)
    assert dropped == 2 and kept["name"].tolist() == ["a", "b", "d", "f"]
    assert t["age"].tolist() == [41, 43, 47, 52, 58, 52]  # the input is not changed


def brute_force_k(table: pd.DataFrame, qi: list[str]) -> int:
    rows = table[qi].to_numpy(dtype=float)
    best = len(rows)
    for r in rows:
        same = np.all((rows == r) | (np.isnan(rows) & np.isnan(r)), axis=1)
        best = min(best, int(same.sum()))
    return best


@settings(max_examples=100, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1), st.sampled_from([1.0, 2.0, np.nan])),
                  min_size=1, max_size=30),
    ncols=st.integers(1, 3),
)
def test_k_anonymity_against_brute_force(data, ncols) -> None:
    t = pd.DataFrame(data, columns=["a", "b", "c"])
    qi = ["a", "b", "c"][:ncols]
    assert deid.k_anonymity(t, qi) == brute_force_k(t, qi)
    for k in (1, 2, 3):
        kept, dropped = deid.suppress(t, qi, k)
        assert dropped + len(kept) == len(t)
        if len(kept):
            assert deid.k_anonymity(kept, qi) >= k


def test_k_anonymize_takes_first_good_candidate() -> None:
    t = small()
    cands = [{"age": 1}, {"age": 10}, {"age": 100}]
    out, widths, dropped = deid.k_anonymize(t, ["age", "sex"], 3, cands, max_suppressed=0.0)
    assert widths == {"age": 10} and dropped == 0 and len(out) == 6
    out, widths, dropped = deid.k_anonymize(t, ["age", "sex"], 3, cands[:1], max_suppressed=0.0)
    assert widths == {"age": 1} and dropped == 6  # the last candidate is returned anyway


def test_linkage_attack_by_hand() -> None:
    released = deid.drop_identifiers(small(), ["name"])
    registry = pd.DataFrame({
        "who": ["Ann", "Bob", "Cat", "Dan", "Eve"],
        "age": [41, 52, 58, 58, 99],
        "sex": [1, 0, 0, 0, 1],
    })
    res = deid.linkage_attack(released, registry, ["age", "sex"])
    assert res.matches.tolist() == [1, 2, 1, 1, 0]
    # Ann is linked to record 0; Cat and Dan look the same, so neither is linked
    assert res.linked == [0, None, None, None, None] and res.num_linked == 1
    loose = deid.linkage_attack(released, registry, ["age", "sex"], one_to_one=False)
    assert loose.linked == [0, None, 4, 4, None]
    # after generalisation nobody is unique
    g = deid.generalize(released, {"age": 10})
    assert deid.linkage_attack(g, deid.generalize(registry, {"age": 10}), ["age", "sex"]).num_linked == 0
    # NaN in the release matches nothing
    reg_bp = pd.DataFrame({"age": [52.0], "sex": [0], "bp": [np.nan]})
    assert deid.linkage_attack(released, reg_bp, ["age", "sex", "bp"]).matches.tolist() == [0]


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: deid.k_anonymity(np.zeros((3, 2)), ["a"]), TypeError, "DataFrame"),
        (lambda: deid.k_anonymity(small(), "age"), TypeError, "did you mean"),
        (lambda: deid.k_anonymity(small(), ["zip"]), ValueError, "zip"),
        (lambda: deid.k_anonymity(small(), []), ValueError, "empty"),
        (lambda: deid.k_anonymity(small().iloc[:0], ["age"]), ValueError, "empty"),
        (lambda: deid.generalize(small(), {"age": -5}), ValueError, "positive"),
        (lambda: deid.generalize(small(), {"age": np.inf}), ValueError, "positive"),
        (lambda: deid.generalize(small(), {"age": "10"}), TypeError, "number"),
        (lambda: deid.generalize(small(), {"name": 10}), TypeError, "not numeric"),
        (lambda: deid.generalize(small(), {"zip": 10}), ValueError, "zip"),
        (lambda: deid.generalize(small(), [("age", 10)]), TypeError, "dict"),
        (lambda: deid.suppress(small(), ["age"], 0), ValueError, "k must be at least 1"),
        (lambda: deid.suppress(small(), ["age"], 2.0), TypeError, "k must be an integer"),
        (lambda: deid.k_anonymize(small(), ["age"], 2, {"age": 10}), TypeError, "candidates"),
        (lambda: deid.k_anonymize(small(), ["age"], 2, [{"age": 10}], max_suppressed=2),
         ValueError, "max_suppressed"),
        (lambda: deid.linkage_attack(small(), small(), ["zip"]), ValueError, "released"),
        (lambda: deid.linkage_attack(small(), small()[["name"]], ["age"]), ValueError,
         "registry"),
        (lambda: deid.linkage_attack(small(), small(), ["age"], one_to_one=1), TypeError,
         "one_to_one"),
        (lambda: deid.drop_identifiers(small(), ["ssn"]), ValueError, "ssn"),
    ],
)
def test_bad_input_is_named(call, error, words) -> None:
    with pytest.raises(error, match=words):
        call()


@settings(max_examples=60, deadline=None)
@given(bad_qi=st.one_of(st.sampled_from([None, "age", 3, [], ["zip"], ["age", "zip"]]),
                        st.lists(st.text(max_size=3), min_size=1, max_size=3)
                        .filter(lambda c: any(x not in small().columns for x in c))))
def test_generated_bad_quasi_identifiers_are_named(bad_qi) -> None:
    t = small()
    before = t.copy()
    for fn in (deid.k_anonymity, deid.class_sizes, lambda tt, q: deid.suppress(tt, q, 2)):
        with pytest.raises((ValueError, TypeError)) as err:
            fn(t, bad_qi)
        assert "quasi_identifiers" in str(err.value)
    pd.testing.assert_frame_equal(t, before)
