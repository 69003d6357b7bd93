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
# annotation: "sha256:<hex>" digest of the normalized desired object as last applied; the
# object itself (the third side of the three-way diff, Secret values hashed) is the api
# record LAST_APPLIED_RECORD + the object's store key, written in the same transaction.
# Only the digest rides on the object: every reader of the object (agents' informers
# included) would otherwise decode a second copy of it.
LAST_APPLIED = "gitkube.io/last-applied-digest"
LAST_APPLIED_RECORD = "/gitkube/last-applied"

# api record: a random id written by the first apply, so caches keyed by it never outlive
# the store they describe (a deleted and re-created store starts over at revision 1)
STORE_ID_RECORD = "/gitkube/store-id"

# annotation a user sets: "false" keeps the object when it disappears from git
PRUNE = "gitkube.io/prune"

OWNED_ANNOTATIONS = frozenset({SOURCE, FILE, COMMIT, LAST_APPLIED})
OWNED_LABELS = frozenset({SOURCE_ID})


def last_applied_key(api_version: str, kind: str, namespace: str, name: str) -> str:
    """The record key of an object's last-applied state: ``/gitkube/last-applied/<plural>/
    [<namespace>/]<name>`` (the store key's layout)."""
    from gitkube.model import kinds

    rt = kinds.lookup(api_version, kind)
    if rt is None:
        return f"{LAST_APPLIED_RECORD}/{kind.lower()}/{namespace}/{name}"
    return LAST_APPLIED_RECORD + rt.key(namespace or None, name)[len("/registry"):]


def prune_protected(annotations: dict[str, str] | None) -> bool:
    """True when the object carries ``gitkube.io/prune: "false"``."""
    return str((annotations or {}).get(PRUNE, "")).strip().lower() == "false"
