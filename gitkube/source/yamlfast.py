"""The hot-path YAML and JSON readers: plain JSON-compatible data, fast, and safe.

YAML is parsed and composed by ruamel.yaml's C extension (libyaml); building Python values
from the node graph is done here rather than by ruamel's constructor, which spends most of
its time in generic tag resolution. Scalars resolve the way kubectl's YAML reader
(sigs.k8s.io/yaml, go-yaml v2) does, so a manifest means here what it means to Kubernetes:
``yes``/``no``/``on``/``off`` are booleans, ``0x1F`` is an integer, timestamps stay strings,
mapping keys are always strings.

Refused with a :class:`Problem` (never an exception escaping to the caller): syntax errors,
tabs in indentation, duplicate keys, aliases that expand a document beyond
:data:`ALIAS_EXPANSION_LIMIT`, recursive aliases, nesting deeper than :data:`MAX_DEPTH`
(YAML and JSON alike, with the line and column where it goes too deep), complex
(non-scalar) keys and unknown explicit tags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]  # untyped C extension
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.tag import Tag

from gitkube.model.patch import depth_exceeds

#: Nesting deeper than this is refused (Kubernetes objects are a few dozen levels deep).
MAX_DEPTH = 200
#: Aliases may add at most this many cost units (one per node, plus one per 64 characters
#: of a scalar) to a document: a "billion laughs" document is refused, not expanded.
ALIAS_EXPANSION_LIMIT = 100_000
# libyaml's composer recurses in C: nesting of tens of thousands of levels overflows the
# C stack. Text shorter than this cannot nest that deep, so only longer text is pre-scanned.
_C_SAFE_NESTING = 5_000

_PLAIN = Tag(suffix="!gitkube/plain")
_QUOTED = Tag(suffix="tag:yaml.org,2002:str")
_SEQ = Tag(suffix="tag:yaml.org,2002:seq")
_MAP = Tag(suffix="tag:yaml.org,2002:map")
_STD = "tag:yaml.org,2002:"
_MERGE = "<<"

_WORDS: dict[str, Any] = {"": None, "~": None, "null": None, "Null": None, "NULL": None}
for _w in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"):
    _WORDS[_w] = True
for _w in ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"):
    _WORDS[_w] = False
_NUMERIC_START = frozenset("0123456789+-.")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)")
_INT_PREFIXED = re.compile(r"[-+]?0(?:x[0-9a-fA-F_]+|o?[0-7_]+|b[01_]+)")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {
    ".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"),
    "+.inf": float("inf"), "+.Inf": float("inf"), "+.INF": float("inf"),
    "-.inf": float("-inf"), "-.Inf": float("-inf"), "-.INF": float("-inf"),
    ".nan": float("nan"), ".NaN": float("nan"), ".NAN": float("nan"),
}


_EXPLICIT_TYPES: dict[str, type | tuple[type, ...]] = {
    "int": int, "float": (int, float), "bool": bool, "null": type(None),
}


@dataclass(frozen=True)
class Problem:
    """Why a stream could not be read. ``line`` and ``column`` are 1-based (0: unknown)."""

    code: str
    message: str
    line: int = 0
    column: int = 0
    hint: str | None = None
    document: int | None = None  # 0-based index of the document it belongs to


class _Refused(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def resolve_plain(text: str) -> Any:
    """The value of an untagged plain scalar, as go-yaml v2 (kubectl) resolves it."""
    word = _WORDS.get(text, _QUOTED)
    if word is not _QUOTED:
        return word
    if text[0] not in _NUMERIC_START:
        return text
    if _INT.fullmatch(text):
        return int(text.replace("_", ""))
    if _INT_PREFIXED.fullmatch(text):
        sign = -1 if text[0] == "-" else 1
        body = text.lstrip("+-").replace("_", "")
        if body[1:2] in ("x", "o", "b"):
            return sign * int(body[2:], {"x": 16, "o": 8, "b": 2}[body[1]])
        return sign * int(body, 8)
    if _FLOAT.fullmatch(text):
        return float(text.replace("_", ""))
    special = _SPECIAL_FLOATS.get(text)
    return text if special is None else special


def _mark(node_or_mark: Any) -> tuple[int, int]:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


class _Parser(CParser):  # type: ignore[misc]  # CParser is untyped (a C extension)
    """libyaml's parser and composer with a resolver that only tells plain from quoted."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Tag:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _QUOTED
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, *_args: Any) -> None:
        pass

    def ascend_resolver(self, *_args: Any) -> None:
        pass


