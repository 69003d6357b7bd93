"""Document: one manifest document read from the desired state, with where it came from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

PathPart = str | int
Locator = Callable[[Sequence[PathPart]], tuple[int, int]]


def _no_position(_path: Sequence[PathPart]) -> tuple[int, int]:
    return (0, 0)


@dataclass(frozen=True)
class Document:
    """A parsed document: plain JSON-compatible data plus its origin.

    ``file`` is the path relative to the manifests root, as shown to users; ``index`` is the
    0-based document index in that file (``kind: List`` items share their list's index and get
    ``item``); ``blob_id`` is the git blob id of the file's content (the cache key).
    """

    obj: dict[str, Any]
    file: str
    index: int
    blob_id: str
    item: int | None = None
    locator: Locator = field(default=_no_position, compare=False, repr=False)

    def locate(self, path: Sequence[PathPart] = ()) -> tuple[int, int]:
        """1-based (line, column) of the field at ``path`` (or its nearest existing ancestor);
        computed lazily (positions are only needed for documents that have problems)."""
        return self.locator(path)
