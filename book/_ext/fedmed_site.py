"""Small Sphinx fixes for the FedMed site.

- sphinx-thebe registers its configuration script once per build *and* Jupyter
  Book 1 runs that registration twice, so each page declared ``THEBE_JS_URL``
  twice and the browser logged an error; keep each script once per page.
- Jupyter Book 1 adds every ``.js`` file found under ``html_static_path`` to every
  page when a ``_static`` folder exists, which would load all of MathJax's
  components (and break it); MathJax files are loaded by MathJax itself only.
- Sphinx adds MathJax only to pages where it detects equations, and it misses
  the maths of Markdown pages parsed by MyST-NB (the notation page rendered raw
  TeX); load the site's own MathJax on every page instead.
- Every chapter notebook opens with a code cell that installs the helper library on
  Colab (``if "google.colab" in sys.modules: %pip install ...``). On the page it sat
  above the chapter's title and meant nothing to a reader of the site; it is dropped
  from the page (the notebook, its download and its launch links keep it).
- The Chinese edition (中文版, built from ``_build/src_zh`` by ``tools/stage_zh.py``
  and published under ``zh/`` of the English site): every page gets a language
  switch, a link at the top of the article to the same page in the other language
  (``notebooks/05_fedavg.html`` <-> ``zh/notebooks/05_fedavg.html``), and a
  ``<link rel="alternate" hreflang>`` in its head. A Chinese page that still shows
  the English text (listed in ``fedmed_fallback_pages`` by the staging) is marked
  ``lang="en"``, and its launch links open the English notebook (there is no Chinese
  notebook in the repository yet). jieba's start-up messages are kept off the log.
- Sphinx 7's Chinese search index (``sphinx.search.zh.SearchChinese``) keeps every
  Latin word it has seen in a list and asks ``word in list`` for every word it indexes,
  so indexing the Chinese site took time quadratic in its length (70 of its 85 s).
  Sphinx 8.1 made that list a set (sphinx-doc/sphinx#12995); Jupyter Book 1 needs
  Sphinx 7, so the same change is made here: the same words in a set, the same index.
"""

from __future__ import annotations

import html
import logging
from typing import Any

SWITCH_TO_ZH = "中文"
SWITCH_TO_EN = "English"


def _is_zh(app: Any) -> bool:
    return str(app.config.language or "").lower().startswith("zh")


def _other_language_href(pagename: str, zh: bool) -> str:
    """Relative link from ``pagename`` to the same page in the other language."""
    up = "../" * pagename.count("/")
    return f"{up}../{pagename}.html" if zh else f"{up}zh/{pagename}.html"


def _language_switch(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Link every page to the same page in the other language (see the module docstring)."""
    if doctree is None or "body" not in context:
        return
    zh = _is_zh(app)
    href = html.escape(_other_language_href(pagename, zh))
    lang, label = ("en", SWITCH_TO_EN) if zh else ("zh-CN", SWITCH_TO_ZH)
    title = "Read this page in English" if zh else "阅读本页的中文版"
    switch = (
        f'<div class="fedmed-lang-switch"><a class="fedmed-lang-link" href="{href}" '
        f'hreflang="{lang}" lang="{lang}" title="{title}">'
        f'<i class="fa-solid fa-language" aria-hidden="true"></i> {label}</a></div>\n'
    )
    body = context["body"]
    if zh and pagename in set(app.config.fedmed_fallback_pages):
        body = f'<div lang="en">{body}</div>'
        _open_english_notebook(context)
    context["body"] = switch + body
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="alternate" hreflang="{lang}" href="{href}" />'
    )


def _open_english_notebook(context: dict) -> None:
    """Launch links of an untranslated chapter: the English notebook (book/zh/ has none)."""

    def fix(buttons: list) -> None:
        for button in buttons:
            if isinstance(button.get("url"), str):
                button["url"] = button["url"].replace("book/zh/notebooks/", "notebooks/")
            fix(button.get("buttons", []))

    fix(context.get("header_buttons", []))


def _quiet_jieba(app: Any, config: Any) -> None:
    if str(config.language or "").lower().startswith("zh"):
        logging.getLogger("jieba").setLevel(logging.WARNING)
        try:
            import jieba

            jieba.setLogLevel(logging.WARNING)
        except ImportError:
            pass


class _LatinTerms(set):
    """A set that ``SearchChinese.split`` can ``extend`` as it extended its list."""

    def extend(self, terms: Any) -> None:
        self.update(terms)


def _fast_chinese_index(app: Any, config: Any) -> None:
    if not str(config.language or "").lower().startswith("zh"):
        return
    try:
        from sphinx.search.zh import SearchChinese
    except ImportError:  # pragma: no cover - Sphinx always ships it
        return
    if not isinstance(SearchChinese.latin_terms, set):  # Sphinx < 8.1
        SearchChinese.latin_terms = _LatinTerms(SearchChinese.latin_terms)


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for js in scripts:
        key = (str(js.filename or ""), str(js.attributes.get("body", "")))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    scripts[:] = unique  # in place: later handlers (MathJax) add to this same list


def _drop_vendored_js(app: Any, config: Any) -> None:
    files = getattr(config, "html_js_files", None) or []
    config.html_js_files = [
        f for f in files if not str(f[0] if isinstance(f, tuple) else f).startswith("mathjax/")
    ]


def _drop_colab_cell(app: Any, doctree: Any) -> None:
    """Remove a notebook page's first code cell when it is the Colab install cell."""
    from docutils import nodes

    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        source = "".join(block.astext() for block in cell.findall(nodes.literal_block))
        if "google.colab" in source:
            cell.parent.remove(cell)
        return  # only the first code cell


def setup(app: Any) -> dict[str, Any]:
    """Register the fixes."""
    app.add_config_value("fedmed_fallback_pages", [], "html")
    app.connect("doctree-read", _drop_colab_cell)
    app.connect("config-inited", _quiet_jieba)
    app.connect("config-inited", _fast_chinese_index)
    app.connect("html-page-context", _language_switch, priority=900)
    app.connect("config-inited", _drop_vendored_js)
    app.connect("html-page-context", _dedupe_scripts, priority=1)
    app.set_html_assets_policy("always")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
