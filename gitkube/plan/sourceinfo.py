"""The identity of a source of desired state: which repository, which path in it, which commit.

The identity decides ownership (pruning deletes only objects of the same identity), so it
must not depend on where a clone happens to live: a repository is named by its ``origin``
remote URL (credentials removed), else by its root commit; a directory outside git by its
absolute path. The short ``id`` (a digest) is the ``gitkube.io/source-id`` label value.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from gitkube.plan.model import SourceInfo

_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)


def source_id(name: str) -> str:
    """A label-safe id for a source name: ``s-`` and 16 hex digits."""
    return "s-" + hashlib.sha256(name.encode()).hexdigest()[:16]


def _repo_identity(repo: object) -> str | None:
    try:
        url = repo.remotes.origin.url  # type: ignore[attr-defined]
        return _USERINFO.sub(r"\1", str(url))
    except (AttributeError, IndexError, ValueError):
        pass
    try:
        roots = repo.git.rev_list("--max-parents=0", "HEAD").split()  # type: ignore[attr-defined]
    except Exception:  # an empty repository has no HEAD yet
        return None
    return f"git:{sorted(roots)[0]}" if roots else None


def _bare(repo: object, root: Path, revision: str | None) -> SourceInfo:
    """A bare repository (a deploy repository, `gitkube repo init`; read at a revision) is
    named by its ``gitkube.source`` setting, else by its path: what a clone made from that
    path reports as its origin URL, so the clone's plans and the pushes own the same objects."""
    git_dir = Path(os.path.abspath(repo.git_dir))  # type: ignore[attr-defined]
    try:
        identity = str(repo.config_reader().get_value(  # type: ignore[attr-defined]
            "gitkube", "source", ""))
    except Exception:
        identity = ""
    rel = root.relative_to(git_dir).as_posix() if root.is_relative_to(git_dir) else "."
    name = f"{identity or git_dir}//{rel or '.'}"
    try:
        commit: str | None = str(repo.commit(revision or "HEAD").hexsha)  # type: ignore[attr-defined]
    except Exception:
        commit = None
    return SourceInfo(source_id(name), name, str(root), commit, False, revision)


def describe(path: Path, revision: str | None = None) -> SourceInfo:
    """The SourceInfo of a manifest directory (and, with ``revision``, of that commit)."""
    root = Path(os.path.abspath(path))
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # a directory of a bare repository's tree is not on disk
    try:
        import git

        repo = git.Repo(probe, search_parent_directories=True)
    except Exception:
        repo = None
    if repo is not None and repo.bare:
        return _bare(repo, root, revision)
    if repo is None or repo.working_tree_dir is None:
        name = f"dir:{root}"
        return SourceInfo(source_id(name), name, str(root), None, False, revision)
    work_tree = Path(os.path.realpath(repo.working_tree_dir))
    try:
        rel = Path(os.path.realpath(root)).relative_to(work_tree).as_posix() or "."
    except ValueError:
        rel = "."
    identity = _repo_identity(repo) or f"dir:{work_tree}"
    name = f"{identity}//{rel}"
    commit: str | None
    try:
        commit = str(repo.commit(revision or "HEAD").hexsha)
    except Exception:
        commit = None
    dirty = False
    if revision is None and commit is not None:
        try:
            dirty = bool(repo.is_dirty(untracked_files=True, path=rel))
        except Exception:
            dirty = False
    return SourceInfo(source_id(name), name, str(root), commit, dirty, revision)
