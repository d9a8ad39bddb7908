"""The core shared by every chapter's self-checks (all chapters, from :ref:`ch-why-fl`).

A self-check is a short table of typical mistakes on top of three tools:

* :func:`call` runs the learner's function safely: its inputs are copied, an
  exception becomes feedback, an in-place change of the inputs is detected;
  :func:`as_array` and :func:`as_number` explain a wrong return type.
* :func:`close` compares with tolerance (numbers, arrays, lists of arrays).
* :func:`diagnose` compares an answer with the expected one and, if it differs,
  with what each :class:`Mistake` of a table would return (and each
  :class:`Symptom` would show), in order: the first match wins, a generic message
  comes when nothing matches. The expected answer is never printed.

Any of them raises :class:`Wrong`; the decorator :func:`selfcheck` turns it into
the check's :class:`~fedmed_lib.check.Feedback`. The idea of explaining a wrong
answer by the mistake that produces it follows the "buggy rules" of intelligent
tutoring systems (Brown and Burton, "Diagnostic models for procedural bugs in
basic mathematical skills", Cognitive Science, 1978).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

from fedmed_lib._validate import check_learner_fn
from fedmed_lib.check import Feedback, wrong

F = TypeVar("F", bound=Callable[..., Feedback])

STUB_HINT = "replace `raise NotImplementedError` with your code."
_INPLACE = ("Your function changed its inputs in place.",
            "work on copies (x.copy(), np.zeros_like) and return new arrays.")


class Wrong(Exception):  # noqa: N818 - it is a verdict, not an error of the library
    """Raised inside a self-check to stop it with a failing verdict.

    Parameters
    ----------
    message
        What is wrong, never the expected answer.
    hint
        How to find the mistake.
    """

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.feedback = wrong(message, hint)


def selfcheck(func: F | None = None, *, require_function: bool = False) -> Any:
    """Decorate a self-check so that a :class:`Wrong` raised inside becomes its verdict.

    Parameters
    ----------
    func
        The check; it returns a :class:`~fedmed_lib.check.Feedback` when the answer
        is right and raises :class:`Wrong` otherwise.
    require_function
        If true, a check called on something that is not a function (``f()``
        instead of ``f``) raises :class:`~fedmed_lib._validate.InputTypeError`.

    Returns
    -------
    callable
        The check with the same signature and docstring.
    """

    def decorate(check: F) -> F:
        @functools.wraps(check)
        def run(fn: Any, *args: Any, **kwargs: Any) -> Feedback:
            if require_function:
                check_learner_fn(fn)
            try:
                return check(fn, *args, **kwargs)
            except Wrong as verdict:
                return verdict.feedback

        return run  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def _same(a: Any, b: Any) -> bool:
    """Exact equality of (nested) inputs, to detect in-place changes."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an object without equality: assume unchanged
        return True


def call(
    fn: Callable[..., Any],
    *args: Any,
    hint: str,
    where: str = "",
    stub: tuple[str, str] | None = None,
    inplace: tuple[str, str] | None = None,
    explain: Callable[[Exception], tuple[str, str] | None] | None = None,
    check_inplace: bool = True,
    **kwargs: Any,
) -> Any:
    """Call the learner's function on copies of the inputs; explain any failure.

    Parameters
    ----------
    fn
        The learner's function.
    *args, **kwargs
        Its inputs; ``fn`` receives deep copies.
    hint
        The hint when ``fn`` raises (say how ``fn`` is called and what it returns).
    where
        Appended to the message when ``fn`` raises, e.g. ``" (test case 2)"``.
    stub
        ``(message, hint)`` when ``fn`` raises ``NotImplementedError`` (it is
        still the exercise's stub); a generic one by default.
    inplace
        ``(message, hint)`` when ``fn`` changed its inputs; a generic one by default.
    explain
        ``explain(err)`` may return a ``(message, hint)`` for a typical exception
        (a shape error, a division by zero...); ``None`` falls back to ``hint``.
    check_inplace
        ``False`` when changing the (copied) inputs is harmless for this exercise.

    Returns
    -------
    object
        What ``fn`` returned.

    Raises
    ------
    Wrong
        If ``fn`` raised or changed its inputs in place.
    """
    given = copy.deepcopy((args, kwargs))
    try:
        out = fn(*given[0], **given[1])
    except NotImplementedError as err:
        raise Wrong(*(stub or ("Your function raises NotImplementedError.", STUB_HINT))) from err
    except Exception as err:  # noqa: BLE001 - any learner error becomes feedback
        known = explain(err) if explain is not None else None
        if known is not None:
            raise Wrong(*known) from err
        raise Wrong(f"Your function raised {type(err).__name__}: {err}{where}.", hint) from err
    if check_inplace and not _same(given, (args, kwargs)):
        raise Wrong(*(inplace or _INPLACE))
    return out


