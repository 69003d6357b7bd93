"""The etcd v3 backend (``etcd://host:port``), over etcd's JSON gateway (etcd >= 3.4).

Revisions are etcd's own: ``mod_revision``/``create_revision`` of each key and the header
revision of each response. A transaction is one etcd Txn: a compare per op (``CREATE == 0``
for a create, ``MOD == expected`` or ``CREATE > 0`` otherwise), the writes on success, and on
failure a range read of every key so the first failing op can be named. etcd limits a Txn to
``--max-txn-ops`` operations (default 128) and a request to ``--max-request-bytes`` (default
1.5 MiB); gitkube never splits a transaction (that would break all-or-nothing), so larger
ones need those flags raised (docs/STORE.md).

Requests go through etcd3gw's client (session, URLs, error mapping). Watches use their own
stream reader: etcd3gw's Watcher ignores a cancelled watch (a compacted start revision), so
a watcher would wait forever instead of being told to relist. Each watch has an HTTP session
of its own: its stream is cut off mid-response when it closes, and that connection must not
go back to the pool the store's other requests use (a request on it then failed with
"Connection aborted ... ResponseNotReady").
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import requests
from etcd3gw.client import Etcd3Client
from etcd3gw.exceptions import (
    ConnectionFailedError,
    ConnectionTimeoutError,
    Etcd3Exception,
)

from gitkube.errors import (
    Compacted,
    KeyExists,
    KeyNotFound,
    RevisionConflict,
    StoreError,
    StoreUnavailable,
)
from gitkube.store._ops import SingleOpWrites, check_ops
from gitkube.store._watch import QueueWatch
from gitkube.store.base import Create, Delete, EventType, KeyValue, Op, StoreEvent

log = logging.getLogger("gitkube.store.etcd")
_IDEMPOTENT = ("/kv/range", "/kv/compaction")  # safe to send to another member again
PAGE = 5_000  # keys per range request of a list (all pages read at one revision)
_HINT_DOWN = (
    "start etcd (or check the address), or choose another store with --store or GITKUBE_STORE"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _range_end(prefix: bytes) -> bytes:
    """The end of etcd's range for every key starting with ``prefix`` (b"\\0": no end)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


class _CompactedRead(Exception):
    pass


