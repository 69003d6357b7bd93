"""The content cache: parse and per-object check results by git blob id.

Two files per manifests root (under ``Settings.cache_dir``), each read and
written whole with :mod:`marshal` (the fastest loader of plain data in the standard
library):

- the index (small, always read): ``stat``: path -> (size, mtime_ns, inode, blob id), so an
  unchanged work-tree file is not even read; an entry is trusted only when the file's mtime
  is safely older than the moment the index was written (a file changed within the same
  clock tick would look unchanged: git calls this "racy"); and ``memo``: small results a
  caller derived from a whole snapshot (see :meth:`gitkube.source.loader.Snapshot.memo`);
- the blobs (large, read only when a document is needed): blob id ->
  :data:`~gitkube.source.parse.FileResult`, valid for one parser version and one check
  version (a different version starts an empty cache).

A missing, truncated or otherwise corrupt cache file is ignored and rewritten; writes go to a
temporary file renamed into place, so concurrent runs never see half a file.
"""

from __future__ import annotations

import gc
import hashlib
import marshal
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from gitkube.source.parse import FileResult

FORMAT = 2


def code_digest(*paths: Path) -> str:
    """A digest of source files, so a cache keyed by it is invalidated by any code change
    (a file that cannot be read, e.g. in a bytecode-only install, counts as unchanged)."""
    h = hashlib.sha1(usedforsecurity=False)
    for path in paths:
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(path.name.encode())
    return h.hexdigest()[:12]


_HERE = Path(__file__).parent
# Part of every cache key: what the parser produces changes only with its code.
PARSER_VERSION = "gitkube-source-3/" + code_digest(_HERE / "parse.py", _HERE / "yamlfast.py",
                                                  _HERE / "positions.py")
_RACY_NS = 2_000_000_000  # 2 s: wider than any filesystem's timestamp granularity

StatRecord = tuple[int, int, int, str]


def _read_marshal(path: Path) -> dict[str, Any] | None:
    """The cache file's payload, or None if it is missing, corrupt or of another format."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    # Unmarshalling tens of thousands of containers triggers the cyclic GC again and again
    # for nothing (plain data has no cycles): pause it.
    enabled = gc.isenabled()
    gc.disable()
    try:
        loaded: Any = marshal.loads(data)
    except Exception:  # a corrupt cache is never fatal: start over
        return None
    finally:
        if enabled:
            gc.enable()
    if isinstance(loaded, dict) and loaded.get("format") == FORMAT:
        return loaded
    return None


def _write_marshal(path: Path, payload: dict[str, Any]) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".marshal")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(marshal.dumps(payload))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        return False  # a cache that cannot be written only costs time
    return True


class ContentCache:
    """Parse results by blob id plus a stat index and a memo, for one manifests root.
    ``prefix`` None: a cache that lives only in memory."""

    def __init__(self, prefix: Path | None, check_version: str):
        self.prefix = prefix
        self.key = f"{PARSER_VERSION}/{check_version}"
        self.stat: dict[str, StatRecord] = {}
        self.memo: dict[str, Any] = {}
        self.written_ns = 0
        self.index_dirty = False
        self._blobs: dict[str, FileResult] | None = None
        self.blobs_dirty = False
        self.used: set[str] = set()
        if prefix is not None:
            self._load_index()

    @classmethod
    def for_root(cls, cache_dir: Path, root_key: str, check_version: str) -> ContentCache:
        name = hashlib.sha1(root_key.encode(), usedforsecurity=False).hexdigest()[:20]
        return cls(cache_dir / f"source-{name}", check_version)

    def _file(self, kind: str) -> Path:
        assert self.prefix is not None
        return self.prefix.with_name(f"{self.prefix.name}.{kind}.marshal")

    def _load_index(self) -> None:
        loaded = _read_marshal(self._file("index"))
        if loaded is None:
            return
        stat, memo, written = loaded.get("stat"), loaded.get("memo"), loaded.get("written_ns")
        if isinstance(stat, dict) and isinstance(memo, dict) and isinstance(written, int):
            self.stat, self.written_ns = stat, written
            if loaded.get("key") == self.key:
                self.memo = memo

    @property
    def blobs(self) -> dict[str, FileResult]:
        """The parsed content, read from disk on first use."""
        if self._blobs is None:
            loaded = _read_marshal(self._file("blobs")) if self.prefix is not None else None
            blobs = loaded.get("blobs") if loaded and loaded.get("key") == self.key else None
            self._blobs = blobs if isinstance(blobs, dict) else {}
        return self._blobs

    def known_blob(self, path: str, stat: tuple[int, int, int]) -> str | None:
        """The blob id recorded for an unchanged work-tree file, else None."""
        rec = self.stat.get(path)
        if rec is None or (rec[0], rec[1], rec[2]) != stat:
            return None
        if stat[1] >= self.written_ns - _RACY_NS:
            self.index_dirty = True  # rewriting the index later makes the entry trustworthy
            return None  # modified too close to the last index write: re-hash it
        return rec[3]

    def remember_stat(self, path: str, stat: tuple[int, int, int], blob: str) -> None:
        rec = (*stat, blob)
        if self.stat.get(path) != rec:
            self.stat[path] = rec
            self.index_dirty = True

    def remember(self, key: str, value: Any) -> None:
        """Keep ``value`` (plain data) in the memo under ``key``."""
        if self.memo.get(key) != value:
            self.memo[key] = value
            self.index_dirty = True

    def get(self, blob: str) -> FileResult | None:
        result = self.blobs.get(blob)
        if result is None or not (isinstance(result, tuple) and len(result) == 2):
            return None
        self.used.add(blob)
        return result

    def put(self, blob: str, result: FileResult) -> None:
        self.blobs[blob] = result
        self.used.add(blob)
        self.blobs_dirty = True

    def save(self, live_paths: set[str] | None = None) -> None:
        """Write what changed. The blobs file keeps this run's blobs first, then older ones
        up to a thousand more (so switching between two revisions stays warm). Never
        raises: a cache that cannot be written only costs time."""
        if self.prefix is None:
            return
        if live_paths is not None:
            stale = [p for p in self.stat if p not in live_paths]
            for p in stale:
                del self.stat[p]
            self.index_dirty = self.index_dirty or bool(stale)
        if self.blobs_dirty and self._blobs is not None:
            keep = {b: self._blobs[b] for b in self.used if b in self._blobs}
            budget = len(keep) + 1000
            for b, result in self._blobs.items():
                if len(keep) >= budget:
                    break
                keep.setdefault(b, result)
            if _write_marshal(self._file("blobs"),
                              {"format": FORMAT, "key": self.key, "blobs": keep}):
                self.blobs_dirty = False
        if self.index_dirty or not self.written_ns:
            now = time.time_ns()
            if _write_marshal(self._file("index"), {
                "format": FORMAT, "key": self.key, "stat": self.stat, "memo": self.memo,
                "written_ns": now,
            }):
                self.written_ns = now
                self.index_dirty = False