def as_array(value: Any, hint: str) -> np.ndarray:
    """Convert what the learner returned to a float array, or explain why it is not one.

    Parameters
    ----------
    value
        The learner's answer.
    hint
        The hint when ``value`` is not an array of numbers.

    Returns
    -------
    numpy.ndarray
        ``value`` as a float64 array.

    Raises
    ------
    Wrong
        If ``value`` is not numeric.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        what = f"Your function returned {type(value).__name__}, not an array of numbers."
        raise Wrong(what, hint) from err
    return arr


def as_number(value: Any, hint: str) -> float:
    """Convert what the learner returned to one float, or explain why it is not one.

    Parameters
    ----------
    value
        The learner's answer (a number or a one-element array).
    hint
        The hint when ``value`` is not a single number.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    Wrong
        If ``value`` is not a single number.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise Wrong(f"Your function returned {type(value).__name__}, not a number.", hint) from err
    if arr.size != 1:
        raise Wrong(f"Your function returns {arr.size} numbers, not one.", hint)
    return float(arr.reshape(()))


def close(a: Any, b: Any, *, rtol: float = 1e-7, atol: float = 1e-10) -> bool:
    """Whether two answers agree to rounding: numbers, arrays or lists of arrays.

    Shapes (and list lengths) must match; anything that is not numeric is never
    close. ``None`` is never close to anything (a mistake that does not apply).

    Parameters
    ----------
    a, b
        The answers to compare.
    rtol, atol
        Tolerances as in :func:`numpy.allclose`.

    Returns
    -------
    bool
        ``True`` if ``a`` and ``b`` agree.
    """
    if a is None or b is None:
        return False
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and any(
        np.ndim(x) > 0 for x in (*a, *b)
    ):
        return len(a) == len(b) and all(
            close(x, y, rtol=rtol, atol=atol) for x, y in zip(a, b, strict=True)
        )
    try:
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=rtol, atol=atol))


class Mistake(NamedTuple):
    """A row of a table of mistakes: what the mistake returns, what is wrong, a hint.

    Attributes
    ----------
    variant
        ``variant(*case)`` computes what the mistaken function returns on the test
        case (or a tuple of :class:`AnyOf` alternatives, or ``None`` when the
        mistake cannot be told apart on this case).
    message
        What is wrong, in words; or ``message(got, *case)`` that says it (to name a
        shape, never the expected values).
    hint
        How to fix it, never the answer.
    """

    variant: Callable[..., Any]
    message: str | Callable[..., str]
    hint: str


class Symptom(NamedTuple):
    """A row of a table of mistakes recognised by a property of the answer, not its value.

    Attributes
    ----------
    test
        ``test(got, *case)`` is true when the answer shows the symptom.
    message
        What is wrong, in words, or ``message(got, *case)`` as for :class:`Mistake`.
    hint
        How to fix it, never the answer.
    """

    test: Callable[..., Any]
    message: str | Callable[..., str]
    hint: str


class AnyOf(tuple):
    """Several answers that one mistake can give (a :class:`Mistake` matches any of them)."""

    def __new__(cls, *values: Any) -> AnyOf:
        """Hold ``values``."""
        return super().__new__(cls, values)


def matches(got: Any, row: Mistake | Symptom, case: Sequence[Any], **tol: float) -> bool:
    """Whether the answer ``got`` on ``case`` is explained by ``row``.

    A row that raises on this case (an answer of another shape, say) does not apply.
    """
    try:
        if isinstance(row, Symptom):
            return bool(row.test(got, *case))
        value = row.variant(*case)
    except Exception:  # noqa: BLE001 - a row that cannot be computed on this case does not apply
        return False
    options = value if isinstance(value, AnyOf) else (value,)
    return any(close(got, v, **tol) for v in options)


def spot(got: Any, table: Sequence[Mistake | Symptom], case: Sequence[Any] = (),
         *, prefix: str = "", **tol: float) -> None:
    """Raise :class:`Wrong` for the first row of ``table`` that explains ``got``.

    Parameters
    ----------
    got
        The learner's answer on one test case.
    table
        The mistakes, tried in order; the first match wins.
    case
        The test case, passed to every row.
    prefix
        Put before every message, e.g. ``"On a layer with 3 outputs "``.
    **tol
        ``rtol`` and ``atol`` for :func:`close`.

    Raises
    ------
    Wrong
        With the first matching row's message and hint; nothing if no row matches.
    """
    for row in table:
        if matches(got, row, case, **tol):
            text = row.message if isinstance(row.message, str) else row.message(got, *case)
            raise Wrong(prefix + text, row.hint)


def diagnose(
    got: Any,
    expected: Any,
    table: Sequence[Mistake | Symptom],
    case: Sequence[Any] = (),
    *,
    generic: tuple[str, str],
    prefix: str = "",
    **tol: float,
) -> None:
    """Pass silently if ``got`` is ``expected``; otherwise name the first matching mistake.

    Parameters
    ----------
    got
        The learner's answer on one test case.
    expected
        The right answer (never shown).
    table
        The mistakes, tried in order (see :func:`spot`).
    case
        The test case, passed to every row.
    generic
        ``(message, hint)`` when no row matches.
    prefix
        Put before every message.
    **tol
        ``rtol`` and ``atol`` for :func:`close`.

    Raises
    ------
    Wrong
        With the first matching row's message and hint, else ``generic``.
    """
    if close(got, expected, **tol):
        return
    spot(got, table, case, prefix=prefix, **tol)
    raise Wrong(prefix + generic[0], generic[1])
