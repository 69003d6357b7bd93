"""What kubectl prints for objects: ages and durations, and the cells that take a rule to
compute (a pod's READY, STATUS and RESTARTS, a node's STATUS, a Job's STATUS...).

The one home of these rules for ``gitkube get``/``describe``/``events`` and for the API's
Table output (which the real kubectl prints). They follow upstream's printers
(kubernetes/pkg/printers/internalversion/printers.go) and
``k8s.io/apimachinery/pkg/util/duration``. Which columns each kind has: ``model/columns.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube.model.pods import TERMINAL_PHASES
from gitkube.model.times import parse_time
from gitkube.model.views import ContainerState, ContainerStatus, ObjectView, Pod, children, text
from gitkube.model.workloads import Job

NODE_UNREACHABLE_REASON = "NodeLost"  # upstream's NodeUnreachablePodReason
SCHEDULING_GATED = "SchedulingGated"

# --- durations ----------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """Upstream's HumanDuration (~2-3 significant figures), what every AGE column shows:
    45s, 119s, 3m20s, 10m, 179m, 3h5m, 10h, 3d4h, 20d, 2y30d, 9y."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def short_human_duration(seconds: float) -> str:
    """Upstream's ShortHumanDuration (one unit): 45s, 3m, 10h, 20d, 2y."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    hours = whole // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // (24 * 365)}y"


def since(stamp: object, now: float) -> str:
    """Upstream's translateTimestampSince: the HumanDuration from ``stamp`` (an RFC 3339
    timestamp) to ``now``; "<unknown>" when there is no timestamp."""
    moment = parse_time(stamp)
    return human_duration(now - moment) if moment is not None else "<unknown>"


def age(obj: Mapping[str, Any], now: float) -> str:
    """The AGE column: the time since ``metadata.creationTimestamp``."""
    return since(ObjectView(obj).metadata.creation_timestamp, now)


# --- pods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodColumns:
    """The READY, STATUS and RESTARTS cells of ``kubectl get pods``."""

    ready: str
    status: str
    restarts: str


def _exit_text(state: ContainerState) -> str:
    return f"Signal:{state.signal}" if state.signal else f"ExitCode:{state.exit_code}"


@dataclass
class _Restarts:
    """Restarts counted over some containers, and when the latest one ended."""

    count: int = 0
    last: float | None = None

    def add(self, cs: ContainerStatus) -> None:
        self.count += cs.restart_count
        finished = parse_time(cs.last_state.finished_at) if cs.last_state.terminated else None
        if finished is not None and (self.last is None or finished > self.last):
            self.last = finished

    def text(self, now: float) -> str:
        if self.count and self.last is not None:
            return f"{self.count} ({human_duration(now - self.last)} ago)"
        return str(self.count)


@dataclass
class _PodTally:
    reason: str
    ready: int = 0
    every: _Restarts = field(default_factory=_Restarts)  # init containers' and all others'
    sidecars: _Restarts = field(default_factory=_Restarts)  # restartable init containers'


def _initializing(view: Pod, sidecars: set[str], tally: _PodTally) -> bool:
    """Walks the init containers as upstream's printPod does; True (and ``tally.reason``
    Init:...) while one of them has not finished."""
    for i, cs in enumerate(view.status.init_container_statuses):
        tally.every.add(cs)
        sidecar = cs.name in sidecars
        if sidecar:
            tally.sidecars.add(cs)
        state = cs.state
        if state.terminated and state.exit_code == 0:
            continue
        if sidecar and cs.started:
            tally.ready += 1 if cs.ready else 0
            continue
        if state.terminated:
            tally.reason = f"Init:{state.reason or _exit_text(state)}"
        elif state.waiting and state.reason and state.reason != "PodInitializing":
            tally.reason = f"Init:{state.reason}"
        else:
            tally.reason = f"Init:{i}/{len(view.spec.init_containers)}"
        return True
    return False


def _containers(view: Pod, tally: _PodTally) -> _Restarts:
    """Walks the containers last to first as upstream's printPod does; the restarts to
    show (sidecars' and these containers')."""
    restarts = tally.sidecars
    running = False
    for cs in reversed(view.status.container_statuses):
        restarts.add(cs)
        state = cs.state
        if (state.waiting or state.terminated) and state.reason:
            tally.reason = state.reason
        elif state.terminated:
            tally.reason = _exit_text(state)
        elif cs.ready and state.running:
            running = True
            tally.ready += 1
    if tally.reason == "Completed" and running:
        ready = view.condition("Ready")
        tally.reason = "Running" if ready is not None and ready.is_true else "NotReady"
    return restarts


def pod_columns(pod: Mapping[str, Any], now: float) -> PodColumns:
    """Upstream's printPod: READY counts ready containers and started sidecars; STATUS is
    Init:N/M or Init:<reason> while initializing, else the last container's waiting or
    terminated reason (Completed beside a running container reads Running, or NotReady
    when the pod is not Ready), SchedulingGated, the pod's reason or phase; Terminating
    (Unknown for a lost node) once deleted unless finished; RESTARTS with the time since
    the last one."""
    view = Pod(pod)
    spec, status = view.spec, view.status
    tally = _PodTally(status.reason or status.phase)
    if any(c.type == "PodScheduled" and c.reason == SCHEDULING_GATED for c in view.conditions):
        tally.reason = SCHEDULING_GATED
    sidecars = {c.name for c in spec.init_containers if c.restartable}
    restarts = tally.every
    initialized = view.condition("Initialized")
    if not _initializing(view, sidecars, tally) or (
            initialized is not None and initialized.is_true):
        restarts = _containers(view, tally)
    if view.metadata.deletion_timestamp:
        if status.reason == NODE_UNREACHABLE_REASON:
            tally.reason = "Unknown"
        elif status.phase not in TERMINAL_PHASES:
            tally.reason = "Terminating"
    total = len(spec.containers) + len(sidecars)
    return PodColumns(f"{tally.ready}/{total}", tally.reason, restarts.text(now))


def pod_status_text(pod: Mapping[str, Any]) -> str:
    """The STATUS column of ``kubectl get pods`` (``pod_columns``)."""
    return pod_columns(pod, 0.0).status


# --- other kinds --------------------------------------------------------------------------


def node_status_text(node: Mapping[str, Any]) -> str:
    """A node's STATUS: Ready, NotReady (Ready False or Unknown) or Unknown (no Ready
    condition), then ``,SchedulingDisabled`` when cordoned."""
    view = ObjectView(node)
    ready = view.condition("Ready")
    out = "Unknown" if ready is None else "Ready" if ready.is_true else "NotReady"
    if view.spec_raw.get("unschedulable") is True:
        out += ",SchedulingDisabled"
    return out


def node_roles(node: Mapping[str, Any]) -> str:
    """A node's ROLES: ``node-role.kubernetes.io/<role>`` labels and the value of
    ``kubernetes.io/role``, sorted; "<none>"."""
    roles = set()
    for key, value in ObjectView(node).metadata.labels.items():
        if key.startswith("node-role.kubernetes.io/") and key[len("node-role.kubernetes.io/"):]:
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def job_status_text(job: Mapping[str, Any]) -> str:
    """A Job's STATUS: Complete, Failed, Terminating, Suspended, FailureTarget,
    SuccessCriteriaMet or Running (upstream's order)."""
    view = Job(job)

    def has(type_: str) -> bool:
        found = view.condition(type_)
        return found is not None and found.is_true

    if has("Complete"):
        return "Complete"
    if has("Failed"):
        return "Failed"
    if view.metadata.deletion_timestamp:
        return "Terminating"
    for type_ in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if has(type_):
            return type_
    return "Running"


def job_completions_text(job: Mapping[str, Any]) -> str:
    """A Job's COMPLETIONS: succeeded/completions, or ``N/1 of P`` for a work queue Job
    with parallelism P > 1."""
    view = Job(job)
    if view.completions is not None:
        return f"{view.succeeded}/{view.completions}"
    if view.parallelism > 1:
        return f"{view.succeeded}/1 of {view.parallelism}"
    return f"{view.succeeded}/1"


def job_duration_text(job: Mapping[str, Any], now: float) -> str:
    """A Job's DURATION: from startTime to completionTime (or now); "" before it starts."""
    view = Job(job)
    start = parse_time(view.start_time)
    if start is None:
        return ""
    end = parse_time(view.completion_time)
    return human_duration((end if end is not None else now) - start)


def service_external_ip(service: Mapping[str, Any]) -> str:
    """A Service's EXTERNAL-IP: its load balancer's ingress (``<pending>`` without one) and
    externalIPs, an ExternalName's name, otherwise externalIPs or ``<none>``."""
    spec = ObjectView(service).spec_raw
    kind = text(spec, "type") or "ClusterIP"
    external = [str(ip) for ip in spec.get("externalIPs") or []]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        load_balancer = ObjectView(service).status_raw.get("loadBalancer")
        ingress = children(load_balancer, "ingress") if isinstance(load_balancer, Mapping) \
            else []
        found = sorted({text(i, "ip") or text(i, "hostname") for i in ingress} - {""})
        return ",".join([*found, *external]) or "<pending>"
    if kind == "ExternalName":
        return text(spec, "externalName")
    return "<unknown>"


def service_ports(service: Mapping[str, Any]) -> str:
    """A Service's PORT(S): ``port[:nodePort]/protocol``, comma separated; "<none>"."""
    out = []
    for port in children(ObjectView(service).spec_raw, "ports"):
        shown = str(port.get("port"))
        if port.get("nodePort"):
            shown += f":{port['nodePort']}"
        out.append(f"{shown}/{text(port, 'protocol') or 'TCP'}")
    return ",".join(out) or "<none>"


def endpoints_text(endpoints: Mapping[str, Any]) -> str:
    """An Endpoints' ENDPOINTS: the first three ``ip:port`` (``ip`` for a subset without
    ports) and ``+ N more...``; "<none>"."""
    shown: list[str] = []
    count = 0
    for subset in children(endpoints, "subsets"):
        addresses = [text(a, "ip") for a in children(subset, "addresses")]
        ports = children(subset, "ports")
        pairs = [f"{ip}:{p.get('port')}" for p in ports for ip in addresses] if ports \
            else addresses
        count += len(pairs)
        shown += pairs[:max(0, 3 - len(shown))]
    if not count:
        return "<none>"
    return ",".join(shown) + (f" + {count - 3} more..." if count > 3 else "")


def labels_text(labels: object) -> str:
    """A ``map[string]string`` as upstream's FormatLabels: sorted ``k=v`` joined with commas;
    "<none>"."""
    if not isinstance(labels, Mapping) or not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


__all__ = ["PodColumns", "age", "endpoints_text", "human_duration", "job_completions_text",
           "job_duration_text", "job_status_text", "labels_text", "node_roles",
           "node_status_text", "pod_columns", "pod_status_text", "service_external_ip",
           "service_ports", "short_human_duration", "since"]
