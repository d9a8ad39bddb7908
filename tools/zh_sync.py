"""Keep the Chinese edition (book/zh/) in step with the English book.

The translation format is fixed (see the translators' brief, mirrored here):

- ``book/zh/notebooks/<name>.ipynb`` has exactly the cells of ``notebooks/<name>.ipynb``,
  in the same order and of the same types; code cells have the same source apart from
  the text of ``#`` comments; every markdown cell records in
  ``cell.metadata["fedmed"]["en_sha"]`` the hash of the English source it translates
  (:func:`en_sha`), ``null`` while it is not translated yet; the notebook's metadata is
  the English one with ``metadata["fedmed"]["lang"] = "zh-CN"``.
- ``book/zh/<page>.md`` translates ``book/<page>.md`` and ``book/zh/_origin/<page>.md``
  is an exact copy of the English page it was translated from; a paragraph of the
  English page that is not in the origin (or an origin paragraph that is gone) is stale.

Commands::

    python tools/zh_sync.py status               # untranslated / stale cells and pages
    python tools/zh_sync.py skeleton notebooks/05_fedavg.ipynb
    python tools/zh_sync.py stamp book/zh/notebooks/05_fedavg.ipynb [--cells 3,7] [--all]
    python tools/zh_sync.py origin intro          # copy book/intro.md to book/zh/_origin/

``stamp`` records ``en_sha`` for every markdown cell that is translated but not
stamped yet (``en_sha`` null and text different from the English), for every stale
cell whose Chinese text differs from the committed version (``git show HEAD:...``: it
was just updated), and for the cells named by ``--cells`` (or every markdown cell with
``--all``). ``status`` exits with 1 when something is stale or broken (not when
something is merely untranslated).

The checks that ``tests/test_zh.py`` runs are the functions of this module.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
ZH = BOOK / "zh"
ORIGIN = ZH / "_origin"
EN_NOTEBOOKS = ROOT / "notebooks"
ZH_NOTEBOOKS = ZH / "notebooks"
LANG = "zh-CN"
PINNED = "# NBVAL_CHECK_OUTPUT"

# Chinese words that may stand for a glossary entry besides the glossary's own Chinese
# names (keyed by the entry's first English term): the house style says 医院 for a
# hospital (a client), 轮 for a round, and so on.
ALIASES: dict[str, list[str]] = {
    "client": ["医院", "参与方"],
    "communication round": ["轮"],
    "loss function": ["损失"],
    "server": ["服务器", "聚合器"],
    "gradient inversion": ["梯度反演", "梯度泄露"],
    "federated averaging": ["FedAvg"],
    "federated SGD": ["FedSGD"],
    "differential privacy": ["DP"],
    "Deep Leakage from Gradients": ["DLG", "iDLG"],
    "epsilon": ["ε", "epsilon", "隐私预算"],
    "local epochs": ["本地轮数", "本地训练轮数", "本地 epoch"],
    "personalisation": ["个性化"],
    "secure multi-party computation": ["MPC", "多方计算"],
    "stochastic gradient descent": ["SGD"],
    "Diffie-Hellman key agreement": ["Diffie-Hellman", "密钥协商"],
}

# "联邦学习 is never called 多方计算": a cell may say 多方计算 only when its English
# cell speaks of multi-party computation (or explains the confusion).
MPC_ZH = "多方计算"
MPC_EN = re.compile(r"multi-?party|\bMPC\b", re.IGNORECASE)
FL_AS_MPC = re.compile(
    r"联邦学习\s*[（(]\s*多方计算|多方计算\s*[（(]\s*联邦学习|联邦学习(?:即|又称|也叫|也称|就是)多方计算"
)

TERM_ROLE = re.compile(r"\{term\}`([^`]*)`")


def has_chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def en_sha(source: str) -> str:
    """The hash recorded in a translated cell: sha256 of the English source, 16 hex digits."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def cell_source(cell: nbformat.NotebookNode) -> str:
    src = cell.source
    return "".join(src) if isinstance(src, list) else str(src)


# --- code cells: equal apart from comments ---------------------------------------------