class EtcdStore(SingleOpWrites):
    """A Store on a real etcd v3 server or cluster. Thread-safe.

    ``endpoints`` are the client URLs of the cluster's members (``host``, ``port``); requests
    go to one of them, and move to the next when it refuses connections (a member that
    died): a request that never reached a member is safe to send to another. A timeout is
    not retried (the request may have been applied) but the next request tries another
    member."""

    def __init__(self, host: str | Sequence[tuple[str, int]], port: int = 2379, *,
                 timeout: float = 10.0):
        endpoints = [(host, port)] if isinstance(host, str) else list(host)
        if not endpoints:
            raise StoreError("no etcd endpoint given", location="etcd://")
        self.url = "etcd://" + ",".join(f"{h}:{p}" for h, p in endpoints)
        self._timeout = timeout
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        session.mount("http://", adapter)
        self._clients = [Etcd3Client(host=h, port=p, timeout=timeout, api_path="/v3/",
                                     session=session) for h, p in endpoints]
        self._session = session
        self._current = 0
        self._lock = threading.Lock()
        self._watches: set[EtcdWatch] = set()
        self._closed = False
        self.revision()  # fail now, with a clear error, when etcd is unreachable

    # plumbing

    def _client_at(self, offset: int = 0) -> tuple[int, Etcd3Client]:
        with self._lock:
            index = (self._current + offset) % len(self._clients)
        return index, self._clients[index]

    def _failed_over(self, index: int) -> None:
        """The member at ``index`` failed: later requests start at the next one."""
        with self._lock:
            if self._current == index:
                self._current = (index + 1) % len(self._clients)

    def member_url(self, offset: int = 0) -> str:
        """The watch URL of the member requests go to now (``offset``: the ones after)."""
        return self._client_at(offset)[1].get_url("/watch")

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._closed:
            raise StoreError("the store is closed", location=self.url)
        last: Exception | None = None
        for offset in range(len(self._clients)):
            index, client = self._client_at()
            try:
                result: dict[str, Any] = client.post(client.get_url(path), json=body)
                return result
            except ConnectionFailedError as exc:
                last = exc
                self._failed_over(index)
                if not (path in _IDEMPOTENT or _never_sent(exc)):
                    break
            except ConnectionTimeoutError as exc:
                last = exc
                self._failed_over(index)
                break
            except Etcd3Exception as exc:
                if _no_leader(exc) and offset + 1 < len(self._clients):
                    last = exc
                    self._failed_over(index)
                    continue
                self._raise_refused(exc, body)
            except requests.RequestException as exc:
                self._failed_over(index)
                raise StoreUnavailable(
                    f"etcd request failed: {exc}", location=self.url, hint=_HINT_DOWN
                ) from exc
        assert last is not None
        raise StoreUnavailable(
            f"cannot reach etcd: {_first_line(last)}", location=self.url, hint=_HINT_DOWN
        ) from last

    def _raise_refused(self, exc: Etcd3Exception, body: dict[str, Any]) -> NoReturn:
        message = _etcd_message(exc)
        if "required revision has been compacted" in message:
            raise _CompactedRead(message) from exc
        if "too many operations in txn" in message:
            raise StoreError(
                f"etcd refused a transaction of {len(body.get('success', []))} "
                "operations: more than its --max-txn-ops",
                location=self.url,
                hint="start etcd with a larger --max-txn-ops (see docs/STORE.md); "
                "gitkube does not split transactions",
            ) from exc
        if "request is too large" in message:
            raise StoreError(
                "etcd refused a request larger than its --max-request-bytes",
                location=self.url,
                hint="start etcd with a larger --max-request-bytes (see docs/STORE.md)",
            ) from exc
        raise StoreError(f"etcd refused the request: {message}", location=self.url) from exc

    # reads

    def revision(self) -> int:
        """The store's current revision (etcd's header revision)."""
        resp = self._call("/kv/range", {"key": _b64(b"\0"), "count_only": True})
        return int(resp["header"]["revision"])

    def get(self, key: str) -> KeyValue | None:
        """The live value of ``key``, or None."""
        resp = self._call("/kv/range", {"key": _b64(key.encode())})
        kvs = resp.get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Live keys under ``prefix`` sorted by key, and the revision of the read. Large lists
        are read in pages, all at the first page's revision."""
        start = prefix.encode() or b"\0"
        end = _b64(_range_end(prefix.encode()))
        body: dict[str, Any] = {"key": _b64(start), "range_end": end, "limit": PAGE}
        items: list[KeyValue] = []
        rev = 0
        while True:
            try:
                resp = self._call("/kv/range", body)
            except _CompactedRead:
                # The pinned revision was compacted between pages: start over.
                return self.list(prefix)
            if not rev:
                rev = int(resp["header"]["revision"])
                body["revision"] = rev
            page = [_kv(kv) for kv in resp.get("kvs") or []]
            items.extend(page)
            if not resp.get("more") or not page:
                return items, rev
            body["key"] = _b64(page[-1].key.encode() + b"\0")

    # writes

    def txn(self, ops: Sequence[Op]) -> int:
        """One etcd transaction: every op at one revision, or none (raising the first
        failing op's error)."""
        check_ops(ops)
        if not ops:
            return self.revision()
        compare: list[dict[str, Any]] = []
        success: list[dict[str, Any]] = []
        failure: list[dict[str, Any]] = []
        for op in ops:
            key = _b64(op.key.encode())
            if isinstance(op, Create):
                compare.append({"key": key, "target": "CREATE", "result": "EQUAL",
                                "create_revision": 0})
            elif op.expected_revision is not None:
                compare.append({"key": key, "target": "MOD", "result": "EQUAL",
                                "mod_revision": op.expected_revision})
            else:
                compare.append({"key": key, "target": "CREATE", "result": "GREATER",
                                "create_revision": 0})
            if isinstance(op, Delete):
                success.append({"request_delete_range": {"key": key}})
            else:
                success.append({"request_put": {"key": key, "value": _b64(op.value)}})
            failure.append({"request_range": {"key": key, "keys_only": True}})
        resp = self._call("/kv/txn", {"compare": compare, "success": success,
                                      "failure": failure})
        if resp.get("succeeded"):
            return int(resp["header"]["revision"])
        raise _why_failed(ops, resp.get("responses") or [], self.url)

    # watch and history

    def watch(self, prefix: str, since: int) -> EtcdWatch:
        """Every change under ``prefix`` after revision ``since``, then new ones as etcd
        reports them. Raises Compacted when that history is gone."""
        watch = EtcdWatch(self, prefix, since)
        try:
            # etcd reports a compacted start revision only on the stream, up to ~100 ms
            # later; a read at that revision tells at once.
            self._call("/kv/range", {"key": _b64(b"\0"), "revision": since + 1,
                                     "count_only": True})
        except _CompactedRead:
            compacted = watch.wait_compacted(timeout=2.0)
            watch.close()
            raise Compacted(since, compacted if compacted is not None else since) from None
        except StoreError as exc:
            if "future revision" not in exc.message:
                watch.close()
                raise
        except BaseException:
            watch.close()
            raise
        with self._lock:
            self._watches.add(watch)
        return watch

    def _forget(self, watch: EtcdWatch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def compact(self, revision: int) -> None:
        """Forget history below ``revision`` (etcd's compaction): watching from before
        ``revision - 1`` then raises Compacted. Compacting again to an older revision is a
        no-op."""
        try:
            self._call("/kv/compaction", {"revision": revision})
        except _CompactedRead:
            return
        except StoreError as exc:
            if "future revision" in exc.message:
                raise StoreError(
                    f"cannot compact to revision {revision}: the store is at "
                    f"{self.revision()}",
                    location=self.url,
                ) from exc
            raise

    def close(self) -> None:
        """End every watch and release connections. Idempotent."""
        with self._lock:
            watches = list(self._watches)
            self._watches.clear()
        for watch in watches:
            watch.close()
        self._closed = True
        self._session.close()

    def __enter__(self) -> EtcdStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EtcdWatch(QueueWatch):
    """One etcd watch stream (its own HTTP connection) read by a background thread into the
    queue of a QueueWatch, which gives it next_event, iteration and close.

    When the stream drops (the member died or cut the connection) the reader opens a new
    one from the revision after the last one it delivered, on the next member that answers,
    for up to ``RESUME_FOR`` seconds: the consumer sees no gap, no repeat and no relist.
    Only then (or when that history was compacted) does the watch fail."""

    RESUME_FOR = 30.0

    def __init__(self, store: EtcdStore, prefix: str, since: int):
        super().__init__(prefix, since, self._end_stream)
        self._store = store
        self._compacted: int | None = None
        self._compacted_seen = threading.Event()
        self._stream_lock = threading.Lock()
        self._session: requests.Session | None = None
        self._resp: requests.Response | None = None
        self.resumed = 0  # how often the stream was re-opened
        error: StoreError | None = None
        for offset in range(len(store._clients)):
            try:
                self._lines = self._connect(offset)
                break
            except StoreUnavailable as exc:
                error = exc
        else:
            assert error is not None
            raise error
        self._thread = threading.Thread(
            target=self._run, name=f"gitkube-etcd-watch {prefix}", daemon=True
        )
        self._thread.start()

    def _connect(self, offset: int) -> Iterator[dict[str, Any]]:
        """Open a stream from ``since + 1`` on a member; its messages after "created"."""
        store = self._store
        prefix = self.prefix.encode()
        body = {
            "create_request": {
                "key": _b64(prefix or b"\0"),
                "range_end": _b64(_range_end(prefix)),
                "start_revision": self.since + 1,
                "prev_kv": True,
            }
        }
        # a session (and so a connection pool) of the watch's own: the stream is cut off
        # mid-response when the watch closes, and that connection must never go back to the
        # pool the store's requests share
        session = requests.Session()
        try:
            resp = session.post(store.member_url(offset), json=body, stream=True,
                                timeout=(store._timeout, None))
        except requests.RequestException as exc:
            session.close()
            raise StoreUnavailable(
                f"cannot reach etcd: {_first_line(exc)}", location=store.url, hint=_HINT_DOWN
            ) from exc
        if resp.status_code != 200:
            text = resp.text
            resp.close()
            session.close()
            raise StoreError(f"etcd refused the watch: {text[:200]}", location=store.url)
        lines = _read_lines(resp)
        try:
            first = next(lines, None)  # the "created" response: the watch is registered
        except (requests.RequestException, OSError, ValueError):
            first = None
        if first is None or not first.get("result", {}).get("created"):
            resp.close()
            session.close()
            raise StoreUnavailable(
                f"etcd did not start the watch: {first}", location=store.url, hint=_HINT_DOWN
            )
        with self._stream_lock:
            old, self._session, self._resp = self._session, session, resp
        if old is not None:
            with contextlib.suppress(Exception):
                old.close()
        if self._closed:
            self._shut()
        return lines

    def _run(self) -> None:
        try:
            while True:
                dropped = self._read(self._lines)
                if self._closed:
                    return
                self._lines = self._resume(dropped)
        except StoreError as exc:
            if not self._closed:
                self.fail(exc)
        finally:
            self._compacted_seen.set()

    def _read(self, lines: Iterator[dict[str, Any]]) -> str:
        """Deliver the stream's events until it ends; why it ended. Raises Compacted (and
        StoreUnavailable for a cancelled watch)."""
        url = self._store.url
        try:
            for message in lines:
                if "error" in message:
                    return f"etcd ended the watch: {message['error']}"
                result = message.get("result", {})
                if result.get("canceled"):
                    compact = int(result.get("compact_revision") or 0)
                    if compact:
                        self._compacted = compact - 1
                        self._compacted_seen.set()
                        raise Compacted(self.since, compact - 1)
                    raise StoreUnavailable(
                        f"etcd cancelled the watch: {result.get('cancel_reason', '')}",
                        location=url, hint="relist and watch again",
                    )
                # Straight onto the queue, not through push(): every key of an etcd
                # transaction shares one revision, which push() would deliver only once.
                # ``since`` moves once the whole message is queued: a resumed stream starts
                # after the last revision delivered in full.
                last = self.since
                for raw in result.get("events") or []:
                    event = _event(raw)
                    if event.revision <= self.since:
                        continue
                    last = max(last, event.revision)
                    self._queue.put(event)
                self.since = last
        except (requests.RequestException, OSError, ValueError) as exc:
            return f"lost the watch stream: {exc}"
        return "etcd closed the watch stream"

    def _resume(self, why: str) -> Iterator[dict[str, Any]]:
        """A new stream from ``since + 1``, trying each member in turn with back-off."""
        deadline = time.monotonic() + self.RESUME_FOR
        log.info("etcd watch %s: %s; resuming from revision %d", self.prefix, why,
                 self.since + 1)
        pause = 0.05
        offset = 1  # the member that dropped it first goes last
        while not self._closed:
            try:
                lines = self._connect(offset)
                self.resumed += 1
                return lines
            except StoreUnavailable as exc:
                why = exc.message
            if time.monotonic() + pause > deadline:
                raise StoreUnavailable(f"{why} (the watch could not be resumed within "
                                       f"{self.RESUME_FOR:g}s)", location=self._store.url,
                                       hint=_HINT_DOWN)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            offset += 1
        raise StoreUnavailable("the watch was closed", location=self._store.url)

    def wait_compacted(self, timeout: float) -> int | None:
        """The compacted revision etcd reports when the start revision is gone."""
        self._compacted_seen.wait(timeout)
        return self._compacted

    def _end_stream(self, _watch: QueueWatch) -> None:
        """Called once when the watch closes or fails: forget it, and unblock the reader
        thread by shutting the socket down under it."""
        self._store._forget(self)
        self._shut()

    def _shut(self) -> None:
        with self._stream_lock:
            resp, session = self._resp, self._session
        if resp is None:
            return
        with contextlib.suppress(Exception):
            fd = resp.raw.fileno()
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            resp.close()
        with contextlib.suppress(Exception):
            if session is not None:
                session.close()


def _read_lines(resp: requests.Response) -> Iterator[dict[str, Any]]:
    buffer = b""
    for chunk in resp.iter_content(chunk_size=None):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)


