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
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

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
    """A Store on a real etcd v3 server. Thread-safe."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0):
        self.url = f"etcd://{host}:{port}"
        self._timeout = timeout
        self._client = Etcd3Client(host=host, port=port, timeout=timeout, api_path="/v3/")
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        self._client.session.mount("http://", adapter)
        self._lock = threading.Lock()
        self._watches: set[EtcdWatch] = set()
        self._closed = False
        self.revision()  # fail now, with a clear error, when etcd is unreachable

    # plumbing

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._closed:
            raise StoreError("the store is closed", location=self.url)
        try:
            result: dict[str, Any] = self._client.post(self._client.get_url(path), json=body)
            return result
        except (ConnectionFailedError, ConnectionTimeoutError) as exc:
            raise StoreUnavailable(
                f"cannot reach etcd: {_first_line(exc)}", location=self.url, hint=_HINT_DOWN
            ) from exc
        except Etcd3Exception as exc:
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
        except requests.RequestException as exc:
            raise StoreUnavailable(
                f"etcd request failed: {exc}", location=self.url, hint=_HINT_DOWN
            ) from exc

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
        self._client.session.close()

    def __enter__(self) -> EtcdStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EtcdWatch(QueueWatch):
    """One etcd watch stream (its own HTTP connection) read by a background thread into the
    queue of a QueueWatch, which gives it next_event, iteration and close."""

    def __init__(self, store: EtcdStore, prefix: str, since: int):
        super().__init__(prefix, since, self._end_stream)
        self._store = store
        self._compacted: int | None = None
        self._compacted_seen = threading.Event()
        key = prefix.encode() or b"\0"
        body = {
            "create_request": {
                "key": _b64(key),
                "range_end": _b64(_range_end(prefix.encode())),
                "start_revision": since + 1,
                "prev_kv": True,
            }
        }
        client = store._client
        # a session (and so a connection pool) of the watch's own: the stream is cut off
        # mid-response when the watch closes, and that connection must never go back to the
        # pool the store's requests share
        self._session = requests.Session()
        try:
            self._resp = self._session.post(
                client.get_url("/watch"), json=body, stream=True, timeout=(store._timeout, None)
            )
        except requests.RequestException as exc:
            self._session.close()
            raise StoreUnavailable(
                f"cannot reach etcd: {_first_line(exc)}", location=store.url, hint=_HINT_DOWN
            ) from exc
        if self._resp.status_code != 200:
            text = self._resp.text
            self._resp.close()
            self._session.close()
            raise StoreError(f"etcd refused the watch: {text[:200]}", location=store.url)
        self._lines = self._read_lines()
        first = next(self._lines, None)  # the "created" response: the watch is registered
        if first is None or not first.get("result", {}).get("created"):
            self._resp.close()
            self._session.close()
            raise StoreUnavailable(
                f"etcd did not start the watch: {first}", location=store.url, hint=_HINT_DOWN
            )
        self._thread = threading.Thread(
            target=self._run, name=f"gitkube-etcd-watch {prefix}", daemon=True
        )
        self._thread.start()

    def _read_lines(self) -> Iterator[dict[str, Any]]:
        buffer = b""
        for chunk in self._resp.iter_content(chunk_size=None):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    yield json.loads(line)
        if buffer.strip():
            yield json.loads(buffer)

    def _run(self) -> None:
        url = self._store.url
        try:
            for message in self._lines:
                if "error" in message:
                    raise StoreUnavailable(f"etcd ended the watch: {message['error']}",
                                           location=url, hint=_HINT_DOWN)
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
                for raw in result.get("events") or []:
                    event = _event(raw)
                    self.since = max(self.since, event.revision)
                    self._queue.put(event)
            if not self._closed:
                raise StoreUnavailable("etcd closed the watch stream", location=url,
                                       hint=_HINT_DOWN)
        except StoreError as exc:
            self.fail(exc)
        except (requests.RequestException, OSError, ValueError) as exc:
            if not self._closed:
                self.fail(StoreUnavailable(f"lost the watch stream: {exc}",
                                           location=url, hint=_HINT_DOWN))
        finally:
            self._compacted_seen.set()

    def wait_compacted(self, timeout: float) -> int | None:
        """The compacted revision etcd reports when the start revision is gone."""
        self._compacted_seen.wait(timeout)
        return self._compacted

    def _end_stream(self, _watch: QueueWatch) -> None:
        """Called once when the watch closes or fails: forget it, and unblock the reader
        thread by shutting the socket down under it."""
        self._store._forget(self)
        with contextlib.suppress(Exception):
            fd = self._resp.raw.fileno()
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._resp.close()
        with contextlib.suppress(Exception):
            self._session.close()


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


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "detail_text", None) or str(exc) or type(exc).__name__
    # requests' messages repeat the URL and wrap the cause; the last part says why.
    if "Errno" in text:
        return text[text.rfind("[Errno"):].rstrip("')\"")
    return text.splitlines()[0][:200]
