"""Run the agents in-process until applied objects are converged (``gitkube apply --wait``).

``converge(client, refs, timeout=...)`` starts one Manager with the kubelet (on local Podman,
node = this host), the scheduler and every controller, then polls the objects in ``refs``
until each is converged:

=====================  ==============================================================
Deployment             done as ``kubectl rollout status`` says; paused: converged once
                       observed; past its progress deadline: a failure
StatefulSet            done as ``kubectl rollout status`` says (OnDelete: observed and
                       every pod ready)
DaemonSet              done as ``kubectl rollout status`` says (OnDelete: observed and
                       every pod ready)
ReplicaSet             readyReplicas and availableReplicas >= spec.replicas
Job                    condition Complete=True (Failed=True ends the wait as a failure)
Pod                    Ready=True, or phase Succeeded
Namespace              phase Active
anything else          it exists
=====================  ==============================================================

The rules live in gitkube/model/rollout.py (``convergence``), shared with ``gitkube rollout
status``.

Deleted objects are waited for too (``gone=``: ``gitkube delete``, and the objects an apply
pruned): a ``Deleted`` target is done when the object is gone from the store (a new object of
that name does not count), nothing it owned is left (ownerReferences, transitively: a
Deployment's ReplicaSets and Pods), and no pod sandbox of that namespace is left in the
container runtime without its pod (the kubelet stops and removes those). A deleted Namespace
is done when it is gone and nothing is left inside it (Events aside: the namespace controller
purges them, but one recorded by a racing agent must not hold the wait) and no pod sandbox is
labelled with it. Without a runtime (a daemon runs the agents) the sandboxes are not checked.

Each look at the targets is reported to ``on_progress`` as a ``Progress`` (plain data; the
CLI draws it: one redrawn line on a terminal, plain lines otherwise). When the time is up
(or a Job failed) the result names each unconverged object and why: its status, the state
of its pods that are not ready (waiting reasons, unschedulable messages) and its latest
Warning event. ``report(result)`` is that as text.

``converge(..., agents=AgentSet(...))`` runs the agents (gitkube/agents/compose.py) while it
waits and stops them when it returns; containers keep running (conmon supervises them),
and the next gitkube run adopts them. Without ``agents`` it only waits (a daemon's agents
do the work).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from gitkube.agents.compose import AgentSet
from gitkube.api.client import Client
from gitkube.errors import GitkubeError, NotFound
from gitkube.model import kinds
from gitkube.model.labels import selector_matches
from gitkube.model.objects import ObjectRef
from gitkube.model.pods import is_pod_ready as pod_ready
from gitkube.model.pods import pod_problem
from gitkube.model.rollout import convergence
from gitkube.runtime.base import (
    LABEL_CLUSTER,
    LABEL_NAMESPACE,
    LABEL_POD_NAME,
    LABEL_POD_UID,
    ContainerRuntime,
)

log = logging.getLogger("gitkube.converge")
Obj = dict[str, Any]

WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")


@dataclass(frozen=True)
class Verdict:
    done: bool
    detail: str  # "2/2 available", or why not
    failed: bool = False  # will not converge by waiting (a failed Job)


@dataclass(frozen=True)
class Deleted:
    """A deleted object to wait for (module docstring). ``uid``: the deleted object's; its
    dependents are found by it, and an object recreated under the name does not count."""
    ref: ObjectRef
    uid: str | None = None

    @classmethod
    def of(cls, obj: Obj) -> Deleted:
        return cls(ObjectRef.of(obj), str((obj.get("metadata") or {}).get("uid") or "") or None)


@dataclass
class ConvergeResult:
    ok: bool
    elapsed: float
    total: int
    removed: int = 0  # how many of ``total`` were Deleted targets
    unconverged: list[tuple[ObjectRef, str]] = field(default_factory=list)
    failed: list[tuple[ObjectRef, str]] = field(default_factory=list)
    pods: dict[str, int] = field(default_factory=dict)


# --- what "converged" means (the rules: gitkube/model/rollout.py, pods.py) ------------------


def verdict(obj: Obj) -> Verdict:
    """Whether one object is converged, with a short detail: gitkube/model/rollout.py's
    ``convergence``, which agrees with ``rollout status`` for the kinds it knows. Pure."""
    found = convergence(obj)
    return Verdict(found.done, found.detail, found.failed)


def _removed_verdict(last: Obj | None) -> Verdict:
    """A target no longer in the store: a Job with ``ttlSecondsAfterFinished`` that was
    seen is taken as finished (its TTL controller deleted it, possibly at once with a TTL of
    0), failed if it was last seen Failed; anything else is not found."""
    if last is None or (last.get("spec") or {}).get("ttlSecondsAfterFinished") is None:
        return Verdict(False, "not found")
    seen = verdict(last)
    if seen.failed:
        return seen
    return Verdict(True, "finished; deleted after ttlSecondsAfterFinished")


# --- the wait --------------------------------------------------------------------------------


class Converger:
    """Evaluates the targets against the store (see the module docstring)."""

    def __init__(self, client: Client, refs: Iterable[ObjectRef], *,
                 gone: Iterable[Deleted] = (), runtime: ContainerRuntime | None = None):
        self.client = client
        self.refs = list(refs)
        self.gone = {g.ref: g for g in gone if g.ref not in set(self.refs)}
        self.runtime = runtime
        self.namespaces = sorted({r.namespace for r in self.refs if r.namespace}
                                 | {_space_of(r) for r in self.gone})
        # uids of each Deleted target's dependents seen so far (they may go before their own)
        self._owned: dict[ObjectRef, set[str]] = {
            r: {g.uid} if g.uid else set() for r, g in self.gone.items()}
        self._cluster: str | None = None
        self._seen: dict[ObjectRef, Obj] = {}  # each target as last read

    def _get(self, ref: ObjectRef) -> Obj | None:
        try:
            return self.client.get(ref.api_version, ref.kind, ref.namespace or None, ref.name)
        except NotFound:
            return None

    def pods(self) -> list[Obj]:
        out: list[Obj] = []
        for ns in self.namespaces:
            out.extend(self.client.list("v1", "Pod", ns).items)
        return out

    def evaluate(self) -> dict[ObjectRef, Verdict]:
        out = {}
        for ref in self.refs:
            obj = self._get(ref)
            if obj is not None:
                self._seen[ref] = obj
                out[ref] = verdict(obj)
            else:
                out[ref] = _removed_verdict(self._seen.get(ref))
        contents: dict[str, list[Obj]] = {}
        for ref, target in self.gone.items():
            space = _space_of(ref)
            if space not in contents:
                contents[space] = self._contents(space)
            out[ref] = self._gone_verdict(target, contents[space])
        return out

    def _contents(self, namespace: str) -> list[Obj]:
        """Every object in ``namespace`` (Events aside), for finding what is left."""
        out: list[Obj] = []
        for rt in kinds.RESOURCES:
            if rt.namespaced and rt.kind != "Event":
                try:
                    out.extend(self.client.list(rt.api_version, rt.kind, namespace).items)
                except NotFound:  # a kind this api does not serve
                    continue
        return out

    def _gone_verdict(self, target: Deleted, contents: list[Obj]) -> Verdict:
        ref = target.ref
        obj = self._get(ref)
        if obj is not None and target.uid and obj["metadata"].get("uid") != target.uid:
            obj = None  # recreated under the same name: the deleted one is gone
        if obj is not None:
            return Verdict(False, _held(obj, contents if ref.kind == "Namespace" else []))
        if ref.kind == "Namespace":
            left = contents
        else:
            owned = self._owned[ref]
            left = []
            grew = True
            while grew:  # transitively: a Deployment's ReplicaSets, then their Pods
                grew = False
                for o in contents:
                    uid = str(o["metadata"].get("uid") or "")
                    if uid in owned:
                        continue
                    if any(r.get("uid") in owned
                           for r in o["metadata"].get("ownerReferences") or []):
                        owned.add(uid)
                        grew = True
            left = [o for o in contents if str(o["metadata"].get("uid") or "") in owned]
        if left:
            shown = ", ".join(_ref_text(ObjectRef.of(o)) for o in left[:3])
            more = f" and {len(left) - 3} more" if len(left) > 3 else ""
            return Verdict(False, f"deleted; {len(left)} object(s) left: {shown}{more}")
        stale = self._stale_sandboxes(_space_of(ref), contents)
        if stale:
            return Verdict(False, f"deleted; the containers of {len(stale)} pod(s) not removed "
                                  f"yet: {', '.join(stale[:3])}")
        return Verdict(True, "gone")

    def _stale_sandboxes(self, namespace: str, contents: list[Obj]) -> list[str]:
        """Pod sandboxes of ``namespace`` (this store's) whose pod is not in the store."""
        if self.runtime is None:
            return []
        if self._cluster is None:
            from gitkube.agents.kubelet.config import cluster_id

            self._cluster = cluster_id(self.client)
        pods = {str(o["metadata"].get("uid")) for o in contents if o.get("kind") == "Pod"}
        try:
            sandboxes = self.runtime.list_sandboxes(
                {LABEL_CLUSTER: self._cluster, LABEL_NAMESPACE: namespace})
        except GitkubeError as exc:
            return [f"(the container runtime failed: {exc})"]
        return sorted(f"{namespace}/{sb.labels.get(LABEL_POD_NAME, '?')}" for sb in sandboxes
                      if sb.labels.get(LABEL_POD_UID) not in pods)

    def explain(self, ref: ObjectRef, v: Verdict, pods: list[Obj]) -> str:
        """The detail plus the first unready pod's problem and the latest Warning event."""
        if ref in self.gone:
            return v.detail
        parts = [v.detail]
        obj = self._get(ref)
        if obj is not None and ref.kind in WORKLOADS:
            selector = (obj.get("spec") or {}).get("selector")
            if ref.kind == "Job" and not selector:
                selector = {"matchLabels": {"job-name": ref.name}}
            for pod in pods:
                if pod["metadata"].get("namespace") != ref.namespace or pod_ready(pod) or \
                        (pod.get("status") or {}).get("phase") == "Succeeded":
                    continue
                if selector and selector_matches(selector, pod["metadata"].get("labels")):
                    parts.append(f"pod {pod['metadata']['name']}: {pod_problem(pod)}")
                    pod_ref = ObjectRef("v1", "Pod", ref.namespace, pod["metadata"]["name"])
                    pod_event = self._last_warning(pod_ref, pod)
                    if pod_event:
                        parts.append(f"pod event {pod_event}")
                    break
        elif obj is not None and ref.kind == "Pod":
            parts.append(pod_problem(obj))
        event = self._last_warning(ref, obj)
        if event:
            parts.append(f"event {event}")
        return "; ".join(p for p in parts if p)

    def _last_warning(self, ref: ObjectRef, obj: Obj | None) -> str:
        if obj is None or not ref.namespace:
            return ""
        try:
            events = self.client.list(
                "v1", "Event", ref.namespace,
                field_selector=f"involvedObject.name={ref.name},type=Warning").items
        except Exception:
            return ""
        events = [e for e in events if (e.get("involvedObject") or {}).get("kind") == ref.kind]
        if not events:
            return ""
        # "BackOff" only repeats that it waits: the failure before it says why
        telling = [e for e in events if e.get("reason") != "BackOff"] or events
        last = max(telling, key=lambda e: str(e.get("lastTimestamp") or ""))
        return f"{last.get('reason')}: {last.get('message')}"


def _space_of(ref: ObjectRef) -> str:
    """The namespace a Deleted target's leftovers live in (a Namespace's own name)."""
    return ref.name if ref.kind == "Namespace" and not ref.namespace else ref.namespace


def _held(obj: Obj, inside: list[Obj]) -> str:
    """Why a deleted object is still there, in one line."""
    meta = obj.get("metadata") or {}
    if not meta.get("deletionTimestamp"):
        return "not deleted"
    parts = ["terminating"]
    if obj.get("kind") == "Namespace":
        parts = [f"phase {(obj.get('status') or {}).get('phase', 'Terminating')}"]
        if inside:
            parts.append(f"{len(inside)} object(s) left inside")
    holds = list(meta.get("finalizers") or [])
    if obj.get("kind") == "Namespace":
        holds += (obj.get("spec") or {}).get("finalizers") or []
    if holds:
        parts.append(f"finalizers {', '.join(str(h) for h in holds)}")
    return "; ".join(parts)


def _ref_text(ref: ObjectRef) -> str:
    return f"{ref.kind} {ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind} {ref.name}"


@dataclass(frozen=True)
class Progress:
    """One look at the targets, for a progress display (drawn by the caller)."""

    elapsed: float
    done: int                      # targets converged (or gone) so far
    total: int
    pods: Mapping[str, int]        # pods of the targets' namespaces, by phase
    deleting: bool                 # only deletions are waited for
    newly: tuple[tuple[ObjectRef, str], ...] = ()  # converged since the last look: detail
    gone: frozenset[ObjectRef] = frozenset()       # which targets are deletions

    def summary(self) -> str:
        """One line: "converging: 2/5 objects ready; pods: 3 Running (4s)"."""
        pods = ", ".join(f"{n} {ph}" for ph, n in sorted(self.pods.items())) or "none"
        if not self.deleting:
            return (f"converging: {self.done}/{self.total} objects ready; pods: {pods} "
                    f"({self.elapsed:.0f}s)")
        return (f"deleting: {self.done}/{self.total} objects gone; pods left: {pods} "
                f"({self.elapsed:.0f}s)")

    def notes(self) -> list[str]:
        """A line per target that converged since the last look."""
        return [f"{'gone' if ref in self.gone else 'converged'}: {_ref_text(ref)} ({detail})"
                for ref, detail in sorted(self.newly, key=lambda item: _ref_text(item[0]))]


ProgressSink = Callable[[Progress], None]


class PlainProgress:
    """A ``ProgressSink`` for a log, a pipe or a git hook's output: a line whenever an
    object converges, and the summary every ``every`` seconds."""

    def __init__(self, out: TextIO, *, prefix: str = "", every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.out = out
        self.prefix = prefix
        self.every = every
        self._clock = clock
        self._last_summary = clock()

    def __call__(self, progress: Progress) -> None:
        lines = progress.notes()
        now = self._clock()
        if now - self._last_summary >= self.every:
            lines.append(progress.summary())
            self._last_summary = now
        self.out.write("".join(f"{self.prefix}{line}\n" for line in lines))
        self.out.flush()


def wait(converger: Converger, timeout: float, *, on_progress: ProgressSink | None = None,
         poll: float = 0.1, clock: Callable[[], float] = time.monotonic) -> ConvergeResult:
    """Poll until every target converged, one failed for good, or ``timeout`` (every
    ``poll`` s: a few store reads, so the last pod's readiness ends the wait soon). Each
    look goes to ``on_progress``."""
    start = clock()
    done_before: set[ObjectRef] = set()
    verdicts: dict[ObjectRef, Verdict] = {}
    phases: Counter[str] = Counter()
    gone = frozenset(converger.gone)
    while True:
        verdicts = converger.evaluate()
        pods = converger.pods()
        phases = Counter(str((p.get("status") or {}).get("phase", "Pending")) for p in pods)
        done = {r for r, v in verdicts.items() if v.done}
        failed = [r for r, v in verdicts.items() if v.failed]
        now = clock()
        if on_progress is not None:
            on_progress(Progress(
                elapsed=now - start, done=len(done), total=len(verdicts), pods=dict(phases),
                deleting=not converger.refs, gone=gone,
                newly=tuple((r, verdicts[r].detail) for r in done - done_before)))
        done_before = done
        if len(done) == len(verdicts) or failed or now - start >= timeout:
            break
        time.sleep(poll)
    result = ConvergeResult(ok=len(done) == len(verdicts), elapsed=clock() - start,
                            total=len(verdicts), pods=dict(phases),
                            removed=len(converger.gone))
    for ref, v in verdicts.items():
        if v.done:
            continue
        entry = (ref, converger.explain(ref, v, pods))
        (result.failed if v.failed else result.unconverged).append(entry)
    return result


def converge(client: Client, refs: Iterable[ObjectRef], *, timeout: float = 300.0,
             on_progress: ProgressSink | None = None, agents: AgentSet | None = None,
             gone: Iterable[Deleted] = ()) -> ConvergeResult:
    """Wait until ``refs`` converge and ``gone`` are gone (module docstring). With
    ``agents`` (not started), run them meanwhile: they start here and stop when it returns;
    their runtime is also checked for containers of deleted pods. Without: only wait (a
    daemon's agents converge what was applied)."""
    runtime = agents.runtime if agents is not None else None
    converger = Converger(client, refs, gone=gone, runtime=runtime)
    if converger.gone:
        converger.evaluate()  # note the dependents before the garbage collector runs
    if agents is None:
        return wait(converger, timeout, on_progress=on_progress)
    started = time.monotonic()
    with agents:
        agents.wait_initial_sync(timeout)  # statuses from an earlier run are stale till then
        left = max(0.0, timeout - (time.monotonic() - started))
        return wait(converger, left, on_progress=on_progress)


def report(result: ConvergeResult) -> str:
    """The closing text: success, or each unconverged object and why."""
    pods = ", ".join(f"{n} {ph}" for ph, n in sorted(result.pods.items())) or "no pods"
    if result.ok and result.removed == result.total:
        return (f"Gone: {result.total} deleted object(s), their dependents and containers, "
                f"in {result.elapsed:.1f}s.")
    if result.ok:
        ready = result.total - result.removed
        also = f"; {result.removed} deleted object(s) gone" if result.removed else ""
        return (f"Converged: {ready}/{ready} objects ready{also} in "
                f"{result.elapsed:.1f}s ({pods}).")
    lines = []
    if result.failed:
        lines.append(f"Failed after {result.elapsed:.1f}s:")
        lines += [f"  {_ref_text(ref)}: {why}" for ref, why in result.failed]
    if result.unconverged:
        lines.append(f"Not converged after {result.elapsed:.1f}s "
                     f"({result.total - len(result.unconverged) - len(result.failed)}/"
                     f"{result.total} ready; {pods}):")
        lines += [f"  {_ref_text(ref)}: {why}" for ref, why in result.unconverged]
    return "\n".join(lines)