def _why_failed(ops: Sequence[Op], responses: list[dict[str, Any]], url: str) -> StoreError:
    """Name the first op whose compare failed, from the failure branch's reads."""
    for op, response in zip(ops, responses, strict=False):
        kvs = (response.get("response_range") or {}).get("kvs") or []
        actual = int(kvs[0].get("mod_revision", 0)) if kvs else None
        if isinstance(op, Create):
            if actual is not None:
                return KeyExists(op.key)
        elif actual is None:
            return KeyNotFound(op.key)
        elif op.expected_revision is not None and op.expected_revision != actual:
            return RevisionConflict(op.key, op.expected_revision, actual)
    return StoreError("etcd rejected the transaction", location=url)


def _kv(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=_unb64(raw.get("key")).decode(errors="replace"),
        value=_unb64(raw.get("value")),
        create_revision=int(raw.get("create_revision", 0)),
        mod_revision=int(raw.get("mod_revision", 0)),
    )


def _event(raw: dict[str, Any]) -> StoreEvent:
    kv = raw["kv"]
    mod = int(kv.get("mod_revision", 0))
    kind: EventType
    if raw.get("type") == "DELETE":
        prev = raw.get("prev_kv") or {}
        return StoreEvent("DELETED", KeyValue(
            key=_unb64(kv.get("key")).decode(errors="replace"),
            value=_unb64(prev.get("value")),
            create_revision=int(prev.get("create_revision", 0)),
            mod_revision=mod,
        ))
    kind = "ADDED" if int(kv.get("create_revision", 0)) == mod else "MODIFIED"
    return StoreEvent(kind, _kv(kv))


def _etcd_message(exc: Etcd3Exception) -> str:
    text = exc.detail_text or str(exc)
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return str(json.loads(text).get("message") or text)
    return text


def _never_sent(exc: BaseException) -> bool:
    """True when the connection was refused or never made: the request reached no member."""
    text = str(exc)
    return any(m in text for m in ("Connection refused", "NewConnectionError",
                                   "Failed to establish a new connection"))


def _no_leader(exc: Etcd3Exception) -> bool:
    """A member without a leader (cut off from the others) refuses; another may not."""
    message = _etcd_message(exc)
    return "no leader" in message


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "detail_text", None) or str(exc) or type(exc).__name__
    # requests' messages repeat the URL and wrap the cause; the last part says why.
    if "Errno" in text:
        return text[text.rfind("[Errno"):].rstrip("')\"")
    return text.splitlines()[0][:200]
