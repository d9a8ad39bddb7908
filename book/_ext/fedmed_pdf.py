"""The PDF editions: the whole book as one HTML page, laid out for print.

``tools/build_pdf.py`` builds the book with Sphinx's ``singlehtml`` builder and prints
the page with Chromium. This extension is loaded only by that build (the tool adds it to
the staged ``_config.yml``); the site never loads it. It

- gives the ``singlehtml`` writer every node visitor registered for ``html``: Sphinx
  looks visitors up by builder *name* and falls back to the format only when no
  extension registered anything for that name, so sphinx-proof's theorems,
  sphinx-exercise's exercises and sphinx-jupyterbook-latex's nodes had none;
- turns each toctree of the root page (one per part of ``_toc.yml``, with its caption)
  into a top-level section titled with the part's caption, so that the chapters inlined
  there are sections of their part: the PDF's bookmarks read Part > Chapter > Section,
  instead of every chapter nesting under the last heading of the landing page;
- prints the folded solutions open: the ``dropdown`` class (sphinx-exercise's
  ``:class: dropdown``, dropdown admonitions, toggles) is removed, so every solution
  appears under its exercise as "Solution to Exercise 3.2";

The print layout, ``book/_pdf/fedmed-print.css``, is copied by build_pdf.py into the
staged copy's ``_static/``, where Jupyter Book links it into the page.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx import addnodes

FOLDED = {"dropdown", "toggle", "toggle-hidden"}


def _single(app: Any) -> bool:
    return getattr(app.builder, "name", "") == "singlehtml"


def _share_html_handlers(app: Any) -> None:
    if not _single(app):
        return
    handlers = app.registry.translation_handlers
    single = handlers.setdefault(app.builder.name, {})
    for node_name, pair in handlers.get("html", {}).items():
        single.setdefault(node_name, pair)


def _parts(app: Any, doctree: nodes.document) -> None:
    """Move each part's toctree of the root page into a top-level section of its own."""
    if not _single(app) or app.env.docname != app.config.root_doc:
        return
    for i, toc in enumerate(list(doctree.findall(addnodes.toctree))):
        wrapper = toc.parent if isinstance(toc.parent, nodes.compound) else toc
        caption = toc.get("caption") or ""
        wrapper.parent.remove(wrapper)
        if not caption:
            doctree.append(wrapper)
            continue
        section = nodes.section(ids=[f"fedmed-part-{i + 1}"], classes=["fedmed-part"])
        section["names"] = []
        section += nodes.title(caption, caption)
        section += wrapper
        doctree.append(section)


def _unfold(app: Any, doctree: nodes.document) -> None:
    if not _single(app):
        return
    for node in doctree.findall(nodes.Element):
        classes = node.get("classes")
        if classes and FOLDED.intersection(classes):
            node["classes"] = [c for c in classes if c not in FOLDED]


def setup(app: Any) -> dict[str, Any]:
    """Register the print fixes (they act only under the singlehtml builder)."""
    app.connect("builder-inited", _share_html_handlers)
    app.connect("doctree-read", _parts)
    app.connect("doctree-read", _unfold)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
