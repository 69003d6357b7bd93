"""The content cache: parse and per-object check results by git blob id.

One file per manifests root (under :func:`gitkube.config.cache_dir`), read and written whole
with :mod:`marshal` (the fastest loader of plain data in the standard library). It holds

- ``blobs``: blob id -> :data:`~gitkube.source.parse.FileResult`, valid for one parser
  version and one check version (a different version starts an empty cache);
- ``stat``: path -> (size, mtime_ns, inode, blob id), so an unchanged work-tree file is not
  even read. An entry is trusted only when the file's mtime is safely older than the moment
  the index was written (a file changed within the same clock tick would look unchanged:
  git calls this "racy").

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

FORMAT = 1
# Bump when the parser's output changes meaning (it is part of every cache key).
PARSER_VERSION = "gitkube-source-1"
_RACY_NS = 2_000_000_000  # 2 s: wider than any filesystem's timestamp granularity

StatRecord = tuple[int, int, int, str]


class ContentCache:
    """Parse results by blob id plus a stat index, for one manifests root."""

    def __init__(self, path: Path | None, check_version: str):
        self.path = path
        self.key = f"{PARSER_VERSION}/{check_version}"
        self.blobs: dict[str, FileResult] = {}
        self.stat: dict[str, StatRecord] = {}
        self.written_ns = 0
        self.used: set[str] = set()
        self.dirty = False
        self.hits = 0
        self.misses = 0
        if path is not None:
            self._load(path)

    @classmethod
    def for_root(cls, cache_dir: Path, root_key: str, check_version: str) -> ContentCache:
        name = hashlib.sha1(root_key.encode(), usedforsecurity=False).hexdigest()[:20]
        return cls(cache_dir / f"source-{name}.marshal", check_version)

    def _load(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError:
            return
        # Unmarshalling tens of thousands of containers triggers the cyclic GC again and
        # again for nothing (plain data has no cycles): pause it.
        enabled = gc.isenabled()
        gc.disable()
        try:
            loaded: Any = marshal.loads(data)
            if not (isinstance(loaded, dict) and loaded.get("format") == FORMAT):
                return
            blobs, stat, written = loaded["blobs"], loaded["stat"], loaded["written_ns"]
            if not (isinstance(blobs, dict) and isinstance(stat, dict)
                    and isinstance(written, int)):
                return
        except Exception:  # a corrupt cache is never fatal: start over
            return
        finally:
            if enabled:
                gc.enable()
        if loaded.get("key") == self.key:
            self.blobs = blobs
        self.stat = stat
        self.written_ns = written

    def known_blob(self, path: str, stat: tuple[int, int, int]) -> str | None:
        """The blob id recorded for an unchanged work-tree file, else None."""
        rec = self.stat.get(path)
        if rec is None or (rec[0], rec[1], rec[2]) != stat:
            return None
        if stat[1] >= self.written_ns - _RACY_NS:
            self.dirty = True  # rewriting the index later makes the entry trustworthy
            return None  # modified too close to the last index write: re-hash it
        return rec[3]

    def remember_stat(self, path: str, stat: tuple[int, int, int], blob: str) -> None:
        rec = (*stat, blob)
        if self.stat.get(path) != rec:
            self.stat[path] = rec
            self.dirty = True

    def get(self, blob: str) -> FileResult | None:
        result = self.blobs.get(blob)
        if result is None or not (isinstance(result, tuple) and len(result) == 2):
            self.misses += 1
            return None
        self.hits += 1
        self.used.add(blob)
        return result

    def put(self, blob: str, result: FileResult) -> None:
        self.blobs[blob] = result
        self.used.add(blob)
        self.dirty = True

    def save(self, live_paths: set[str] | None = None) -> None:
        """Write the cache if anything changed: this run's blobs first, then older ones up to
        as many again (so switching between two revisions stays warm). Never raises."""
        if self.path is None:
            return
        if live_paths is not None:
            stale = [p for p in self.stat if p not in live_paths]
            for p in stale:
                del self.stat[p]
            self.dirty = self.dirty or bool(stale)
        if not self.dirty and self.written_ns:
            return
        keep = {b: self.blobs[b] for b in self.used if b in self.blobs}
        budget = len(keep) + 1000
        for b, result in self.blobs.items():
            if len(keep) >= budget:
                break
            keep.setdefault(b, result)
        payload = {"format": FORMAT, "key": self.key, "blobs": keep, "stat": self.stat,
                   "written_ns": time.time_ns()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".marshal")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(marshal.dumps(payload))
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except (OSError, ValueError):
            return  # a cache that cannot be written only costs time
        self.dirty = False
