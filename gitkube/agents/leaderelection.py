"""Leader election through ``coordination.k8s.io/v1`` Leases, with client-go's semantics.

Several control planes may share one store; the agents that must not run twice (the
scheduler, the controllers) run only in the one that holds their Lease
(``kube-system/kube-scheduler``, ``kube-system/kube-controller-manager``).

- **Acquire**: every ``retry_period`` (jittered up to 1.2x) read the Lease; take it when it
  does not exist (create), has no holder, or has not changed for its
  ``leaseDurationSeconds`` as measured on *this* process's monotonic clock since it first
  saw that version (no clock of another machine is trusted). Every write carries the
  resourceVersion just read, so of two candidates only one wins (compare-and-swap).
- **Renew**: the leader rewrites ``renewTime`` every ``retry_period``. It is the leader
  only until ``renew_deadline`` after the start of its last successful renewal; a watchdog
  thread stops its agents then, whatever the store calls in flight are doing. Another
  candidate acts ``lease_duration`` after it *saw* that renewal, which came later; the
  agents thus have ``lease_duration - renew_deadline`` to stop, and writes through the
  group's :class:`FencedClient` are refused from the deadline on.
- **Release**: a leader that stops on purpose writes an empty holder with a one-second
  duration, so a successor takes over at once (client-go's ``ReleaseOnCancel``).

:class:`ElectedGroup` ties one Lease to a set of agents: leading builds them afresh on a
Manager of their own (composed from the one agent table), losing stops that Manager.
"""

from __future__ import annotations

import builtins
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from gitkube.api.client import Client, ObjectList, Record, TxnOp, TxnResult, Watcher
from gitkube.errors import AlreadyExists, Conflict, GitkubeError, NotFound
from gitkube.model import leases
from gitkube.settings import LeaderElectionSettings

if TYPE_CHECKING:
    from gitkube.agents.manager import Manager

Obj = dict[str, Any]
log = logging.getLogger("gitkube.leaderelection")
NAMESPACE = "kube-system"
JITTER = 1.2  # client-go's JitterFactor: a wait of up to 1.2 x retry_period more


class LeadershipLost(GitkubeError):
    """A write through a FencedClient after its holder's lease ran out."""


