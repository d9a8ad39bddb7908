"""The Chinese edition (book/zh/) is never silently stale.

For every Chinese chapter ``book/zh/notebooks/<name>.ipynb``: the same cells as the
English notebook (count, order, types), code equal apart from ``#`` comments, no
stored outputs but the pinned ones, every translated markdown cell's ``en_sha`` equal
to the hash of the current English cell (else the test lists the stale cells), every
glossary term that the English cell links (``{term}``) present in its Chinese wording,
and 联邦学习 never called 多方计算. For every Chinese page ``book/zh/<page>.md``: its
origin ``book/zh/_origin/<page>.md`` exists and equals the English page paragraph by
paragraph (else the test lists the changed paragraphs). The Chinese glossary keeps
every English term as a key, so that ``{term}`联邦学习 <federated learning>``` resolves.

Missing translations are not failures: ``test_translation_coverage`` reports how many
pages and chapters are untranslated (the site shows the English text for them, with
a notice) and ``python tools/zh_sync.py status`` lists them.

The checks are the functions of ``tools/zh_sync.py``; the tests at the end check
those functions and the staging (``tools/stage_zh.py``) on small made-up notebooks.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import stage_zh  # noqa: E402
import zh_sync  # noqa: E402

ZH_NOTEBOOKS = sorted(p.name for p in (ROOT / "book" / "zh" / "notebooks").glob("*.ipynb"))
ZH_PAGES = sorted(p.stem for p in (ROOT / "book" / "zh").glob("*.md"))
GLOSSARY = zh_sync.english_glossary()


@pytest.fixture(scope="module")
def reports() -> dict[str, zh_sync.NotebookReport]:
    return {name: zh_sync.check_notebook(name, GLOSSARY) for name in ZH_NOTEBOOKS}


def test_every_chinese_chapter_has_an_english_chapter() -> None:
    english = set(zh_sync.toc_notebooks())
    orphans = [n for n in ZH_NOTEBOOKS if n not in english]
    assert orphans == [], f"book/zh/notebooks/ has chapters that book/_toc.yml does not list: {orphans}"


@pytest.mark.parametrize("name", ZH_NOTEBOOKS)
def test_chapter_matches_the_english_cells(name: str, reports) -> None:
    rep = reports[name]
    assert rep.broken == [], f"book/zh/notebooks/{name}:\n" + "\n".join(rep.broken)


@pytest.mark.parametrize("name", ZH_NOTEBOOKS)
def test_chapter_is_not_stale(name: str, reports) -> None:
    rep = reports[name]
    assert rep.stale == [], (
        f"book/zh/notebooks/{name}: the English text of markdown cells {rep.stale} changed "
        "since they were translated: update the translation, then "
        f"`python tools/zh_sync.py stamp book/zh/notebooks/{name}`"
    )


@pytest.mark.parametrize("name", ZH_NOTEBOOKS)
def test_chapter_uses_the_glossary_terms(name: str, reports) -> None:
    rep = reports[name]
    assert rep.terms == [], (
        f"book/zh/notebooks/{name}: glossary terms without the Chinese term of book/glossary.md:\n"
        + "\n".join(rep.terms)
    )


@pytest.mark.parametrize("name", ZH_NOTEBOOKS)
def test_federated_learning_is_not_called_mpc(name: str, reports) -> None:
    rep = reports[name]
    assert rep.mpc == [], (
        f"book/zh/notebooks/{name}: cells {rep.mpc} say 多方计算 where the English says nothing "
        "of multi-party computation (联邦学习 is never called 多方计算)"
    )


@pytest.mark.parametrize("page", ZH_PAGES)
def test_page_is_not_stale(page: str) -> None:
    assert (ROOT / "book" / f"{page}.md").exists(), f"book/zh/{page}.md translates no English page"
    rep = zh_sync.check_page(page)
    assert rep.broken == [], f"book/zh/{page}.md: " + "; ".join(rep.broken)
    assert rep.stale == [], (
        f"book/zh/{page}.md is stale: the English page changed since it was translated "
        f"(update the translation, then `python tools/zh_sync.py origin {page}`):\n"
        + "\n".join(rep.stale)
    )


def test_every_origin_belongs_to_a_translated_page() -> None:
    origins = sorted(p.stem for p in (ROOT / "book" / "zh" / "_origin").glob("*.md"))
    assert [o for o in origins if o not in ZH_PAGES] == [], "origins without a Chinese page"


def test_chinese_glossary_keeps_every_english_term() -> None:
    path = ROOT / "book" / "zh" / "glossary.md"
    if not path.exists():
        pytest.skip("book/zh/glossary.md is not translated yet")
    keys = {t for e in zh_sync.parse_glossary(path) for t in e.terms}
    missing = [t for e in GLOSSARY for t in e.terms if t not in keys]
    assert missing == [], f"English terms missing from the Chinese glossary: {missing}"
    chinese = {t for e in zh_sync.parse_glossary(path) for t in e.terms if zh_sync.has_chinese(t)}
    assert len(chinese) >= len(GLOSSARY), "every entry of the Chinese glossary has a Chinese term"


def test_translation_coverage() -> None:
    """Reports untranslated pages and chapters (the coordinator decides about completeness)."""
    pages = [p for p in zh_sync.page_names() if not (ROOT / "book" / "zh" / f"{p}.md").exists()]
    chapters = [n for n in zh_sync.toc_notebooks() if n not in ZH_NOTEBOOKS]
    cells = sum(len(zh_sync.check_notebook(n, GLOSSARY).untranslated) for n in ZH_NOTEBOOKS)
    message = (
        f"Chinese edition: {len(pages)} of {len(zh_sync.page_names())} pages and "
        f"{len(chapters)} of {len(zh_sync.toc_notebooks())} chapters untranslated, "
        f"{cells} untranslated cells in translated chapters (pages: {pages}; chapters: {chapters})"
    )
    print(message)
    if pages or chapters or cells:
        warnings.warn(message, UserWarning, stacklevel=1)


# --- the tools themselves ---------------------------------------------------------------


def test_en_sha_is_the_documented_hash() -> None:
    import hashlib

    text = "## Learning objectives\n\n- derive FedAvg"
    assert zh_sync.en_sha(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def test_code_equal_apart_from_comments() -> None:
    en = 'x = 1  # the number of hospitals\ns = "# not a comment"\n# a whole-line comment\ny = x'
    zh = 'x = 1  # 医院的数量\ns = "# not a comment"\n# 整行注释\ny = x'
    assert zh_sync.strip_comments(en) == zh_sync.strip_comments(zh)
    assert zh_sync.strip_comments(en) != zh_sync.strip_comments(zh.replace("x = 1", "x = 2"))
    assert zh_sync.strip_comments(en) != zh_sync.strip_comments(zh.replace('"# not', '"# 不'))
    magic = '%pip install -q "fedmed-lib @ git+https://x/y"  # Colab'
    assert zh_sync.strip_comments(magic) == ['%pip install -q "fedmed-lib @ git+https://x/y"']


def _notebooks(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    en_dir, zh_dir = tmp_path / "notebooks", tmp_path / "book" / "zh" / "notebooks"
    en_dir.mkdir(parents=True)
    zh_dir.mkdir(parents=True)
    monkeypatch.setattr(zh_sync, "EN_NOTEBOOKS", en_dir)
    monkeypatch.setattr(zh_sync, "ZH_NOTEBOOKS", zh_dir)
    monkeypatch.setattr(zh_sync, "_committed", lambda path: None)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np  # numpy"),
        nbformat.v4.new_markdown_cell("(ch-x)=\n# Title\n\nWhy {term}`federated learning` helps."),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1 + 1)"),
        nbformat.v4.new_markdown_cell("## Summary\n\n- {term}`Hospitals <client>` keep data."),
    ]
    nbformat.write(nb, en_dir / "99_x.ipynb")
    return en_dir / "99_x.ipynb", zh_dir / "99_x.ipynb"


def test_skeleton_stamp_and_stale_cells(tmp_path: Path, monkeypatch) -> None:
    en_path, zh_path = _notebooks(tmp_path, monkeypatch)
    zh_sync.skeleton(en_path)
    rep = zh_sync.check_notebook("99_x.ipynb", GLOSSARY)
    assert rep.exists and rep.broken == [] and rep.untranslated == [1, 3] and rep.ok
    zh = nbformat.read(zh_path, as_version=4)
    zh.cells[1].source = "(ch-x)=\n# 标题\n\n为什么{term}`联邦学习 <federated learning>`有帮助。"
    zh.cells[0].source = "import numpy as np  # 数值计算"
    nbformat.write(zh, zh_path)
    assert zh_sync.stamp(zh_path) == [1]  # only the translated cell
    rep = zh_sync.check_notebook("99_x.ipynb", GLOSSARY)
    assert rep.ok and rep.untranslated == [3] and rep.stale == []
    # The English text changes: the translation is stale until it is updated and stamped.
    en = nbformat.read(en_path, as_version=4)
    en.cells[1].source += " It is not MPC."
    nbformat.write(en, en_path)
    rep = zh_sync.check_notebook("99_x.ipynb", GLOSSARY)
    assert rep.stale == [1] and not rep.ok
    assert zh_sync.stamp(zh_path, cells=[1]) == [1]
    assert zh_sync.check_notebook("99_x.ipynb", GLOSSARY).stale == []


def test_broken_terms_and_mpc_are_reported(tmp_path: Path, monkeypatch) -> None:
    en_path, zh_path = _notebooks(tmp_path, monkeypatch)
    zh_sync.skeleton(en_path)
    zh = nbformat.read(zh_path, as_version=4)
    zh.cells[1].source = "# 标题\n\n为什么{term}`多方计算 <federated learning>`有帮助。"
    zh.cells[3].source = "## 小结\n\n- {term}`医院 <client>`保留数据。"  # 医院 stands for client
    nbformat.write(zh, zh_path)
    zh_sync.stamp(zh_path, every=True)
    zh = nbformat.read(zh_path, as_version=4)
    zh.cells[2].source = "# NBVAL_CHECK_OUTPUT\nprint(1 + 2)  # 改了代码"
    zh.cells.append(nbformat.v4.new_markdown_cell("多余的单元"))
    nbformat.write(zh, zh_path)
    with pytest.raises(SystemExit, match="cells do not match"):
        zh_sync.stamp(zh_path)  # stamping needs the English cells
    rep = zh_sync.check_notebook("99_x.ipynb", GLOSSARY)
    assert any("5 cells" in p for p in rep.broken), rep.broken
    assert any("cell 2: the code differs" in p for p in rep.broken), rep.broken
    assert rep.terms == ["cell 1: {term}`federated learning` without its Chinese term (联邦学习)"]
    assert rep.mpc == [1]


def test_stale_page_paragraphs(tmp_path: Path, monkeypatch) -> None:
    book = tmp_path / "book"
    (book / "zh" / "_origin").mkdir(parents=True)
    monkeypatch.setattr(zh_sync, "BOOK", book)
    monkeypatch.setattr(zh_sync, "ZH", book / "zh")
    monkeypatch.setattr(zh_sync, "ORIGIN", book / "zh" / "_origin")
    english = "# Title\n\nFirst paragraph.\n\nSecond paragraph.\n"
    (book / "p.md").write_text(english)
    (book / "zh" / "p.md").write_text("# 标题\n\n第一段。\n\n第二段。\n")
    assert zh_sync.check_page("p").broken  # no origin
    (book / "zh" / "_origin" / "p.md").write_text(english)
    assert zh_sync.check_page("p").ok
    (book / "p.md").write_text(english.replace("Second", "A new second"))
    stale = zh_sync.check_page("p").stale
    assert len(stale) == 2 and "line 5 (paragraph 3)" in stale[0], stale


def test_staging_merges_english_outputs_and_refuses_other_code(tmp_path: Path, monkeypatch) -> None:
    en_path, zh_path = _notebooks(tmp_path, monkeypatch)
    zh_sync.skeleton(en_path)
    executed = nbformat.read(en_path, as_version=4)
    executed.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    exe_dir = tmp_path / "executed"
    exe_dir.mkdir()
    nbformat.write(executed, exe_dir / "99_x.ipynb")
    src = tmp_path / "src_zh"
    (src / "notebooks").mkdir(parents=True)
    monkeypatch.setattr(stage_zh, "ROOT", tmp_path)
    monkeypatch.setattr(stage_zh, "BOOK", tmp_path / "book")
    monkeypatch.setattr(stage_zh, "EXECUTED", exe_dir)
    monkeypatch.setattr(stage_zh, "SRC", src)
    problems: list[str] = []
    stage_zh.stage_notebook("99_x.ipynb", problems, {}, {}, [])
    assert problems == []
    staged = nbformat.read(src / "notebooks" / "99_x.ipynb", as_version=4)
    assert staged.cells[2].outputs[0]["text"] == "2\n"
    zh = nbformat.read(zh_path, as_version=4)
    zh.cells[0].source = "import numpy as npy"
    nbformat.write(zh, zh_path)
    stage_zh.stage_notebook("99_x.ipynb", problems, {}, {}, [])
    assert len(problems) == 1 and "cell 0: the code differs" in problems[0]
    # No Chinese chapter yet: the English executed chapter, with a notice, listed as fallback.
    zh_path.unlink()
    fallback: list[str] = []
    stage_zh.stage_notebook("99_x.ipynb", problems, {}, {}, fallback)
    staged = nbformat.read(src / "notebooks" / "99_x.ipynb", as_version=4)
    assert fallback == ["notebooks/99_x"] and "本章尚未翻译" in staged.cells[2].source


def test_search_dictionary_keeps_terms_whole() -> None:
    words = stage_zh.search_words()
    assert {"联邦学习", "差分隐私", "安全聚合", "非独立同分布"} <= set(words)


def test_every_part_of_the_toc_has_a_chinese_caption() -> None:
    """The Chinese sidebar names every part in Chinese (tools/stage_zh.py CAPTIONS)."""
    import yaml

    toc = yaml.safe_load((Path(__file__).resolve().parents[1] / "book" / "_toc.yml").read_text())
    captions = [part["caption"] for part in toc.get("parts", [])]
    missing = [c for c in captions if c not in stage_zh.CAPTIONS]
    assert missing == [], f"parts without a Chinese caption in stage_zh.CAPTIONS: {missing}"
    assert all(zh_sync.has_chinese(stage_zh.CAPTIONS[c]) for c in captions)


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).resolve().parents[1] / "book" / "zh" / "notebooks").glob("*.ipynb")))
def test_figure_alt_text_is_chinese(name: str) -> None:
    """A translated chapter describes its figures in Chinese (cell metadata mystnb.image.alt)."""
    nb = nbformat.read(Path(__file__).resolve().parents[1] / "book" / "zh" / "notebooks" / name, as_version=4)
    english = [
        i for i, cell in enumerate(nb.cells)
        if (alt := cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt"))
        and not zh_sync.has_chinese(alt)
    ]
    assert english == [], f"{name}: cells whose figure alt text is not translated: {english}"


def test_staging_keeps_chinese_alt_text_and_translates_glued_hospital_names() -> None:
    en = nbformat.v4.new_notebook()
    zh = nbformat.v4.new_notebook()
    glue_out = nbformat.v4.new_output(
        "display_data",
        data={"application/papermill.record/text/plain": "'Long Beach VA'"},
        metadata={"scrapbook": {"name": "site", "mime_prefix": "application/papermill.record/"}},
    )
    a = nbformat.v4.new_code_cell("glue('site', 'Long Beach VA')", outputs=[glue_out])
    a.metadata = {"mystnb": {"image": {"alt": "A plot in English", "width": "80%"}}, "tags": ["x"]}
    b = nbformat.v4.new_code_cell("glue('site', 'Long Beach VA')")
    b.metadata = {"mystnb": {"image": {"alt": "一幅中文描述的图"}}, "fedmed": {"k": 1}}
    en.cells, zh.cells = [a], [b]
    stage_zh.merge_outputs(zh, en)
    cell = zh.cells[0]
    assert cell.metadata["mystnb"]["image"] == {"alt": "一幅中文描述的图", "width": "80%"}
    assert cell.metadata["tags"] == ["x"] and cell.metadata["fedmed"] == {"k": 1}
    assert cell.outputs[0]["data"]["application/papermill.record/text/plain"] == "'长滩 VA'"
    assert en.cells[0].outputs[0]["data"]["application/papermill.record/text/plain"] == "'Long Beach VA'"


def test_fast_chinese_search_index_gives_the_same_words() -> None:
    """The set that replaces Sphinx 7's list of Latin words indexes exactly as before.

    ``fedmed_site._fast_chinese_index`` turns ``SearchChinese.latin_terms`` into a set
    (as Sphinx 8.1 did); the stemmed words of a mixed Chinese and English text must be
    the ones the list gave, and the set must be what the Chinese build uses.
    """
    from types import SimpleNamespace

    from sphinx.search.zh import SearchChinese

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import fedmed_site

    text = ("联邦学习 FedAvg 在 ICU 的 AUROC 与 DP-SGD 上的 ε; the HE of CKKS is as "
            "good as SMPC, and SGD goes on. Flower runs FedProx at 4 hospitals.")
    saved = SearchChinese.latin_terms
    try:
        SearchChinese.latin_terms = []
        as_list = SearchChinese({})
        words_list = [as_list.stem(w) for w in as_list.split(text)]
        fedmed_site._fast_chinese_index(None, SimpleNamespace(language="en"))
        assert isinstance(SearchChinese.latin_terms, list), "changed for an English build"
        SearchChinese.latin_terms = []
        fedmed_site._fast_chinese_index(None, SimpleNamespace(language="zh_CN"))
        assert isinstance(SearchChinese.latin_terms, set), "the Chinese build keeps the list"
        as_set = SearchChinese({})
        words_set = [as_set.stem(w) for w in as_set.split(text)]
    finally:
        SearchChinese.latin_terms = saved
    assert words_set == words_list
    assert "icu" in words_set and "he" in words_set  # short acronyms kept whole, as before
