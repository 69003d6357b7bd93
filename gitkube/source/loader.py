"""load(): every manifest document below a directory, from disk or from a git revision.

The shell around the pure parts: find the tree (:mod:`gitkube.source.tree`), take what the
content cache already knows (:mod:`gitkube.source.cache`), parse and check the rest
(:func:`gitkube.source.parse.parse_content`, in worker processes when there is a lot), and
return :class:`Document` values with lazy positions plus the problems found on the way.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from gitkube.diagnostics import Diagnostic
from gitkube.errors import SourceError, UsageError
from gitkube.settings import Settings
from gitkube.source.cache import ContentCache
from gitkube.source.document import Document
from gitkube.source.parse import DEFAULT_MAX_FILE_BYTES, FileResult, ObjectCheck, parse_content
from gitkube.source.positions import FileLocator
from gitkube.source.tree import Entry, GitTree, Tree, WorkTree, blob_id, git_error_detail

# Below this many files to parse, starting worker processes costs more than it saves.
PARALLEL_MIN_FILES = 200


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load` found. ``checked[i]`` holds the (cached) results of the per-object
    check for ``documents[i]``; ``diagnostics`` are the problems of reading and parsing,
    sorted. ``commit`` is the commit id when read from a revision."""

    documents: list[Document]
    diagnostics: list[Diagnostic]
    root: str
    commit: str | None = None
    files: int = 0
    checked: list[list[Any]] = field(default_factory=list)
    parsed_files: int = 0  # files parsed in this run (the others came from the cache)


@dataclass(frozen=True)
class SourceOptions:
    """How manifests are read: where the content cache lives (None: no cache on disk), the
    size above which a file is refused, and how many processes parse."""

    cache_dir: Path | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    jobs: int = 1

    @classmethod
    def of(cls, settings: Settings) -> SourceOptions:
        """The options ``settings`` describe (``GITKUBE_MAX_FILE_BYTES``, ``GITKUBE_JOBS``,
        the cache under the state directory)."""
        return cls(settings.cache_dir, settings.max_file_bytes, settings.jobs)


def _work_tree_top(path: Path) -> Path | None:
    """The top of the git work tree holding ``path``, without importing gitpython (which
    costs more start-up time than a whole warm run can spare)."""
    for probe in (path, *path.parents):
        if (probe / ".git").exists():
            return probe
    return None


