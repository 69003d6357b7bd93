"""Line and column of a field, from the fast parser's own marks.

libyaml keeps the start mark (line, column) of every node it composes: a mapping key's mark
is where the key is written, a sequence item's where the item starts. A field path is walked
through that node graph as far as it exists; the deepest node reached gives the position
(for a missing field: its nearest existing parent).

Two uses, one walk (:func:`node_position`):

- at parse time, for every path a per-object problem names, while the document's nodes are
  at hand (:func:`locate_paths`): the positions are cached with the problems, by blob id,
  so a file with errors is never parsed again for them;
- on demand, for any other path (the cross-document checks' ``metadata.name`` and
  ``metadata.namespace``): :class:`FileLocator` composes the file again with the same C
  parser, building no values, and keeps a few files' nodes in a small LRU.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ruamel.yaml.nodes import MappingNode, SequenceNode

from gitkube.source.document import PathPart
from gitkube.source.yamlfast import compose_nodes

Position = tuple[int, int]  # 1-based (line, column); (0, 0): unknown

_LRU_SIZE = 32
_composed: OrderedDict[str, list[Any] | None] = OrderedDict()
_lock = threading.Lock()


def _start(node: Any) -> Position:
    """0-based start of ``node``."""
    mark = node.start_mark
    return (mark.line, mark.column)


def node_position(root: Any, path: Iterable[PathPart]) -> Position:
    """1-based position of the deepest node on ``path`` below document node ``root``:
    a mapping key's own position, a sequence item's start; (0, 0) when ``root`` is no
    mapping or sequence."""
    if root.__class__ is not MappingNode and root.__class__ is not SequenceNode:
        return (0, 0)
    line, column = _start(root)
    node = root
    for part in path:
        cls = node.__class__
        if cls is MappingNode and isinstance(part, str):
            # keys are scalars (the reader refuses others); keys merged in with << are not
            # the mapping's own and stop the walk at the mapping
            found = next(((k, v) for k, v in node.value if k.value == part), None)
            if found is None:
                break
            line, column = _start(found[0])
            node = found[1]
        elif cls is SequenceNode and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line, column = _start(node)
        else:
            break
    return (line + 1, column + 1)


def locate_paths(root: Any, paths: Iterable[Sequence[PathPart]],
                 prefix: Sequence[PathPart] = ()) -> dict[tuple[PathPart, ...], Position]:
    """The position of each of ``paths`` (below ``prefix``, e.g. a List's ``items, 3``) in
    the document whose node is ``root``, keyed by the path as given."""
    return {tuple(path): node_position(root, [*prefix, *path]) for path in paths}


def compose_text(data: bytes) -> list[Any] | None:
    """Every document's node (what parsed, before a syntax error, if any)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nodes, complete = compose_nodes(data)
    if not complete and b"\t" in data:
        # JSON indented with tabs is valid JSON but not valid YAML. A tab is insignificant
        # whitespace in JSON (and cannot occur raw inside a JSON string), so one space in
        # its place keeps every line and column.
        retry, complete = compose_nodes(data.replace(b"\t", b" "))
        if complete:
            return retry
    return nodes


def composed(blob_id: str, read: Callable[[], bytes | None]) -> list[Any] | None:
    """The documents' nodes of content ``blob_id`` (``read`` gives the content, or None when
    it changed since), from the LRU or composed now."""
    with _lock:
        if blob_id in _composed:
            _composed.move_to_end(blob_id)
            return _composed[blob_id]
    data = read()
    nodes = compose_text(data) if data is not None else None
    with _lock:
        _composed[blob_id] = nodes
        while len(_composed) > _LRU_SIZE:
            _composed.popitem(last=False)
    return nodes


class FileLocator:
    """A Document locator: the positions found at parse time (``known``, by path), else the
    file is read (``read``) and composed again on first use."""

    __slots__ = ("blob_id", "index", "item", "known", "read")

    def __init__(self, blob_id: str, index: int, item: int | None,
                 read: Callable[[], bytes | None],
                 known: Mapping[tuple[PathPart, ...], Position] | None = None):
        self.blob_id = blob_id
        self.index = index
        self.item = item
        self.read = read
        self.known = known

    def __call__(self, path: Sequence[PathPart]) -> Position:
        if self.known:
            found = self.known.get(tuple(path))
            if found is not None:
                return found
        docs = composed(self.blob_id, self.read)
        # Empty documents are kept (as None), so the indexes are the stream's.
        if docs is None or not 0 <= self.index < len(docs) or docs[self.index] is None:
            return (0, 0)
        prefix: list[PathPart] = [] if self.item is None else ["items", self.item]
        return node_position(docs[self.index], [*prefix, *path])
