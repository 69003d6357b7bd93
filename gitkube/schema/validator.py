"""check_object: every problem in one object, structural (schemas) and semantic.

The schemas are loaded and compiled once, on first use. ``SCHEMA_VERSION`` is a digest of
the schema files and of the code that interprets them, so a cache of results keyed by
(content, SCHEMA_VERSION) is invalidated by any change to either.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from gitkube.model import kinds
from gitkube.schema.compiler import Check, Compiler, Err
from gitkube.schema.issue import Issue
from gitkube.schema.semantic import check_semantics

SCHEMA_DIR = Path(__file__).parent / "schemas"
DEFINITIONS_FILE = "_definitions.json"

_SOURCES = (
    Path(__file__).parent / "compiler.py",
    Path(__file__).parent / "semantic.py",
    Path(__file__),
    Path(__file__).parent.parent / "model" / "quantity.py",
    Path(__file__).parent.parent / "model" / "labels.py",
)


def _digest() -> str:
    h = hashlib.sha256()
    for path in sorted(SCHEMA_DIR.glob("*.json")) + list(_SOURCES):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


SCHEMA_VERSION: str = _digest()


def schema_file(api_version: str, kind: str) -> Path:
    """The JSON Schema file of a kind (``deployment-apps-v1.json``)."""
    group, _, version = api_version.rpartition("/")
    parts = [kind.lower(), *([group.split(".")[0]] if group else []), version]
    return SCHEMA_DIR / ("-".join(parts) + ".json")


@cache
def _load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@cache
def _checks() -> dict[tuple[str, str], Check | None]:
    """One compiled check per (apiVersion, kind) that has a schema file."""
    defs = _load_json(SCHEMA_DIR / DEFINITIONS_FILE)["$defs"]
    compiler = Compiler(defs)
    out: dict[tuple[str, str], Check | None] = {}
    for rt in kinds.RESOURCES:
        path = schema_file(rt.api_version, rt.kind)
        if path.exists():
            out[(rt.api_version, rt.kind)] = compiler.compile(_load_json(path))
    return out


def _to_issues(errs: list[Err]) -> list[Issue]:
    return [Issue(tuple(reversed(e[0])), e[2], e[1], e[3]) for e in errs]


def _unknown_kind(obj: dict[str, Any]) -> Issue:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    known = _checks()
    same_kind = [av for av, k in known if k == kind]
    if same_kind:
        return Issue(("apiVersion",),
                     f'apiVersion "{api_version}" is not served for kind {kind}',
                     "unknown-kind", f"use apiVersion: {same_kind[0]}")
    kind_names = sorted({k for _, k in known})
    close = difflib.get_close_matches(str(kind), kind_names, n=1, cutoff=0.6)
    listing = ", ".join(f"{k} ({av})" for av, k in sorted(known, key=lambda x: x[1]))
    hint = (f"did you mean {close[0]}? " if close else "") + f"gitkube supports: {listing}"
    return Issue(("kind",), f'unknown kind "{kind}" (apiVersion "{api_version}")',
                 "unknown-kind", hint)


def check_object(obj: Any) -> list[Issue]:
    """Every problem in one object: unknown/unsupported fields, types, required fields,
    enums, then Kubernetes' semantic rules. Pure; an empty list means valid.

    Works on objects as written in git and as the api layer holds them (status and
    server-set metadata such as uid and resourceVersion are accepted)."""
    if not isinstance(obj, dict):
        return [Issue((), f"an object must be a mapping, not {type(obj).__name__}", "type")]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    missing = [Issue((f,), f'missing required field "{f}"', "required")
               for f in ("apiVersion", "kind") if not obj.get(f)]
    if missing:
        return missing
    wrong = [Issue((f,), f"must be a string, not {type(obj[f]).__name__}", "type")
             for f in ("apiVersion", "kind") if not isinstance(obj[f], str)]
    if wrong:
        return wrong
    checks = _checks()
    key = (api_version, kind)
    if key not in checks:
        return [_unknown_kind(obj)]
    check = checks[key]
    errs = check(obj) if check is not None else None
    issues = _to_issues(errs) if errs else []
    issues.extend(check_semantics(obj, str(kind)))
    return issues
