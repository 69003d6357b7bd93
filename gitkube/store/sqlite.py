"""The default Store: one SQLite file (WAL), shaped like kine.

Data model (docs/STORE.md has the full story):

- ``log``: append-only, one row per change: ``revision`` (one per write transaction, shared
  by every op in it), ``key``, ``value`` (for a deletion: the last value), ``create_revision``,
  ``prev_revision`` (the key's previous change, 0 for a creation) and ``deleted``.
- ``current``: key -> the ``log`` row holding its live value (the index for reads).
- ``meta``: ``schema_version`` and ``compact_revision``; ``PRAGMA application_id`` marks the
  file as gitkube's.

Several processes may share the file. Writers serialize on SQLite's write lock
(``BEGIN IMMEDIATE`` with a busy timeout). Watches are fed by one background thread per
Store object that polls ``PRAGMA data_version`` (cheap: it reads the WAL index in shared
memory) every few milliseconds, and is woken at once by this object's own writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from gitkube.errors import (
    Compacted,
    KeyExists,
    KeyNotFound,
    RevisionConflict,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)
from gitkube.statedir import create_private, secure_file
from gitkube.store._ops import SingleOpWrites, check_ops
from gitkube.store._watch import Hub, QueueWatch, prefix_end
from gitkube.store.base import Create, EventType, KeyValue, Op, StoreEvent, Update

log = logging.getLogger("gitkube.store")

SCHEMA_VERSION = 1
APPLICATION_ID = 0x676B7562  # "gkub"
DEFAULT_HISTORY = 10_000
_CHUNK = 500  # keys per IN (...) query: well under SQLite's variable limit

_SCHEMA = """
CREATE TABLE log (
    id INTEGER PRIMARY KEY,
    revision INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX log_revision ON log (revision);
CREATE TABLE current (key TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""

_HINT_CORRUPT = (
    "this file is not a usable gitkube store; move it away (or point --store/GITKUBE_STORE "
    "at another file) and run `gitkube apply` to rebuild the live state"
)


class SqliteStore(SingleOpWrites):
    """A Store in one SQLite file. Thread-safe; several processes may open the same file.

    ``history``: revisions kept for watchers; older history is compacted automatically once
    twice that many accumulated. ``synchronous``: NORMAL (default) survives a crash of any
    process; FULL also survives a power loss, at a cost per write."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        url: str | None = None,
        history: int = DEFAULT_HISTORY,
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
        poll_interval: float = 0.005,
        max_readers: int = 16,
    ):
        self.path = Path(path)
        self.url = url or f"sqlite:///{self.path}"
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"unknown synchronous mode {synchronous!r}", location=self.url)
        self._sync = synchronous.upper()
        self._history = history
        self._busy_timeout = busy_timeout
        self._poll_interval = poll_interval
        self._closed = False
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        # at most this many read connections (2 fds each): more readers wait for one
        self._readers = threading.BoundedSemaphore(max_readers)
        self._write_lock = threading.Lock()
        self._writer_stale = False  # the last write failed as unavailable: reconnect first
        self._hub = Hub()
        self._wake = threading.Event()
        self._poller: threading.Thread | None = None
        self._dispatched = 0  # revision up to which the poller has fed watchers
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot create the store's directory: {exc.strerror}",
                location=str(self.path.parent),
                hint="choose another store path with --store or GITKUBE_STORE",
            ) from exc
        if self.path.is_dir():
            raise StoreUnavailable(
                "is a directory, not a store file",
                location=str(self.path),
                hint="name a file, e.g. sqlite:///path/state.db",
            )
        self._private()
        self._writer = self._connect()
        try:
            self._compact_rev = self._open_schema()
        except BaseException:
            self._writer.close()
            raise

    def _private(self) -> None:
        """The store holds Secrets: a new file is made 0600 (SQLite gives its -wal and -shm
        files the database's mode); an existing one others can read is made 0600, and said."""
        try:
            create_private(self.path)
        except OSError:
            return  # cannot create it: connecting says why
        for suffix in ("", "-wal", "-shm"):
            for note in secure_file(Path(f"{self.path}{suffix}")):
                log.warning("%s", note)

    # connections and errors

    def _connect(self) -> sqlite3.Connection:
        with self._translate():
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA synchronous={self._sync}")
            return conn

    def _fresh_writer(self) -> sqlite3.Connection:
        """The writing connection; after a write failed because the file could not be used
        (read-only, disk full, I/O error), a new one: the file may be usable again, and the
        old connection's state must not keep every later write failing."""
        if self._writer_stale:
            with contextlib.suppress(sqlite3.Error):
                self._writer.close()
            self._writer = self._connect()
            self._writer_stale = False
        return self._writer

    @contextlib.contextmanager
    def _writes(self) -> Iterator[None]:
        """Mark the writer stale when a write fails as unavailable (see _fresh_writer)."""
        try:
            yield
        except StoreUnavailable:
            self._writer_stale = True
            raise

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _error(self, exc: sqlite3.Error) -> StoreError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        where = str(self.path)
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreUnavailable(
                f"the store stayed locked by another process for {self._busy_timeout:g}s",
                location=where,
                hint="another gitkube process holds a long write; retry when it is done",
            )
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_FULL",
                            "SQLITE_IOERR", "SQLITE_AUTH")):
            return StoreUnavailable(
                f"cannot use the store file: {exc}",
                location=where,
                hint="check that the file and its directory exist, are writable and the disk "
                "has space; or choose another store with --store or GITKUBE_STORE",
            )
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return StoreCorrupt(f"not a usable gitkube store: {exc}", location=where,
                                hint=_HINT_CORRUPT)
        return StoreError(f"SQLite error: {exc}", location=where)

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        self._check_open()
        if not self._readers.acquire(timeout=self._busy_timeout):
            raise StoreUnavailable(f"no read connection was free for {self._busy_timeout:g}s",
                                   location=str(self.path),
                                   hint="the store is overloaded; retry")
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._connect()
            try:
                with self._translate():
                    yield conn
            finally:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if self._closed:
                    conn.close()
                else:
                    self._pool.put(conn)
        finally:
            self._readers.release()

    def _open_schema(self) -> int:
        """Check (or create) the schema; return the compact revision. Never modifies a file
        that is not a gitkube store."""
        conn = self._writer
        with self._translate():
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = self._tables(conn)
            if app_id == 0 and not tables:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # Another process may have created it while we waited for the lock.
                    if not self._tables(conn):
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(
                            "INSERT INTO meta (name, value) VALUES "
                            "('schema_version', ?), ('compact_revision', 0)",
                            (SCHEMA_VERSION,),
                        )
                        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                tables = self._tables(conn)
            if app_id != APPLICATION_ID or not {"log", "current", "meta"} <= set(tables):
                shown = ", ".join(sorted(tables)[:5]) or "none"
                raise StoreCorrupt(
                    f"an SQLite database, but not a gitkube store (tables: {shown})",
                    location=str(self.path),
                    hint="this file belongs to something else; choose another store path with "
                    "--store or GITKUBE_STORE",
                )
            meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
            version = meta.get("schema_version")
            if version != SCHEMA_VERSION:
                raise StoreCorrupt(
                    f"store schema version {version}, but this gitkube reads version "
                    f"{SCHEMA_VERSION}",
                    location=str(self.path),
                    hint="a newer gitkube wrote this store: upgrade gitkube"
                    if isinstance(version, int) and version > SCHEMA_VERSION
                    else _HINT_CORRUPT,
                )
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return int(meta.get("compact_revision", 0))

    @staticmethod
    def _tables(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return [str(r[0]) for r in rows]

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed", location=self.url)

    # reads

    def get(self, key: str) -> KeyValue | None:
        """The live value of ``key``, or None."""
        with self._reader() as conn:
            row = conn.execute(
                "SELECT l.value, l.create_revision, l.revision FROM current c "
                "JOIN log l ON l.id = c.id WHERE c.key = ?",
                (key,),
            ).fetchone()
        return None if row is None else KeyValue(key, bytes(row[0]), row[1], row[2])

    def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Live keys under ``prefix`` sorted by key, and the revision of the read."""
        where, args = _key_range("c.key", prefix)
        with self._reader() as conn:
            conn.execute("BEGIN")
            rev = _top(conn)
            rows = conn.execute(
                "SELECT c.key, l.value, l.create_revision, l.revision FROM current c "
                f"JOIN log l ON l.id = c.id WHERE {where} ORDER BY c.key",
                args,
            ).fetchall()
            conn.execute("COMMIT")
        return [KeyValue(k, bytes(v), cr, mr) for k, v, cr, mr in rows], rev

    def revision(self) -> int:
        """The store's current revision (0 for an empty store)."""
        with self._reader() as conn:
            return _top(conn)

    # writes

    def txn(self, ops: Sequence[Op]) -> int:
        """Apply every op at one new revision, or none (raising the first failing op's
        error). Returns that revision."""
        check_ops(ops)
        if not ops:
            return self.revision()
        with self._write_lock:
            self._check_open()
            conn = self._fresh_writer()
            with self._writes(), self._translate():
                conn.execute("BEGIN IMMEDIATE")
                try:
                    rev = self._apply(conn, ops)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        self._wake.set()
        if rev - self._compact_rev >= 2 * self._history:
            self.compact(rev - self._history)
        return rev

    def _apply(self, conn: sqlite3.Connection, ops: Sequence[Op]) -> int:
        rev = _top(conn) + 1
        next_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM log").fetchone()[0] + 1
        keys = [op.key for op in ops]
        old: dict[str, tuple[int, int]] = {}  # key -> (mod_revision, create_revision)
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for k, mr, cr in conn.execute(
                "SELECT c.key, l.revision, l.create_revision FROM current c "
                f"JOIN log l ON l.id = c.id WHERE c.key IN ({marks})",
                chunk,
            ):
                old[k] = (mr, cr)
        log_rows: list[tuple[int, int, str, bytes, int, int, int]] = []
        live: list[tuple[str, int]] = []
        gone: list[tuple[str]] = []
        for op in ops:
            prior = old.get(op.key)
            row_id = next_id + len(log_rows)
            if isinstance(op, Create):
                if prior is not None:
                    raise KeyExists(op.key)
                log_rows.append((row_id, rev, op.key, op.value, rev, 0, 0))
                live.append((op.key, row_id))
                continue
            if prior is None:
                raise KeyNotFound(op.key)
            if op.expected_revision is not None and op.expected_revision != prior[0]:
                raise RevisionConflict(op.key, op.expected_revision, prior[0])
            if isinstance(op, Update):
                log_rows.append((row_id, rev, op.key, op.value, prior[1], prior[0], 0))
                live.append((op.key, row_id))
            else:
                last = conn.execute(
                    "SELECT l.value FROM current c JOIN log l ON l.id = c.id WHERE c.key = ?",
                    (op.key,),
                ).fetchone()[0]
                log_rows.append((row_id, rev, op.key, last, prior[1], prior[0], 1))
                gone.append((op.key,))
        conn.executemany(
            "INSERT INTO log (id, revision, key, value, create_revision, prev_revision, deleted)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            log_rows,
        )
        if live:
            conn.executemany("INSERT OR REPLACE INTO current (key, id) VALUES (?, ?)", live)
        if gone:
            conn.executemany("DELETE FROM current WHERE key = ?", gone)
        return rev

    # watch and history

    def watch(self, prefix: str, since: int) -> QueueWatch:
        """Every change under ``prefix`` after revision ``since`` in revision order, then new
        ones as they are committed, by this or any other process. Raises Compacted when that
        history is gone; the returned watch raises it too if it falls that far behind."""
        with self._hub.lock:
            self._check_open()
            if self._poller is None:
                self._dispatched = self.revision()
                self._poller = threading.Thread(
                    target=self._poll_loop, name=f"gitkube-store-watch {self.path}", daemon=True
                )
                self._poller.start()
            upto = self._dispatched
            with self._reader() as conn:
                conn.execute("BEGIN")
                compact_rev = _compact_revision(conn)
                backlog = _events(conn, since, upto, prefix) if since < upto else []
                conn.execute("COMMIT")
            if since < compact_rev - 1:
                raise Compacted(since, compact_rev - 1)
            return self._hub.add(prefix, since, backlog)

    def _poll_loop(self) -> None:
        try:
            conn = self._connect()
        except StoreError as exc:
            self._stop_poller(exc)
            return
        try:
            last_version = -1
            while True:
                self._wake.wait(self._poll_interval)
                self._wake.clear()
                with self._hub.lock:
                    if self._closed or not self._hub.watchers:
                        self._poller = None
                        return
                    since = self._dispatched
                with self._translate():
                    version = conn.execute("PRAGMA data_version").fetchone()[0]
                    if version == last_version:
                        continue
                    last_version = version
                    conn.execute("BEGIN")
                    try:
                        top = _top(conn)
                        compact_rev = _compact_revision(conn)
                        events = _events(conn, since, top, "") if top > since else []
                    finally:
                        conn.execute("COMMIT")
                with self._hub.lock:
                    if since < compact_rev - 1:
                        # Another process compacted past us: watchers must relist.
                        self._hub.fail_all(_compacted_error(compact_rev - 1))
                    else:
                        self._hub.dispatch(events)
                    self._dispatched = max(top, since)
        except StoreError as exc:
            self._stop_poller(exc)
        finally:
            conn.close()

    def _stop_poller(self, error: StoreError) -> None:
        with self._hub.lock:
            self._hub.fail_all(lambda w: error)
            self._poller = None

    def compact(self, revision: int) -> None:
        """Forget history below ``revision`` (live keys stay): watching from before
        ``revision - 1`` then raises Compacted."""
        with self._write_lock:
            self._check_open()
            conn = self._fresh_writer()
            with self._writes(), self._translate():
                conn.execute("BEGIN IMMEDIATE")
                try:
                    top = _top(conn)
                    if revision > top:
                        raise StoreError(
                            f"cannot compact to revision {revision}: the store is at {top}",
                            location=self.url,
                        )
                    current = _compact_revision(conn)
                    if revision > current:
                        conn.execute(
                            "DELETE FROM log WHERE revision < ? "
                            "AND id NOT IN (SELECT id FROM current)",
                            (revision,),
                        )
                        conn.execute(
                            "UPDATE meta SET value = ? WHERE name = 'compact_revision'",
                            (revision,),
                        )
                        current = revision
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            self._compact_rev = current

    def close(self) -> None:
        """End every watch and close the file. Idempotent."""
        with self._hub.lock:
            if self._closed:
                return
            self._closed = True
            poller = self._poller
        self._wake.set()
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout=5)
        self._hub.close_all()
        with self._write_lock:
            self._writer.close()
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _compacted_error(gone: int) -> Callable[[QueueWatch], BaseException]:
    return lambda watch: Compacted(watch.since, gone)


def _top(conn: sqlite3.Connection) -> int:
    # Compaction never removes the newest revision's rows, so MAX(revision) is the store's.
    return int(conn.execute("SELECT COALESCE(MAX(revision), 0) FROM log").fetchone()[0])


def _compact_revision(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name = 'compact_revision'").fetchone()
    return int(row[0]) if row else 0


def _key_range(column: str, prefix: str) -> tuple[str, tuple[str, ...]]:
    if not prefix:
        return "1", ()
    end = prefix_end(prefix)
    if end is None:
        return f"{column} >= ?", (prefix,)
    return f"{column} >= ? AND {column} < ?", (prefix, end)


def _events(conn: sqlite3.Connection, after: int, upto: int, prefix: str) -> list[StoreEvent]:
    where, args = _key_range("key", prefix)
    rows = conn.execute(
        "SELECT revision, key, value, create_revision, deleted FROM log "
        f"WHERE revision > ? AND revision <= ? AND {where} ORDER BY revision, id",
        (after, upto, *args),
    )
    events = []
    for rev, key, value, create_rev, deleted in rows:
        kind: EventType = "DELETED" if deleted else "ADDED" if create_rev == rev else "MODIFIED"
        events.append(StoreEvent(kind, KeyValue(key, bytes(value), create_rev, rev)))
    return events
