"""gitkube.source: read manifest documents from a directory or a git revision.

``load(path, revision=None)`` returns every document with its file, index and lazy
positions, plus the problems met while reading (invalid YAML, binary files, ...). Parse
results are cached by git blob id. Validation against the schemas is layered on top in
:mod:`gitkube.validate`.
"""

import os

from gitkube.source.document import Document, Locator, PathPart
from gitkube.source.loader import LoadResult, load
from gitkube.source.tree import blob_id

__all__ = ["Document", "LoadResult", "Locator", "PathPart", "blob_id", "load", "load_valid"]


def load_valid(path: str | os.PathLike[str], revision: str | None = None) -> LoadResult:
    """:func:`gitkube.validate.load_valid`: the documents, or ValidationFailed."""
    from gitkube.validate import load_valid as _load_valid  # validate builds on source

    return _load_valid(path, revision)
