"""No self-check hint gives the answer away (issue 12), in every chapter's check module.

A hint names what is wrong and where to look (which axis, which quantity, which section
of the chapter); it never writes out the code or the formula that computes the expected
answer (AUTHORING.md, "A self-check: a table of mistakes"). ``tests/test_check_ch02.py``
tests this on chapter 2's feedback; this file tests every hint of every module in
:mod:`fedmed_lib.check`, collected in two ways:

* at run time, every row of every module-level table of :class:`Mistake` /
  :class:`Symptom` (and module-level ``(message, hint)`` pairs and ``*HINT*`` strings);
* from the source, every hint handed to the core: ``Mistake(..., hint)``,
  ``Symptom(..., hint)``, ``Wrong(message, hint)``, ``wrong(message, hint)``,
  ``call(..., hint=...)`` (and any ``hint=`` keyword), ``as_array(x, hint)``,
  ``as_number(x, hint)``, ``generic=``/``stub=``/``inplace=`` pairs, and the
  ``(message, hint)`` pairs returned by the ``explain`` helpers, and the arguments of
  the module's own helpers that hand a parameter on as a hint (``_array(out, what)``).
  Names are resolved to the strings assigned to them; f-string fields become ``…``.
  The core's own hints (``_core``: the stub and in-place hints) are collected too.

The collection is checked against run time: every check runs on typical wrong answers
(a stub, an error, ``None``, a string, zeros, NaN) and every hint it gives must be one
that was collected.

Each hint is matched against patterns of code that computes an answer (a matrix
product ``@``, a numpy call ``np.f(``, a transpose ``.T``, an assignment with
arithmetic ``b = floor(beta * K)``, einsum subscripts ``'knd,kd->kn'``, a broadcast
index ``[:, None]``) and against the answer expressions of each module that no
pattern would catch. A failure names the module, the table or line, and the hint.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import pytest

import fedmed_lib.check as check_pkg
from fedmed_lib.check._core import Mistake, Symptom

MODULES = sorted(
    m.name for m in pkgutil.iter_modules(check_pkg.__path__) if re.match(r"ch\d\d_", m.name)
)

# Code that computes an answer: none of it belongs in a hint.
CODE_PATTERNS: dict[str, re.Pattern[str]] = {
    "a matrix product (@)": re.compile(r"@"),
    "a numpy call (np.f(...))": re.compile(r"\bnp\.[\w.]+\("),
    "a transpose (.T)": re.compile(r"\w\.T\b"),
    "einsum subscripts": re.compile(r"['\"]?\b[a-z]+(,[a-z]+)*->[a-z]*['\"]?"),
    "a broadcast index ([:, None])": re.compile(r"\[[^\]]*\bNone\b[^\]]*\]"),
    "a derivative written out (dL/dW = ...)": re.compile(r"\bd\w+/d\w+\s*="),
    # `name = <expression with an operator>`: b = floor(beta * K), z = Xw + b,
    # mean = (sum) / (count), theta -= lr * g; not the keywords `axis=0`, `ddof=1` (no
    # space before `=`), nor `n = sum_k n_k` (no operator).
    "an assignment with arithmetic (x = a * b)": re.compile(
        r"(?<![=!<>|])\b[A-Za-z_][\w/]*(\[[^\]]*\])?\s+[-+*/]?=(?!=)\s*"
        r"[^=;:,]*?[\w)\]]\s*(\*\*|[-+*/])\s*[\w(]"
    ),
}

# Per module: the expected answer's expression (or a piece of it that gives the rest
# away), written in a way no pattern above catches. Spaces are ignored when matching.
ANSWERS: dict[str, tuple[str, ...]] = {
    "ch01_why_fl": ("n_k * acc_k",),
    "ch02_loss": ("X.T", "X^T (X", "2/N * X", "(2/N) sum"),
    "ch03_gradient_descent": (
        "theta - lr *", "X^T (X", "2/n X", "2 / beta", "2 / (beta", "2 divided by",
        "2 X^T X / n",
    ),
    "ch04_fedsgd": ("(n_k / n) * params",),
    "ch05_fedavg": ("w = w - lr", "w - lr * grad", "(w - theta, len(y))"),
    "ch06_four_hospitals": (
        "sum(~", "- c * mean", "/ (c - 1)", "(sum of the sites' sums) /",
        "divides the total sum by the total",
    ),
    "ch07_non_iid": (
        "X^T (sigmoid(X theta) - y)", "mu (theta - theta_global)",
        "(theta - theta_global) by mu",
    ),
    "ch08_overfitting": ("mean loss times its count",),
    "ch10_scaling": ("knd,kd", "z = Xw + b", "(n_k / n) W[k]", "b[:, None]"),
    "ch11_gradient_leakage": (
        "delta_i x_j", "rho_i x_j", "divide that row by grad_b[i]", "grad_b[i] times",
        "one row divided by one entry",
    ),
    "ch12_secure_aggregation": ("prg_mask(self_seed",),
    "ch13_differential_privacy": (
        "min(1, S / norm", "min(1, S_j / norm", "* scale for", "* factor_j for",
        "zip(update, clipping_norms)",
    ),
    "ch14_robust": ("floor(beta * K)", "floor(phi * K)", "np.sort(updates", "np.median("),
    "ch15_medical_images": ("(n_k / n) * client_weights",),
    "ch16_flower": ("ArrayRecord([theta])", "RecordDict({"),
    "ch17_drug_discovery": ("|x_i| + |x_j| - |x_i AND x_j|", "A @ B.T"),
    "ch18_survival": (
        "S(tau_(j)) = S(tau_(j-1)) *", "running product of (1 - F_j / R_j)",
        "time == s and event == 1", "(1 - F_j / R_j)",
    ),
    "ch19_evaluation": ("a positive beats the negatives of the bins below",),
    "ch20_encryption": ("take the smallest group's size",),
    "ch21_vertical": (
        "z = X_A theta_A + X_B theta_B", "sigmoid(z) - y", "X_k^T r / n", "X_A^T r / n",
    ),
}

# Modules whose hints still give answers away, marked strict xfail while they are being
# rewritten (the mark must go once they are fixed). None since issue 12.
PENDING: set[str] = set()


def _modules_pending_marked() -> list[Any]:
    return [pytest.param(m, marks=pytest.mark.xfail(
        strict=True, reason="hints still to rewrite (issue 12)")) if m in PENDING else m
        for m in MODULES]


class Hint(NamedTuple):
    """One hint and where it comes from."""

    module: str
    where: str
    text: str


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{check_pkg.__name__}.{name}")


def _is_row(x: Any) -> bool:
    return isinstance(x, Mistake | Symptom)


def table_hints(name: str) -> Iterator[Hint]:
    """The hints of every module-level table, ``(message, hint)`` pair and ``*HINT*`` string."""
    mod = _module(name)
    for attr, value in vars(mod).items():
        rows = value.items() if isinstance(value, dict) else (
            enumerate(value) if isinstance(value, tuple | list) else ())
        rows = list(rows)
        if rows and all(_is_row(r) for _, r in rows):
            for i, row in rows:
                yield Hint(name, f"table {attr}, row {i!r} ({type(row).__name__})", row.hint)
        elif (isinstance(value, tuple) and len(value) == 2
              and all(isinstance(v, str) for v in value)):
            yield Hint(name, f"(message, hint) pair {attr}", value[1])
        elif isinstance(value, str) and "HINT" in attr.upper():
            yield Hint(name, f"string {attr}", value)


# --- hints in the source -------------------------------------------------------------

_HINT_ARG = {"Mistake": 2, "Symptom": 2, "Wrong": 1, "wrong": 1, "as_array": 1, "as_number": 1}
_PAIR_KEYWORDS = {"generic", "stub", "inplace"}
_OPAQUE = "…"


class _Source:
    """Resolve the strings of one module's source: literals, f-strings, sums, names."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.mod = _module(name)
        self.tree = ast.parse(Path(inspect.getfile(self.mod)).read_text(encoding="utf-8"))
        self.assigned: dict[str, list[ast.expr]] = {}
        # names bound by a parameter or a loop: a hint handed on from elsewhere
        self.handed_on: set[str] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.arguments):
                self.handed_on |= {a.arg for a in (*node.posonlyargs, *node.args,
                                                   *node.kwonlyargs)}
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
                self.handed_on |= {n.id for n in ast.walk(node.targets[0])
                                   if isinstance(n, ast.Name)}
            elif isinstance(node, ast.For | ast.comprehension):
                self.handed_on |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}

            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                    and node.value is not None:
                self.assigned.setdefault(node.target.id, []).append(node.value)

        self.helpers: dict[str, dict[int, str]] = {}
        self.helpers = self._find_helpers()

    def texts(self, node: ast.expr, depth: int = 0) -> list[str] | None:
        """All strings ``node`` can be, or ``None`` if it is not a string expression."""
        if depth > 5:
            return None
        if isinstance(node, ast.Constant):
            return [node.value] if isinstance(node.value, str) else None
        if isinstance(node, ast.JoinedStr):
            parts = [
                v.value if isinstance(v, ast.Constant) else _OPAQUE for v in node.values
            ]
            return ["".join(str(p) for p in parts)]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.texts(node.left, depth + 1), self.texts(node.right, depth + 1)
            if left is None or right is None:
                return None
            return [a + b for a, b in itertools.product(left, right)]
        if isinstance(node, ast.IfExp):
            body, other = self.texts(node.body, depth + 1), self.texts(node.orelse, depth + 1)
            return None if body is None or other is None else body + other
        if isinstance(node, ast.Name):
            found = [self.texts(v, depth + 1) for v in self.assigned.get(node.id, [])]
            out = [t for ts in found if ts is not None for t in ts]
            if out:
                return out
        try:  # a module-level constant, e.g. _ZERO[1] or _STUB[1]
            value = eval(compile(ast.Expression(node), self.name, "eval"), vars(self.mod))  # noqa: S307
        except Exception:  # noqa: BLE001 - not a constant of the module
            return None
        return [value] if isinstance(value, str) else None

    def pair_hint(self, node: ast.expr) -> list[str] | None:
        """The hint of a ``(message, hint)`` pair (a literal or a module constant)."""
        if isinstance(node, ast.Tuple) and len(node.elts) == 2:
            return self.texts(node.elts[1])
        if isinstance(node, ast.Name):
            pair = vars(self.mod).get(node.id)
            if isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], str):
                return [pair[1]]
        return None

    def _positions(self, root: ast.AST) -> Iterator[tuple[str, ast.expr, bool]]:
        """``(where, node, is_pair)`` for every hint position under ``root``."""
        for node in ast.walk(root):
            if isinstance(node, ast.Call):
                func = node.func
                fname = func.id if isinstance(func, ast.Name) else (
                    func.attr if isinstance(func, ast.Attribute) else "")
                positions = dict(self.helpers.get(fname, {}))
                if fname in _HINT_ARG:
                    positions[_HINT_ARG[fname]] = "hint"
                for pos in positions:
                    if len(node.args) > pos:
                        yield f"{fname}(...) argument {pos + 1}", node.args[pos], False
                for kw in node.keywords:
                    if kw.arg == "hint" or kw.arg in positions.values():
                        yield f"{fname}({kw.arg}=...)", kw.value, False
                    elif kw.arg in _PAIR_KEYWORDS:
                        yield f"{fname}({kw.arg}=(message, hint))", kw.value, True
            # (message, hint) pairs: returned by `explain` helpers, or rows of a table
            # written as tuples, e.g. ((variant names), message, hint)
            elif isinstance(node, ast.Tuple) and len(node.elts) >= 2:
                *_, msg, hint = node.elts
                texts = self.texts(hint)
                if self.texts(msg) is not None and texts and all(" " in t for t in texts):
                    yield "a (message, hint) tuple", hint, False  # prose, not variant names

    def _find_helpers(self) -> dict[str, dict[int, str]]:
        """The module's own functions that hand a parameter on as a hint.

        E.g. ``def _array(out, what): ... as_array(out, what)``: argument 2 of ``_array``
        is a hint, so the strings passed there are collected too.
        """
        helpers: dict[str, dict[int, str]] = {}
        for _ in range(3):  # helpers of helpers
            for fn in ast.walk(self.tree):
                if not isinstance(fn, ast.FunctionDef):
                    continue
                params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
                for _where, node, _pair in self._positions(fn):
                    if isinstance(node, ast.Name) and node.id in params:
                        helpers.setdefault(fn.name, {})[params.index(node.id)] = node.id
            self.helpers = dict(helpers)
        return helpers

    def hints(self) -> Iterator[tuple[str, ast.expr, list[str] | None]]:
        """``(where, node, texts)`` for every hint handed to the core in the source."""
        for where, node, is_pair in self._positions(self.tree):
            yield where, node, self.pair_hint(node) if is_pair else self.texts(node)