class LeaderElector:
    """Acquires and renews one Lease for ``identity`` (module docstring). ``on_started``
    runs on a thread of its own when leadership begins; ``on_stopped`` runs when it ends
    (deadline missed, lease lost, or ``stop``) and must return promptly."""

    def __init__(self, client: Client, name: str, identity: str,
                 config: LeaderElectionSettings, *, on_started: Callable[[], None],
                 on_stopped: Callable[[], None],
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        config.check()
        self.client = client
        self.name = name
        self.namespace = NAMESPACE
        self.identity = identity
        self.config = config
        self._on_started = on_started
        self._on_stopped = on_stopped
        self._mono = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # the watchdog's: leadership began or ended
        self._leading = False
        self._term = 0
        self._renewed_at = 0.0         # monotonic start of the last successful try
        self._observed: Obj | None = None  # the Lease spec last seen, and when
        self._observed_at = 0.0
        self._threads: list[threading.Thread] = []
        self.transitions = 0           # how often this elector became leader

    # --- state -------------------------------------------------------------------------

    def is_leader(self) -> bool:
        """True while this elector may act: it leads and its renew deadline has not
        passed."""
        with self._lock:
            return self._leading and self._mono() < self._renewed_at + \
                self.config.renew_deadline

    @property
    def term(self) -> int:
        """Which leadership this is (1 for the first); a new term means new agents."""
        with self._lock:
            return self._term

    def leads_term(self, term: int) -> bool:
        """True while ``term`` is the current term and this elector may act in it."""
        return self.term == term and self.is_leader()

    @property
    def duration(self) -> int:
        return int(self.config.lease_duration)

    # --- one attempt ---------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One read and at most one write of the Lease; True when this elector holds it
        afterwards. Store and API errors count as a failed attempt."""
        started = self._mono()
        try:
            ok = self._attempt()
        except (GitkubeError, OSError) as exc:
            log.debug("%s: lease %s/%s: %s", self.identity, self.namespace, self.name, exc)
            return False
        if ok:
            with self._lock:
                self._renewed_at = max(self._renewed_at, started)
        return ok

    def _attempt(self) -> bool:
        try:
            lease = self.client.get(leases.API_VERSION, "Lease", self.namespace, self.name)
        except NotFound:
            record = leases.claim(None, self.identity, self._wall(), self.duration,
                                  held_by_other=False)
            assert record is not None
            try:
                created = self.client.create(
                    leases.lease_object(self.namespace, self.name, record))
            except AlreadyExists:
                return False
            self._observe(created)
            return True
        self._observe(lease)
        current = leases.record_of(lease)
        held = self._mono() < self._observed_at + current.duration
        record = leases.claim(current, self.identity, self._wall(), self.duration,
                              held_by_other=held)
        if record is None:
            return False
        rv = str(lease["metadata"].get("resourceVersion") or "")
        try:
            updated = self.client.update(leases.lease_object(
                self.namespace, self.name, record, resource_version=rv))
        except (Conflict, NotFound):
            return False
        self._observe(updated)
        return True

    def _taken(self) -> bool:
        """True when the Lease last read names another holder."""
        holder = (self._observed or {}).get("holderIdentity")
        return bool(holder) and holder != self.identity

    def _observe(self, lease: Obj) -> None:
        spec = dict(lease.get("spec") or {})
        if spec != self._observed:
            self._observed = spec
            self._observed_at = self._mono()

    def release(self) -> bool:
        """Give the Lease up (empty holder, one second) when this elector holds it."""
        try:
            lease = self.client.get(leases.API_VERSION, "Lease", self.namespace, self.name)
            current = leases.record_of(lease)
            if current.holder != self.identity:
                return False
            rv = str(lease["metadata"].get("resourceVersion") or "")
            self.client.update(leases.lease_object(
                self.namespace, self.name, leases.released(current, self._wall()),
                resource_version=rv))
            return True
        except (GitkubeError, OSError) as exc:
            log.warning("%s: could not release lease %s/%s: %s", self.identity,
                        self.namespace, self.name, exc)
            return False

    # --- the loops -----------------------------------------------------------------------

    def start(self) -> LeaderElector:
        for target, what in ((self._run, "elect"), (self._watchdog, "watchdog")):
            thread = threading.Thread(target=target, daemon=True,
                                      name=f"gitkube-{what} {self.name}")
            thread.start()
            self._threads.append(thread)
        return self

    def _pause(self) -> bool:
        """Wait one jittered retry period; True when asked to stop."""
        wait = self.config.retry_period * (1 + random.random() * (JITTER - 1))
        return self._stop.wait(wait)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.try_acquire_or_renew():
                if self._pause():
                    return
                continue
            self._begin()
            while not self._stop.wait(self.config.retry_period):
                if not self.is_leader():
                    break  # the watchdog ended this term
                if not self.try_acquire_or_renew() and self._taken():
                    log.warning("%s: lease %s/%s was taken over: stepping down",
                                self.identity, self.namespace, self.name)
                    self._end()
                    break

    def _begin(self) -> None:
        with self._lock:
            self._leading = True
            self._term += 1
            self.transitions += 1
        self._wake.set()
        log.info("%s became leader of %s/%s", self.identity, self.namespace, self.name)
        threading.Thread(target=self._on_started, daemon=True,
                         name=f"gitkube-lead {self.name}").start()

    def _watchdog(self) -> None:
        """End the term when the renew deadline passes (store calls may hang)."""
        while not self._stop.is_set():
            with self._lock:
                leading = self._leading
                deadline = self._renewed_at + self.config.renew_deadline
            if not leading:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            left = deadline - self._mono()
            if left > 0:
                self._stop.wait(min(left, 0.5))
                continue
            log.warning("%s could not renew lease %s/%s within %gs: stepping down",
                        self.identity, self.namespace, self.name,
                        self.config.renew_deadline)
            self._end()

    def _end(self) -> None:
        with self._lock:
            if not self._leading:
                return
            self._leading = False
        # from here on the agents' writes are refused (FencedClient); stopping them may
        # take a while when the store hangs, but they can no longer act
        log.info("%s stopped leading %s/%s", self.identity, self.namespace, self.name)
        try:
            self._on_stopped()
        except Exception:
            log.exception("%s: stopping the agents of %s failed", self.identity, self.name)
        log.info("%s: the agents of %s/%s stopped", self.identity, self.namespace, self.name)

    def stop(self, *, release: bool = True) -> None:
        """Stop electing; a leader stops its agents, then (``release``) gives the Lease
        up."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        was_leading = self.is_leader()
        self._end()
        if release and was_leading:
            self.release()


class FencedClient:
    """A Client whose writes are refused (LeadershipLost) once ``allowed()`` is False: the
    agents of a leader that lost its Lease cannot write even before they stopped."""

    def __init__(self, client: Client, allowed: Callable[[], bool], what: str):
        self._client = client
        self._allowed = allowed
        self._what = what

    def _check(self) -> None:
        if not self._allowed():
            raise LeadershipLost(f"not the leader of {self._what} any more",
                                 hint="another control plane took over")

    # reads

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj:
        return self._client.get(api_version, kind, namespace, name)

    def list(self, *args: Any, **kwargs: Any) -> ObjectList:
        return self._client.list(*args, **kwargs)

    def watch(self, *args: Any, **kwargs: Any) -> Watcher:
        return self._client.watch(*args, **kwargs)

    def get_scale(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj:
        return self._client.get_scale(api_version, kind, namespace, name)

    def get_record(self, key: str) -> Record | None:
        return self._client.get_record(key)

    def list_records(self, prefix: str) -> builtins.list[Record]:
        return self._client.list_records(prefix)

    # writes

    def create(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        self._check()
        return self._client.create(obj, field_manager=field_manager)

    def update(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        self._check()
        return self._client.update(obj, field_manager=field_manager)

    def update_status(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        self._check()
        return self._client.update_status(obj, field_manager=field_manager)

    def apply(self, obj: Obj, *, field_manager: str, force: bool = False,
              subresource: Literal["status", "scale"] | None = None) -> Obj:
        self._check()
        return self._client.apply(obj, field_manager=field_manager, force=force,
                                  subresource=subresource)

    def patch(self, *args: Any, **kwargs: Any) -> Obj:
        self._check()
        return self._client.patch(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Obj:
        self._check()
        return self._client.delete(*args, **kwargs)

    def bind(self, *args: Any, **kwargs: Any) -> Obj:
        self._check()
        return self._client.bind(*args, **kwargs)

    def update_scale(self, *args: Any, **kwargs: Any) -> Obj:
        self._check()
        return self._client.update_scale(*args, **kwargs)

    def delete_collection(self, *args: Any, **kwargs: Any) -> ObjectList:
        self._check()
        return self._client.delete_collection(*args, **kwargs)

    def transaction(self, ops: Sequence[TxnOp]) -> TxnResult:
        self._check()
        return self._client.transaction(ops)


class ElectedGroup:
    """Agents that run only while ``lease`` is held: ``build(manager)`` adds them to a
    fresh Manager on a FencedClient at each term; losing the Lease stops that Manager."""

    def __init__(self, client: Client, lease: str, identity: str,
                 config: LeaderElectionSettings, build: Callable[[Manager], object]):
        self.lease = lease
        self._client = client
        self._build = build
        self._lock = threading.Lock()
        self._manager: Manager | None = None
        self.elector = LeaderElector(client, lease, identity, config,
                                     on_started=self._lead, on_stopped=self._step_down)

    @property
    def manager(self) -> Manager | None:
        """The running Manager of this term (None while not leading)."""
        return self._manager

    def _lead(self) -> None:
        try:
            self._start_term()
        except Exception:
            log.exception("%s: starting the agents of %s failed", self.elector.identity,
                          self.lease)

    def _start_term(self) -> None:
        from gitkube.agents.manager import Manager

        term = self.elector.term
        fenced = FencedClient(self._client, lambda: self.elector.leads_term(term), self.lease)
        manager = Manager(fenced)
        self._build(manager)
        with self._lock:
            if not self.elector.leads_term(term):
                return
            self._manager = manager
        manager.start()

    def _step_down(self) -> None:
        with self._lock:
            manager, self._manager = self._manager, None
        if manager is not None:
            manager.stop()

    def start(self) -> ElectedGroup:
        self.elector.start()
        return self

    def stop(self) -> None:
        self.elector.stop(release=True)


__all__ = ["JITTER", "NAMESPACE", "ElectedGroup", "FencedClient", "LeaderElector",
           "LeadershipLost"]
