"""From a file's bytes to its objects and problems: pure, path-independent, cacheable.

:func:`parse_content` is what runs for every file whose content is not in the cache (in a
worker process when there are many). Its result is made only of plain data (tuples, lists,
dicts, strings, numbers) so it can be marshalled to the cache and sent between processes:
each object, its check results and the line and column of every path those name (found in
the document's nodes while they are at hand, :mod:`gitkube.source.positions`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from gitkube.source.positions import compose_text, locate_paths
from gitkube.source.yamlfast import parse_json, parse_yaml

# A per-object check whose JSON-compatible results are cached with the parse.
ObjectCheck = Callable[[dict[str, Any]], list[Any]]

# (index, item, object, line, column, encoded issues, positions of the paths the issues name
# (None: no issues))
DocRecord = tuple[int, "int | None", dict[str, Any], int, int, list[Any],
                  "dict[tuple[Any, ...], tuple[int, int]] | None"]
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
    the results of ``check`` and the position of every path those results name, and the
    problems found. Never raises for bad content."""
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
    out = _File(check)
    if name.endswith(".json"):
        parsed, problem = parse_json(data)
        for index, (value, line, column) in enumerate(parsed):
            # json keeps no positions: the text is composed as YAML (JSON is YAML's flow
            # style) only if this document has problems to place
            out.document(index, value, line, column, partial(_json_node, data, index))
    else:
        parsed, problem = parse_yaml(data, out.each)
        for index, (value, line, column) in enumerate(parsed):
            if not isinstance(value, dict):  # mappings were taken as they were read
                out.document(index, value, line, column, _no_node)
    if problem is not None:
        out.problems.append((problem.code, problem.message, problem.line, problem.column,
                             problem.hint, None))
    return out.docs, out.problems


def _no_node() -> Any:
    return None


def _json_node(data: bytes, index: int) -> Any:
    nodes = compose_text(data)
    return nodes[index] if nodes is not None and index < len(nodes) else None


class _File:
    """What one file yields: its documents (checked, with positions) and its problems."""

    def __init__(self, check: ObjectCheck | None):
        self.check = check
        self.docs: list[DocRecord] = []
        self.problems: list[ProblemRecord] = []

    def each(self, index: int, value: Any, node: Any) -> None:
        """A YAML document as it is read (its node graph at hand)."""
        if isinstance(value, dict):
            self.document(index, value, node.start_mark.line + 1, node.start_mark.column + 1,
                          lambda: node)

    def document(self, index: int, value: Any, line: int, column: int,
                 node: Callable[[], Any]) -> None:
        if value is None:
            return  # an empty document, as kubectl skips it
        if not isinstance(value, dict):
            what = "a list" if isinstance(value, list) else f"a {type(value).__name__}"
            self.problems.append(("not-a-mapping", f"document {index + 1} is {what}, not a "
                                  "mapping", line, column,
                                  "a manifest is a mapping with apiVersion and kind", None))
            return
        if _is_list(value):
            self._expand_list(index, value, line, column, node)
            return
        self._add(_Where(index, None, line, column), value, node)

    def _expand_list(self, index: int, value: dict[str, Any], line: int, column: int,
                     node: Callable[[], Any]) -> None:
        items = value.get("items")
        if not isinstance(items, list):
            self.problems.append(("not-a-mapping", f"{value['kind']}: items must be a list",
                                  line, column, None, None))
            return
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.problems.append(("not-a-mapping", f"{value['kind']} item {i} is not a "
                                      "mapping", line, column,
                                      "each item is a manifest with apiVersion and kind", None))
                continue
            self._add(_Where(index, i, line, column), item, node)

    def _add(self, where: _Where, obj: dict[str, Any], node: Callable[[], Any]) -> None:
        missing = _missing(obj)
        index, item, line, column = where
        if missing:
            place = f"document {index + 1}" if item is None else \
                f"item {item} of document {index + 1}"
            self.problems.append(("missing-type", f"{place} has no {missing}", line, column,
                                  "every manifest needs apiVersion and kind (e.g. apiVersion: "
                                  "v1, kind: ConfigMap)", object_name(obj)))
            return
        issues: list[Any] = []
        if self.check is not None:
            try:
                issues = self.check(obj)
            except Exception as err:  # a bug in one check must not hide every other problem
                self.problems.append(("internal-error", f"gitkube could not check this object "
                                      f"({type(err).__name__}: {err})", line, column,
                                      "please report this as a gitkube bug", object_name(obj)))
        positions = _positions(issues, node, item) if issues else None
        self.docs.append((index, item, obj, line, column, issues, positions))


class _Where(NamedTuple):
    """Where an object was read: document index, List item (or None), start line, column."""

    doc: int
    item: int | None
    line: int
    column: int


def _positions(issues: list[Any], node: Callable[[], Any],
               item: int | None) -> dict[tuple[Any, ...], tuple[int, int]] | None:
    """The position of every path ``issues`` name (issues that are mappings with a "path"
    list, as the schema check's are), or None when there is no node to find them in."""
    paths = [i["path"] for i in issues if isinstance(i, dict) and isinstance(i.get("path"), list)]
    root = node() if paths else None
    if root is None:
        return None
    return locate_paths(root, paths, () if item is None else ("items", item))
