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
"""

from __future__ import annotations

from typing import Any


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
    app.connect("doctree-read", _drop_colab_cell)
    app.connect("config-inited", _drop_vendored_js)
    app.connect("html-page-context", _dedupe_scripts, priority=1)
    app.set_html_assets_policy("always")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