def source_hints(name: str) -> Iterator[Hint]:
    """Every hint of the module's source that resolves to strings."""
    src = _Source(name)
    for where, node, texts in src.hints():
        for text in texts or []:
            yield Hint(name, f"line {node.lineno}, {where}", text)


def unresolved_hints(name: str) -> list[str]:
    """Hints in the source that this test cannot read (and that are not handed on).

    A hint handed on from elsewhere (a parameter ``hint`` of a helper, a loop variable,
    ``row.hint``) is read where it is written; anything else must resolve to strings.
    """
    src = _Source(name)
    out = []
    for where, node, texts in src.hints():
        if texts is not None:
            continue
        parts = node.elts if isinstance(node, ast.Tuple) else [node]
        if all(isinstance(p, ast.Constant) or (isinstance(p, ast.Name) and p.id in src.handed_on)
               or (isinstance(p, ast.Attribute) and p.attr == "hint") for p in parts):
            continue
        out.append(f"{name} line {node.lineno}, {where}: {ast.unparse(node)}")
    return out


def all_hints(name: str) -> list[Hint]:
    """Every hint of one module, tables first, without duplicates of the same text."""
    seen: set[str] = set()
    out = []
    for h in itertools.chain(table_hints(name), source_hints(name)):
        if h.text not in seen:
            seen.add(h.text)
            out.append(h)
    return out


