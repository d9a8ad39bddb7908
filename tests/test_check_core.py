"""Tests of the self-checks' core: safe calls, tolerant comparison, tables of mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from fedmed_lib._validate import InputTypeError
from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import (
    AnyOf,
    Mistake,
    Symptom,
    Wrong,
    as_array,
    as_number,
    call,
    close,
    diagnose,
    selfcheck,
)

TABLE = (
    Symptom(lambda got, x: got < 0, "negative", "hint-neg"),
    Mistake(lambda x: 2 * x, "doubled", "hint-double"),
    Mistake(lambda x: AnyOf(x + 1, x - 1), "off by one", "hint-one"),
    Mistake(lambda x: 1 / 0, "never", "a row that raises does not apply"),
    Mistake(lambda x: 2 * x, "doubled again", "never reached: the first match wins"),
)


def verdict(got: float, x: float = 3.0) -> str:
    try:
        diagnose(got, x, TABLE, (x,), generic=("generic", "hint-generic"))
    except Wrong as err:
        return err.feedback.message
    return "right"


@pytest.mark.parametrize(
    ("got", "message"),
    [
        (3.0, "right"),
        (3.0 + 1e-12, "right"),
        (-1.0, "negative Hint: hint-neg"),
        (6.0, "doubled Hint: hint-double"),
        (4.0, "off by one Hint: hint-one"),
        (2.0, "off by one Hint: hint-one"),
        (5.5, "generic Hint: hint-generic"),
    ],
)
def test_diagnose_names_the_first_matching_mistake(got: float, message: str) -> None:
    assert verdict(got) == message


def test_diagnose_never_shows_the_expected_answer() -> None:
    assert "3" not in verdict(5.5)


def test_close_compares_numbers_arrays_and_lists_of_arrays() -> None:
    assert close(1.0, 1.0 + 1e-12)
    assert not close(1.0, 1.1)
    assert close([np.ones(2), np.zeros((2, 2))], [np.ones(2), np.zeros((2, 2))])
    assert not close([np.ones(2)], [np.ones(2), np.ones(2)])  # another length
    assert not close(np.ones(3), np.ones((3, 1)))  # another shape
    assert not close("a", 1.0) and not close(None, 1.0)


def test_call_reports_exceptions_stubs_and_in_place_changes() -> None:
    def stub(x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def broken(x: np.ndarray) -> np.ndarray:
        raise KeyError("k")

    def in_place(x: np.ndarray) -> np.ndarray:
        x += 1
        return x

    x = np.zeros(3)
    with pytest.raises(Wrong, match="NotImplementedError"):
        call(stub, x, hint="h")
    with pytest.raises(Wrong, match=r"raised KeyError: 'k' \(case 2\)"):
        call(broken, x, hint="h", where=" (case 2)")
    with pytest.raises(Wrong, match="in place"):
        call(in_place, x, hint="h")
    assert np.array_equal(x, np.zeros(3))  # the learner only ever sees copies
    assert np.array_equal(call(in_place, x, hint="h", check_inplace=False), np.ones(3))
    with pytest.raises(Wrong, match="division"):
        call(lambda: 1 / 0, hint="h", explain=lambda err: ("division", "h"))


def test_return_types_are_explained() -> None:
    with pytest.raises(Wrong, match="returns 2 numbers, not one"):
        as_number([1.0, 2.0], "h")
    with pytest.raises(Wrong, match="returned dict, not an array"):
        as_array({"a": 1}, "h")
    assert as_number(np.array([0.5]), "h") == 0.5


def test_selfcheck_turns_a_verdict_into_feedback_and_keeps_the_signature() -> None:
    @selfcheck(require_function=True)
    def check(fn: object) -> Feedback:
        """Doc."""
        diagnose(call(fn, 3.0, hint="h"), 3.0, TABLE, (3.0,), generic=("generic", "g"))
        return correct("fine")

    assert check(lambda x: x).passed
    fb = check(lambda x: 2 * x)
    assert not fb.passed and fb.message == "doubled Hint: hint-double"
    assert check.__doc__ == "Doc."
    with pytest.raises(InputTypeError):
        check(3.0)
