"""Line and column of a field, computed only when a problem needs them.

The fast path keeps no positions. When a diagnostic needs one, the file is parsed again with
ruamel.yaml's round-trip loader (which records the position of every key and item) and the
field path is walked as far as it exists. Parsed files are kept in a small LRU so the many
problems of one file cost one re-parse.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from ruamel.yaml import YAML

from gitkube.source.document import PathPart

_LRU_SIZE = 32
_parsed: OrderedDict[str, list[Any] | None] = OrderedDict()
_lock = threading.Lock()


def _round_trip(data: bytes) -> list[Any] | None:
    """Every document of the stream that parses (those before a syntax error, if any)."""
    text = data.decode("utf-8-sig")
    docs, complete = _round_trip_text(text)
    if not complete and "\t" in text:
        # JSON indented with tabs is valid JSON but not valid YAML. A tab is insignificant
        # whitespace in JSON (and cannot occur raw inside a JSON string), so one space in
        # its place keeps every line and column.
        retry, complete = _round_trip_text(text.replace("\t", " "))
        if complete:
            return retry
    return docs


def _round_trip_text(text: str) -> tuple[list[Any], bool]:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True
    docs: list[Any] = []
    try:
        for doc in yaml.load_all(text):
            docs.append(doc)
    except Exception:  # positions are best effort: a problem still prints without them
        return docs, False
    return docs, True


def _documents(blob_id: str, read: Callable[[], bytes | None]) -> list[Any] | None:
    with _lock:
        if blob_id in _parsed:
            _parsed.move_to_end(blob_id)
            return _parsed[blob_id]
    data = read()
    docs = _round_trip(data) if data is not None else None
    with _lock:
        _parsed[blob_id] = docs
        while len(_parsed) > _LRU_SIZE:
            _parsed.popitem(last=False)
    return docs


def find(root: Any, path: Sequence[PathPart], start: tuple[int, int]) -> tuple[int, int]:
    """0-based position of the deepest existing field on ``path`` below ``root``."""
    pos = start
    node = root
    for part in path:
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        try:
            if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
                pos = lc.item(part)
                node = node[part]
            elif isinstance(part, str) and isinstance(node, dict) and part in node:
                pos = lc.key(part)
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return pos


class FileLocator:
    """A Document locator: the file is re-read (``read``) and re-parsed on first use."""

    __slots__ = ("blob_id", "index", "item", "read")

    def __init__(self, blob_id: str, index: int, item: int | None,
                 read: Callable[[], bytes | None]):
        self.blob_id = blob_id
        self.index = index
        self.item = item
        self.read = read

    def __call__(self, path: Sequence[PathPart]) -> tuple[int, int]:
        docs = _documents(self.blob_id, self.read)
        if docs is None:
            return (0, 0)
        # Empty documents are skipped by the fast reader but kept (as None) by the
        # round-trip loader, so the indexes agree.
        if not 0 <= self.index < len(docs):
            return (0, 0)
        root = docs[self.index]
        lc = getattr(root, "lc", None)
        if lc is None:
            return (0, 0)
        start = (lc.line, lc.col)
        full: list[PathPart] = [] if self.item is None else ["items", self.item]
        line, col = find(root, [*full, *path], start)
        return (line + 1, col + 1)
