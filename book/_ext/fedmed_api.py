"""The library reference: every public name of ``fedmed_lib``, module by module.

A page of the reference (``book/api/*.md``) writes, inside an ``{eval-rst}`` block::

    .. fedmed-module:: fedmed_lib.aggregate

and this extension turns it into the module's docstring, a summary table and one
autodoc entry per public name, in the order of the source file. A *public name* is
one that the module itself defines at top level (a function, a class or an
assignment) and that does not start with an underscore; imported names are
documented where they are defined. :func:`public_names` is that rule, and
``tests/test_api_reference.py`` checks it against the source independently.

- Functions and classes go through autodoc and napoleon (numpy-style sections).
  Signatures show names and defaults only, so they stay short enough to wrap on a
  phone; each documented parameter gets its type hint as the author wrote it
  (``Sequence[np.ndarray]``, ``Params``), not as Python evaluates it
  (``list[ndarray[tuple[Any, ...], dtype[float64]]]``).
- Constants and type aliases are written from the source that defines them
  (``MODULUS = 2**32``; ``type AggregateFn = Callable[..., Params]``) with the
  docstring that follows the assignment, if any.
- A type hint that names one of the library's own objects links to its entry,
  also when the module imported it (``Params`` in ``fedmed_lib.aggregate`` links to
  the one definition). Third-party types (numpy, TensorFlow, Flower) have no
  offline inventory and stay plain text (``nitpick_ignore_regex`` in _config.yml).
- "Introduced in :ref:`ch-fedsgd`" in a docstring becomes "Introduced in
  Chapter 4, Aggregation and federated SGD", a link to the chapter (the way d2l writes
  "Defined in Section 3.2"): every ``:ref:`` to a chapter label (``ch-...``) is
  rendered as a numbered reference.
- A function or class whose docstring names no chapter, in a module whose
  docstring names exactly one, gets "Introduced with its module in Chapter N".
- After reading, the build warns (an error in the strict build) if a public name
  of a module that a page documents is missing from the site, or if a module of
  the library is documented on no page.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import sys
import types
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.domains.python import PyObject, PyTypeAlias
from sphinx.domains.python._annotations import _parse_annotation
from sphinx.ext.napoleon import _process_docstring as napoleon_process_docstring
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode, nested_parse_with_titles
from sphinx.util.typing import stringify_annotation

logger = logging.getLogger(__name__)

PACKAGE = "fedmed_lib"

# ":ref:`ch-fedsgd`" -> ":numref:`Chapter {number}, {name} <ch-fedsgd>`" (chapter labels only).
CHAPTER_REF = re.compile(r":ref:`(ch-[\w-]+)`")
CHAPTER_NUMREF = r":numref:`Chapter {number}, {name} <\1>`"

# A constant's definition is shown in the entry's header when it is this short.
SHORT_VALUE = 40


def chapter_links(text: str) -> str:
    """Render every ``:ref:`` to a chapter label as a numbered link to that chapter."""
    return CHAPTER_REF.sub(CHAPTER_NUMREF, text)


def module_path(modname: str) -> Path:
    """Return the source file of ``modname`` without importing it."""
    spec = importlib.util.find_spec(modname)
    if spec is None or spec.origin is None:
        raise ValueError(f"{modname}: no such module")
    return Path(spec.origin)


def library_modules(package: str = PACKAGE) -> list[str]:
    """Every public module of ``package`` (no part of the dotted name starts with ``_``)."""
    root = module_path(package).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if any(p.startswith("_") for p in parts[1:]):
            continue
        found.append(".".join(parts))
    return found


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Top-level statements, including those inside top-level ``if``/``try`` blocks."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            out += _statements(node.body) + _statements(node.orelse)
        elif isinstance(node, ast.Try):
            out += _statements(node.body) + _statements(node.orelse)
        else:
            out.append(node)
    return out


def public_names(modname: str) -> list[tuple[str, str]]:
    """Return ``(name, kind)`` for every public name that ``modname`` defines, in source order.

    ``kind`` is ``"function"``, ``"class"`` or ``"data"``. Names starting with an
    underscore and imported names are left out.
    """
    tree = ast.parse(module_path(modname).read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for node in _statements(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            seen.setdefault(node.name, "function")
        elif isinstance(node, ast.ClassDef):
            seen.setdefault(node.name, "class")
        else:
            for name in _targets(node):
                seen.setdefault(name, "data")
    return [(n, k) for n, k in seen.items() if not n.startswith("_")]


def _data_definition(modname: str, name: str) -> tuple[str | None, str, str | None]:
    """Return ``(annotation, value source, docstring)`` of a module-level assignment."""
    source = module_path(modname).read_text(encoding="utf-8")
    body = _statements(ast.parse(source).body)
    for i, node in enumerate(body):
        if name not in _targets(node):
            continue
        assert isinstance(node, ast.Assign | ast.AnnAssign)
        annotation = None
        if isinstance(node, ast.AnnAssign):
            annotation = ast.get_source_segment(source, node.annotation)
        value = ast.get_source_segment(source, node.value) if node.value is not None else ""
        doc = None
        nxt = body[i + 1] if i + 1 < len(body) else None
        if (
            isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            doc = nxt.value.value
        return annotation, value or "", doc
    raise ValueError(f"{modname}.{name}: no assignment found")


def _indent(text: str, prefix: str = "   ") -> list[str]:
    return [prefix + line if line.strip() else "" for line in inspect.cleandoc(text).splitlines()]


def module_rst(
    modname: str, *, summary: bool = True, only: list[str] | None = None
) -> list[str]:
    """Return the reStructuredText that documents ``modname``: docstring, summary, entries.

    With ``only``, just those names, without the module's docstring.
    """
    names = public_names(modname)
    if only is not None:
        missing = set(only) - {n for n, _ in names}
        if missing:
            raise ValueError(f"{modname} defines no public {', '.join(sorted(missing))}")
        names = [(n, k) for n, k in names if n in only]
        lines = [f".. py:currentmodule:: {modname}", ""]
        summary = False
    else:
        lines = [f".. automodule:: {modname}", ""]
    code = [name for name, kind in names if kind != "data"]
    if summary and len(code) > 1:
        lines += [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in code]
        lines += [""]
    for name, kind in names:
        if kind == "function":
            lines += [f".. autofunction:: {name}", ""]
        elif kind == "class":
            lines += [f".. autoclass:: {name}", "   :members:"]
            if _has_bases(modname, name):
                lines.append("   :show-inheritance:")
            lines.append("")
        else:
            lines += _data_rst(modname, name)
    return lines


def _has_bases(modname: str, name: str) -> bool:
    """Return whether a class derives from something worth naming (not just ``object``)."""
    cls = getattr(importlib.import_module(modname), name, None)
    bases = getattr(cls, "__orig_bases__", None) or getattr(cls, "__bases__", None) or ()
    return any(b is not object for b in bases)


def is_type_alias(value: object) -> bool:
    """Return whether a module-level value is a type alias (``list[int]``, ``A | B``)."""
    if isinstance(value, types.GenericAlias | types.UnionType):
        return True
    return type(value).__module__ == "typing"


def _data_rst(modname: str, name: str) -> list[str]:
    annotation, value, doc = _data_definition(modname, name)
    one_line = " ".join(value.split()) if value.count("\n") == 0 else None
    if is_type_alias(getattr(importlib.import_module(modname), name, None)):
        lines = [f".. py:type:: {name}", f"   :value: {' '.join(value.split())}", ""]
        if doc:
            lines += _indent(chapter_links(doc)) + [""]
        return lines
    lines = [f".. py:data:: {name}"]
    if annotation:
        lines.append(f"   :type: {annotation}")
    if one_line is not None and len(one_line) <= SHORT_VALUE:
        lines += [f"   :value: {one_line}", ""]
        shown = True
    else:
        lines.append("")
        shown = False
    if doc:
        lines += _indent(chapter_links(doc)) + [""]
    elif not shown:
        lines += ["   Defined as:", ""]
    if not shown:
        head = f"{name}: {annotation} = " if annotation else f"{name} = "
        lines += ["   .. code-block:: python", ""]
        lines += _indent(head + value, "      ") + [""]
    return lines


class ModuleDirective(SphinxDirective):
    """``.. fedmed-module:: fedmed_lib.x``: the whole reference of one module."""

    required_arguments = 1
    option_spec = {"no-summary": directives.flag, "only": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        """Parse the generated entries in place of the directive."""
        modname = self.arguments[0]
        only = self.options.get("only")
        try:
            lines = module_rst(
                modname,
                summary="no-summary" not in self.options,
                only=None if only is None else [n.strip() for n in only.split(",")],
            )
        except (ValueError, SyntaxError) as err:
            raise self.error(f"fedmed-module: {err}") from err
        self.env.note_dependency(str(module_path(modname)))
        if only is None:
            documented = self.env.domaindata.setdefault("fedmed_api", {})
            documented.setdefault(self.env.docname, set()).add(modname)
        source = self.get_source_info()[0] or ""
        content = StringList(lines, source=f"{source} (fedmed-module {modname})")
        node = nodes.container()
        node.document = self.state.document
        nested_parse_with_titles(self.state, content, node, self.content_offset)
        return node.children


class TypeAlias(PyTypeAlias):
    """``py:type`` with the alias's definition in a ``:value:`` option.

    Sphinx 7.4's ``py:type`` takes the definition as ``:canonical:``, which every
    Python directive also reads as "the canonical import path of this object" and
    registers as a second object, so two modules with ``Array = NDArray[np.float64]``
    collide. ``:value:`` only shows ``type Array = NDArray[np.float64]``.
    """

    option_spec = {**PyTypeAlias.option_spec, "value": directives.unchanged}

    def handle_signature(self, sig: str, signode: Any) -> tuple[str, str]:
        """Write ``type Name = value``."""
        fullname, prefix = PyObject.handle_signature(self, sig, signode)
        if value := self.options.get("value"):
            signode += addnodes.desc_annotation(
                value,
                "",
                addnodes.desc_sig_space(),
                addnodes.desc_sig_punctuation("", "="),
                addnodes.desc_sig_space(),
                *_parse_annotation(value, self.env),
            )
        return fullname, prefix


def module_summary(modname: str) -> str:
    """Return the first line of a module's docstring, its roles pointed at that module."""
    tree = ast.parse(module_path(modname).read_text(encoding="utf-8"))
    doc = (ast.get_docstring(tree) or "").strip()
    first = doc.splitlines()[0] if doc else ""

    def qualify(m: re.Match[str]) -> str:
        role, target = m.group(1), m.group(2)
        return m.group(0) if target.startswith(PACKAGE) else f":{role}:`~{modname}.{target}`"

    role = r":(func|class|data|meth|attr|exc|obj):`(?!~)([\w.]+)`"
    return chapter_links(re.sub(role, qualify, first))


