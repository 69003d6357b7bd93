"""check_object: every problem in one object, structural (schemas) and semantic.

The schemas are loaded and compiled once, on first use. ``SCHEMA_VERSION`` is a digest of
the schema files and of the code that interprets them, so a cache of results keyed by
(content, SCHEMA_VERSION) is invalidated by any change to either.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from gitkube.model import kinds
from gitkube.schema.compiler import Check, Compiler, Err, suggested
from gitkube.schema.issue import Issue
from gitkube.schema.kindcheck import kind_issue
from gitkube.schema.kindrules import KIND_RULES
from gitkube.schema.semantic import check_semantics

SCHEMA_DIR = Path(__file__).parent / "schemas"
DEFINITIONS_FILE = "_definitions.json"

_SOURCES = (
    Path(__file__).parent / "compiler.py",
    Path(__file__).parent / "semantic.py",
    Path(__file__).parent / "kindcheck.py",
    Path(__file__),
    Path(__file__).parent.parent / "model" / "quantity.py",
    Path(__file__).parent.parent / "model" / "labels.py",
    Path(__file__).parent / "kindrules.py",
    Path(__file__).parent.parent / "model" / "cron.py",
    Path(__file__).parent.parent / "model" / "priority.py",
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
    return kind_issue(str(obj.get("apiVersion")), str(obj.get("kind")), _checks())


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
    rules = KIND_RULES.get(str(kind))
    if rules is not None:
        issues.extend(rules(obj))
    return _one_error_per_cause(issues) if len(issues) > 1 else issues


# Problems a misspelt field causes by its absence: the misspelling is the one to report.
_ABSENCE = frozenset({"probe-handler", "volume-source"})


def _one_error_per_cause(issues: list[Issue]) -> list[Issue]:
    """``issues`` without those a misspelt field explains: with ``contianers`` (did you mean
    containers?) or ``gRPC`` (did you mean grpc?) there, "missing required field
    containers" and "a probe needs exactly one handler" say the same thing again."""
    meant = {(i.path[:-1], suggested(i.hint)) for i in issues
             if i.code == "unknown-field" and i.path and suggested(i.hint)}
    if not meant:
        return issues
    parents = {parent for parent, _field in meant}
    return [i for i in issues
            if not (i.code == "required" and i.path and (i.path[:-1], i.path[-1]) in meant)
            and not (i.code in _ABSENCE and i.path in parents)]