class _Builder:
    """Builds plain values from one document's node graph, counting alias expansion."""

    def __init__(self, with_aliases: bool):
        # Without a '*' in the text there are no aliases: skip the bookkeeping.
        self.memo: dict[int, tuple[Any, int]] | None = {} if with_aliases else None
        self.alias_cost = 0

    def build(self, node: Any, depth: int = 0) -> Any:
        return self._build(node, depth)[0]

    def _build(self, node: Any, depth: int) -> tuple[Any, int]:
        memo = self.memo
        if memo is not None:
            seen = memo.get(id(node))
            if seen is not None:
                return self._alias(node, seen)
        if depth > MAX_DEPTH:
            raise _Refused(Problem("yaml-too-deep", f"nesting deeper than {MAX_DEPTH} levels",
                                   *_mark(node), hint="flatten the document"))
        cls = node.__class__
        if cls is ScalarNode:
            value = self._scalar(node)
            cost = 1 + (len(node.value) >> 6)
            if memo is not None:
                memo[id(node)] = (value, cost)
            return value, cost
        if cls is SequenceNode:
            self._expect_tag(node, _SEQ)
            items: list[Any] = []
            if memo is not None:
                memo[id(node)] = (items, -1)  # -1: being built (an alias to it is recursive)
            cost = 1
            for child in node.value:
                value, c = self._build(child, depth + 1)
                items.append(value)
                cost += c
            if memo is not None:
                memo[id(node)] = (items, cost)
            return items, cost
        self._expect_tag(node, _MAP)
        return self._mapping(node, depth)

    def _alias(self, node: Any, seen: tuple[Any, int]) -> tuple[Any, int]:
        value, cost = seen
        if cost < 0:
            raise _Refused(Problem("yaml-recursive-alias", "an alias refers to its own anchor",
                                   *_mark(node), hint="YAML aliases must not be recursive"))
        self.alias_cost += cost
        if self.alias_cost > ALIAS_EXPANSION_LIMIT:
            raise _Refused(Problem(
                "yaml-alias-bomb",
                f"aliases expand the document beyond {ALIAS_EXPANSION_LIMIT:,} nodes",
                *_mark(node),
                hint="this looks like an alias-expansion attack ('billion laughs'); "
                "write the data out instead of aliasing it repeatedly",
            ))
        return value, cost

    def _mapping(self, node: Any, depth: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        memo = self.memo
        if memo is not None:
            memo[id(node)] = (result, -1)
        cost = 1
        merged: list[tuple[Any, int]] = []
        for key_node, value_node in node.value:
            if key_node.__class__ is not ScalarNode:
                raise _Refused(Problem("yaml-complex-key", "mapping keys must be scalars",
                                       *_mark(key_node), hint="Kubernetes keys are strings"))
            key = key_node.value
            if key == _MERGE and key_node.ctag is _PLAIN:
                merged.append(self._build(value_node, depth + 1))
                continue
            if key in result:
                first = next(k for k, _ in node.value if k.value == key)
                line, _col = _mark(first)
                raise _Refused(Problem(
                    "yaml-duplicate-key", f"duplicate key {key!r} (first defined on line {line})",
                    *_mark(key_node), hint="remove one of them; YAML keys must be unique",
                ))
            value, c = self._build(value_node, depth + 1)
            result[key] = value
            cost += c
        for value, _c in merged:
            cost += self._merge(result, value, node)
        if memo is not None:
            memo[id(node)] = (result, cost)
        return result, cost

    def _merge(self, result: dict[str, Any], value: Any, node: Any) -> int:
        sources = value if isinstance(value, list) else [value]
        cost = 0
        for source in sources:
            if not isinstance(source, dict):
                raise _Refused(Problem("yaml-merge", "a merge key (<<) needs a mapping",
                                       *_mark(node)))
            for k, v in source.items():
                if k not in result:
                    result[k] = v
                    cost += 1
        return cost

    def _scalar(self, node: Any) -> Any:
        tag = node.ctag
        text: str = node.value
        if tag is _PLAIN:
            return resolve_plain(text)
        if tag is _QUOTED:
            return text
        name = str(tag.suffix or "")
        short = name[len(_STD):] if name.startswith(_STD) else name
        if short == "str":
            return text
        if short in ("int", "float", "bool", "null"):
            value = resolve_plain(text)
            ok = _EXPLICIT_TYPES[short]
            if isinstance(value, ok) and not (short != "bool" and isinstance(value, bool)):
                return float(value) if short == "float" else value  # type: ignore[arg-type]
            raise _Refused(Problem("yaml-tag", f"{text!r} is not a valid !!{short}",
                                   *_mark(node)))
        if short in ("timestamp", "binary"):
            return text  # Kubernetes carries both as strings
        raise _Refused(Problem("yaml-tag", f"unsupported YAML tag {name!r}", *_mark(node),
                               hint="Kubernetes manifests use no custom tags; remove it"))

    def _expect_tag(self, node: Any, tag: Tag) -> None:
        if node.ctag is not tag and str(node.ctag.suffix) not in (str(tag.suffix), "!"):
            raise _Refused(Problem("yaml-tag", f"unsupported YAML tag {node.ctag.suffix!r}",
                                   *_mark(node), hint="remove the tag"))


def _nesting_problem(data: bytes) -> Problem | None:
    """Refuse text that would nest too deep for libyaml's recursive C composer."""
    if len(data) <= _C_SAFE_NESTING:
        return None
    # Nesting depth is bounded by flow brackets plus the longest line (block nesting needs
    # indentation or "- " per level); only when that bound is high count it exactly.
    bound = data.count(b"[") + data.count(b"{") + max(map(len, data.split(b"\n")))
    if bound <= _C_SAFE_NESTING:
        return None
    parser = _Parser(data)
    depth = 0
    try:
        while True:
            event = parser.get_event()
            name = event.__class__.__name__
            if name in ("SequenceStartEvent", "MappingStartEvent"):
                depth += 1
                if depth > MAX_DEPTH:
                    return Problem("yaml-too-deep", f"nesting deeper than {MAX_DEPTH} levels",
                                   *_mark(event), hint="flatten the document")
            elif name in ("SequenceEndEvent", "MappingEndEvent"):
                depth -= 1
            elif name == "StreamEndEvent":
                return None
    except YAMLError:
        return None  # the real parse reports it with its position


def _tab_indented(text: bytes, line: int) -> bool:
    start = 0
    for _ in range(line - 1):
        start = text.find(b"\n", start) + 1
        if start == 0:
            return False
    end = text.find(b"\n", start)
    row = text[start:] if end < 0 else text[start:end]
    return b"\t" in row[: len(row) - len(row.lstrip(b" \t"))]


def _yaml_error(err: YAMLError, text: bytes) -> Problem:
    if isinstance(err, MarkedYAMLError) and err.problem_mark is not None:
        line, column = _mark(err.problem_mark)
        problem = str(err.problem or "invalid YAML")
        if err.context:
            problem = f"{problem} ({err.context}"
            if err.context_mark is not None:
                problem += f" started at line {err.context_mark.line + 1}"
            problem += ")"
        hint = "check the indentation and quoting around this position"
        if "tab" in problem or _tab_indented(text, line):
            if "tab" not in problem:
                problem = f"tab character in indentation: {problem}"
            hint = "YAML forbids tabs for indentation; indent with spaces"
        return Problem("yaml-syntax", problem, line, column, hint=hint)
    if isinstance(err, ReaderError):
        before = text[: err.position]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        return Problem("yaml-syntax", f"unacceptable character #x{err.character:04x}: "
                       f"{err.reason}", line, column, hint="remove the control character")
    return Problem("yaml-syntax", str(err).splitlines()[0] if str(err) else "invalid YAML")


Parsed = list[tuple[Any, int, int]]
# Called with each document's index and value as soon as it is read, and its node (the
# node graph, whose marks give every field's position, lives only that long).
EachDocument = Callable[[int, Any, Any], None]


def parse_yaml(data: bytes, each: EachDocument | None = None) -> tuple[Parsed, Problem | None]:
    """Every document of a YAML stream as (value, line, column of its start); the index is
    the position in the stream, the value None for an empty document. Also the problem that
    stopped reading, if any (documents before it are kept). ``each``: see
    :data:`EachDocument` (not called for empty documents)."""
    problem = _nesting_problem(data)
    if problem is not None:
        return [], problem
    parser = _Parser(data)
    with_aliases = b"*" in data
    docs: Parsed = []
    try:
        while parser.check_node():
            node = parser.get_node()
            if node is None:
                docs.append((None, 0, 0))
            else:
                value = _Builder(with_aliases).build(node)
                docs.append((value, *_mark(node)))
                if each is not None:
                    each(len(docs) - 1, value, node)
    except _Refused as refused:
        return docs, _with_document(refused.problem, len(docs))
    except YAMLError as err:
        return docs, _with_document(_yaml_error(err, data), len(docs))
    except RecursionError:
        return docs, Problem("yaml-too-deep", "the document nests too deeply",
                             hint="flatten the document", document=len(docs))
    return docs, None


def compose_nodes(data: bytes) -> tuple[list[Any], bool]:
    """The node graph of every document of a stream (None for an empty one), as libyaml
    composes it, without building values; and whether the whole stream was read (the
    documents before a syntax error are kept). For positions: each node keeps its start
    mark. Text nested too deep for libyaml's recursive composer gives nothing."""
    if _nesting_problem(data) is not None:
        return [], False
    parser = _Parser(data)
    nodes: list[Any] = []
    try:
        while parser.check_node():
            nodes.append(parser.get_node())
    except (YAMLError, RecursionError):
        return nodes, False
    return nodes, True


def _with_document(problem: Problem, index: int) -> Problem:
    return Problem(problem.code, problem.message, problem.line, problem.column, problem.hint,
                   index)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _Refused(Problem("json-duplicate-key", f"duplicate key {key!r}",
                               hint="remove one of them; keys must be unique"))
    return result


def parse_json(data: bytes) -> tuple[Parsed, Problem | None]:
    """The single document of a JSON file, or the problem that prevents reading it (nesting
    deeper than :data:`MAX_DEPTH` included, at the bracket that goes too deep)."""
    try:
        value = json.loads(data, object_pairs_hook=_json_pairs)
    except json.JSONDecodeError as err:
        return [], Problem("json-syntax", err.msg, err.lineno, err.colno, document=0,
                           hint="check the JSON syntax around this position")
    except _Refused as refused:
        return [], _with_document(refused.problem, 0)
    except RecursionError:
        return [], _json_too_deep(data)
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and depth_exceeds(value, MAX_DEPTH + 1):
        return [], _json_too_deep(data)
    return [(value, 1, 1)], None


_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _json_too_deep(data: bytes) -> Problem:
    """The problem for JSON nested too deep, at the bracket that passes the limit."""
    depth = 0
    for match in _JSON_TOKEN.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH + 1:
                before = data[:match.start()]
                line = before.count(b"\n") + 1
                column = match.start() - (before.rfind(b"\n") + 1) + 1
                return Problem("json-too-deep", f"nesting deeper than {MAX_DEPTH} levels",
                               line, column, hint="flatten the document", document=0)
        elif token in (b"]", b"}"):
            depth -= 1
    return Problem("json-too-deep", f"nesting deeper than {MAX_DEPTH} levels",
                   hint="flatten the document", document=0)
