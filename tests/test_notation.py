"""One meaning per symbol (issue 12): the notation decisions, guarded.

``RULES`` is a table of (pattern, why it is wrong). Every pattern is searched in every
cell of the English chapters (markdown, exercises, solutions, and code cells for plot
labels and comments) and in the book's pages, English and Chinese. A rule whose
``pending`` names chapters lists the chapters that still break it while another helper is
rewriting them: those (rule, chapter) pairs are strict xfails, so that the day a chapter
is fixed the test reports XPASS and the chapter must be removed from ``pending``.

The notation page itself is checked too: every symbol row names a chapter label that
exists, no symbol appears in two rows, the Chinese page lists the same symbols, and the
hospital colours it names are those of :data:`fedmed_lib.plotting.HOSPITAL_COLORS`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest

from fedmed_lib.plotting import HOSPITAL_COLORS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "book" / "zh").glob("*.md"))
NOTATION = ROOT / "book" / "notation.md"
NOTATION_ZH = ROOT / "book" / "zh" / "notation.md"


class Rule(NamedTuple):
    pattern: str
    why: str
    pending: tuple[str, ...] = ()


RULES: list[Rule] = [
    Rule(r"clipping norm\s*\$C\$", "the clipping norm is $S$; $C$ is the client fraction"),
    Rule(r"\$C\$\s*\(clipping", "the clipping norm is $S$; $C$ is the client fraction"),
    Rule(r"clip\w*[^.$]{0,40}\$C\s*=", "the clipping norm is $S$; $C$ is the client fraction"),
    Rule(r"(noise )?multiplier\s*\$\\sigma", "the noise multiplier is $\\nu$; $\\sigma(\\cdot)$ is the logistic function"),
    Rule(r"\\sigma\s*=\s*[0-9]", "a noise value is $\\nu = ...$ (noise multiplier) or $s = ...$ (a standard deviation)"),
    Rule(r"\\sigma\^2|\\sigma_k\b|\\sigma_\{", "a variance or standard deviation is written with $s$; $\\sigma(\\cdot)$ is the logistic function"),
    Rule(r"\\mathcal N\(0,\s*\\sigma", "Gaussian noise is $\\mathcal N(0, \\nu^2 S^2 I)$"),
    Rule(r"\$K\$\s+local\s+(steps|updates)", "$K$ is the number of clients; local steps are $u$"),
    Rule(r"\$N\$\s+(clients|hospitals|devices)", "the number of clients is $K$"),
    Rule(r"\$[mn]\$\s+(clients|hospitals)", "the number of clients is $K$ ($n$ counts examples, $m$ is Multi-Krum's)"),
    Rule(r"\\frac\{?[12]\}?\{?N(?![A-Za-z^_])|\$N\$\s+(patients|examples|records)|\\frac1\{2N\}",
         "the number of examples is $n$, never $N$"),
    Rule(r"\$L\$-smooth|\$L\$-Lipschitz", "the smoothness constant is $\\beta$; $L$ is the loss of one example"),
    Rule(r"\$L\$ is the largest eigenvalue|largest eigenvalue\s*\$L\$|eigenvalue \$L\b",
         "the largest Hessian eigenvalue is $\\beta$"),
    Rule(r"[0-9]/L\b", "a step-size bound is written with $\\beta$ ($2/\\beta$, $1/\\beta$)"),
    Rule(r"\bL\s*=\s*1/\\eta|\bL\s*=\s*\\lambda_\{?\\max", "the smoothness constant is $\\beta$, not $L$"),
    Rule(r"mean\s+\$\\mu|\$\\mu_k\$|\$\\mu\$,?\s*(and\s*)?\$\\sigma\$", "a mean is $\\bar x$; $\\mu$ is FedProx's coefficient"),
    Rule(r"\\mathcal\s*\{?K\}?_t", "the set of clients sampled in round $t$ is $\\mathcal S_t$"),
    Rule(r"R[ée]nyi[^.]{0,60}order\s*\$\\alpha", "the Rényi order is $\\gamma$; $\\alpha$ is the Dirichlet concentration"),
    Rule(r"\\bar u\b|u_j'|U\s*\\in\s*\\mathbb\s*\{?R\}?\^\{K|\bb\s*=\s*\\lfloor\s*\\phi",
         "a model update is $\\Delta_k$ (stacked: $\\Phi$; trimmed count $n_{\\mathrm{trim}}$); "
         "$u$ counts local steps, $U$ is the log-rank statistic, $b$ a bias"),
    Rule(r"\$V_k\$|i \\in V_k", "the validation patients are $\\mathcal V_k$; $V$ is the log-rank variance"),
    Rule(r"\\operatorname\{Enc\}\([^)]*\)\^\{?\\mathsf\s*a",
         "the exponent of $\\operatorname{Enc}(\\mathsf m)$ is $\\mathsf e$; $\\mathsf a_i$ are Shamir's coefficients"),
    Rule(r"\\operatorname\{Tan\}\(x,\s*x'", "Tanimoto similarity is $\\operatorname{Tan}(x_i, x_j)$; $x'$ is the DLG dummy record"),
]


def _texts() -> list[tuple[str, str]]:
    out = []
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        out.append((path.stem, "\n".join(cell.source for cell in nb.cells)))
    for path in PAGES:
        out.append((str(path.relative_to(ROOT / "book")), path.read_text(encoding="utf-8")))
    return out


TEXTS = _texts()


def _hits(rule: Rule, text: str) -> list[str]:
    return [text[max(0, m.start() - 40): m.end() + 40].replace("\n", " ")
            for m in re.finditer(rule.pattern, text)]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.pattern[:40])
def test_rule_holds_in_every_chapter_and_page(rule: Rule) -> None:
    bad = {name: _hits(rule, text) for name, text in TEXTS if name not in rule.pending}
    bad = {name: hits for name, hits in bad.items() if hits}
    assert not bad, f"{rule.why}: {bad}"


PENDING = [
    pytest.param(rule, name, marks=pytest.mark.xfail(
        strict=True, reason=f"{name} still breaks the rule; remove it from `pending` once fixed"),
        id=f"{name}-{rule.pattern[:30]}")
    for rule in RULES for name in rule.pending
]


@pytest.mark.parametrize(("rule", "name"), PENDING)
def test_pending_chapter(rule: Rule, name: str) -> None:
    text = dict(TEXTS)[name]
    assert not _hits(rule, text), f"{rule.why}: {_hits(rule, text)}"


def test_rules_are_live() -> None:
    """Every pattern compiles and catches the mistake it names."""
    examples = {
        0: "with clipping norm $C$", 1: "$C$ (clipping norm)", 2: "clipped to $C = 1$",
        3: "noise multiplier $\\sigma$", 4: "$\\sigma = 2$", 5: "$\\sigma^2$",
        6: "$\\mathcal N(0, \\sigma^2 C^2 I)$", 7: "$K$ local steps", 8: "$N$ clients",
        9: "$m$ hospitals", 10: "\\frac1N\\sum_i", 11: "$L$-smooth",
        12: "its largest eigenvalue $L$", 13: "below $2/L$", 14: "$L = 1/\\eta$",
        15: "the mean $\\mu$", 16: "\\mathcal K_t", 17: "Rényi divergence of order $\\alpha$",
        18: "$\\bar u = \\frac1K\\sum_k u_k$", 19: "validation set $V_k$",
        20: "$\\operatorname{Enc}(\\mathsf m)^{\\mathsf a}$", 21: "$\\operatorname{Tan}(x, x')$",
    }
    assert set(examples) == set(range(len(RULES)))
    for i, rule in enumerate(RULES):
        assert _hits(rule, examples[i]), (rule.pattern, examples[i])
    # and the book's correct forms pass
    good = ("clipping norm $S$, noise multiplier $\\nu$, $\\sigma(z)$, $2/\\beta$, "
            "$\\bar x$ and $s$, $u$ local steps, $K$ clients, $n$ patients, mol/L, $\\bar\\Delta$, "
            "$\\mathcal V_k$, $\\operatorname{Enc}(\\mathsf m)^{\\mathsf e}$, $\\operatorname{Tan}(x_i, x_j)$, "
            "$n_{\\mathrm{trim}} = \\lfloor \\phi K \\rfloor$, $u_k = E\\,n_k/B$")
    assert not any(_hits(rule, good) for rule in RULES)


# --- the notation page ------------------------------------------------------------------

_INDEX_SUB = re.compile(r"_(?:[ijktby]|\{[ijktby,]+\})(?![A-Za-z])")
_LABELS = {m for name, text in TEXTS if not name.endswith(".md")
           for m in re.findall(r"^\((ch-[a-z0-9-]+)\)=", text, flags=re.M)}


def _rows(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("| $"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _split_top(math: str) -> list[str]:
    """Split at the commas and semicolons outside braces and parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in math:
        depth += ch in "{(" and 1 or 0
        depth -= ch in "})" and 1 or 0
        if ch in ",;" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def _symbols(cell: str) -> list[str]:
    """The symbols of a table cell, an index subscript removed ($n_k$ is $n$)."""
    out = []
    for math in re.findall(r"\$([^$]+)\$", cell):
        for part in _split_top(re.sub(r"\\l?dots", ",", math)):
            part = part.split("=")[0].split("\\in")[0].replace(" ", "")
            part = _INDEX_SUB.sub("", part)
            if part:
                out.append(part)
    return out