def giveaways(hint: Hint) -> list[str]:
    """What in ``hint`` writes out an answer: the patterns and answers it contains."""
    found = [f"{what}: {m.group(0)!r}" for what, pat in CODE_PATTERNS.items()
             if (m := pat.search(hint.text))]
    flat = hint.text.replace(" ", "")
    found += [f"the answer {a!r}" for a in ANSWERS.get(hint.module, ())
              if a.replace(" ", "") in flat]
    return found


# --- hints seen at run time ----------------------------------------------------------


def _raise_stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


def _raise_error(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("boom")


# Typical wrong answers that any check meets: they run the paths of call(), as_array(),
# as_number() and the first rows of the tables.
_FAKES: dict[str, Any] = {
    "a stub": _raise_stub,
    "an error": _raise_error,
    "None": lambda *a, **k: None,
    "a string": lambda *a, **k: "x",
    "zeros": lambda *a, **k: np.zeros(3),
    "NaN": lambda *a, **k: np.full(3, np.nan),
}


def _checks(name: str) -> list[tuple[str, Any]]:
    mod = _module(name)
    return [(f, c) for f, c in vars(mod).items() if f.startswith("check_") and callable(c)
            and getattr(c, "__module__", "") == mod.__name__]


def _template(text: str) -> re.Pattern[str]:
    """A collected hint as a pattern: its f-string fields match anything."""
    return re.compile(".*".join(re.escape(p) for p in text.split(_OPAQUE)) + r"\Z", re.DOTALL)


def runtime_hints(name: str) -> Iterator[tuple[str, str]]:
    """``(how, hint)`` of the feedback of every check of the module on every fake."""
    for fname, check in _checks(name):
        required = [p for p in inspect.signature(check).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                           p.POSITIONAL_OR_KEYWORD)]
        for what, fake in _FAKES.items():
            with np.errstate(all="ignore"):
                fb = check(*[fake] * max(len(required), 1))
            if not fb.passed and " Hint: " in fb.message:
                yield f"{fname} on {what}", fb.message.split(" Hint: ", 1)[1]


