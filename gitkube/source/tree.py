"""Which manifest files a directory or a git revision holds, and their bytes.

Two trees share one shape: :class:`WorkTree` walks a directory on disk (inside a git work
tree or not); :class:`GitTree` lists a commit's tree with gitpython without checking it out
(the work tree and the index are never touched). Both yield :class:`Entry` values with paths
relative to the manifests root, skip hidden files and directories, honour a
``.gitkubeignore`` (gitignore syntax) at the root, and refuse symlinks that leave the
repository.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat as stat_mod
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gitkube.diagnostics import Diagnostic
from gitkube.errors import SourceError

if TYPE_CHECKING:
    import pathspec  # imported when an ignore file exists: it costs 25 ms at start-up

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
IGNORE_FILE = ".gitkubeignore"


@dataclass(frozen=True, slots=True)
class Entry:
    """One manifest file: ``path`` relative to the root ('/'-separated), its size, and
    where to read it (an absolute file name, or a git blob id)."""

    path: str
    size: int
    source: str
    blob_id: str | None = None  # known up front in git trees; hashed on read otherwise
    stat: tuple[int, int, int] | None = None  # (size, mtime_ns, inode) of a work-tree file


class Tree(Protocol):
    """A listable, readable set of manifest files."""

    def entries(self) -> tuple[list[Entry], list[Diagnostic]]: ...

    def read(self, entries: list[Entry]) -> list[bytes | str]:
        """Each entry's content, or a one-line reason it could not be read."""
        ...


def blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def git_error_detail(err: Any) -> str:
    """The last line git printed on standard error, without gitpython's decoration."""
    lines = [ln.strip() for ln in str(getattr(err, "stderr", "") or "").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return ""
    last = lines[-1].removeprefix("stderr:").strip().strip("'").strip()
    return last.removeprefix("fatal:").removeprefix("error:").strip()


def is_manifest(name: str) -> bool:
    return name.endswith(MANIFEST_SUFFIXES)


def _ignore_spec(text: str | None) -> pathspec.GitIgnoreSpec | None:
    if not text:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(text.splitlines())


def _outside(path: str, target: str) -> Diagnostic:
    return Diagnostic(
        f"symlink points outside the repository (to {target})",
        "symlink-outside",
        file=path,
        hint="copy the file into the repository, or list the link in .gitkubeignore",
    )


class WorkTree:
    """A directory on disk. ``boundary`` is the directory symlinks must stay inside (the git
    work tree when there is one, else the root itself)."""

    def __init__(self, root: Path, boundary: Path):
        self.root = root
        self.boundary = boundary.resolve()

    def entries(self) -> tuple[list[Entry], list[Diagnostic]]:
        problems: list[Diagnostic] = []
        ignore_text = None
        try:
            ignore_text = (self.root / IGNORE_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError) as err:
            problems.append(Diagnostic(f"cannot read {IGNORE_FILE}: {err}", "unreadable",
                                       file=IGNORE_FILE))
        spec = _ignore_spec(ignore_text)
        found: list[Entry] = []
        self._walk(str(self.root), "", spec, found, problems, {str(self.root.resolve())})
        found.sort(key=lambda e: e.path)
        return found, problems

    def _walk(self, directory: str, prefix: str, spec: pathspec.GitIgnoreSpec | None,
              found: list[Entry], problems: list[Diagnostic], seen: set[str]) -> None:
        try:
            with os.scandir(directory) as it:
                items = list(it)
        except OSError as err:
            problems.append(Diagnostic(f"cannot read directory: {err.strerror}", "unreadable",
                                       file=prefix or "."))
            return
        for item in items:
            name = item.name
            if name.startswith("."):
                continue
            rel = prefix + name
            try:
                if item.is_symlink():
                    self._symlink(item, rel, spec, found, problems, seen)
                elif item.is_dir():
                    if spec is None or not spec.match_file(rel + "/"):
                        self._walk(item.path, rel + "/", spec, found, problems, seen)
                elif is_manifest(name) and (spec is None or not spec.match_file(rel)):
                    st = item.stat()
                    if stat_mod.S_ISREG(st.st_mode):
                        found.append(Entry(rel, st.st_size, item.path, None,
                                           (st.st_size, st.st_mtime_ns, st.st_ino)))
            except OSError as err:
                problems.append(Diagnostic(f"cannot read: {err.strerror}", "unreadable",
                                           file=rel))

    def _symlink(self, item: os.DirEntry[str], rel: str, spec: pathspec.GitIgnoreSpec | None,
                 found: list[Entry], problems: list[Diagnostic], seen: set[str]) -> None:
        if spec is not None and (spec.match_file(rel) or spec.match_file(rel + "/")):
            return
        target = os.path.realpath(item.path)
        is_dir = os.path.isdir(target)
        if not is_dir and not is_manifest(item.name):
            return
        if not os.path.exists(target):
            problems.append(Diagnostic(f"broken symlink (to {os.readlink(item.path)})",
                                       "broken-symlink", file=rel,
                                       hint="fix or remove the link"))
            return
        if os.path.commonpath([target, str(self.boundary)]) != str(self.boundary):
            problems.append(_outside(rel, os.readlink(item.path)))
            return
        if is_dir:
            if target not in seen:  # a link back up the tree would loop forever
                self._walk(item.path, rel + "/", spec, found, problems, seen | {target})
            return
        st = os.stat(target)
        if stat_mod.S_ISREG(st.st_mode):
            found.append(Entry(rel, st.st_size, target, None,
                               (st.st_size, st.st_mtime_ns, st.st_ino)))

    def read(self, entries: list[Entry]) -> list[bytes | str]:
        out: list[bytes | str] = []
        for entry in entries:
            try:
                with open(entry.source, "rb") as f:
                    out.append(f.read())
            except OSError as err:
                out.append(f"cannot read: {err.strerror}")
        return out


class GitTree:
    """The tree of ``commit`` below ``subdir`` (repository-relative, '' for the top).
    git failures surface as SourceError."""

    def __init__(self, repo: Any, commit: str, subdir: str):
        self.repo = repo
        self.commit = commit
        self.subdir = subdir.strip("/")

    def _ls(self, path: str) -> list[tuple[str, str, str, int, str]]:
        """(mode, type, sha, size, repository-relative path) below ``path``, recursively."""
        args = ["-r", "-l", "-z", self.commit, "--"]
        if path:
            args.append(path + "/")
        out: str = self._git("ls_tree", *args)
        rows = []
        for record in out.split("\0"):
            if not record:
                continue
            meta, name = record.split("\t", 1)
            mode, kind, sha, size = meta.split()
            rows.append((mode, kind, sha, int(size) if size != "-" else 0, name))
        return rows

    def entries(self) -> tuple[list[Entry], list[Diagnostic]]:
        rows = self._ls(self.subdir)
        base = self.subdir + "/" if self.subdir else ""
        problems: list[Diagnostic] = []
        ignore_text = None
        for mode, _kind, sha, _size, name in rows:
            if name == base + IGNORE_FILE and mode != "120000":
                data = self._read_blobs([sha])[0]
                ignore_text = data.decode("utf-8", "replace")
        spec = _ignore_spec(ignore_text)
        found: list[Entry] = []
        for mode, kind, sha, size, name in rows:
            rel = name[len(base):]
            if kind != "blob" or any(p.startswith(".") for p in rel.split("/")):
                continue
            if spec is not None and spec.match_file(rel):
                continue
            if mode == "120000":
                self._symlink(rel, name, sha, spec, found, problems)
            elif is_manifest(rel):
                found.append(Entry(rel, size, sha, sha))
        found.sort(key=lambda e: e.path)
        return found, problems

    def _symlink(self, rel: str, name: str, sha: str, spec: pathspec.GitIgnoreSpec | None,
                 found: list[Entry], problems: list[Diagnostic]) -> None:
        link = self._read_blobs([sha])[0].decode("utf-8", "replace")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
        if link.startswith("/") or target == ".." or target.startswith("../"):
            if is_manifest(rel) or not posixpath.splitext(link)[1]:
                problems.append(_outside(rel, link))
            return
        rows = [r for r in self._ls(posixpath.dirname(target)) if r[4] == target]
        if rows and rows[0][1] == "blob" and rows[0][0] != "120000":
            if is_manifest(rel):
                found.append(Entry(rel, rows[0][3], rows[0][2], rows[0][2]))
            return
        sub = self._ls(target)
        if not sub and is_manifest(rel):
            problems.append(Diagnostic(f"broken symlink (to {link})", "broken-symlink",
                                       file=rel, hint="fix or remove the link"))
        for mode, kind, bsha, size, bname in sub:
            brel = rel + "/" + bname[len(target) + 1:]
            if kind == "blob" and mode != "120000" and is_manifest(brel) and not (
                spec is not None and spec.match_file(brel)
            ):
                found.append(Entry(brel, size, bsha, bsha))

    def read(self, entries: list[Entry]) -> list[bytes | str]:
        return list(self._read_blobs([e.source for e in entries]))

    def _git(self, command: str, *args: Any, **kwargs: Any) -> Any:
        import git

        try:
            return getattr(self.repo.git, command)(*args, **kwargs)
        except git.GitCommandError as err:
            detail = git_error_detail(err)
            raise SourceError(f"git {command.replace('_', '-')} failed"
                              + (f": {detail}" if detail else ""),
                              hint="is the repository intact? (`git fsck`)") from err

    def _read_blobs(self, shas: list[str]) -> list[bytes]:
        """Every blob in one `git cat-file --batch` run (one process, not one per blob)."""
        if not shas:
            return []
        with tempfile.TemporaryFile() as request:
            request.write("".join(s + "\n" for s in shas).encode())
            request.seek(0)
            out: bytes = self._git("cat_file", "--batch", istream=request,
                                   stdout_as_string=False, strip_newline_in_stdout=False)
        blobs: list[bytes] = []
        pos = 0
        for _ in shas:
            eol = out.index(b"\n", pos)
            header = out[pos:eol].split()
            if len(header) < 3:  # "<sha> missing": a corrupt or shallow repository
                raise SourceError(f"git object {header[0].decode()} is missing",
                                  hint="is the repository intact? (`git fsck`)")
            size = int(header[2])
            blobs.append(out[eol + 1 : eol + 1 + size])
            pos = eol + 1 + size + 1
        return blobs
