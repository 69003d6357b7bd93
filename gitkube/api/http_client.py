"""HTTPClient: the Client protocol over gitkube's REST API (``gitkube serve``).

Agents, apply and the CLI use it exactly like a ``LocalClient``: same methods, same return
values, and the server's Status errors mapped back to the same ``APIError`` subclasses
(NotFound, AlreadyExists, Conflict, Invalid with every cause, BadRequest, Gone, Forbidden,
Unauthorized). ``transaction`` and the raw records use gitkube's extension endpoints
(``/apis/gitkube.io/v1/...``, see gitkube/api/server/extension.py).

The server is named by a URL (``http://127.0.0.1:8080``, ``https://host:6443``) or a unix
socket (``unix:///path/to/gitkube.sock`` or just the path). Built on the stdlib's
http.client: one keep-alive connection per thread, unix sockets without extra packages.
A server that cannot be reached is ``ServerUnavailable``. An answer of 429 or 503 with
``Retry-After`` (the server's connection caps, gitkube/api/server/limits.py) is asked again
after that wait, at most ``RETRY_AFTER_TRIES`` times, as client-go does.

Watches hold their own connection and a reader thread. When the server ends a watch (its
``timeoutSeconds``, a restart), ``next_event`` returns None at once from then on and
``ended`` is True: watch again from the last resourceVersion seen, as informers do.
"""

from __future__ import annotations

import builtins
import contextlib
import http.client
import json
import queue
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

from gitkube.api.client import (
    Client,
    FieldSelectorArg,
    LabelSelectorArg,
    ObjectList,
    PatchSubresource,
    PatchType,
    PropagationPolicy,
    Record,
    TxnOp,
    TxnResult,
    WatchEvent,
    WatchEventType,
)
from gitkube.api.server.extension import op_to_wire, record_from_wire
from gitkube.api.server.logs import LogOptions
from gitkube.errors import (
    AlreadyExists,
    APIError,
    BadRequest,
    Conflict,
    Forbidden,
    GitkubeError,
    Gone,
    Invalid,
    NotFound,
    Unauthorized,
)
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType
from gitkube.model.labels import SelectorError, as_field_selector, as_selector
from gitkube.model.times import rfc3339

Obj = dict[str, Any]
JSON = "application/json"
APPLY_PATCH = "application/apply-patch+yaml"
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
_ERRORS: dict[str, type[APIError]] = {
    "NotFound": NotFound, "AlreadyExists": AlreadyExists, "Conflict": Conflict,
    "Invalid": Invalid, "BadRequest": BadRequest, "Expired": Gone, "Gone": Gone,
    "Forbidden": Forbidden, "Unauthorized": Unauthorized,
}
_BY_CODE: dict[int, type[APIError]] = {404: NotFound, 409: Conflict, 422: Invalid,
                                       400: BadRequest, 410: Gone, 403: Forbidden,
                                       401: Unauthorized}


# A 429/503 with Retry-After is asked again at most this often, waiting at most this long.
RETRY_AFTER_TRIES = 3
RETRY_AFTER_MAX_WAIT = 5.0


# connection failures that mean the request reached no server: safe to send elsewhere
_NEVER_SENT = (ConnectionRefusedError, FileNotFoundError, socket.gaierror)