def _strip_line_comment(line: str) -> str:
    """Cut a ``#`` comment off one line, outside string literals (fallback tokenizer)."""
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if line.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif ch in "\"'":
            quote = line[i : i + 3] if line[i : i + 3] in ('"""', "'''") else ch
            i += len(quote)
            continue
        elif ch == "#":
            return line[:i]
        i += 1
    return line


def strip_comments(code: str) -> list[str]:
    """The lines of ``code`` without ``#`` comments, right-stripped, blank lines dropped."""
    lines = code.splitlines()
    try:
        cuts: dict[int, int] = {}
        for tok in tokenize.generate_tokens(io.StringIO(code + "\n").readline):
            if tok.type == tokenize.COMMENT:
                cuts[tok.start[0] - 1] = tok.start[1]
        out = [line[: cuts[i]] if i in cuts else line for i, line in enumerate(lines)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = [_strip_line_comment(line) for line in lines]  # IPython magics and the like
    return [line.rstrip() for line in out if line.strip()]


# --- the glossary ----------------------------------------------------------------------


@dataclass
class GlossaryEntry:
    terms: list[str]  # the keys (English terms; the Chinese glossary adds Chinese ones)
    zh: list[str]  # Chinese names of the English glossary ("批量大小 / 小批量")
    definition: str


def parse_glossary(path: Path) -> list[GlossaryEntry]:
    """The entries of every ``{glossary}`` directive of a MyST page."""
    text = path.read_text(encoding="utf-8")
    entries: list[GlossaryEntry] = []
    for block in re.findall(r"```\{glossary\}\n(.*?)\n```", text, flags=re.S):
        for chunk in re.split(r"\n\s*\n", block.strip()):
            lines = chunk.splitlines()
            terms = [
                ln.strip()
                for ln in lines
                if ln.strip() and not ln[0].isspace() and not ln.startswith(":")
            ]
            definition = " ".join(ln.strip() for ln in lines if ln[:1].isspace())
            if not terms:
                continue
            head, sep, _ = definition.partition(". ")
            zh = (
                [v.strip() for v in head.split(" / ")]
                if sep and re.search(r"[\u4e00-\u9fff]", head)
                else []
            )
            entries.append(GlossaryEntry(terms, zh, definition))
    return entries


def english_glossary() -> list[GlossaryEntry]:
    return parse_glossary(BOOK / "glossary.md")


def chinese_words(entry: GlossaryEntry) -> set[str]:
    """Every Chinese wording accepted for an entry of the English glossary."""
    words: set[str] = set()
    for v in entry.zh:
        base = re.sub(r"（.*?）|\(.*?\)", "", v).strip()
        words |= {v, v.replace(" ", ""), base, base.replace(" ", "")}
        latin = re.match(r"([A-Za-z][\w\-–]*)\s*[\u4e00-\u9fff]", v)
        if latin and any(latin.group(1) == t for t in entry.terms):
            words.add(latin.group(1))  # "Krum 聚合", "Flower 框架": the name itself
    words |= set(ALIASES.get(entry.terms[0], []))
    return {w for w in words if w}


def term_index(entries: list[GlossaryEntry]) -> dict[str, GlossaryEntry]:
    """Map every term (lower case) to its entry."""
    return {t.lower(): e for e in entries for t in e.terms}


def term_roles(markdown: str) -> list[tuple[str, str]]:
    """``(shown text, target)`` of the ``{term}`` roles of a MyST text."""
    out = []
    for body in TERM_ROLE.findall(markdown):
        m = re.search(r"^(.*?)\s*<([^<>]+)>\s*$", body, flags=re.S)
        out.append((m.group(1).strip(), m.group(2).strip()) if m else (body.strip(), body.strip()))
    return out


def term_targets(markdown: str) -> list[str]:
    """The targets of the ``{term}`` roles of a MyST text (``text <target>`` or ``target``)."""
    return [target for _, target in term_roles(markdown)]


# --- notebooks -------------------------------------------------------------------------


@dataclass
class NotebookReport:
    name: str
    exists: bool = False
    broken: list[str] = field(default_factory=list)  # structure, code, metadata
    stale: list[int] = field(default_factory=list)  # markdown cells whose English changed
    untranslated: list[int] = field(default_factory=list)  # en_sha null
    terms: list[str] = field(default_factory=list)  # glossary terms not in Chinese
    mpc: list[int] = field(default_factory=list)  # 联邦学习 called 多方计算
    n_markdown: int = 0

    @property
    def ok(self) -> bool:
        return self.exists and not (self.broken or self.stale or self.terms or self.mpc)


def _cell_md(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("fedmed", {}) or {}


def check_structure(en: nbformat.NotebookNode, zh: nbformat.NotebookNode) -> list[str]:
    """Cell counts and types, code equal apart from comments, the ``lang`` metadata."""
    problems = []
    if zh.metadata.get("fedmed", {}).get("lang") != LANG:
        problems.append(f'metadata["fedmed"]["lang"] is not "{LANG}"')
    if len(en.cells) != len(zh.cells):
        problems.append(f"{len(zh.cells)} cells, the English notebook has {len(en.cells)}")
    for i, (a, b) in enumerate(zip(en.cells, zh.cells, strict=False)):
        if a.cell_type != b.cell_type:
            problems.append(f"cell {i}: {b.cell_type}, the English cell is {a.cell_type}")
        elif a.cell_type == "code" and strip_comments(cell_source(a)) != strip_comments(
            cell_source(b)
        ):
            problems.append(f"cell {i}: the code differs from the English cell (beyond comments)")
        elif a.cell_type == "code" and b.get("outputs") and not cell_source(a).startswith(PINNED):
            problems.append(f"cell {i}: stores outputs (only pinned cells may)")
        elif (
            a.cell_type == "code"
            and cell_source(a).startswith(PINNED)
            and not cell_source(b).startswith(PINNED)
        ):
            problems.append(f"cell {i}: a pinned cell must keep its first line {PINNED!r}")
    return problems


def check_notebook(name: str, glossary: list[GlossaryEntry] | None = None) -> NotebookReport:
    """Everything that is wrong or missing in ``book/zh/notebooks/<name>``."""
    rep = NotebookReport(name)
    en_path, zh_path = EN_NOTEBOOKS / name, ZH_NOTEBOOKS / name
    en = nbformat.read(en_path, as_version=4)
    rep.n_markdown = sum(c.cell_type == "markdown" for c in en.cells)
    if not zh_path.exists():
        rep.untranslated = [i for i, c in enumerate(en.cells) if c.cell_type == "markdown"]
        return rep
    rep.exists = True
    try:
        zh = nbformat.read(zh_path, as_version=4)
    except Exception as err:  # noqa: BLE001 - any unreadable file is broken
        rep.broken.append(f"unreadable: {err}")
        return rep
    rep.broken = check_structure(en, zh)
    index = term_index(glossary if glossary is not None else english_glossary())
    for i, (a, b) in enumerate(zip(en.cells, zh.cells, strict=False)):
        if a.cell_type != "markdown" or b.cell_type != "markdown":
            continue
        recorded = _cell_md(b).get("en_sha")
        en_text, zh_text = cell_source(a), cell_source(b)
        if recorded is None:
            rep.untranslated.append(i)
            continue
        if recorded != en_sha(en_text):
            rep.stale.append(i)
        zh_targets = {t.lower() for t in term_targets(zh_text)}
        for shown, target in dict.fromkeys(term_roles(en_text)):
            entry = index.get(target.lower())
            if entry is None or not entry.zh:
                continue
            if not any(t.lower()[:5] in shown.lower() for t in entry.terms) and (
                target.lower() in zh_targets
            ):
                continue  # "{term}`leak <gradient leakage>`": a verb, shown in Chinese words
            words = chinese_words(entry)
            if not any(w in zh_text for w in words):
                names = " / ".join(entry.zh)
                rep.terms.append(f"cell {i}: {{term}}`{target}` without its Chinese term ({names})")
        if (MPC_ZH in zh_text and not MPC_EN.search(en_text)) or FL_AS_MPC.search(zh_text):
            rep.mpc.append(i)
    return rep


# --- pages -----------------------------------------------------------------------------


def paragraphs(text: str) -> list[tuple[int, str]]:
    """``(first line number, text)`` of each block separated by blank lines."""
    out, start, buf = [], 1, []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            if not buf:
                start = n
            buf.append(line.rstrip())
        elif buf:
            out.append((start, "\n".join(buf)))
            buf = []
    if buf:
        out.append((start, "\n".join(buf)))
    return out


@dataclass
class PageReport:
    name: str  # "intro" (book/intro.md)
    exists: bool = False
    broken: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # "line 12 (paragraph 4): ..."

    @property
    def ok(self) -> bool:
        return self.exists and not (self.broken or self.stale)


def page_names() -> list[str]:
    """The English pages that have a Chinese counterpart (book/*.md; api/ stays English)."""
    return sorted(p.stem for p in BOOK.glob("*.md"))


def check_page(name: str) -> PageReport:
    rep = PageReport(name)
    en_path, zh_path, origin = BOOK / f"{name}.md", ZH / f"{name}.md", ORIGIN / f"{name}.md"
    if not zh_path.exists():
        return rep
    rep.exists = True
    if not origin.exists():
        rep.broken.append(f"book/zh/_origin/{name}.md is missing (the English text it translates)")
        return rep
    en_pars = paragraphs(en_path.read_text(encoding="utf-8"))
    origin_texts = {t for _, t in paragraphs(origin.read_text(encoding="utf-8"))}
    en_texts = {t for _, t in en_pars}
    for k, (line, text) in enumerate(en_pars, 1):
        if text not in origin_texts:
            rep.stale.append(f"book/{name}.md line {line} (paragraph {k}) changed: {text[:70]!r}")
    for _line, text in paragraphs(origin.read_text(encoding="utf-8")):
        if text not in en_texts:
            rep.stale.append(
                f"book/zh/_origin/{name}.md: paragraph removed from English: {text[:70]!r}"
            )
    zh_text = zh_path.read_text(encoding="utf-8")
    if FL_AS_MPC.search(zh_text):
        rep.broken.append("calls 联邦学习 多方计算")
    return rep


def toc_notebooks() -> list[str]:
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
    names = []
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            if ch["file"].startswith("notebooks/"):
                names.append(Path(ch["file"]).name + ".ipynb")
    return names


# --- commands --------------------------------------------------------------------------


def status() -> int:
    glossary = english_glossary()
    bad = 0
    print("Pages (book/zh/<page>.md):")
    missing_pages = []
    for name in page_names():
        rep = check_page(name)
        if not rep.exists:
            missing_pages.append(name)
            continue
        state = (
            "ok" if rep.ok else ("BROKEN" if rep.broken else f"STALE ({len(rep.stale)} paragraphs)")
        )
        bad += not rep.ok
        print(f"  {name}.md: {state}")
        for line in rep.broken + rep.stale:
            print(f"      {line}")
    print(
        f"  untranslated pages ({len(missing_pages)}; the site shows the English text): "
        + (", ".join(missing_pages) or "none")
    )
    print("Chapters (book/zh/notebooks/):")
    missing_nbs, n_untr, n_stale = [], 0, 0
    for name in toc_notebooks():
        rep = check_notebook(name, glossary)
        if not rep.exists:
            missing_nbs.append(name)
            continue
        n_untr += len(rep.untranslated)
        n_stale += len(rep.stale)
        bad += not rep.ok
        print(
            f"  {name}: {rep.n_markdown - len(rep.untranslated)}/{rep.n_markdown} markdown cells "
            f"translated, {len(rep.stale)} stale"
            + (f", untranslated cells {rep.untranslated}" if rep.untranslated else "")
        )
        for line in rep.broken:
            print(f"      BROKEN {line}")
        if rep.stale:
            print(f"      STALE cells (English changed since the translation): {rep.stale}")
        for line in rep.terms:
            print(f"      TERM {line}")
        if rep.mpc:
            print(f"      多方计算 for 联邦学习 in cells {rep.mpc}")
    print(
        f"  untranslated chapters ({len(missing_nbs)}; the site shows the English chapter): "
        + (", ".join(missing_nbs) or "none")
    )
    print(
        f"Summary: {len(missing_pages)} untranslated pages, {len(missing_nbs)} untranslated "
        f"chapters, {n_untr} untranslated and {n_stale} stale cells in translated chapters, "
        f"{bad} stale or broken files."
    )
    return 1 if bad else 0


def skeleton(en_path: Path) -> Path:
    """Create ``book/zh/notebooks/<name>`` from the English notebook (text still English)."""
    en = nbformat.read(en_path, as_version=4)
    zh = copy.deepcopy(en)
    zh.metadata.setdefault("fedmed", {})["lang"] = LANG
    zh.metadata.setdefault("language_info", en.metadata.get("language_info", {"name": "python"}))
    for cell in zh.cells:
        if cell.cell_type == "markdown":
            cell.metadata.setdefault("fedmed", {})["en_sha"] = None
        elif cell.cell_type == "code" and not cell_source(cell).startswith(PINNED):
            cell.outputs = []
            cell.execution_count = None
    out = ZH_NOTEBOOKS / en_path.name
    if out.exists():
        raise SystemExit(f"{out} exists already")
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(zh, out)
    return out


def _committed(path: Path) -> nbformat.NotebookNode | None:
    rel = path.resolve().relative_to(ROOT)
    try:
        text = subprocess.run(
            ["git", "show", f"HEAD:{rel.as_posix()}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return nbformat.reads(text, as_version=4)
    except (subprocess.CalledProcessError, OSError, ValueError):
        return None


def stamp(zh_path: Path, cells: list[int] | None = None, every: bool = False) -> list[int]:
    """Record ``en_sha`` for the cells just translated (see the module docstring)."""
    en = nbformat.read(EN_NOTEBOOKS / zh_path.name, as_version=4)
    zh = nbformat.read(zh_path, as_version=4)
    problems = check_structure(en, zh)
    if any("cells" in p or ": markdown" in p or ": code," in p for p in problems):
        raise SystemExit(f"{zh_path}: cells do not match the English notebook: {problems}")
    old = _committed(zh_path)
    stamped = []
    for i, (a, b) in enumerate(zip(en.cells, zh.cells, strict=False)):
        if a.cell_type != "markdown":
            continue
        meta = b.metadata.setdefault("fedmed", {})
        current = en_sha(cell_source(a))
        recorded = meta.get("en_sha")
        edited = (
            old is not None and i < len(old.cells) and cell_source(old.cells[i]) != cell_source(b)
        )
        if (
            every
            or (cells is not None and i in cells)
            or (recorded is None and cell_source(b) != cell_source(a))
            or (recorded not in (None, current) and edited)
        ):
            if recorded != current:
                stamped.append(i)
            meta["en_sha"] = current
    zh.metadata.setdefault("fedmed", {})["lang"] = LANG
    nbformat.write(zh, zh_path)
    return stamped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status", help="untranslated / stale cells and pages")
    p = sub.add_parser("skeleton", help="create the zh notebook from the English one")
    p.add_argument("notebook", type=Path)
    p = sub.add_parser("stamp", help="record en_sha for the cells just translated")
    p.add_argument("notebook", type=Path)
    p.add_argument("--cells", help="comma-separated cell indices to stamp as well")
    p.add_argument("--all", action="store_true", help="stamp every markdown cell")
    p = sub.add_parser("origin", help="copy book/<page>.md to book/zh/_origin/<page>.md")
    p.add_argument("pages", nargs="+")
    args = parser.parse_args(argv)
    if args.cmd == "status":
        return status()
    if args.cmd == "skeleton":
        print(skeleton(args.notebook))
        return 0
    if args.cmd == "stamp":
        cells = [int(c) for c in args.cells.split(",")] if args.cells else None
        done = stamp(args.notebook, cells, args.all)
        print(f"{args.notebook}: stamped cells {done}")
        return 0
    if args.cmd == "origin":
        ORIGIN.mkdir(parents=True, exist_ok=True)
        for page in args.pages:
            name = Path(page).stem
            (ORIGIN / f"{name}.md").write_bytes((BOOK / f"{name}.md").read_bytes())
            print(f"book/zh/_origin/{name}.md")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
