"""Kubernetes defaulting, in one place.

``apply_defaults(obj)`` returns a new object with every field Kubernetes would fill in on
write set to its default; the input is never mutated. The api layer calls it on every write
and plan's diff calls it on desired objects, so a field a user left out never shows up as a
change. Defaults are filled only where the field is absent (or null); a value the user gave
always wins.

What is defaulted (the subset of upstream ``SetDefaults_*`` that gitkube's kinds use):

- every namespaced kind: ``metadata.namespace: default``
- pod specs (Pods and every pod template): restartPolicy Always, terminationGracePeriodSeconds
  30, dnsPolicy ClusterFirst, schedulerName default-scheduler, securityContext {},
  enableServiceLinks true; configMap/secret/projected/downwardAPI volumes defaultMode 420
- containers and initContainers: imagePullPolicy (Always for ``:latest`` or no tag, else
  IfNotPresent), terminationMessagePath /dev/termination-log, terminationMessagePolicy File,
  ports protocol TCP, env fieldRef apiVersion v1; liveness/readiness/startup probes
  timeoutSeconds 1, periodSeconds 10, successThreshold 1, failureThreshold 3, httpGet path /
  and scheme HTTP, grpc service "" (the server as a whole)
- Deployment: replicas 1, strategy RollingUpdate 25%/25%, revisionHistoryLimit 10,
  progressDeadlineSeconds 600
- ReplicaSet: replicas 1
- DaemonSet: updateStrategy RollingUpdate (maxUnavailable 1, maxSurge 0),
  revisionHistoryLimit 10
- StatefulSet: replicas 1, podManagementPolicy OrderedReady, updateStrategy RollingUpdate
  (partition 0), revisionHistoryLimit 10, persistentVolumeClaimRetentionPolicy Retain/Retain;
  volumeClaimTemplates like PersistentVolumeClaims
- Job: parallelism 1 and completions 1 when neither is given, backoffLimit 6, completionMode
  NonIndexed, suspend false
- Service: type ClusterIP, sessionAffinity None (ClientIP: timeoutSeconds 10800), ports
  protocol TCP and targetPort = port, internalTrafficPolicy Cluster, externalTrafficPolicy
  Cluster for NodePort/LoadBalancer
- Secret: type Opaque; ``stringData`` folded into base64 ``data`` (and removed)
- PersistentVolumeClaim: volumeMode Filesystem
- Endpoints: ports protocol TCP
- EndpointSlice: ports protocol TCP
- ReplicationController: replicas 1; selector and labels from the template's labels when
  empty

Not defaulting (done by the api layer on create because it is not a pure function of the
object): uid, resourceVersion, generation, creationTimestamp, initial status, and a Job's
generated selector (``job_selector_defaults``: it needs the uid).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from gitkube.model.kinds import for_object

Obj = dict[str, Any]

PROBE_DEFAULTS: dict[str, Any] = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}
VOLUME_DEFAULT_MODE = 420  # 0644


def apply_defaults(obj: Obj) -> Obj:
    """A defaulted deep copy of ``obj``. Idempotent: ``apply_defaults(apply_defaults(o)) ==
    apply_defaults(o)``. Unknown kinds only get the copy (and nothing else)."""
    out: Obj = _copy_json(obj)
    rt = for_object(out)
    if rt is None:
        return out
    if rt.namespaced:
        meta = _child(out, "metadata")
        if not meta.get("namespace"):
            meta["namespace"] = "default"
    fill = _BY_KIND.get(rt.kind)
    if fill is not None:
        fill(out)
    return out


def image_pull_policy(image: str) -> str:
    """Always when the image has no tag or the tag ``latest``; else IfNotPresent. A digest
    (``name@sha256:...``) pins the image, so IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


# --- helpers -------------------------------------------------------------------------------


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


