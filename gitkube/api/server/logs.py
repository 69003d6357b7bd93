"""pods/log: the options of a log request and the default provider, the container runtime.

A provider is ``provider(pod, options) -> Iterator[str]``. It looks the container up *before*
returning (raising NotFound or BadRequest as a Status the client sees) and returns an iterator
of output lines; the server streams them as text/plain (chunked when following).

``log_options(pod, query)`` reads PodLogOptions from the query and checks them as upstream's
ValidatePodLogOptions does (422 Invalid): at most one of sinceSeconds and sinceTime,
sinceSeconds and limitBytes at least 1, tailLines not negative; a sinceTime that is no
RFC 3339 time is 400.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.api.server.bodies import flag, int_param
from gitkube.errors import BadRequest, GitkubeError, Invalid, NotFound
from gitkube.model.times import parse_time, rfc3339_nano
from gitkube.runtime.base import LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_POD_UID, ContainerRuntime

Obj = dict[str, Any]


@dataclass(frozen=True)
class LogOptions:
    """PodLogOptions as query parameters. The server's are for one container: it picks the
    only one, or refuses to guess among several, when a request names none (a client's
    ``container`` "")."""

    container: str = ""
    follow: bool = False
    tail_lines: int | None = None
    timestamps: bool = False
    previous: bool = False
    since_seconds: int | None = None
    since_time: float | None = None  # sinceTime, as epoch seconds
    limit_bytes: int | None = None

    def since(self, now: float) -> float | None:
        """When the lines asked for start (epoch seconds): ``sinceTime``, or
        ``sinceSeconds`` before ``now``; None: from the beginning."""
        if self.since_time is not None:
            return self.since_time
        return None if self.since_seconds is None else now - self.since_seconds

    def query(self) -> list[tuple[str, str]]:
        """These options as a pods/log request's query (``limitBytes`` left to the asker:
        the API server applies it to what it passes on)."""
        out = [("container", self.container)] if self.container else []
        out += [(k, "true") for k, on in (("follow", self.follow),
                                          ("timestamps", self.timestamps),
                                          ("previous", self.previous)) if on]
        if self.tail_lines is not None:
            out.append(("tailLines", str(self.tail_lines)))
        if self.since_seconds is not None:
            out.append(("sinceSeconds", str(self.since_seconds)))
        if self.since_time is not None:
            out.append(("sinceTime", rfc3339_nano(round(self.since_time * 1e9))))
        return out


def log_options(pod: Obj, query: Mapping[str, str]) -> LogOptions:
    """The PodLogOptions of a ``pods/log`` request (module docstring)."""
    since_time = None
    text = query.get("sinceTime")
    if text:
        since_time = parse_time(text)
        if since_time is None:
            raise BadRequest(f"invalid value for query parameter sinceTime: {text!r} is not "
                             "an RFC 3339 time", hint="e.g. 2026-01-02T03:04:05Z")
    options = LogOptions(
        container=choose_container(pod, query.get("container")),
        follow=flag(query, "follow"), tail_lines=int_param(query, "tailLines"),
        timestamps=flag(query, "timestamps"), previous=flag(query, "previous"),
        since_seconds=int_param(query, "sinceSeconds"), since_time=since_time,
        limit_bytes=int_param(query, "limitBytes"))
    causes = []
    if options.tail_lines is not None and options.tail_lines < 0:
        causes.append(("FieldValueInvalid", "tailLines", f"Invalid value: "
                       f"{options.tail_lines}: must be greater than or equal to 0"))
    if options.limit_bytes is not None and options.limit_bytes < 1:
        causes.append(("FieldValueInvalid", "limitBytes", f"Invalid value: "
                       f"{options.limit_bytes}: must be greater than 0"))
    if options.since_seconds is not None and text:
        causes.append(("FieldValueForbidden", "", "Forbidden: at most one of `sinceTime` or "
                       "`sinceSeconds` may be specified"))
    elif options.since_seconds is not None and options.since_seconds < 1:
        causes.append(("FieldValueInvalid", "sinceSeconds", f"Invalid value: "
                       f"{options.since_seconds}: must be greater than 0"))
    if causes:
        name = pod["metadata"]["name"]
        listed = ", ".join(f"{field}: {message}" if field else message
                           for _, field, message in causes)
        raise Invalid(f'PodLogOptions "{name}" is invalid: {listed}', kind="PodLogOptions",
                      name=name, causes=[{"reason": reason, "message": message,
                                          "field": field} for reason, field, message in causes])
    return options


LogsProvider = Callable[[Obj, LogOptions], Iterator[str]]


def require_scheduled(pod: Obj) -> None:
    """BadRequest, as the API server words it, for a pod that is not on a node yet."""
    if not (pod.get("spec") or {}).get("nodeName"):
        raise BadRequest(f'pod "{pod["metadata"]["name"]}" is not scheduled yet: it has no logs')


def no_logs(pod: Obj, options: LogOptions) -> Iterator[str]:
    """The provider of a server that runs beside no container runtime: a scheduled pod's
    logs are NotFound, saying so."""
    require_scheduled(pod)
    name = pod["metadata"]["name"]
    raise NotFound(f'the logs of pod "{name}" are not available here: this API server has '
                   "no container runtime", kind="pods", name=name)


def choose_container(pod: Obj, container: str | None) -> str:
    """The container a log request means; BadRequest as the API server words it."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    app = [c.get("name") for c in spec.get("containers") or []]
    init = [c.get("name") for c in spec.get("initContainers") or []]
    ephemeral = [c.get("name") for c in spec.get("ephemeralContainers") or []]
    if not container:
        if len(app) == 1:
            return str(app[0])
        raise BadRequest(f"a container name must be specified for pod {name}, choose one of: "
                         f"[{' '.join(str(c) for c in app)}]"
                         + (f" or one of the init containers: [{' '.join(map(str, init))}]"
                            if init else ""))
    if container not in app and container not in init and container not in ephemeral:
        raise BadRequest(f"container {container} is not valid for pod {name}")
    return container


