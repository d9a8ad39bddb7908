"""Self-checking exercises: call a check on *your* implementation, get feedback.

Each chapter's module (``fedmed_lib.check.chNN_slug``) holds checks that run a
learner's function on small test cases, compare with the reference, and explain
what is wrong with a hint, never printing the expected answer. They return a
:class:`Feedback`, which notebooks display. Introduced in the exercises of every
chapter; the instructor guide explains how they work. Each chapter's checks are
short tables of typical mistakes, ``(wrong variant, what is wrong, hint)``, on the
core in ``fedmed_lib.check._core`` (call the learner's function safely, compare
with tolerance, diagnose an answer against a table).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feedback:
    """The verdict of a self-check.

    Attributes
    ----------
    passed
        ``True`` when the learner's answer is right.
    message
        What is right or wrong, with a hint; never the answer itself.
    """

    passed: bool
    message: str

    def __str__(self) -> str:
        mark = "correct" if self.passed else "not yet"
        return f"[{mark}] {self.message}"

    def __repr__(self) -> str:
        return str(self)

    def __bool__(self) -> bool:
        return self.passed


def correct(message: str) -> Feedback:
    """Build a passing :class:`Feedback`."""
    return Feedback(True, message)


def wrong(message: str, hint: str) -> Feedback:
    """Build a failing :class:`Feedback` with a hint."""
    return Feedback(False, f"{message} Hint: {hint}")