def _child(parent: Obj, key: str) -> Obj:
    """``parent[key]`` as a dict, created when absent or null."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = {}
        parent[key] = value
    return value


def _set(d: Obj, key: str, value: Any) -> None:
    if d.get(key) is None:
        d[key] = value


def _dicts(value: Any) -> list[Obj]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


# --- pods ----------------------------------------------------------------------------------


def pod_spec_defaults(spec: Obj) -> None:
    """Fill a pod spec in place (used for Pods and for every pod template)."""
    _set(spec, "restartPolicy", "Always")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "schedulerName", "default-scheduler")
    _set(spec, "securityContext", {})
    _set(spec, "enableServiceLinks", True)
    for key in ("containers", "initContainers"):
        for container in _dicts(spec.get(key)):
            _container_defaults(container)
    for volume in _dicts(spec.get("volumes")):
        _volume_defaults(volume)


def _container_defaults(c: Obj) -> None:
    image = c.get("image")
    if isinstance(image, str) and image:
        _set(c, "imagePullPolicy", image_pull_policy(image))
    _set(c, "terminationMessagePath", "/dev/termination-log")
    _set(c, "terminationMessagePolicy", "File")
    for port in _dicts(c.get("ports")):
        _set(port, "protocol", "TCP")
    for env in _dicts(c.get("env")):
        value_from = env.get("valueFrom")
        if isinstance(value_from, dict) and isinstance(value_from.get("fieldRef"), dict):
            _set(value_from["fieldRef"], "apiVersion", "v1")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(key)
        if isinstance(probe, dict):
            for name, value in PROBE_DEFAULTS.items():
                _set(probe, name, value)
            http = probe.get("httpGet")
            if isinstance(http, dict):
                _set(http, "path", "/")
                _set(http, "scheme", "HTTP")
            grpc = probe.get("grpc")
            if isinstance(grpc, dict):
                _set(grpc, "service", "")


def _volume_defaults(v: Obj) -> None:
    for source in ("configMap", "secret", "projected", "downwardAPI"):
        if isinstance(v.get(source), dict):
            _set(v[source], "defaultMode", VOLUME_DEFAULT_MODE)


def _template_defaults(spec: Obj) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        pod_spec_defaults(_child(template, "spec"))


def _pod(obj: Obj) -> None:
    pod_spec_defaults(_child(obj, "spec"))


# --- workloads -----------------------------------------------------------------------------


def _deployment(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    strategy = _child(spec, "strategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", "25%")
        _set(rolling, "maxSurge", "25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _template_defaults(spec)


def _replicaset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    _template_defaults(spec)


def _daemonset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    strategy = _child(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", 1)
        _set(rolling, "maxSurge", 0)
    _set(spec, "revisionHistoryLimit", 10)
    _template_defaults(spec)


def _statefulset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _set(_child(strategy, "rollingUpdate"), "partition", 0)
    _set(spec, "revisionHistoryLimit", 10)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    _set(retention, "whenDeleted", "Retain")
    _set(retention, "whenScaled", "Retain")
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        _pvc(claim)
    _template_defaults(spec)


def _job(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _set(spec, "parallelism", 1)
    if spec.get("backoffLimitPerIndex") is None:
        _set(spec, "backoffLimit", 6)
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    _template_defaults(spec)


# --- core ----------------------------------------------------------------------------------


def _service(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        config = _child(_child(spec, "sessionAffinityConfig"), "clientIP")
        _set(config, "timeoutSeconds", 10800)
    if spec["type"] != "ExternalName":
        _set(spec, "internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    for port in _dicts(spec.get("ports")):
        _set(port, "protocol", "TCP")
        if port.get("targetPort") is None and port.get("port") is not None:
            port["targetPort"] = port["port"]


def _secret(obj: Obj) -> None:
    _set(obj, "type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = {}
            obj["data"] = data
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode("ascii")


def _pvc(obj: Obj) -> None:
    _set(_child(obj, "spec"), "volumeMode", "Filesystem")


def _endpoints(obj: Obj) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            _set(port, "protocol", "TCP")


def _endpointslice(obj: Obj) -> None:
    for port in _dicts(obj.get("ports")):
        _set(port, "protocol", "TCP")


def _replicationcontroller(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    template = spec.get("template")
    labels = ((template or {}).get("metadata") or {}).get("labels") \
        if isinstance(template, dict) else None
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _child(obj, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    _template_defaults(spec)


_BY_KIND: dict[str, Callable[[Obj], None]] = {
    "Pod": _pod,
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "DaemonSet": _daemonset,
    "StatefulSet": _statefulset,
    "Job": _job,
    "Service": _service,
    "Secret": _secret,
    "PersistentVolumeClaim": _pvc,
    "Endpoints": _endpoints,
    "EndpointSlice": _endpointslice,
    "ReplicationController": _replicationcontroller,
}


# --- what needs the uid ---------------------------------------------------------------------

JOB_CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_JOB_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"


def job_selector_defaults(job: Obj) -> None:
    """Upstream's generateSelector (the Job strategy), in place: unless
    ``spec.manualSelector`` is true, the pod template gets the labels ``job-name`` and
    ``batch.kubernetes.io/job-name`` (the Job's name) and ``controller-uid`` and
    ``batch.kubernetes.io/controller-uid`` (its uid), each only where absent, and
    ``spec.selector.matchLabels`` selects ``batch.kubernetes.io/controller-uid``. A Job
    without a uid is left alone (plan's desired objects)."""
    meta = job.get("metadata") or {}
    uid, name = meta.get("uid"), meta.get("name")
    spec = job.get("spec")
    if not uid or not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    template = _child(spec, "template")
    labels = _child(_child(template, "metadata"), "labels")
    for key in (LEGACY_JOB_NAME, JOB_NAME):
        labels.setdefault(key, str(name))
    for key in (LEGACY_JOB_CONTROLLER_UID, JOB_CONTROLLER_UID):
        labels.setdefault(key, str(uid))
    match = _child(_child(spec, "selector"), "matchLabels")
    match.setdefault(JOB_CONTROLLER_UID, str(uid))