def _retry_after(response: http.client.HTTPResponse) -> float | None:
    """Seconds to wait before asking again, for a 429 or 503 that says so; else None."""
    if response.status not in (429, 503):
        return None
    value = response.getheader("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class ServerUnavailable(GitkubeError):
    """The API server cannot be reached (not running, wrong address, TLS failure)."""


def error_from_status(status: Any, code: int) -> APIError:
    """The APIError for a Status object (or any error body) an API server sent."""
    if not isinstance(status, dict) or status.get("kind") != "Status":
        err = APIError(f"the server answered {code} with no Status: {str(status)[:200]}")
        err.code = code
        return err
    reason = str(status.get("reason") or "")
    details = status.get("details") or {}
    cls = _ERRORS.get(reason) or _BY_CODE.get(int(status.get("code") or code))
    causes = [c for c in details.get("causes") or [] if isinstance(c, dict)]
    err = (cls or APIError)(str(status.get("message") or reason or f"HTTP {code}"),
                            kind=details.get("kind"), name=details.get("name"),
                            group=str(details.get("group") or ""), causes=causes)
    if cls is None:
        err.code = int(status.get("code") or code)
        err.reason = reason or err.reason
    return err


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _selector(value: LabelSelectorArg) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    try:
        return str(as_selector(value)) or None
    except SelectorError as e:
        raise BadRequest(str(e)) from e


def _field_selector(value: FieldSelectorArg) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    try:
        return str(as_field_selector(value)) or None
    except SelectorError as e:
        raise BadRequest(str(e)) from e


class HTTPClient:
    """The Client protocol over HTTP(S) or a unix socket. Thread-safe."""

    def __init__(self, server: str | Path | Sequence[str], *, token: str | None = None,
                 ca: str | Path | Sequence[str | Path] | None = None,
                 ca_data: str | bytes | None = None,
                 ssl_context: ssl.SSLContext | None = None, timeout: float = 60.0):
        """``server``: one URL, several (a list, or one string with commas: the API
        servers of an HA control plane, tried in turn — see ``failover``). ``ca``: a PEM
        file of the CA that signed the server's certificate (or several, one per server);
        ``ca_data``: the same PEM as text (a kubeconfig's decoded
        certificate-authority-data); neither: the system's CAs. ``ssl_context`` overrides
        both. ``token`` is sent as a bearer token; ``timeout`` bounds each request (not
        watches or followed logs)."""
        texts = [str(server)] if isinstance(server, (str, Path)) else [str(t) for t in server]
        texts = [t.strip() for text in texts for t in text.split(",") if t.strip()]
        if not texts:
            raise GitkubeError("no API server address given",
                               hint="http://HOST:PORT, https://HOST:PORT or unix:///PATH")
        self._targets = [self._target(t) for t in texts]
        self._tls: ssl.SSLContext | None = None
        if any(t[0] == "https" for t in self._targets):
            cadata = ca_data.decode() if isinstance(ca_data, bytes) else ca_data
            cas = [] if ca is None else [ca] if isinstance(ca, (str, Path)) else list(ca)
            self._tls = ssl_context or ssl.create_default_context(
                cafile=str(cas[0]) if cas else None, cadata=cadata)
            if ssl_context is None:
                for extra in cas[1:]:
                    self._tls.load_verify_locations(cafile=str(extra))
        self.servers = texts
        self._current = 0
        self._switch = threading.Lock()
        self.token = token
        self.timeout = timeout
        self._local = threading.local()

    @staticmethod
    def _target(text: str) -> tuple[str, str, int]:
        """(scheme, host or socket path, port) of one server address."""
        if text.startswith("unix://"):
            return "unix", text[len("unix://"):], 0
        if "://" not in text:
            return "unix", text, 0
        url = urlsplit(text)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise GitkubeError(f"not an API server address: {text!r}",
                               hint="http://HOST:PORT, https://HOST:PORT or unix:///PATH")
        return url.scheme, url.hostname, url.port or (443 if url.scheme == "https" else 80)

    @property
    def server(self) -> str:
        """The server requests go to now."""
        return self.servers[self._current]

    def failover(self, failed: int) -> bool:
        """The server at index ``failed`` could not be reached: later requests go to the
        next one. False when there is no other server."""
        if len(self.servers) < 2:
            return False
        with self._switch:
            if self._current == failed:
                self._current = (failed + 1) % len(self.servers)
        return True

    # --- transport ------------------------------------------------------------------------

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        scheme, where, port = self._targets[self._current]
        if scheme == "unix":
            return _UnixConnection(where, timeout)
        if scheme == "https":
            return http.client.HTTPSConnection(where, port, timeout=timeout,
                                               context=self._tls)
        return http.client.HTTPConnection(where, port, timeout=timeout)

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": JSON, "User-Agent": "gitkube-http-client"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _unavailable(self, error: Exception) -> ServerUnavailable:
        return ServerUnavailable(f"cannot reach the gitkube API server at {self.server}: "
                                 f"{error}", hint="is `gitkube serve` running? "
                                 "`gitkube status` says")

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                body: Any = None, content_type: str = JSON) -> Any:
        """One request; the decoded JSON answer, or the mapped APIError."""
        target = path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            target += "?" + urlencode(params)
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = self._headers(content_type if data is not None else None)
        waits = 0
        tries = 0
        while True:
            index = self._current
            try:
                status, raw, retry_after = self._exchange(method, target, data, headers)
            except ServerUnavailable as e:
                # another API server, when the request surely reached none (or only reads)
                tries += 1
                safe = method == "GET" or isinstance(e.__cause__, _NEVER_SENT)
                if not safe or tries >= len(self.servers) or not self.failover(index):
                    raise
                continue
            if retry_after is None or waits >= RETRY_AFTER_TRIES:
                return self._decode(status, raw)
            # 429/503 with Retry-After: the server did not take the request (a connection
            # cap, or overload); as client-go does, wait as told (bounded) and ask again
            waits += 1
            time.sleep(min(retry_after, RETRY_AFTER_MAX_WAIT))

    def _exchange(self, method: str, target: str, data: bytes | None,
                  headers: dict[str, str]) -> tuple[int, bytes, float | None]:
        """One request on this thread's connection: the status, the body and, for a 429 or
        503 that carries one, the Retry-After in seconds."""
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None)
            if conn is not None and getattr(self._local, "index", None) != self._current:
                self._drop()  # another thread moved to another server
                conn = None
            reused = conn is not None
            if conn is None:
                self._local.index = self._current
                conn = self._local.conn = self._connect(self.timeout)
            try:
                conn.request(method, target, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError) as e:
                # the server closed an idle keep-alive connection: once more on a fresh one
                self._drop()
                if reused and attempt == 0:
                    continue
                raise self._unavailable(e) from e
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                raise self._unavailable(e) from e
            if response.will_close:
                self._drop()
            return response.status, raw, _retry_after(response)
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    @staticmethod
    def _decode(code: int, raw: bytes) -> Any:
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = raw.decode(errors="replace")
        if code >= 400:
            raise error_from_status(value, code)
        return value

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        self._drop()

    # --- paths ----------------------------------------------------------------------------

    @staticmethod
    def resource(api_version: str, kind: str) -> ResourceType:
        rt = kinds.lookup(api_version, kind)
        if rt is None:
            raise NotFound(
                f'the server could not find the requested resource (kind "{kind}" in '
                f'version "{api_version}")',
                hint="`gitkube api-resources` lists the kinds gitkube serves")
        return rt

    @staticmethod
    def path(rt: ResourceType, namespace: str | None, name: str = "",
             subresource: str = "", *, all_namespaces: bool = False) -> str:
        """The REST path; a namespaced kind with no namespace means ``default`` unless
        ``all_namespaces`` (lists and watches)."""
        out = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
        if rt.namespaced and (namespace or not all_namespaces):
            out += f"/namespaces/{quote(namespace or 'default', safe='')}"
        out += f"/{rt.plural}"
        if name:
            out += f"/{quote(name, safe='')}"
            if subresource:
                out += f"/{subresource}"
        elif subresource:
            raise BadRequest(f"a name is required to address {rt.plural}/{subresource}")
        return out

    def _obj_path(self, obj: Any, subresource: str = "", *,
                  collection: bool = False) -> tuple[ResourceType, str]:
        if not isinstance(obj, dict):
            raise BadRequest(f"an object must be a JSON object, got {type(obj).__name__}")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not api_version or not kind:
            raise BadRequest("Object 'Kind' is missing" if not kind
                             else "Object 'apiVersion' is missing")
        rt = kinds.lookup(str(api_version), str(kind))
        if rt is None:
            known = ", ".join(f"{r.api_version}/{r.kind}" for r in kinds.RESOURCES)
            raise BadRequest(f'no kind "{kind}" is registered for version "{api_version}"',
                             hint=f"gitkube serves: {known}")
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") if isinstance(meta, dict) else None
        if collection:
            return rt, self.path(rt, namespace)
        name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
        if not name:
            raise BadRequest(f"a name is required to address a {rt.kind}")
        return rt, self.path(rt, namespace, name, subresource)

    # --- the Client protocol --------------------------------------------------------------

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj:
        rt = self.resource(api_version, kind)
        if not name:
            raise BadRequest(f"a name is required to address a {rt.kind}")
        out: Obj = self.request("GET", self.path(rt, namespace, name))
        return out

    def list(self, api_version: str, kind: str, namespace: str | None = None, *,
             label_selector: LabelSelectorArg = None,
             field_selector: FieldSelectorArg = None) -> ObjectList:
        rt = self.resource(api_version, kind)
        out = self.request("GET", self.path(rt, namespace, all_namespaces=True), query={
            "labelSelector": _selector(label_selector),
            "fieldSelector": _field_selector(field_selector)})
        return ObjectList(out.get("items") or [],
                          str((out.get("metadata") or {}).get("resourceVersion") or ""),
                          rt.api_version, rt.kind)

    def create(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        _, path = self._obj_path(obj, collection=True)
        out: Obj = self.request("POST", path, body=obj,
                                query={"fieldManager": field_manager})
        return out

    def update(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        _, path = self._obj_path(obj)
        out: Obj = self.request("PUT", path, body=obj, query={"fieldManager": field_manager})
        return out

    def update_status(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        _, path = self._obj_path(obj, "status")
        out: Obj = self.request("PUT", path, body=obj, query={"fieldManager": field_manager})
        return out

    def apply(self, obj: Obj, *, field_manager: str, force: bool = False,
              subresource: Literal["status", "scale"] | None = None) -> Obj:
        _, path = self._obj_path(obj, subresource or "")
        body = obj
        if subresource == "scale":  # the object's replicas, sent as the Scale it is there
            meta = obj.get("metadata") or {}
            body = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": {k: v for k, v in meta.items() if k in ("name", "namespace")},
                    "spec": {k: v for k, v in (obj.get("spec") or {}).items()
                             if k == "replicas"}}
        out: Obj = self.request("PATCH", path, body=body, content_type=APPLY_PATCH, query={
            "fieldManager": field_manager, "force": "true" if force else None})
        return out

    def patch(self, api_version: str, kind: str, namespace: str | None, name: str,
              patch: Any, patch_type: PatchType = "merge", *,
              subresource: PatchSubresource | None = None,
              field_manager: str | None = None) -> Obj:
        rt = self.resource(api_version, kind)
        content_type = _PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise BadRequest(f"unknown patch type {patch_type!r}: use merge, json or strategic")
        out: Obj = self.request("PATCH", self.path(rt, namespace, name, subresource or ""),
                                body=patch, content_type=content_type,
                                query={"fieldManager": field_manager})
        return out

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str, *,
               propagation_policy: PropagationPolicy | None = None,
               grace_period_seconds: int | None = None, resource_version: str | None = None,
               uid: str | None = None) -> Obj:
        rt = self.resource(api_version, kind)
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        pre = {k: v for k, v in (("resourceVersion", resource_version), ("uid", uid)) if v}
        if pre:
            options["preconditions"] = pre
        out: Obj = self.request("DELETE", self.path(rt, namespace, name), body=options)
        return out

    def bind(self, namespace: str | None, name: str, node_name: str, *,
             uid: str | None = None) -> Obj:
        rt = self.resource("v1", "Pod")
        meta: Obj = {"name": name, "namespace": namespace or "default"}
        if uid:
            meta["uid"] = uid
        self.request("POST", self.path(rt, namespace, name, "binding"), body={
            "apiVersion": "v1", "kind": "Binding", "metadata": meta,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}})
        return self.get("v1", "Pod", namespace, name)

    def get_scale(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj:
        rt = self.resource(api_version, kind)
        out: Obj = self.request("GET", self.path(rt, namespace, name, "scale"))
        return out

    def update_scale(self, api_version: str, kind: str, namespace: str | None, name: str,
                     replicas: int, *, resource_version: str | None = None,
                     field_manager: str | None = None) -> Obj:
        rt = self.resource(api_version, kind)
        meta: Obj = {"name": name}
        if rt.namespaced:
            meta["namespace"] = namespace or "default"
        if resource_version is not None:
            meta["resourceVersion"] = resource_version
        out: Obj = self.request("PUT", self.path(rt, namespace, name, "scale"), body={
            "apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": meta,
            "spec": {"replicas": replicas}}, query={"fieldManager": field_manager})
        return out

    def delete_collection(self, api_version: str, kind: str, namespace: str | None = None, *,
                          label_selector: LabelSelectorArg = None,
                          field_selector: FieldSelectorArg = None,
                          propagation_policy: PropagationPolicy | None = None,
                          grace_period_seconds: int | None = None) -> ObjectList:
        rt = self.resource(api_version, kind)
        body: Obj | None = None
        if propagation_policy is not None or grace_period_seconds is not None:
            body = {"kind": "DeleteOptions", "apiVersion": "v1"}
            if propagation_policy is not None:
                body["propagationPolicy"] = propagation_policy
            if grace_period_seconds is not None:
                body["gracePeriodSeconds"] = grace_period_seconds
        out = self.request("DELETE", self.path(rt, namespace, all_namespaces=True), query={
            "labelSelector": _selector(label_selector),
            "fieldSelector": _field_selector(field_selector)}, body=body)
        return ObjectList(out.get("items") or [],
                          str((out.get("metadata") or {}).get("resourceVersion") or ""),
                          rt.api_version, rt.kind)

    def watch(self, api_version: str, kind: str, namespace: str | None = None, *,
              resource_version: str | None = None, label_selector: LabelSelectorArg = None,
              field_selector: FieldSelectorArg = None) -> HTTPWatcher | ResumingWatcher:
        rt = self.resource(api_version, kind)
        query = {"watch": "true", "resourceVersion": resource_version or None,
                 "labelSelector": _selector(label_selector),
                 "fieldSelector": _field_selector(field_selector)}
        target = self.path(rt, namespace, all_namespaces=True) + "?" + urlencode(
            {k: v for k, v in query.items() if v is not None})
        if len(self.servers) > 1:
            return ResumingWatcher(self, target, resource_version)
        return self._open_watch(target)

    def _open_watch(self, target: str) -> HTTPWatcher:
        """One watch stream on the current server; on a server that cannot be reached,
        the next ones in turn."""
        for tries in range(1, len(self.servers) + 1):
            index = self._current
            # Its own connection: a watch holds it for as long as it lives.
            conn = self._connect(None)
            try:
                conn.request("GET", target, headers=self._headers(None))
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if tries < len(self.servers) and self.failover(index):
                    continue
                raise self._unavailable(e) from e
            if response.status != 200:
                raw = response.read()
                conn.close()
                self._decode(response.status, raw)
                raise APIError(f"watch answered {response.status}")
            return HTTPWatcher(conn, response)
        raise AssertionError("unreachable")

    def pod_logs(self, namespace: str | None, name: str,
                 options: LogOptions = LogOptions()) -> Iterator[str]:
        """A container's output from ``pods/log``, line by line (not part of the Client
        protocol: logs live in the runtime). With ``options.follow`` the lines arrive as the
        container writes them, until it stops or the server ends the stream. Errors (pod
        missing, container not started) are raised before the first line."""
        rt = self.resource("v1", "Pod")
        o = options
        query = {"container": o.container or None, "follow": "true" if o.follow else None,
                 "tailLines": o.tail_lines, "previous": "true" if o.previous else None,
                 "timestamps": "true" if o.timestamps else None,
                 "sinceSeconds": o.since_seconds,
                 "sinceTime": None if o.since_time is None else rfc3339(o.since_time),
                 "limitBytes": o.limit_bytes}
        target = self.path(rt, namespace, name, "log") + "?" + urlencode(
            {k: v for k, v in query.items() if v is not None})
        conn = self._connect(None if o.follow else self.timeout)
        try:
            conn.request("GET", target, headers=self._headers(None))
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise self._unavailable(e) from e
        if response.status != 200:
            raw = response.read()
            conn.close()
            self._decode(response.status, raw)
        return self._lines(conn, response)

    @staticmethod
    def _lines(conn: http.client.HTTPConnection,
               response: http.client.HTTPResponse) -> Iterator[str]:
        try:
            while True:
                line = response.readline()
                if not line:
                    return
                yield line.decode(errors="replace")
        except (OSError, http.client.HTTPException):
            return
        finally:
            conn.close()

    def transaction(self, ops: Sequence[TxnOp]) -> TxnResult:
        out = self.request("POST", "/apis/gitkube.io/v1/transactions",
                           body={"ops": [op_to_wire(op) for op in ops]})
        return TxnResult(int(out["revision"]), list(out.get("results") or []))

    def get_record(self, key: str) -> Record | None:
        try:
            out = self.request("GET", "/apis/gitkube.io/v1/records", query={"key": key})
        except NotFound:
            return None
        return record_from_wire(out)

    def list_records(self, prefix: str) -> builtins.list[Record]:
        out = self.request("GET", "/apis/gitkube.io/v1/records", query={"prefix": prefix})
        return [record_from_wire(r) for r in out.get("items") or []]


_END = object()


class HTTPWatcher:
    """Implements ``gitkube.api.client.Watcher`` over a chunked watch response. A reader
    thread decodes one JSON event per line into a queue."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self._conn = conn
        self._response = response
        self._queue: queue.Queue[Any] = queue.Queue()
        self._closed = False
        self._ended = False
        self._error: APIError | None = None
        self._thread = threading.Thread(target=self._read, name="gitkube-http-watch",
                                        daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                line = self._response.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                event = json.loads(line)
                kind: WatchEventType = event.get("type")
                if kind == "ERROR":
                    obj = event.get("object") or {}
                    self._queue.put(error_from_status(obj, int(obj.get("code") or 500)))
                    break
                if kind == "BOOKMARK":
                    continue
                self._queue.put(WatchEvent(kind, event.get("object") or {}))
        except (OSError, ValueError, http.client.HTTPException, AttributeError):
            pass  # the connection went away (or was closed by close()): the stream ended
        finally:
            self._queue.put(_END)

    @property
    def ended(self) -> bool:
        """True once the server ended the stream and every event was taken."""
        return self._ended

    def next_event(self, timeout: float | None = None) -> WatchEvent | None:
        if self._error is not None:
            raise self._error
        if self._ended or self._closed:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self._ended = True
            return None
        if isinstance(item, APIError):
            self._error = item
            raise item
        assert isinstance(item, WatchEvent)
        return item

    def __iter__(self) -> Iterator[WatchEvent]:
        while True:
            event = self.next_event(None)
            if event is None:
                return
            yield event

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()

    def __enter__(self) -> HTTPWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ResumingWatcher:
    """A watch of a client with several API servers: when its stream ends (the server died
    or ended it), it watches again from the resourceVersion of the last event it delivered,
    on the next server that answers, so its consumer sees every change once. A 410 Gone
    (that history is compacted) is raised: relist. ``ended`` becomes True only when no
    server could be reached for ``RESUME_FOR`` seconds."""

    RESUME_FOR = 30.0

    def __init__(self, client: HTTPClient, target: str, resource_version: str | None):
        self._client = client
        self._base = target
        self._rv = resource_version or ""
        self._closed = False
        self._ended = False
        self.resumed = 0
        self._inner = client._open_watch(target)

    def _target(self) -> str:
        if not self._rv or self._rv == "0":
            return self._base
        path, _, query = self._base.partition("?")
        params = [(k, v) for k, v in (p.split("=", 1) for p in query.split("&") if p)
                  if k != "resourceVersion"]
        params.append(("resourceVersion", quote(self._rv)))
        return path + "?" + "&".join(f"{k}={v}" for k, v in params)

    @property
    def ended(self) -> bool:
        return self._ended

    def next_event(self, timeout: float | None = None) -> WatchEvent | None:
        if self._closed or self._ended:
            return None
        event = self._inner.next_event(timeout)
        if event is not None:
            rv = (event.object.get("metadata") or {}).get("resourceVersion")
            if rv:
                self._rv = str(rv)
            return event
        if self._inner.ended and not self._closed:
            self._resume()
        return None

    def _resume(self) -> None:
        self._inner.close()
        self._client.failover(self._client._current)  # the one that ended it goes last
        deadline = time.monotonic() + self.RESUME_FOR
        pause = 0.05
        while not self._closed:
            try:
                self._inner = self._client._open_watch(self._target())
                self.resumed += 1
                return
            except ServerUnavailable:
                if time.monotonic() + pause > deadline:
                    self._ended = True
                    return
            time.sleep(pause)
            pause = min(2 * pause, 1.0)

    def __iter__(self) -> Iterator[WatchEvent]:
        while not (self._closed or self._ended):
            event = self.next_event(1.0)
            if event is not None:
                yield event

    def close(self) -> None:
        self._closed = True
        self._inner.close()

    def __enter__(self) -> ResumingWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _conforms(client: HTTPClient) -> Client:
    """Never called: mypy proves here that HTTPClient implements the Client protocol."""
    return client