# --- the tests -----------------------------------------------------------------------


def test_every_check_module_is_covered():
    assert len(MODULES) >= 21
    assert set(ANSWERS) <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_hints_are_found(name):
    """The collection works: every module has table hints, and every hint is readable."""
    hints = all_hints(name)
    assert len(hints) >= 3, f"{name}: only {len(hints)} hints found"
    assert unresolved_hints(name) == [], "hints this test cannot read: add them to _Source"


@pytest.mark.parametrize("name", MODULES)
def test_hints_seen_at_run_time_are_collected(name):
    """The static collection is complete on the paths that typical wrong answers take."""
    known = [_template(h.text) for h in (*all_hints(name), *all_hints("_core"))]
    seen = list(runtime_hints(name))
    assert seen, f"{name}: no check gave a hint"
    missing = [f"{how}: {hint!r}" for how, hint in seen if not any(t.match(hint) for t in known)]
    assert not missing, "hints given at run time that the collection misses: " + str(missing)


def test_the_core_hints_give_nothing_away():
    assert not [h for h in all_hints("_core") if giveaways(h)]


@pytest.mark.parametrize("name", _modules_pending_marked())
def test_no_hint_gives_the_answer_away(name):
    """No hint of the module contains code or a formula that computes the answer."""
    bad = [f"{h.module}, {h.where}: {h.text!r}\n      -> {'; '.join(g)}"
           for h in all_hints(name) if (g := giveaways(h))]
    if bad:
        pytest.fail("hints that give the answer away:\n  " + "\n  ".join(bad), pytrace=False)