class ModulesDirective(SphinxDirective):
    """``.. fedmed-modules::`` with one module per line: each module's link and summary."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        """Write a definition list: the module's link, then its summary."""
        mods = [line.strip() for line in self.content if line.strip()]
        lines: list[str] = []
        for modname in mods:
            try:
                summary = module_summary(modname)
            except (ValueError, SyntaxError) as err:
                raise self.error(f"fedmed-modules: {err}") from err
            lines += [f":mod:`{modname}`", f"   {summary}", ""]
        node = nodes.container()
        node.document = self.state.document
        content = StringList(lines, source="fedmed-modules")
        nested_parse_with_titles(self.state, content, node, self.content_offset)
        return node.children


def module_chapters(modname: str) -> list[str]:
    """Return the chapter labels (``ch-...``) that a module's docstring links to, in order."""
    tree = ast.parse(module_path(modname).read_text(encoding="utf-8"))
    return list(dict.fromkeys(CHAPTER_REF.findall(ast.get_docstring(tree) or "")))


def _process_docstring(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Render chapter links; give a top-level name without one its module's chapter.

    A function or class whose docstring names no chapter, in a module whose docstring
    names exactly one, was introduced with its module: say so, with the link.
    """
    if not (name.startswith(PACKAGE + ".") or name == PACKAGE):
        return
    modname = str(getattr(obj, "__module__", ""))
    qualname = str(getattr(obj, "__qualname__", ""))
    top_level = name == f"{modname}.{qualname}" and "." not in qualname
    if what in {"function", "class", "exception"} and top_level:
        if not any(CHAPTER_REF.search(line) for line in lines):
            chapters = module_chapters(modname)
            if len(chapters) == 1:
                lines += ["", f"Introduced with its module in :ref:`{chapters[0]}`."]
    lines[:] = [chapter_links(line) for line in lines]


PARAM = re.compile(r"^:param (?:[^:]*\s)?\\?\*{0,2}(\w+):")
TYPE = re.compile(r"^:type \\?\*{0,2}(\w+):")


def _hint_text(hint: object) -> str:
    if isinstance(hint, str):
        return " ".join(hint.split())
    return stringify_annotation(hint, "fully-qualified-except-typing")


ATTRIBUTE = re.compile(r"^(\s*)\.\. attribute:: (\w+(?:\s*,\s*\w+)*)\s*$")


def _add_attribute_types(cls: Any, lines: list[str]) -> None:
    """Give each attribute of a napoleon "Attributes" section its annotation, as written.

    numpydoc lets one entry describe several attributes (``loss, grad``); napoleon
    writes that as one attribute named "loss, grad". Write one signature per name
    instead, so that ``:attr:`loss``` finds it.
    """
    hints: dict[str, Any] = {}
    for klass in reversed(getattr(cls, "__mro__", [cls])):
        hints.update(getattr(klass, "__annotations__", {}) or {})
    out: list[str] = []
    for line in lines:
        m = ATTRIBUTE.match(line)
        if not m:
            out.append(line)
            continue
        indent, names = m.group(1), [n.strip() for n in m.group(2).split(",")]
        head = f"{indent}.. attribute:: "
        out.append(head + names[0])
        out += [" " * len(head) + n for n in names[1:]]
        types_ = {_hint_text(hints[n]) for n in names if n in hints}
        if len(types_) == 1 and all(n in hints for n in names):
            out.append(f"{indent}   :type: {types_.pop()}")
    lines[:] = out


def _add_type_hints(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Give every documented parameter its type hint, as written in the source."""
    if what not in {"function", "method", "class"}:
        return
    if what == "class":
        _add_attribute_types(obj, lines)
    target = obj.__init__ if what == "class" else obj
    hints = getattr(inspect.unwrap(target), "__annotations__", None) or {}
    typed = {m.group(1) for line in lines if (m := TYPE.match(line))}
    out: list[str] = []
    pending: str | None = None
    for line in lines:
        if pending and not line.startswith((" ", "\t")):
            out.append(f":type {pending}: {_hint_text(hints[pending])}")
            pending = None
        out.append(line)
        m = PARAM.match(line)
        if m and m.group(1) in hints and m.group(1) not in typed:
            pending = m.group(1)
    if pending:
        out.append(f":type {pending}: {_hint_text(hints[pending])}")
    lines[:] = out


def _same_object(domain: Any, modname: str, target: str) -> str | None:
    """Return the documented name of the object that ``target`` is in module ``modname``."""
    if f"{modname}.{target}" in domain.objects:
        return f"{modname}.{target}"
    module = sys.modules.get(modname)
    if "." in target or module is None or not hasattr(module, target):
        return None
    obj = getattr(module, target)
    for candidate in domain.objects:
        if candidate.startswith(PACKAGE) and candidate.endswith("." + target):
            home = sys.modules.get(candidate.rsplit(".", 1)[0])
            if home is not None and getattr(home, target, None) is obj:
                return str(candidate)
    return None


def _unique_suffix(domain: Any, target: str, reftype: str) -> str | None:
    """Return the one library entry whose name ends with ``target`` (for the right role)."""
    objtypes = set(domain.objtypes_for_role(reftype) or [])
    if reftype in {"class", "obj"}:
        objtypes |= {"type", "data"}
    found = [
        name
        for name, entry in domain.objects.items()
        if name.startswith(PACKAGE) and name.endswith("." + target) and entry.objtype in objtypes
    ]
    return str(found[0]) if len(found) == 1 else None


def _resolve_own_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Link a name of the library that Sphinx's Python domain does not find by itself.

    - A type hint as the author wrote it: ``Params`` in ``fedmed_lib.aggregate`` is an
      import from ``fedmed_lib._validate``, and ``AggregateFn`` is a type alias, which
      the ``class`` role of a type field does not look for. The name is looked up in
      the module's namespace and linked to the entry documenting that very object.
    - A docstring that names a function of another module by its short name
      (``:func:`run_simulation``` in ``fedmed_lib.keras_fl``) links to it when exactly
      one entry of the library has that name; an ambiguous name stays unresolved.
    """
    if node.get("refdomain") != "py":
        return None
    modname = str(node.get("py:module") or "")
    if not modname.startswith(PACKAGE):
        return None
    target = str(node.get("reftarget", "")).lstrip(".~")
    domain = env.get_domain("py")
    full = _same_object(domain, modname, target) or _unique_suffix(
        domain, target, str(node.get("reftype"))
    )
    if not full:
        return None
    entry = domain.objects[full]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, full)


def _napoleon_except_attributes(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Napoleon, except on the one-line docstrings of properties and attributes.

    Napoleon reads ``"Bytes on the wire: one per entry"`` on a property as Google's
    ``type: description``; the library writes these docstrings as prose.
    """
    if what in {"attribute", "property", "data"}:
        return
    napoleon_process_docstring(app, what, name, obj, options, lines)


def _protocol_signature(
    app: Any, what: str, name: str, obj: Any, options: Any, signature: Any, annotation: Any
) -> tuple[str, Any] | None:
    """Show no ``(*args, **kwargs)`` after a ``Protocol``'s name: it is never instantiated."""
    if what == "class" and getattr(obj, "_is_protocol", False):
        return "", annotation
    return None


def _purge(app: Any, env: Any, docname: str) -> None:
    env.domaindata.setdefault("fedmed_api", {}).pop(docname, None)


def _merge(app: Any, env: Any, docnames: Any, other: Any) -> None:
    mine = env.domaindata.setdefault("fedmed_api", {})
    for docname, mods in other.domaindata.get("fedmed_api", {}).items():
        if docname in docnames:
            mine[docname] = set(mods)


def _check_complete(app: Any, env: Any) -> None:
    """Warn about library modules on no page, and public names missing from the site."""
    pages = env.domaindata.get("fedmed_api", {})
    if not pages:
        return
    documented = {m for mods in pages.values() for m in mods}
    objects = env.get_domain("py").objects
    for modname in library_modules():
        if modname not in documented:
            logger.warning(
                "fedmed_api: module %s is on no page of the library reference: add a page "
                "book/api/NAME.md with `.. fedmed-module:: %s` in an {eval-rst} block and "
                "list it in book/_toc.yml under api/index",
                modname,
                modname,
            )
            continue
        for name, _ in public_names(modname):
            if f"{modname}.{name}" not in objects:
                logger.warning("fedmed_api: %s.%s is missing from the reference", modname, name)


def setup(app: Any) -> dict[str, Any]:
    """Register the directive, the chapter links and the completeness check."""
    app.setup_extension("sphinx.ext.autodoc")
    app.setup_extension("sphinx.ext.autosummary")
    app.setup_extension("sphinx.ext.napoleon")
    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is napoleon_process_docstring:
            app.disconnect(listener.id)
    app.connect("autodoc-process-docstring", _napoleon_except_attributes, priority=500)
    app.add_directive_to_domain("py", "type", TypeAlias, override=True)
    app.add_directive("fedmed-modules", ModulesDirective)
    app.add_directive("fedmed-module", ModuleDirective)
    # After napoleon (priority 500), so the chapter links of every section are rendered.
    app.connect("autodoc-process-docstring", _process_docstring, priority=600)
    app.connect("autodoc-process-docstring", _add_type_hints, priority=700)
    app.connect("missing-reference", _resolve_own_name)
    app.connect("autodoc-process-signature", _protocol_signature)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-check-consistency", _check_complete)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