def _find_repo(path: Path) -> Any | None:
    import git  # gitpython: only for revisions

    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # a directory deleted from the work tree may exist at a revision
    try:
        return git.Repo(probe, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def _open_tree(path: Path, revision: str | None) -> tuple[Tree, str | None, str]:
    """The tree to read, the commit id (for a revision) and the key of its cache file."""
    if revision is None:
        if not path.exists():
            raise UsageError(f"{path} does not exist", hint="give a directory of manifests")
        if not path.is_dir():
            raise UsageError(f"{path} is not a directory",
                             hint="give the directory that holds the manifests")
        absolute = path.resolve()
        return WorkTree(path, _work_tree_top(absolute) or absolute), None, str(absolute)
    try:
        import git
    except ImportError as err:  # gitpython refuses to import without a git executable
        raise SourceError("--revision needs git, and it cannot be run here",
                          hint="install git (apt-get install git)") from err

    repo = _find_repo(path)
    if repo is None:
        raise UsageError(f"--revision needs a git repository, and {path} is not in one",
                         hint="drop --revision to read the files on disk")
    try:
        commit = repo.git.rev_parse("--verify", "--end-of-options", f"{revision}^{{commit}}")
    except git.GitCommandError as err:
        detail = git_error_detail(err)
        if detail and "Needed a single revision" not in detail:
            raise SourceError(f"git cannot read the repository at {repo.working_dir}",
                              hint=detail) from err
        raise UsageError(f"unknown revision {revision!r}",
                         hint="give a commit, branch or tag (see `git log --oneline`)") from err
    # A bare repository (a deploy repository receiving pushes) has no work tree: a path
    # below its directory names that directory of the tree.
    top = Path(repo.working_tree_dir or repo.git_dir).resolve()
    absolute = path.resolve()
    if not absolute.is_relative_to(top):
        raise UsageError(f"{path} is outside the git repository at {top}")
    subdir = absolute.relative_to(top).as_posix()
    subdir = "" if subdir == "." else subdir
    tree = GitTree(repo, commit, subdir)
    try:
        kind = repo.git.cat_file("-t", f"{commit}:{subdir}") if subdir else "tree"
    except git.GitCommandError:
        kind = None
    if kind != "tree":
        what = "does not exist" if kind is None else "is not a directory"
        raise UsageError(f"{subdir or path} {what} at revision {revision}")
    return tree, commit, str(absolute)


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Pause the cyclic GC while building many plain containers, then move them to the
    oldest generation in one step.

    Loading 10,000 documents allocates over a million dicts and lists; left alone, the GC
    walks them again and again (a third of a warm run). They hold no cycles, so refcounting
    frees them; ``freeze`` + ``unfreeze`` ages them without a collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


class Snapshot:
    """What a tree holds, before anything is parsed: its files, their blob ids (from git,
    from the stat index, or hashed), and the problems of reading them.

    ``fingerprint`` identifies the content exactly, so a caller can reuse a result it
    computed from the same content (``memo``); ``load`` parses what the cache lacks;
    ``save`` writes the cache."""

    def __init__(self, root: Path, tree: Tree, commit: str | None, cache: ContentCache,
                 limit: int, jobs: int = 1):
        self.root = root
        self.tree = tree
        self.commit = commit
        self.cache = cache
        self.limit = limit
        self.jobs = jobs
        try:
            self.entries, self.diagnostics = tree.entries()
        except OSError as err:
            raise SourceError(f"cannot list {root}: {err}") from err
        self.blobs: list[str | None] = [None] * len(self.entries)
        self._data: dict[int, bytes] = {}  # content already read (to hash it)
        self._identify()

    def _too_large(self, entry: Entry, size: int) -> None:
        self.diagnostics.append(Diagnostic(
            f"file is {size:,} bytes, above the {self.limit:,}-byte limit",
            "file-too-large", file=entry.path,
            hint="split it, list it in .gitkubeignore, or raise GITKUBE_MAX_FILE_BYTES"))

    def _identify(self) -> None:
        unread: list[int] = []
        for i, entry in enumerate(self.entries):
            if entry.size > self.limit:
                self._too_large(entry, entry.size)
                continue
            blob = entry.blob_id
            if blob is None and entry.stat is not None:
                blob = self.cache.known_blob(entry.path, entry.stat)
            if blob is None:
                unread.append(i)
            self.blobs[i] = blob
        for i, data in self._read(unread).items():
            entry = self.entries[i]
            blob = blob_id(data)
            self.blobs[i] = blob
            self._data[i] = data
            if entry.stat is not None:
                self.cache.remember_stat(entry.path, entry.stat, blob)

    def _read(self, indexes: list[int]) -> dict[int, bytes]:
        if not indexes:
            return {}
        contents = self.tree.read([self.entries[i] for i in indexes])
        out: dict[int, bytes] = {}
        for i, data in zip(indexes, contents, strict=True):
            entry = self.entries[i]
            if isinstance(data, str):
                self.diagnostics.append(Diagnostic(data, "unreadable", file=entry.path))
                self.blobs[i] = None
            elif len(data) > self.limit:  # grew since it was listed
                self._too_large(entry, len(data))
                self.blobs[i] = None
            else:
                out[i] = data
        return out

    @property
    def files(self) -> int:
        return len(self.entries)

    def fingerprint(self, *parts: str) -> str:
        """A digest of everything a result computed from this snapshot depends on: every
        path and blob id, the reading problems, the limits, the commit, and ``parts``."""
        h = hashlib.sha1(usedforsecurity=False)
        h.update(repr((self.cache.key, self.limit, self.commit, parts)).encode())
        for entry, blob in zip(self.entries, self.blobs, strict=True):
            h.update(f"{entry.path}\0{blob}\n".encode())
        for d in self.diagnostics:
            h.update(repr(dataclasses.astuple(d)).encode())
        return h.hexdigest()

    @property
    def memo(self) -> dict[str, Any]:
        """Small results kept beside the stat index, e.g. a report for a fingerprint."""
        return self.cache.memo

    def load(self, check: ObjectCheck | None = None) -> LoadResult:
        """Every document: from the cache, or parsed (and checked) now."""
        with _bulk_allocation():
            return self._load(check)

    def _load(self, check: ObjectCheck | None) -> LoadResult:
        cache = self.cache
        results: list[FileResult | None] = [None] * len(self.entries)
        need: list[int] = []
        for i, blob in enumerate(self.blobs):
            if blob is not None:
                results[i] = cache.get(blob)
                if results[i] is None and i not in self._data:
                    need.append(i)
        self._data.update(self._read(need))  # known blob ids whose results were evicted
        todo: Todo = [(i, blob, self.entries[i].path, self._data[i])
                      for i, blob in enumerate(self.blobs)
                      if blob is not None and results[i] is None and i in self._data]
        for (i, blob, _name, _data), result in zip(todo, _parse_all(todo, check, self.jobs),
                                                       strict=True):
            results[i] = result
            cache.put(blob, result)
        self._data.clear()
        diagnostics = list(self.diagnostics)
        docs, checked = _documents(self.tree, self.entries, self.blobs, results, diagnostics)
        diagnostics.sort(key=Diagnostic.sort_key)
        return LoadResult(docs, diagnostics, str(self.root), self.commit, len(self.entries),
                          checked, len(todo))

    def save(self) -> None:
        """Write the cache (stat index, memo, parsed content) if anything changed."""
        live = {e.path for e in self.entries} if isinstance(self.tree, WorkTree) else None
        self.cache.save(live)


def snapshot(
    path: str | os.PathLike[str],
    revision: str | None = None,
    *,
    check_version: str = "",
    options: SourceOptions | None = None,
) -> Snapshot:
    """List the manifest files below ``path`` (at ``revision``) and identify their content.
    Raises UsageError for a bad path or revision, SourceError if the tree cannot be read."""
    opts = options or SourceOptions()
    root = Path(path)
    tree, commit, cache_key = _open_tree(root, revision)
    cache = ContentCache.for_root(opts.cache_dir, cache_key, check_version) \
        if opts.cache_dir is not None else ContentCache(None, check_version)
    return Snapshot(root, tree, commit, cache, opts.max_file_bytes, opts.jobs)


def load(
    path: str | os.PathLike[str],
    revision: str | None = None,
    *,
    check: ObjectCheck | None = None,
    check_version: str = "",
    options: SourceOptions | None = None,
) -> LoadResult:
    """Read every manifest document below ``path`` (a directory), from disk or, with
    ``revision``, from that git commit without touching the work tree or index.

    ``check`` runs on every object parsed in this run; its JSON-compatible results are
    cached by content with the parse (``check_version`` is part of the cache key; the cache
    is ``options.cache_dir``, none by default) and returned in ``LoadResult.checked``.
    Raises UsageError for a bad path or revision and SourceError when the tree cannot be
    read; problems in the files are diagnostics.
    """
    snap = snapshot(path, revision, check_version=check_version, options=options)
    result = snap.load(check)
    snap.save()
    return result


Todo = list[tuple[int, str, str, bytes]]  # (entry index, blob id, file name, content)


def _parse_chunk(items: list[tuple[str, bytes]], check: ObjectCheck | None) -> list[FileResult]:
    gc.disable()  # in a worker: the results are plain data, sent back and discarded
    return [parse_content(name, data, check) for name, data in items]


def _parse_all(todo: Todo, check: ObjectCheck | None, jobs: int) -> list[FileResult]:
    """Parse (and check) every file; with many files, in ``jobs`` processes."""
    items = [(name, data) for _i, _b, name, data in todo]
    # Forking a process that runs other threads (agents, a watch loop) can deadlock the
    # child on a lock one of them held: then parse here only.
    if jobs < 2 or len(items) < PARALLEL_MIN_FILES or threading.active_count() > 1:
        return _parse_chunk(items, check)
    methods = multiprocessing.get_all_start_methods()
    # fork: the workers start with everything imported, in milliseconds.
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    # The parent parses a share too; the workers get the rest in a few chunks each, so a
    # slow chunk does not leave a core idle for long.
    share = len(items) // jobs
    mine, rest = items[:share], items[share:]
    n_chunks = (jobs - 1) * 4
    size = max(1, -(-len(rest) // n_chunks))
    chunks = [rest[k : k + size] for k in range(0, len(rest), size)]
    try:
        with ProcessPoolExecutor(max_workers=jobs - 1, mp_context=context) as pool:
            futures: list[Future[list[FileResult]]] = [
                pool.submit(_parse_chunk, chunk, check) for chunk in chunks
            ]
            out = _parse_chunk(mine, check)
            for fut in futures:
                out.extend(fut.result())
        return out
    except (OSError, RuntimeError):  # no processes allowed here (e.g. a sandbox): serially
        return _parse_chunk(items, check)


def _reader(tree: Tree, entry: Entry, blob: str) -> Callable[[], bytes | None]:
    return partial(_read_same, tree, entry, blob)


def _read_same(tree: Tree, entry: Entry, blob: str) -> bytes | None:
    """The content the documents were parsed from, or None if the file has changed since."""
    try:
        data = tree.read([entry])[0]
    except (OSError, SourceError):
        return None
    if isinstance(data, str) or blob_id(data) != blob:
        return None
    return data


def _documents(tree: Tree, entries: list[Entry], blobs: list[str | None],
               results: list[FileResult | None], diagnostics: list[Diagnostic]
               ) -> tuple[list[Document], list[list[Any]]]:
    docs: list[Document] = []
    checked: list[list[Any]] = []
    for entry, blob, result in zip(entries, blobs, results, strict=True):
        if result is None or blob is None:
            continue
        records, problems = result
        read = _reader(tree, entry, blob)
        for code, message, line, column, hint, obj_name in problems:
            diagnostics.append(Diagnostic(message, code, file=entry.path, line=line,
                                          column=column, object=obj_name, hint=hint))
        for index, item, obj, _line, _column, issues, positions in records:
            docs.append(Document(obj, entry.path, index, blob, item,
                                 FileLocator(blob, index, item, read, positions)))
            checked.append(issues)
    return docs, checked