# The detectors themselves: each catches the hints issue 12 quotes, none flags a fair hint.
_QUOTED = [
    ("ch02_loss", "use X.T"),
    ("ch02_loss", "the gradient is X.T @ (X @ theta - y)"),
    ("ch03_gradient_descent", "compute the gradient 2/n X.T @ (X @ theta - y) first, "
     "then step theta - lr * gradient."),
    ("ch04_fedsgd", "reshape them to (K, 1, ..., 1) or use "
     "np.tensordot(weights, stacked, axes=1)."),
    ("ch06_four_hospitals", "count them (np.sum(~np.isnan(x)))"),
    ("ch09_limited_resources", "rank entries by their magnitude np.abs(x)"),
    ("ch10_scaling", "return z = Xw + b before the sigmoid"),
    ("ch10_scaling", "an einsum with subscripts 'knd,kd->kn'"),
    ("ch11_gradient_leakage", "dL/dW_ij = delta_i x_j and dL/db_i = delta_i"),
    ("ch11_gradient_leakage", "a row grad_W[i] is grad_b[i] times x: divide that row by grad_b[i]"),
    ("ch13_differential_privacy", "the scale factor is min(1, S / norm)"),
    ("ch18_survival", "S(tau_(j)) = S(tau_(j-1)) * (1 - F_j / R_j)."),
    ("ch21_vertical", "z = X_A theta_A + X_B theta_B, r = sigmoid(z) - y"),
    ("ch05_fedavg", "repeat w = w - lr * grad(w, X, y) local_epochs times"),
    ("ch13_differential_privacy", "the norm is np.sqrt(sum of squares)"),
    ("ch14_robust", "drop b = floor(beta * K) values"),
    ("ch14_robust", "sort each column independently: np.sort(updates, axis=0)."),
    ("ch06_four_hospitals", "variance = (sum of the sites' sums of squares - c * mean**2) "
     "/ (c - 1)."),
    ("ch03_gradient_descent", "return a new array instead of theta -= lr * g"),
    ("ch10_scaling", "give the bias a trailing axis, b[:, None]"),
]

_FAIR = [
    "aggregate over the hospitals (axis=0) to get one value per parameter.",
    "the residual vector has one entry per example (N) and the gradient one per parameter "
    "(d): which orientation of X turns an N-vector into a d-vector?",
    "1/beta guarantees a monotone decrease; the divergence threshold is where "
    "|1 - lr * beta| = 1.",
    "the sample standard deviation (ddof=1) divides by c - 1, once, at the server.",
    "divide by the total number of examples n = sum_k n_k, not by K.",
    "the in-place update theta -= ... changes the caller's array.",
    "check the sign of the inner derivative, and keep the 2 from d(r^2)/dr = 2r.",
]


@pytest.mark.parametrize(("name", "text"), _QUOTED)
def test_the_detector_catches_the_quoted_hints(name, text):
    assert giveaways(Hint(name, "quoted", text)), f"not caught: {text!r}"


@pytest.mark.parametrize("text", _FAIR)
def test_the_detector_lets_fair_hints_through(text):
    assert giveaways(Hint("ch00_none", "fair", text)) == []
