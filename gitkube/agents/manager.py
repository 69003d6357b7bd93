"""The agent machinery: informers, a work queue, level-triggered reconcilers, a Manager.

Contract (read this before writing an agent)
============================================

- **Agents talk only to a ``Client``** (gitkube/api/client.py). No store, no files: the same
  agent runs in-process (``LocalClient``), in a daemon, or against the HTTP API.
- **Informer** (one per (apiVersion, kind), shared through ``Manager.informer``): lists, then
  watches from the list's resourceVersion; relists on ``gitkube.errors.Gone``; keeps a cache
  of every object of the kind (all namespaces). ``get(key)``, ``list(namespace, selector)``,
  ``list_keys()``, ``by_index(name, value)`` read the cache. **Cached objects are shared:
  never mutate one** (``copy.deepcopy`` first, or build a new dict). Handlers
  (``add_handler(on_add, on_update, on_delete)``) run on the informer's thread and must be
  quick (enqueue keys); an update whose resourceVersion did not change is dropped; a handler
  added late first gets ``on_add`` for everything cached. Indexes: ``add_index(name, fn)``
  with ``fn(obj) -> list[str]``; ``index_by_owner_uid`` and ``index_by_node_name`` are
  ready-made.
- **Keys** are ``"namespace/name"`` (``"name"`` for cluster-scoped kinds): ``key_of(obj)``,
  ``split_key(key)``. Queues hold keys, never payloads.
- **WorkQueue**: dedups (a key is queued at most once, and never handed to two workers at
  once; a key added while being processed is re-queued when ``done``), ``add_after(key,
  delay)``, ``add_rate_limited(key)`` (exponential back-off 5 ms .. 30 s per key, reset by
  ``forget``).
- **Reconciler**: ``reconcile(key) -> Result(requeue_after=None)``. Level-triggered: the key
  says *what* to look at; read the current state (cache or client) every time; be
  idempotent; a missing object means "it was deleted". Raise to retry with back-off
  (``Conflict`` is normal: the next pass re-reads). ``Result(requeue_after=s)`` polls.
- **Controller**: a reconciler + its primary informer (each change enqueues the object's key)
  + ``watches(informer, mapper)`` for secondary kinds (``mapper(obj) -> keys``;
  ``owner_mapper("ReplicaSet")`` maps a child to its controller owner's key) + periodic
  resync (every primary key re-enqueued every ``resync_period`` seconds).
- **Agent** protocol: ``name``, ``start()``, ``stop()`` (joins its threads); optionally
  ``signal_stop()`` (ask without waiting: the Manager calls it on every agent first, so they
  all wind down in parallel). Controllers are agents; so are the scheduler and kubelet.
  Construct agents with a Manager and take informers from it before ``Manager.start()``.
- **Manager(client, clock=...)**: ``informer(api_version, kind)`` (shared; one watch per
  kind), ``add(agent)``, ``start()`` (informers first, waits for their initial list, then
  agents), ``stop()``, ``run_until(predicate, timeout, poll) -> bool``; a context manager.
  ``manager.clock()`` is the wall clock in epoch seconds (inject a ``ManualClock`` in tests);
  ``manager.recorder(component)`` is an ``EventRecorder`` (gitkube/agents/events.py).
  Delays in the work queue (``requeue_after``, back-off) are real time.
"""

from __future__ import annotations

import builtins
import contextlib
import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gitkube.api.client import Client, Watcher, WatchEvent
from gitkube.errors import GitkubeError, Gone
from gitkube.model.kinds import lookup
from gitkube.model.labels import Selector, as_selector

if TYPE_CHECKING:
    from gitkube.agents.events import EventRecorder

Obj = dict[str, Any]
Clock = Callable[[], float]
log = logging.getLogger("gitkube.agents")

WATCH_POLL = 0.2  # how often a blocked watch checks for stop


# --- keys ----------------------------------------------------------------------------------


