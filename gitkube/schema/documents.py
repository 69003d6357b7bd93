"""check_documents: per-object issues placed at file:line:col, plus cross-document checks."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from gitkube.diagnostics import Diagnostic
from gitkube.model import kinds
from gitkube.model.objects import SYSTEM_NAMESPACE_NAMES, SYSTEM_NAMESPACES
from gitkube.schema.issue import Issue, format_path
from gitkube.schema.validator import check_object
from gitkube.source.document import Document


def _label(obj: dict[str, Any]) -> str | None:
    kind = obj.get("kind")
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not kind:
        return None
    return f"{kind}/{name}" if name else str(kind)


def _diagnostic(doc: Document, issue: Issue) -> Diagnostic:
    line, column = doc.locate(issue.path)
    return Diagnostic(
        message=issue.message,
        code=issue.code,
        file=doc.file,
        line=line,
        column=column,
        object=_label(doc.obj) if isinstance(doc.obj, dict) else None,
        path=format_path(issue.path) or None,
        hint=issue.hint,
    )


def _where(doc: Document, path: tuple[str | int, ...]) -> str:
    line, column = doc.locate(path)
    return f"{doc.file}:{line}:{column or 1}" if line else doc.file


def check_documents(
    docs: Sequence[Document],
    issues: Sequence[Sequence[Issue] | None] | None = None,
) -> list[Diagnostic]:
    """Every problem in a set of documents, sorted by file, line and column.

    ``issues``, when given, is parallel to ``docs``: a precomputed ``check_object`` result
    per document (e.g. from a cache keyed by blob id and SCHEMA_VERSION), or None to compute
    it. Cross-document checks: the same object defined twice (reported at every place, each
    naming the others) and a namespaced object in a namespace that is neither ``default`` nor
    defined by a Namespace in the set."""
    out: list[Diagnostic] = []
    for i, doc in enumerate(docs):
        found = issues[i] if issues is not None else None
        if found is None:
            found = check_object(doc.obj)
        out.extend(_diagnostic(doc, issue) for issue in found)
    out.extend(_cross_document(docs))
    out.sort(key=Diagnostic.sort_key)
    return out


def _cross_document(docs: Sequence[Document]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: dict[tuple[str, str, str, str], list[Document]] = {}
    namespaces = set(SYSTEM_NAMESPACES)
    namespaced: list[tuple[Document, str]] = []
    for doc in docs:
        obj = doc.obj
        if not isinstance(obj, dict):
            continue
        rt = kinds.for_object(obj)
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if rt is None or not isinstance(name, str) or not name:
            continue
        assert isinstance(meta, dict)
        ns = (meta.get("namespace") or "default") if rt.namespaced else ""
        if not isinstance(ns, str):
            continue
        seen.setdefault((rt.group, rt.kind, ns, name), []).append(doc)
        if rt.kind == "Namespace":
            namespaces.add(name)
        elif rt.namespaced:
            namespaced.append((doc, ns))
    for (_, kind, ns, name), group in seen.items():
        if len(group) < 2:
            continue
        shown = f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
        for doc in group:
            others = ", ".join(_where(o, ("metadata", "name")) for o in group if o is not doc)
            out.append(Diagnostic(
                message=f"{shown} is defined more than once (also at {others})",
                code="duplicate-object",
                file=doc.file,
                line=doc.locate(("metadata", "name"))[0],
                column=doc.locate(("metadata", "name"))[1],
                object=f"{kind}/{name}",
                path="metadata.name",
                hint="keep one definition; an object is identified by apiVersion, kind, "
                     "namespace and name",
            ))
    out.extend(_undefined_namespace(doc, ns, namespaces)
               for doc, ns in namespaced if ns not in namespaces)
    return out


def _undefined_namespace(doc: Document, ns: str, known: set[str]) -> Diagnostic:
    """The problem of an object in namespace ``ns``, which neither the set defines nor the
    system has (``known``: both). Validate cannot see the live store, so the hint offers
    only what it knows: a near miss of a known namespace, or defining this one."""
    close = difflib.get_close_matches(ns, sorted(known), n=1, cutoff=0.8)
    if close:
        hint = f"did you mean {close[0]}?"
    else:
        hint = (f"add a Namespace named {ns} to the manifests (besides the Namespaces they "
                f"define, only {', '.join(SYSTEM_NAMESPACE_NAMES)} exist without one)")
    line, column = doc.locate(("metadata", "namespace"))
    return Diagnostic(
        message=f'namespace "{ns}" is not defined',
        code="undefined-namespace",
        file=doc.file,
        line=line,
        column=column,
        object=_label(doc.obj),
        path="metadata.namespace",
        hint=hint,
    )