def _attempt(labels: Any) -> int:
    try:
        return int(labels.get(LABEL_ATTEMPT, "0"))
    except (ValueError, AttributeError):
        return 0


class RuntimeLogs:
    """The default provider: the kubelet's containers in the local container runtime,
    found by the labels the kubelet puts on them (pod uid, container name, attempt).

    The runtime is created on first use (starting Podman's service costs time) and shared;
    ``close()`` releases it. ``sinceSeconds`` counts back from this process's clock."""

    def __init__(self, factory: Callable[[], ContainerRuntime]):
        self._factory = factory
        self._runtime: ContainerRuntime | None = None
        self._lock = threading.Lock()

    def _get_runtime(self) -> ContainerRuntime:
        with self._lock:
            if self._runtime is None:
                self._runtime = self._factory()
            return self._runtime

    def __call__(self, pod: Obj, options: LogOptions) -> Iterator[str]:
        meta = pod["metadata"]
        name = meta["name"]
        require_scheduled(pod)
        try:
            runtime = self._get_runtime()
            found = runtime.list_containers({LABEL_POD_UID: str(meta.get("uid")),
                                             LABEL_CONTAINER: options.container})
        except GitkubeError as e:
            raise NotFound(f'the logs of pod "{name}" are not available here: {e.message}',
                           kind="pods", name=name) from e
        found.sort(key=lambda c: _attempt(c.labels))
        if options.previous:
            if len(found) < 2:
                raise BadRequest(f'previous terminated container "{options.container}" in '
                                 f'pod "{name}" not found')
            chosen = found[-2]
        elif not found:
            raise BadRequest(f'container "{options.container}" in pod "{name}" is waiting to '
                             "start: no container in the runtime (a simulated node, or not "
                             "started yet)")
        else:
            chosen = found[-1]
        try:
            return runtime.logs(chosen.id, follow=options.follow, tail=options.tail_lines,
                                since=options.since(time.time()),
                                timestamps=options.timestamps)
        except GitkubeError as e:
            raise BadRequest(f'the logs of container "{options.container}" in pod "{name}" '
                             f"cannot be read: {e.message}") from e

    def close(self) -> None:
        with self._lock:
            if self._runtime is not None:
                self._runtime.close()
                self._runtime = None


_END = object()
HEARTBEAT = 1.0  # s without a line after which a follow stream looks for its client


class Followed:
    """A followed log (``logs -f``) read by a thread of its own, so that the stream can
    yield None (transport: "is the client still there?") every ``interval`` seconds while
    the container writes nothing; ``close()`` ends it, and with a closable runtime stream
    (Podman's ``LogLines``) also the read that waits, so an abandoned ``logs -f`` leaves no
    thread or connection behind."""

    def __init__(self, lines: Iterator[str], interval: float = HEARTBEAT):
        self._lines = lines
        self._interval = interval
        self._queue: queue.Queue[object] = queue.Queue(maxsize=256)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="logs-follow", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for line in self._lines:
                while not self._done.is_set():
                    try:
                        self._queue.put(line, timeout=self._interval)
                        break
                    except queue.Full:
                        continue
                if self._done.is_set():
                    return
        except Exception:  # the runtime's stream broke (or was closed): the end
            pass
        finally:
            with contextlib.suppress(queue.Full):
                self._queue.put(_END, timeout=self._interval)

    def __iter__(self) -> Iterator[str | None]:
        while not self._done.is_set():
            try:
                item = self._queue.get(timeout=self._interval)
            except queue.Empty:
                yield None
                continue
            if item is _END:
                return
            yield str(item)

    def close(self) -> None:
        self._done.set()
        close = getattr(self._lines, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()

    def join(self, timeout: float) -> bool:
        """Whether the reading thread has ended within ``timeout`` s (tests)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


def limited(lines: Iterable[str | None], limit_bytes: int | None) -> Iterator[bytes | None]:
    """The lines as UTF-8, stopping after ``limit_bytes`` (cutting the last line short); a
    None (a follow stream's heartbeat) passes through."""
    left = limit_bytes
    for line in lines:
        if line is None:
            yield None
            continue
        data = line.encode()
        if left is not None:
            if left <= 0:
                return
            data = data[:left]
            left -= len(data)
        if data:
            yield data