def key_of(obj: Mapping[str, Any]) -> str:
    """``namespace/name``, or ``name`` for an object without a namespace."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def split_key(key: str) -> tuple[str | None, str]:
    """``(namespace, name)``; namespace None for a cluster-scoped key."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def controller_ref(obj: Mapping[str, Any]) -> Obj | None:
    """The ownerReference with ``controller: true``, or None."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def index_by_owner_uid(obj: Obj) -> list[str]:
    """Index function: the uid of every owner (find children with ``by_index``)."""
    return [str(r.get("uid")) for r in (obj.get("metadata") or {}).get("ownerReferences") or []
            if isinstance(r, dict) and r.get("uid")]


def index_by_node_name(obj: Obj) -> list[str]:
    """Index function: ``spec.nodeName`` (pods on a node)."""
    node = (obj.get("spec") or {}).get("nodeName")
    return [str(node)] if node else []


def index_by_namespace(obj: Obj) -> list[str]:
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


class ManualClock:
    """A wall clock for tests: starts at ``start`` (epoch seconds) and moves only when told."""

    def __init__(self, start: float | None = None):
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


# --- informer ------------------------------------------------------------------------------

AddHandler = Callable[[Obj], None]
UpdateHandler = Callable[[Obj, Obj], None]
DeleteHandler = Callable[[Obj], None]


@dataclass(frozen=True)
class _Handlers:
    on_add: AddHandler | None
    on_update: UpdateHandler | None
    on_delete: DeleteHandler | None


class Informer:
    """A watched cache of one kind (all namespaces). See the module docstring."""

    def __init__(self, client: Client, api_version: str, kind: str):
        self.client = client
        self.api_version = api_version
        self.kind = kind
        rt = lookup(api_version, kind)
        self.namespaced = rt.namespaced if rt is not None else True
        self._cache: dict[str, Obj] = {}
        self._indexers: dict[str, Callable[[Obj], builtins.list[str]]] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._handlers: builtins.list[_Handlers] = []
        self._lock = threading.RLock()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher: Watcher | None = None
        self.resource_version = ""
        self.add_index("namespace", index_by_namespace)  # list(namespace) uses it

    # reads
    def get(self, key: str) -> Obj | None:
        """The cached object (shared: do not mutate) or None."""
        with self._lock:
            return self._cache.get(key)

    def get_by(self, namespace: str | None, name: str) -> Obj | None:
        return self.get(f"{namespace}/{name}" if self.namespaced and namespace else name)

    def list(self, namespace: str | None = None,
             selector: str | Mapping[str, Any] | Selector | None = None) -> builtins.list[Obj]:
        """Cached objects (shared), optionally one namespace and a label selector."""
        sel = as_selector(selector) if selector is not None else None
        with self._lock:
            if namespace:
                keys = self._indexes.get("namespace", {}).get(namespace, set())
                items = [self._cache[k] for k in keys]
            else:
                items = list(self._cache.values())
        if sel is not None and not sel.empty:
            items = [o for o in items if sel.matches_object(o)]
        return items

    def list_keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._cache)

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        """Cached objects whose index function ``name`` produced ``value``."""
        with self._lock:
            return [self._cache[k] for k in self._indexes.get(name, {}).get(value, ())]

    def add_index(self, name: str, fn: Callable[[Obj], builtins.list[str]]) -> None:
        """Add an index (idempotent by name); existing entries are indexed at once."""
        with self._lock:
            if name in self._indexers:
                return
            self._indexers[name] = fn
            self._indexes[name] = {}
            for key, obj in self._cache.items():
                self._index(name, key, obj)

    def add_handler(self, on_add: AddHandler | None = None,
                    on_update: UpdateHandler | None = None,
                    on_delete: DeleteHandler | None = None) -> None:
        h = _Handlers(on_add, on_update, on_delete)
        with self._lock:
            self._handlers.append(h)
            existing = list(self._cache.values())
        if on_add is not None:
            for obj in existing:
                on_add(obj)

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    # lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"informer {self.kind}")
        self._thread.start()

    def signal_stop(self) -> None:
        """Ask the thread to stop (closing the open watch wakes it) without waiting."""
        self._stop.set()
        watcher = self._watcher
        if watcher is not None:
            with contextlib.suppress(Exception):
                watcher.close()

    def stop(self) -> None:
        self.signal_stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    # internals
    def _index(self, name: str, key: str, obj: Obj) -> None:
        for value in self._indexers[name](obj):
            self._indexes[name].setdefault(value, set()).add(key)

    def _unindex(self, name: str, key: str, obj: Obj) -> None:
        index = self._indexes[name]
        for value in self._indexers[name](obj):
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]

    def _store(self, key: str, obj: Obj | None) -> Obj | None:
        """Put (or remove, when None) ``key`` in the cache; returns the previous object."""
        old = self._cache.get(key)
        for name in self._indexers:
            if old is not None:
                self._unindex(name, key, old)
            if obj is not None:
                self._index(name, key, obj)
        if obj is None:
            self._cache.pop(key, None)
        else:
            self._cache[key] = obj
        return old

    def _dispatch(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        with self._lock:
            handlers = list(self._handlers)
        for h in handlers:
            try:
                if kind == "add" and h.on_add and new is not None:
                    h.on_add(new)
                elif kind == "update" and h.on_update and old is not None and new is not None:
                    h.on_update(old, new)
                elif kind == "delete" and h.on_delete and old is not None:
                    h.on_delete(old)
            except Exception:
                log.exception("informer %s: %s handler failed", self.kind, kind)

    def _apply(self, event: WatchEvent) -> None:
        obj = event.object
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if rv:
            self.resource_version = rv
        if event.type in ("BOOKMARK",):
            return
        key = key_of(obj)
        with self._lock:
            if event.type == "DELETED":
                old = self._store(key, None)
            else:
                old = self._cache.get(key)
                if old is not None and old["metadata"].get("resourceVersion") == rv:
                    return  # nothing changed
                self._store(key, obj)
        if event.type == "DELETED":
            if old is not None:
                self._dispatch("delete", old, None)
        elif old is None:
            self._dispatch("add", None, obj)
        else:
            self._dispatch("update", old, obj)

    def _relist(self) -> str:
        listed = self.client.list(self.api_version, self.kind)
        fresh = {key_of(o): o for o in listed.items}
        changes: builtins.list[tuple[str, Obj | None, Obj | None]] = []
        with self._lock:
            for key in [k for k in self._cache if k not in fresh]:
                changes.append(("delete", self._store(key, None), None))
            for key, obj in fresh.items():
                old = self._cache.get(key)
                if old is not None and old["metadata"].get("resourceVersion") == \
                        obj["metadata"].get("resourceVersion"):
                    continue
                self._store(key, obj)
                changes.append(("add" if old is None else "update", old, obj))
            self.resource_version = listed.resource_version
        for kind, old, new in changes:
            self._dispatch(kind, old, new)
        return listed.resource_version

    def _run(self) -> None:
        backoff = 0.1
        need_list = True
        outage = Outage(f"informer {self.kind}: list/watch")
        while not self._stop.is_set():
            try:
                if need_list:
                    self._relist()
                    self._synced.set()
                    need_list = False
                watcher = self.client.watch(self.api_version, self.kind,
                                            resource_version=self.resource_version)
                outage.recovered()
                self._watcher = watcher
                if self._stop.is_set():
                    watcher.close()
                try:
                    ended = StreamEnd()
                    while not self._stop.is_set():
                        event = ended.next_event(watcher, WATCH_POLL)
                        if event is None:
                            if ended:  # a server ended the watch: again from where we are
                                self._stop.wait(backoff)
                                backoff = min(backoff * 2, 5.0)
                                break
                            continue
                        if event.type == "ERROR":
                            need_list = True
                            break
                        self._apply(event)
                        backoff = 0.1
                finally:
                    self._watcher = None
                    watcher.close()
            except Gone:
                need_list = True
            except Exception as exc:
                outage.failed(exc)
                need_list = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)


class StreamEnd:
    """Tells a watch stream that was closed from one that is quiet: ``next_event`` returning
    None long before its timeout, three times in a row, means the stream has ended (a server
    ended the watch); the caller watches again from where it is. Truthy once ended."""

    def __init__(self) -> None:
        self._quick_nones = 0

    def __bool__(self) -> bool:
        return self._quick_nones >= 3

    def next_event(self, watcher: Watcher, timeout: float) -> WatchEvent | None:
        asked = time.monotonic()
        event = watcher.next_event(timeout)
        if event is not None:
            self._quick_nones = 0
        elif time.monotonic() - asked < timeout / 4:
            self._quick_nones += 1
        else:
            self._quick_nones = 0
        return event


class Outage:
    """Says a failure that repeats once, not once per retry: the first failure is one
    warning line (a traceback only for an unexpected error, a bug), the repeats are counted,
    and the recovery is one line with the count and the duration."""

    def __init__(self, what: str, logger: logging.Logger = log,
                 clock: Callable[[], float] = time.monotonic):
        self.what = what
        self.log = logger
        self.clock = clock
        self.failures = 0
        self._since = 0.0

    def failed(self, exc: BaseException) -> None:
        """One more failure; said when it is the first of an outage."""
        self.failures += 1
        if self.failures > 1:
            return
        self._since = self.clock()
        if isinstance(exc, GitkubeError):
            self.log.warning("%s failed: %s (retrying; said once until it works again)",
                             self.what, exc.message)
        else:
            self.log.exception("%s failed (retrying; said once until it works again)",
                               self.what)

    def recovered(self) -> None:
        """It works again: one line saying how long it failed and how often."""
        if self.failures:
            self.log.warning("%s works again after %d failed attempt(s) in %.0fs", self.what,
                             self.failures, self.clock() - self._since)
            self.failures = 0


# --- work queue ----------------------------------------------------------------------------


class WorkQueue:
    """A deduplicating, rate-limited, delaying queue of keys. Thread-safe."""

    def __init__(self, *, base_delay: float = 0.005, max_delay: float = 30.0):
        self._queue: list[str] = []
        self._head = 0
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = 0
        self._failures: dict[str, int] = {}
        self._cond = threading.Condition()
        self._shutdown = False
        self.base_delay = base_delay
        self.max_delay = max_delay

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) - self._head

    def add(self, key: str) -> None:
        with self._cond:
            if self._shutdown or key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutdown:
                return
            self._seq += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay, self._seq, key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> None:
        with self._cond:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
        self.add_after(key, min(self.base_delay * (2 ** n), self.max_delay))

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def _promote(self) -> float | None:
        """Move due delayed keys into the queue; seconds until the next one (None: none)."""
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            if key not in self._dirty:
                self._dirty.add(key)
                if key not in self._processing:
                    self._queue.append(key)
        return self._delayed[0][0] - now if self._delayed else None

    def get(self, timeout: float | None = None) -> str | None:
        """The next key (now being processed: call ``done``), or None on timeout/shutdown."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shutdown:
                    return None
                wait = self._promote()
                if self._head < len(self._queue):
                    key = self._queue[self._head]
                    self._head += 1
                    if self._head > 1024 and self._head * 2 > len(self._queue):
                        del self._queue[:self._head]
                        self._head = 0
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def idle(self) -> bool:
        """Nothing queued, delayed or being processed."""
        with self._cond:
            return self._head >= len(self._queue) and not self._processing and \
                not self._delayed

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()


