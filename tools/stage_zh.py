"""Stage the Chinese edition (中文版) for Jupyter Book 1: ``_build/src_zh/``.

The Chinese site is built beside the English one and published under ``zh/`` of the
English HTML (``_build/site/_build/html/zh/``; see ``make build-zh``). This script is
the Chinese twin of ``tools/stage_book.py``:

- ``_config.yml`` and ``_toc.yml`` are generated from ``book/_config.yml`` and
  ``book/_toc.yml`` (Chinese title, part captions and footer; ``language: zh_CN``, so
  pages say ``<html lang="zh-CN">`` and Sphinx's Chinese search cuts the text into
  words with jieba, with the glossary's Chinese terms as a user dictionary so that
  差分隐私 is one word; ``path_to_book: book/zh`` so that a chapter's launch links
  open the Chinese notebook in the repository).
- Every page of ``book/*.md`` is ``book/zh/<page>.md`` when it exists; otherwise the
  English page, with a notice that it is not translated yet (the library reference,
  ``book/api/``, stays English; like every English text on the Chinese site, its page
  body is marked ``lang="en"``).
- Every chapter is ``book/zh/notebooks/<name>.ipynb`` with the outputs of the English
  chapter's executed copy (``_build/executed/notebooks/<name>.ipynb``) merged into its
  code cells. It refuses a Chinese notebook whose cells or code (comments aside)
  differ from the English notebook, as ``stage_book.py`` refuses a stale executed copy.
  A chapter that is not translated yet is the English executed chapter with a notice.
  A markdown cell whose English text changed since it was translated (stale
  ``en_sha``) gets a visible note. ``tools/zh_sync.py status`` lists all of these.
- Glued numbers (``{{ chNN_name }}``) come from the same executed notebooks.

``--partial`` (for trying the build while some chapters are being rewritten) leaves
out of the table of contents every chapter without a current executed copy and shows
``(not executed)`` for the numbers it glues, instead of failing.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stage_book  # noqa: E402
import zh_sync  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SRC = ROOT / "_build" / "src_zh"
EXECUTED = ROOT / "_build" / "executed" / "notebooks"
SEARCH_DICT = "_zh_search_dict.txt"

TITLE = "FedMed：面向医疗的联邦学习"
CAPTIONS = {
    "Start here": "从这里开始",
    "Part I: Deriving federated learning": "第一部分：推导联邦学习",
    "Part II: A hospital federation in simulation": "第二部分：模拟一个医院联邦",
    "Part III: Privacy and security": "第三部分：隐私与安全",
    "Part IV: Medical images and a real FL engine": "第四部分：医学影像与真实的联邦学习框架",
    "Part V: Federated learning in practice": "第五部分：联邦学习的实际应用",
    "Part VI: Beyond the data staying home": "第六部分：不止于数据不出院",
    "Back matter": "附录",
}
FOOTER = "FedMed：代码采用 MIT 许可证；数据集遵循各自的许可证（见“数据与许可证”）。"
PAGE_NOTICE = (
    "```{admonition} 本页尚未翻译\n:class: warning\n本页的中文译文尚未完成，下面是英文原文。\n```\n"
)
CHAPTER_NOTICE = (
    "```{admonition} 本章尚未翻译\n:class: warning\n"
    "本章的中文译文尚未完成，下面是英文原文及其运行结果。\n```"
)
STALE_NOTE = (
    "```{admonition} 译文可能已过时\n:class: note\n"
    "英文原文在翻译之后有所修改，本段译文尚未更新。\n```\n\n"
)
# Words that jieba must keep whole (besides the glossary's Chinese terms).
EXTRA_WORDS = [
    "联邦学习",
    "联邦平均",
    "差分隐私",
    "安全聚合",
    "梯度泄露",
    "非独立同分布",
    "本地训练",
    "鲁棒聚合",
    "客户端",
    "服务器",
    "个性化",
    "医疗",
    "医院",
]


def translate_toc(toc: dict) -> dict:
    out = json.loads(json.dumps(toc))
    for part in out.get("parts", []):
        if "caption" in part:
            part["caption"] = CAPTIONS.get(part["caption"], part["caption"])
    return out


def search_words() -> list[str]:
    words: list[str] = []
    for entry in zh_sync.english_glossary():
        for w in zh_sync.chinese_words(entry):
            if re.fullmatch(r"[\u4e00-\u9fff]{2,}", w):
                words.append(w)
    return sorted(set(words + EXTRA_WORDS))


def write_config(fallback: list[str]) -> None:
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    config["title"] = TITLE
    config.setdefault("repository", {})["path_to_book"] = "book/zh"
    config.setdefault("html", {})["extra_footer"] = FOOTER
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config["language"] = "zh_CN"
    sphinx_config["html_search_language"] = "zh"
    sphinx_config["html_search_options"] = {"dict": str(SRC / SEARCH_DICT)}
    sphinx_config["fedmed_fallback_pages"] = sorted(fallback)
    (SRC / "_config.yml").write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )


def stage_page(name: str, fallback: list[str]) -> None:
    zh_page = BOOK / "zh" / f"{name}.md"
    if zh_page.exists():
        shutil.copy(zh_page, SRC / f"{name}.md")
        return
    text = (BOOK / f"{name}.md").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    at = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("# ")), 0)
    lines.insert(at, "\n" + PAGE_NOTICE + "\n")
    (SRC / f"{name}.md").write_text("".join(lines), encoding="utf-8")
    fallback.append(name)


# Words that the English chapters glue into their prose (hospital names) and that a
# Chinese page should show in Chinese. Numbers and code are never translated.
GLUED_WORDS = {
    "Long Beach VA": "长滩 VA",
    "Switzerland": "瑞士",
    "Hungary": "匈牙利",
    "Cleveland": "克利夫兰",
}


def translate_glued(text: str) -> str:
    """Replace the hospital names of a glued value by their Chinese names."""
    for en, zh in GLUED_WORDS.items():
        text = text.replace(en, zh)
    return text


def merge_outputs(zh: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> None:
    """Give every code cell of ``zh`` the outputs of the executed English cell.

    The cell metadata is the English cell's (MyST-NB reads tags, glue and figure
    options from it) except the Chinese figure alt text and caption; glued hospital
    names are shown in Chinese (:data:`GLUED_WORDS`).
    """
    for a, b in zip(executed.cells, zh.cells, strict=False):
        if a.cell_type == "code":
            outputs = copy.deepcopy(a.get("outputs", []))
            for out in outputs:
                if "scrapbook" not in out.get("metadata", {}):
                    continue
                for mime, text in out.get("data", {}).items():
                    if mime.endswith("text/plain") and isinstance(text, str):
                        out["data"][mime] = translate_glued(text)
            b.outputs = outputs
            b.execution_count = a.get("execution_count")
            metadata = copy.deepcopy(dict(a.get("metadata", {})))
            zh_mystnb = b.metadata.get("mystnb", {})
            for key in ("image", "figure"):
                for field in ("alt", "caption"):
                    if field in zh_mystnb.get(key, {}):
                        target = metadata.setdefault("mystnb", {}).setdefault(key, {})
                        target[field] = zh_mystnb[key][field]
            if "fedmed" in b.metadata:
                metadata["fedmed"] = b.metadata["fedmed"]
            b.metadata = metadata


def stage_notebook(
    name: str,
    problems: list[str],
    values: dict[str, str],
    origin: dict[str, str],
    fallback: list[str],
) -> None:
    source, executed_path = ROOT / "notebooks" / name, EXECUTED / name
    if not source.exists():
        problems.append(f"{name}: listed in book/_toc.yml but notebooks/{name} is missing")
        return
    if not executed_path.exists():
        problems.append(f"{name}: not executed yet (run `make execute`)")
        return
    en = nbformat.read(source, as_version=4)
    executed = nbformat.read(executed_path, as_version=4)
    if [c.source for c in en.cells] != [c.source for c in executed.cells]:
        problems.append(f"{name}: the executed copy is stale (run `make execute`)")
        return
    if any(
        o.get("output_type") == "error"
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    ):
        problems.append(f"{name}: the executed copy has an error output (run `make execute`)")
        return
    for key, value in stage_book.glued_values(executed).items():
        if key in origin:
            problems.append(f"{name}: glue name {key!r} is also glued by {origin[key]}")
        origin[key] = name
        values[key] = translate_glued(value)
    zh_path = BOOK / "zh" / "notebooks" / name
    if not zh_path.exists():
        nb = executed
        idx = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), 0)
        nb.cells.insert(idx + 1, nbformat.v4.new_markdown_cell(CHAPTER_NOTICE))
        fallback.append("notebooks/" + Path(name).stem)
    else:
        nb = nbformat.read(zh_path, as_version=4)
        structure = [p for p in zh_sync.check_structure(en, nb) if "stores outputs" not in p]
        if structure:
            problems.append(
                f"book/zh/notebooks/{name} does not match notebooks/{name} "
                f"(update the translation): {'; '.join(structure)}"
            )
            return
        for a, b in zip(en.cells, nb.cells, strict=False):
            if b.cell_type == "markdown":
                recorded = b.metadata.get("fedmed", {}).get("en_sha")
                if recorded is not None and recorded != zh_sync.en_sha(zh_sync.cell_source(a)):
                    b.source = STALE_NOTE + zh_sync.cell_source(b)
        merge_outputs(nb, executed)
    nbformat.write(nb, SRC / "notebooks" / name)


def drop_from_toc(toc: dict, docnames: set[str]) -> dict:
    for part in toc.get("parts", []):
        part["chapters"] = [ch for ch in part.get("chapters", []) if ch["file"] not in docnames]
    toc["parts"] = [p for p in toc.get("parts", []) if p["chapters"]]
    return toc


def main(argv: list[str] | None = None) -> int:
    global SRC
    args = list(sys.argv[1:] if argv is None else argv)
    partial = "--partial" in args
    if "--out" in args:  # stage elsewhere (the PDF build stages beside the site's build)
        SRC = Path(args[args.index("--out") + 1]).resolve()
    if SRC.exists():
        shutil.rmtree(SRC)
    shutil.copytree(BOOK, SRC, ignore=shutil.ignore_patterns("zh"))
    if not (SRC / "_vendor" / "mathjax" / "tex-chtml.js").exists():
        print("MathJax is missing from book/_vendor/mathjax: run `make mathjax`", file=sys.stderr)
        return 1
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
    (SRC / SEARCH_DICT).write_text(
        "".join(f"{w} 100000\n" for w in search_words()), encoding="utf-8"
    )
    (SRC / "notebooks").mkdir()
    problems: list[str] = []
    fallback: list[str] = []
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    timings_path = ROOT / "_build" / "timings.json"
    if timings_path.exists():
        for nb_name, seconds in json.loads(timings_path.read_text()).items():
            values[f"seconds_{Path(nb_name).stem}"] = f"{seconds:.0f}"
    for name in zh_sync.page_names():
        stage_page(name, fallback)
    left_out: set[str] = set()
    for f in stage_book.toc_files(toc):
        if f.startswith("notebooks/"):
            before = len(problems)
            stage_notebook(Path(f).name + ".ipynb", problems, values, origin, fallback)
            if partial and len(problems) > before:
                left_out.add(f)
                print(f"stage_zh --partial: left out {f}: {problems[before:]}", file=sys.stderr)
                del problems[before:]
    (SRC / "_toc.yml").write_text(
        yaml.safe_dump(
            translate_toc(drop_from_toc(toc, left_out)), sort_keys=False, allow_unicode=True
        ),
        encoding="utf-8",
    )
    # The library reference stays English (its text is marked lang="en" on the page).
    write_config(fallback + sorted(f"api/{p.stem}" for p in (BOOK / "api").glob("*.md")))
    for page in sorted(SRC.glob("*.md")):
        for name in stage_book.SUBSTITUTION.findall(page.read_text(encoding="utf-8")):
            if name not in values and partial:
                values[name] = "(not executed)"
            elif name not in values:
                problems.append(f"{page.name}: {{{{ {name} }}}} is glued by no executed notebook")
    config_path = SRC / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config.setdefault("parse", {})["myst_substitutions"] = dict(sorted(values.items()))
    config_path.write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    if fallback:
        print(
            f"stage_zh: {len(fallback)} pages shown in English (not translated yet); "
            "see `python tools/zh_sync.py status`"
        )
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