def test_labels_found() -> None:
    assert len(_LABELS) == len(NOTEBOOKS) >= 21


def test_every_symbol_row_names_an_existing_chapter() -> None:
    rows = _rows(NOTATION)
    assert len(rows) > 100
    for row in rows:
        refs = re.findall(r"\{ref\}`(ch-[a-z0-9-]+)`", row[-1])
        assert refs, f"no chapter in {row}"
        assert set(refs) <= _LABELS, f"unknown chapter label in {row}"


def test_no_symbol_appears_in_two_rows() -> None:
    seen: dict[str, str] = {}
    for row in _rows(NOTATION):
        for sym in set(_symbols(row[0])):
            assert sym not in seen, f"{sym!r} in two rows: {seen[sym]!r} and {row[0]!r}"
            seen[sym] = row[0]


def test_duplicate_symbols_are_detected() -> None:
    assert _symbols("$n$, $n_k$") == ["n", "n"]
    assert _symbols("$n_{\\max}$") == ["n_{\\max}"]
    assert _symbols("$e_{t,i}$") == ["e"]
    assert _symbols("$x_i \\in \\mathbb{R}^d$, $X$") == ["x", "X"]


def test_chinese_page_lists_the_same_symbols() -> None:
    en = [row[0] for row in _rows(NOTATION)]
    zh = [row[0] for row in _rows(NOTATION_ZH)]
    assert en == zh


def test_hospital_colours_are_the_plotting_palette() -> None:
    for page in (NOTATION, NOTATION_ZH):
        codes = re.findall(r"`(#[0-9A-Fa-f]{6})`", page.read_text(encoding="utf-8"))
        assert [c.upper() for c in codes[:4]] == [c.upper() for c in HOSPITAL_COLORS[:4]]
        assert [c.upper() for c in codes[4:8]] == [c.upper() for c in HOSPITAL_COLORS[4:8]]