# --- reconcilers and controllers -----------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for: ``requeue_after`` seconds (None: only on change)."""

    requeue_after: float | None = None


class Reconciler(Protocol):
    def reconcile(self, key: str) -> Result: ...


class Agent(Protocol):
    """Something a Manager starts and stops (a Controller, the scheduler, a kubelet)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


Mapper = Callable[[Obj], Iterable[str]]


class Source(Protocol):
    """What a Controller needs of its primary: change handlers and every key (an Informer,
    or a filtered view of one, such as the kubelet's pods of one node)."""

    def add_handler(self, on_add: AddHandler | None = None,
                    on_update: UpdateHandler | None = None,
                    on_delete: DeleteHandler | None = None) -> None: ...

    def list_keys(self) -> builtins.list[str]: ...


def owner_mapper(owner_kind: str) -> Mapper:
    """Map a child to the key of its controller owner of kind ``owner_kind`` (same ns)."""

    def mapper(obj: Obj) -> list[str]:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != owner_kind:
            return []
        ns = (obj.get("metadata") or {}).get("namespace")
        return [f"{ns}/{ref['name']}" if ns else str(ref["name"])]

    return mapper


class Controller:
    """Runs one Reconciler over a work queue fed by informers. An Agent."""

    def __init__(self, name: str, reconciler: Reconciler, primary: Source | None, *,
                 workers: int = 1, resync_period: float | None = 30.0):
        self.name = name
        self.reconciler = reconciler
        self.primary = primary
        self.queue = WorkQueue()
        self.workers = workers
        self.resync_period = resync_period
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        if primary is not None:  # None: keys come only from ``watches`` and ``enqueue``
            primary.add_handler(self._enqueue_obj, lambda _o, n: self._enqueue_obj(n),
                                self._enqueue_obj)

    def _enqueue_obj(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    def watches(self, informer: Informer, mapper: Mapper) -> Controller:
        """Enqueue ``mapper(obj)`` for every change of a secondary kind (old and new)."""

        def on_change(obj: Obj) -> None:
            for key in mapper(obj):
                self.queue.add(key)

        def on_update(old: Obj, new: Obj) -> None:
            on_change(old)
            on_change(new)

        informer.add_handler(on_change, on_update, on_change)
        return self

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    def start(self) -> None:
        self._stop.clear()
        for i in range(self.workers):
            t = threading.Thread(target=self._work, daemon=True, name=f"{self.name}-{i}")
            t.start()
            self._threads.append(t)
        if self.resync_period and self.primary is not None:
            t = threading.Thread(target=self._resync, daemon=True, name=f"{self.name}-resync")
            t.start()
            self._threads.append(t)

    def signal_stop(self) -> None:
        self._stop.set()
        self.queue.shutdown()

    def stop(self) -> None:
        self.signal_stop()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)
        self._threads = []

    def _resync(self) -> None:
        assert self.resync_period and self.primary is not None
        while not self._stop.wait(self.resync_period):
            for key in self.primary.list_keys():
                self.queue.add(key)

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                result = self.reconciler.reconcile(key)
            except Exception as e:
                failures = self.queue.failures(key) + 1
                # Conflicts from a stale cache are routine; say so only when it persists.
                level = logging.WARNING if failures in (5, 20, 100, 500) else logging.DEBUG
                log.log(level, "%s: reconcile %s failed (%d times): %s", self.name, key,
                        failures, e, exc_info=log.isEnabledFor(logging.DEBUG))
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if result.requeue_after is not None:
                    self.queue.add_after(key, result.requeue_after)
            finally:
                self.queue.done(key)


# --- manager -------------------------------------------------------------------------------


class Manager:
    """Starts and stops agents and the informers they share (one watch per kind)."""

    def __init__(self, client: Client, *, clock: Clock | None = None, host: str = ""):
        self.client = client
        self.clock: Clock = clock or time.time
        self.host = host
        self.agents: list[Agent] = []
        self._informers: dict[tuple[str, str], Informer] = {}
        self._recorders: dict[str, EventRecorder] = {}
        self._lock = threading.Lock()
        self._started = False

    def informer(self, api_version: str, kind: str) -> Informer:
        """The shared informer for a kind (started at once if the manager runs)."""
        with self._lock:
            inf = self._informers.get((api_version, kind))
            if inf is None:
                inf = Informer(self.client, api_version, kind)
                self._informers[(api_version, kind)] = inf
                if self._started:
                    inf.start()
            return inf

    def recorder(self, component: str) -> EventRecorder:
        from gitkube.agents.events import EventRecorder

        with self._lock:
            rec = self._recorders.get(component)
            if rec is None:
                rec = EventRecorder(self.client, component, self.host, clock=self.clock,
                                    asynchronous=True)
                self._recorders[component] = rec
            return rec

    def add(self, agent: Agent) -> Agent:
        with self._lock:
            self.agents.append(agent)
            started = self._started
        if started:
            agent.start()
        return agent

    def start(self, *, sync_timeout: float = 30.0) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            informers = list(self._informers.values())
        for inf in informers:
            inf.start()
        for inf in informers:
            if not inf.wait_for_sync(sync_timeout):
                log.warning("informer %s did not sync within %ss", inf.kind, sync_timeout)
        with self._lock:
            if not self._started:
                return  # stopped while the informers synced: start no agent
        for agent in list(self.agents):
            agent.start()

    def stop(self) -> None:
        with self._lock:
            if not self._started:
                return
            self._started = False
            agents = list(self.agents)
            informers = list(self._informers.values())
        for agent in agents:  # ask every agent first, then wait for each
            signal = getattr(agent, "signal_stop", None)
            if callable(signal):
                signal()
        for agent in reversed(agents):
            try:
                agent.stop()
            except Exception:
                log.exception("stopping agent %s failed", getattr(agent, "name", agent))
        for inf in informers:
            inf.signal_stop()
        for inf in informers:
            inf.stop()
        with self._lock:
            recorders = list(self._recorders.values())
            self._recorders.clear()
        for rec in recorders:
            rec.close()

    def flush_events(self) -> None:
        """Wait until every recorder's queued events are written."""
        with self._lock:
            recorders = list(self._recorders.values())
        for rec in recorders:
            rec.flush()

    @property
    def running(self) -> bool:
        return self._started

    def run_until(self, predicate: Callable[[], bool], timeout: float,
                  poll: float = 0.05) -> bool:
        """Start (if needed) and poll ``predicate`` until it holds (True) or ``timeout``
        seconds passed (False). The agents keep running: ``stop()`` them when done."""
        self.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate():
                    return True
            except Exception:
                log.debug("run_until predicate failed", exc_info=True)
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)

    def __enter__(self) -> Manager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "Agent",
    "Clock",
    "Controller",
    "Informer",
    "Manager",
    "ManualClock",
    "Reconciler",
    "Result",
    "Source",
    "WorkQueue",
    "controller_ref",
    "index_by_node_name",
    "index_by_owner_uid",
    "key_of",
    "owner_mapper",
    "split_key",
]
