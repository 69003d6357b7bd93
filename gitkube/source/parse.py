"""From a file's bytes to its objects and problems: pure, path-independent, cacheable.

:func:`parse_file` is what runs for every file whose content is not in the cache (in a
worker process when there are many). Its result is made only of plain data (tuples, lists,
dicts, strings, numbers) so it can be marshalled to the cache and sent between processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitkube.source.yamlfast import parse_json, parse_yaml

# A per-object check whose JSON-compatible results are cached with the parse.
ObjectCheck = Callable[[dict[str, Any]], list[Any]]

# (index, item, object, line, column, encoded issues)
DocRecord = tuple[int, "int | None", dict[str, Any], int, int, list[Any]]
# (code, message, line, column, hint, object "Kind/name" or None)
ProblemRecord = tuple[str, str, int, int, "str | None", "str | None"]
FileResult = tuple[list[DocRecord], list[ProblemRecord]]

DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024


def _position(data: bytes, offset: int) -> tuple[int, int]:
    before = data[:offset]
    return before.count(b"\n") + 1, offset - (before.rfind(b"\n") + 1) + 1


def object_name(obj: dict[str, Any]) -> str | None:
    """``Kind/name`` for messages, or None when the object has neither."""
    kind = obj.get("kind")
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if isinstance(kind, str) and kind:
        return f"{kind}/{name}" if isinstance(name, str) and name else kind
    return None


def _missing(obj: dict[str, Any]) -> str | None:
    absent = [f for f in ("apiVersion", "kind") if not isinstance(obj.get(f), str) or not obj[f]]
    return " and ".join(absent) if absent else None


def _is_list(obj: dict[str, Any]) -> bool:
    kind = obj.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and "items" in obj


def parse_content(name: str, data: bytes, check: ObjectCheck | None = None) -> FileResult:
    """Parse one file's content (``name`` only chooses YAML or JSON) into objects, each with
    the results of ``check``, and the problems found. Never raises for bad content."""
    problems: list[ProblemRecord] = []
    nul = data.find(b"\0")
    if nul >= 0:
        return [], [("binary-file", "binary file (contains NUL bytes), not YAML or JSON",
                     *_position(data, nul), "remove it or list it in .gitkubeignore", None)]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return [], [("encoding", f"not UTF-8 text (byte 0x{data[err.start]:02x})",
                     *_position(data, err.start), "save the file as UTF-8", None)]
    parsed, problem = parse_json(data) if name.endswith(".json") else parse_yaml(data)
    if problem is not None:
        problems.append((problem.code, problem.message, problem.line, problem.column,
                         problem.hint, None))
    docs: list[DocRecord] = []
    for index, (value, line, column) in enumerate(parsed):
        if value is None:
            continue  # an empty document, as kubectl skips it
        if not isinstance(value, dict):
            what = "a list" if isinstance(value, list) else f"a {type(value).__name__}"
            problems.append(("not-a-mapping", f"document {index + 1} is {what}, not a mapping",
                             line, column, "a manifest is a mapping with apiVersion and kind",
                             None))
            continue
        if _is_list(value):
            _expand_list(index, value, line, column, check, docs, problems)
            continue
        _add(index, None, value, line, column, check, docs, problems)
    return docs, problems


def _expand_list(index: int, value: dict[str, Any], line: int, column: int,
                 check: ObjectCheck | None, docs: list[DocRecord],
                 problems: list[ProblemRecord]) -> None:
    items = value.get("items")
    if not isinstance(items, list):
        problems.append(("not-a-mapping", f"{value['kind']}: items must be a list", line,
                         column, None, None))
        return
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(("not-a-mapping", f"{value['kind']} item {i} is not a mapping",
                             line, column, "each item is a manifest with apiVersion and kind",
                             None))
            continue
        _add(index, i, item, line, column, check, docs, problems)


def _add(index: int, item: int | None, obj: dict[str, Any], line: int, column: int,
         check: ObjectCheck | None, docs: list[DocRecord], problems: list[ProblemRecord]) -> None:
    missing = _missing(obj)
    if missing:
        where = f"document {index + 1}" if item is None else f"item {item} of document {index + 1}"
        problems.append(("missing-type", f"{where} has no {missing}", line, column,
                         "every manifest needs apiVersion and kind (e.g. apiVersion: v1, "
                         "kind: ConfigMap)", object_name(obj)))
        return
    issues: list[Any] = []
    if check is not None:
        try:
            issues = check(obj)
        except Exception as err:  # a bug in one check must not hide every other problem
            problems.append(("internal-error", f"gitkube could not check this object "
                             f"({type(err).__name__}: {err})", line, column,
                             "please report this as a gitkube bug", object_name(obj)))
    docs.append((index, item, obj, line, column, issues))
