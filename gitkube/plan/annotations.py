"""The labels and annotations gitkube writes on every object it applies, in one place.

Ownership is a label so that "every object of this source" is a cheap label-selected list
(the way kapp labels with ``kapp.k14s.io/app``); the rest are annotations. All of them are
gitkube's own bookkeeping and never show up in a plan's diff.
"""

from __future__ import annotations

PREFIX = "gitkube.io/"

# label: which source (repository + path) owns the object; a short label-safe digest
SOURCE_ID = "gitkube.io/source-id"
# annotation: the source's human-readable identity: "<repository identity>//<path>"
SOURCE = "gitkube.io/source"
# annotation: the manifest file the object came from, relative to the source path
FILE = "gitkube.io/file"
# annotation: the git commit the object was applied from ("" when not in git)
COMMIT = "gitkube.io/commit"
# annotation: the normalized desired object as last applied (JSON; Secret values hashed);
# the third side of the three-way diff
LAST_APPLIED = "gitkube.io/last-applied"

# annotation a user sets: "false" keeps the object when it disappears from git
PRUNE = "gitkube.io/prune"

OWNED_ANNOTATIONS = frozenset({SOURCE, FILE, COMMIT, LAST_APPLIED})
OWNED_LABELS = frozenset({SOURCE_ID})


def prune_protected(annotations: dict[str, str] | None) -> bool:
    """True when the object carries ``gitkube.io/prune: "false"``."""
    return str((annotations or {}).get(PRUNE, "")).strip().lower() == "false"
