"""Checks JSON Schema cannot express: names, labels, quantities, selectors, ports, uniqueness.

Each rule is Kubernetes' own API validation, applied to one object. Every function tolerates
wrongly-typed input (the structural validator reports types); it only looks at values of the
types it expects.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from gitkube.model.labels import (
    dns1035_label_error,
    dns1123_label_error,
    dns1123_subdomain_error,
    label_value_error,
    port_name_error,
    qualified_name_error,
    selector_matches,
)
from gitkube.model.quantity import parse_quantity, quantity_error
from gitkube.schema.issue import Issue, Path

Issues = list[Issue]

WORKLOADS = frozenset({"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"})
_ALWAYS_ONLY = frozenset({"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"})
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_PERCENT = re.compile(r"[0-9]+%")
_ANNOTATIONS_MAX = 256 * 1024


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_semantics(obj: dict[str, Any], kind: str) -> Issues:
    """Every semantic problem in ``obj`` (already known to be of a supported ``kind``)."""
    out: Issues = []
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        _object_name(meta, kind, out)
        _metadata(meta, ("metadata",), out)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        handler = _SPEC_CHECKS.get(kind)
        if handler is not None:
            handler(spec, ("spec",), out)
        if kind in WORKLOADS:
            _workload(spec, kind, out)
    if kind in ("ConfigMap", "Secret"):
        _config_data(obj, kind, out)
    if kind == "Node":
        status = _d(obj.get("status"))
        for field in ("capacity", "allocatable"):
            _quantities(status.get(field), ("status", field), out)
    return out


# -- metadata ---------------------------------------------------------------------------------

def _object_name(meta: dict[str, Any], kind: str, out: Issues) -> None:
    name = meta.get("name")
    if name is None or name == "":
        if not meta.get("generateName"):
            out.append(Issue(("metadata", "name"), 'missing required field "name"', "required"))
        return
    if not isinstance(name, str):
        return
    if kind == "Service":
        err, rule, code = dns1035_label_error(name), "an RFC 1035 label", "dns1035"
    elif kind == "Namespace":
        err, rule, code = dns1123_label_error(name), "an RFC 1123 label", "dns1123"
    else:
        err, rule, code = dns1123_subdomain_error(name), "an RFC 1123 subdomain", "dns1123"
    if err:
        out.append(Issue(("metadata", "name"), f'invalid name "{name}": {rule} {err}', code))
    ns = meta.get("namespace")
    if isinstance(ns, str) and ns:
        err = dns1123_label_error(ns)
        if err:
            out.append(Issue(("metadata", "namespace"),
                             f'invalid namespace "{ns}": an RFC 1123 label {err}', "dns1123"))


def _metadata(meta: dict[str, Any], path: Path, out: Issues) -> None:
    labels = meta.get("labels")
    if isinstance(labels, dict) and labels:
        _labels(labels, (*path, "labels"), out)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and annotations:
        size = 0
        for key, value in annotations.items():
            if isinstance(key, str):
                err = qualified_name_error(key)
                if err:
                    out.append(Issue((*path, "annotations", key),
                                     f'invalid annotation key "{key}": {err}', "annotation-key"))
                size += len(key)
            if isinstance(value, str):
                size += len(value)
        if size > _ANNOTATIONS_MAX:
            out.append(Issue((*path, "annotations"),
                             f"annotations total {size} bytes, more than the 256 KiB allowed",
                             "annotation-size"))


def _labels(labels: dict[str, Any], path: Path, out: Issues) -> None:
    for key, value in labels.items():
        if isinstance(key, str):
            err = qualified_name_error(key)
            if err:
                out.append(Issue((*path, key), f'invalid label key "{key}": {err}', "label-key"))
        if isinstance(value, str):
            err = label_value_error(value)
            if err:
                out.append(Issue((*path, key), f'invalid label value "{value}": {err}',
                                 "label-value"))


def _selector(selector: dict[str, Any], path: Path, out: Issues) -> None:
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, dict):
        _labels(match_labels, (*path, "matchLabels"), out)
    for i, req in enumerate(_l(selector.get("matchExpressions"))):
        if not isinstance(req, dict):
            continue
        where = (*path, "matchExpressions", i)
        key = req.get("key")
        if isinstance(key, str):
            err = qualified_name_error(key)
            if err:
                out.append(Issue((*where, "key"), f'invalid label key "{key}": {err}', "label-key"))
        op, values = req.get("operator"), req.get("values")
        if op in ("In", "NotIn") and not values:
            out.append(Issue((*where, "values"), f"operator {op} needs at least one value",
                             "selector"))
        if op in ("Exists", "DoesNotExist") and values:
            out.append(Issue((*where, "values"), f"operator {op} takes no values", "selector"))
        for j, value in enumerate(_l(values)):
            if isinstance(value, str):
                err = label_value_error(value)
                if err:
                    out.append(Issue((*where, "values", j),
                                     f'invalid label value "{value}": {err}', "label-value"))


def _quantities(resources: Any, path: Path, out: Issues) -> None:
    for name, value in _d(resources).items():
        if value is None:
            continue
        err = quantity_error(value)
        if err:
            out.append(Issue((*path, name), f"invalid quantity for {name}: {err}", "quantity",
                             "e.g. cpu: 100m or 0.5, memory: 64Mi or 1.5Gi"))
        elif str(value).lstrip().startswith("-") and parse_quantity(value).value < 0:
            out.append(Issue((*path, name), f'invalid value "{value}" for {name}: must be '
                                            "greater than or equal to 0", "range"))


def _range(value: Any, path: Path, out: Issues, low: int, high: int | None = None,
           what: str = "value") -> None:
    if not _int(value):
        return
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        code = "port-range" if high == 65535 else "range"
        out.append(Issue(path, f"{what} {value} must be {bound}", code))


# -- pods ---------------------------------------------------------------------------------------

def _pod_spec(spec: dict[str, Any], path: Path, out: Issues,
              extra_volumes: frozenset[str] = frozenset()) -> None:
    volumes: dict[str, Path] = {}
    for i, vol in enumerate(_l(spec.get("volumes"))):
        if isinstance(vol, dict):
            _volume(vol, (*path, "volumes", i), volumes, out)
    known_volumes = volumes.keys() | extra_volumes
    seen: dict[str, Path] = {}
    for field in ("initContainers", "containers"):
        for i, c in enumerate(_l(spec.get(field))):
            if isinstance(c, dict):
                _container(c, (*path, field, i), seen, known_volumes, out)
                _container_restart(c.get("restartPolicy"), (*path, field, i), field, out)
    _range(spec.get("terminationGracePeriodSeconds"), (*path, "terminationGracePeriodSeconds"),
           out, 0, what="terminationGracePeriodSeconds")
    for field in ("hostname", "subdomain"):
        value = spec.get(field)
        if isinstance(value, str) and value:
            err = dns1123_label_error(value)
            if err:
                out.append(Issue((*path, field), f'invalid {field} "{value}": {err}', "dns1123"))
    node_selector = spec.get("nodeSelector")
    if isinstance(node_selector, dict):
        _labels(node_selector, (*path, "nodeSelector"), out)
    for i, tol in enumerate(_l(spec.get("tolerations"))):
        if isinstance(tol, dict) and tol.get("operator") == "Exists" and tol.get("value"):
            out.append(Issue((*path, "tolerations", i, "value"),
                             "a toleration with operator Exists must not have a value",
                             "toleration"))


def _volume(vol: dict[str, Any], path: Path, volumes: dict[str, Path], out: Issues) -> None:
    name = vol.get("name")
    if isinstance(name, str):
        err = dns1123_label_error(name)
        if err:
            out.append(Issue((*path, "name"), f'invalid volume name "{name}": {err}', "dns1123"))
        if name in volumes:
            out.append(Issue((*path, "name"), f'volume "{name}" is defined twice',
                             "duplicate-volume", f"first at {_show(volumes[name])}"))
        else:
            volumes[name] = path
    sources = [k for k, v in vol.items() if k != "name" and v is not None]
    if not sources:
        out.append(Issue(path, f'volume "{name}" has no source', "volume-source",
                         "add one of emptyDir, hostPath, configMap, secret, "
                         "persistentVolumeClaim"))
    elif len(sources) > 1:
        out.append(Issue((*path, sources[1]),
                         f'volume "{name}" has more than one source: {", ".join(sources)}',
                         "volume-source"))
    empty_dir = vol.get("emptyDir")
    if isinstance(empty_dir, dict) and empty_dir.get("sizeLimit") is not None:
        _quantities({"sizeLimit": empty_dir["sizeLimit"]}, (*path, "emptyDir"), out)


def _container(c: dict[str, Any], path: Path, seen: dict[str, Path],
               volumes: set[str] | frozenset[str] | Any, out: Issues) -> None:
    _container_name(c.get("name"), path, seen, out)
    if not c.get("image"):
        out.append(Issue((*path, "image"), 'missing required field "image"', "required"))
    _container_ports(_l(c.get("ports")), path, out)
    resources = _d(c.get("resources"))
    for field in ("requests", "limits"):
        _quantities(resources.get(field), (*path, "resources", field), out)
    _requests_within_limits(resources, (*path, "resources"), out)
    _container_probes(c, path, out)
    _container_env(_l(c.get("env")), path, out)
    _container_mounts(_l(c.get("volumeMounts")), path, volumes, out)


def _container_restart(policy: Any, path: Path, field: str, out: Issues) -> None:
    """A container's own restartPolicy: only ``Always`` on an init container (a sidecar:
    it starts in the init sequence and runs beside the containers), as upstream."""
    if policy is None:
        return
    if field != "initContainers":
        out.append(Issue((*path, "restartPolicy"), "restartPolicy may be set only on init "
                         "containers (sidecars)", "restart-policy",
                         "move the container to initContainers with restartPolicy: Always "
                         "to make it a sidecar"))
    elif policy != "Always":
        out.append(Issue((*path, "restartPolicy"), f'restartPolicy "{policy}" is not '
                         'allowed for an init container: only "Always" (a sidecar)',
                         "restart-policy"))


def _container_name(name: Any, path: Path, seen: dict[str, Path], out: Issues) -> None:
    """A container's name: a DNS label, unique among the pod's (init) containers."""
    if not isinstance(name, str):
        return
    err = dns1123_label_error(name)
    if err:
        out.append(Issue((*path, "name"), f'invalid container name "{name}": {err}',
                         "dns1123"))
    if name in seen:
        out.append(Issue((*path, "name"),
                         f'container name "{name}" is used twice in this pod',
                         "duplicate-container",
                         f"first at {_show(seen[name])}; init containers included"))
    else:
        seen[name] = path


def _container_ports(ports: list[Any], path: Path, out: Issues) -> None:
    port_names: set[str] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        where = (*path, "ports", i)
        _range(port.get("containerPort"), (*where, "containerPort"), out, 1, 65535,
               "containerPort")
        if port.get("hostPort") not in (None, 0):
            _range(port.get("hostPort"), (*where, "hostPort"), out, 1, 65535, "hostPort")
        pname = port.get("name")
        if isinstance(pname, str) and pname:
            err = port_name_error(pname)
            if err:
                out.append(Issue((*where, "name"), f'invalid port name "{pname}": {err}',
                                 "port-name"))
            if pname in port_names:
                out.append(Issue((*where, "name"), f'port name "{pname}" is used twice',
                                 "duplicate-port"))
            port_names.add(pname)


def _container_probes(c: dict[str, Any], path: Path, out: Issues) -> None:
    for field in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(field)
        if isinstance(probe, dict):
            _probe(probe, (*path, field), out)
            if field == "readinessProbe" and probe.get("terminationGracePeriodSeconds") \
                    is not None:  # upstream's validation: a readiness probe kills nothing
                out.append(Issue((*path, field, "terminationGracePeriodSeconds"),
                                 "must not be set for readinessProbes", "probe-grace",
                                 "set it on the livenessProbe or startupProbe"))


def _container_env(envs: list[Any], path: Path, out: Issues) -> None:
    for i, env in enumerate(envs):
        if not isinstance(env, dict):
            continue
        ename = env.get("name")
        if isinstance(ename, str) and (not ename or "=" in ename):
            out.append(Issue((*path, "env", i, "name"),
                             f'invalid environment variable name "{ename}": must be non-empty '
                             "and must not contain '='", "env"))
        if env.get("value") and env.get("valueFrom"):
            out.append(Issue((*path, "env", i, "valueFrom"),
                             "valueFrom may not be set together with a non-empty value", "env"))


def _container_mounts(mounts: list[Any], path: Path,
                      volumes: set[str] | frozenset[str] | Any, out: Issues) -> None:
    for i, mount in enumerate(mounts):
        if isinstance(mount, dict):
            vname = mount.get("name")
            if isinstance(vname, str) and vname not in volumes:
                out.append(Issue((*path, "volumeMounts", i, "name"),
                                 f'volume "{vname}" is not defined in this pod',
                                 "undefined-volume",
                                 "add it to spec.volumes (or volumeClaimTemplates)"))


def _requests_within_limits(resources: dict[str, Any], path: Path, out: Issues) -> None:
    requests, limits = _d(resources.get("requests")), _d(resources.get("limits"))
    for name, request in requests.items():
        limit = limits.get(name)
        if limit is None or request is None:
            continue
        try:
            if parse_quantity(request).value > parse_quantity(limit).value:
                out.append(Issue((*path, "requests", name),
                                 f"{name} request {request} is more than its limit {limit}",
                                 "resources", "a request must be less than or equal to the limit"))
        except (ValueError, TypeError):
            continue  # reported by _quantities


def _probe(probe: dict[str, Any], path: Path, out: Issues) -> None:
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(h) is not None]
    if len(handlers) != 1:
        out.append(Issue(path, "a probe needs exactly one of exec, httpGet, tcpSocket, grpc"
                         + (f" (found {', '.join(handlers)})" if handlers else ""),
                         "probe-handler"))
    for h in ("httpGet", "tcpSocket"):
        action = probe.get(h)
        if isinstance(action, dict):
            _port_ref(action.get("port"), (*path, h, "port"), out)
    grpc = probe.get("grpc")
    if isinstance(grpc, dict):  # a number only: a gRPC action names no port
        _range(grpc.get("port"), (*path, "grpc", "port"), out, 1, 65535, "port")
    for field, low in (("initialDelaySeconds", 0), ("periodSeconds", 1), ("timeoutSeconds", 1),
                       ("failureThreshold", 1), ("successThreshold", 1)):
        _range(probe.get(field), (*path, field), out, low, what=field)


def _port_ref(port: Any, path: Path, out: Issues) -> None:
    """An int-or-string port: a number in range or an IANA port name."""
    if _int(port):
        _range(port, path, out, 1, 65535, "port")
    elif isinstance(port, str):
        if port.isdigit():
            _range(int(port), path, out, 1, 65535, "port")
            return
        err = port_name_error(port)
        if err:
            out.append(Issue(path, f'invalid port name "{port}": {err}', "port-name"))


def _show(path: Path) -> str:
    from gitkube.schema.issue import format_path

    return format_path(path)


# -- kinds ----------------------------------------------------------------------------------

def _workload(spec: dict[str, Any], kind: str, out: Issues) -> None:
    template = _d(spec.get("template"))
    tmeta = _d(template.get("metadata"))
    _metadata(tmeta, ("spec", "template", "metadata"), out)
    pod = template.get("spec")
    if isinstance(pod, dict):
        _workload_pod(spec, pod, kind, out)
    selector = spec.get("selector")
    if isinstance(selector, dict):
        _workload_selector(selector, kind, tmeta, out)
    for field in ("replicas", "minReadySeconds", "revisionHistoryLimit", "parallelism",
                  "completions", "backoffLimit"):
        _range(spec.get(field), ("spec", field), out, 0, what=field)
    _range(spec.get("activeDeadlineSeconds"), ("spec", "activeDeadlineSeconds"), out, 1,
           what="activeDeadlineSeconds")
    _workload_strategy(spec, kind, out)
    if kind == "StatefulSet":
        for i, claim in enumerate(_l(spec.get("volumeClaimTemplates"))):
            if isinstance(claim, dict):
                _claim_template(claim, ("spec", "volumeClaimTemplates", i), out)


def _workload_pod(spec: dict[str, Any], pod: dict[str, Any], kind: str, out: Issues) -> None:
    """The pod template's spec, and the restart policies the ``kind`` allows."""
    extra: frozenset[str] = frozenset()
    if kind == "StatefulSet":
        extra = frozenset(
            str(_d(t.get("metadata")).get("name")) for t in _l(spec.get("volumeClaimTemplates"))
            if isinstance(t, dict)
        )
    _pod_spec(pod, ("spec", "template", "spec"), out, extra)
    policy = pod.get("restartPolicy")
    where = ("spec", "template", "spec", "restartPolicy")
    if kind in _ALWAYS_ONLY and policy not in (None, "Always"):
        out.append(Issue(where, f'restartPolicy "{policy}" is not allowed for a {kind}',
                         "restart-policy", f"a {kind}'s pods must use Always (the default)"))
    if kind == "Job" and policy not in ("Never", "OnFailure"):
        message = (f'restartPolicy "{policy}" is not allowed for a Job' if policy
                   else "a Job's pod template needs restartPolicy")
        out.append(Issue(where, message, "restart-policy", "use Never or OnFailure"))


def _workload_selector(selector: dict[str, Any], kind: str, tmeta: dict[str, Any],
                       out: Issues) -> None:
    """A well-formed, non-empty selector (a Job's may be empty) matching the template."""
    _selector(selector, ("spec", "selector"), out)
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        if kind != "Job":
            out.append(Issue(("spec", "selector"), f"a {kind} needs a non-empty selector",
                             "selector-empty", "e.g. matchLabels: {app: NAME}"))
    elif _well_formed(selector) and not selector_matches(selector, _d(tmeta.get("labels"))):
        labels = selector.get("matchLabels")
        hint = ("spec.template.metadata.labels must include "
                + ", ".join(f"{k}: {v}" for k, v in labels.items())
                if isinstance(labels, dict) and labels else
                "spec.template.metadata.labels must satisfy the selector")
        out.append(Issue(("spec", "selector"),
                         "selector does not match the pod template's labels",
                         "selector-mismatch", hint))


def _workload_strategy(spec: dict[str, Any], kind: str, out: Issues) -> None:
    """A Deployment's ``strategy`` or another workload's ``updateStrategy``."""
    field_name = "strategy" if kind == "Deployment" else "updateStrategy"
    strategy = _d(spec.get(field_name))
    rolling = strategy.get("rollingUpdate")
    if not isinstance(rolling, dict):
        return
    at: Path = ("spec", field_name, "rollingUpdate")
    if strategy.get("type") in ("Recreate", "OnDelete"):
        out.append(Issue(at, f"rollingUpdate may not be set when type is {strategy['type']}",
                         "strategy"))
    for key in ("maxSurge", "maxUnavailable"):
        value = rolling.get(key)
        if isinstance(value, str) and not _PERCENT.fullmatch(value):
            out.append(Issue((*at, key),
                             f'{key} "{value}" must be an integer or a percentage like 25%',
                             "int-or-percent"))
        elif isinstance(value, int) and value < 0:
            out.append(Issue((*at, key), f"{key} must not be negative", "range"))
    if kind == "Deployment" and rolling.get("maxSurge") in (0, "0%") and rolling.get(
            "maxUnavailable") in (0, "0%"):
        out.append(Issue(at, "maxSurge and maxUnavailable may not both be 0", "strategy"))


def _claim_template(claim: dict[str, Any], at: Path, out: Issues) -> None:
    """One of a StatefulSet's volumeClaimTemplates: a named PersistentVolumeClaim."""
    cmeta = _d(claim.get("metadata"))
    cname = cmeta.get("name")
    if not cname:
        out.append(Issue((*at, "metadata", "name"),
                         'missing required field "name"', "required"))
    elif isinstance(cname, str) and dns1123_subdomain_error(cname):
        out.append(Issue((*at, "metadata", "name"),
                         f'invalid claim name "{cname}": '
                         f"{dns1123_subdomain_error(cname)}", "dns1123"))
    _metadata(cmeta, (*at, "metadata"), out)
    cspec = claim.get("spec")
    if isinstance(cspec, dict):
        _pvc_spec(cspec, (*at, "spec"), out)


def _well_formed(selector: dict[str, Any]) -> bool:
    """Whether a selector has the types matching needs (the schema reports the rest)."""
    labels = selector.get("matchLabels")
    exprs = selector.get("matchExpressions")
    return (labels is None or isinstance(labels, dict)) and (
        exprs is None or (isinstance(exprs, list) and all(
            isinstance(e, dict) and isinstance(e.get("values") or [], list) for e in exprs)))


def _pvc_spec(spec: dict[str, Any], path: Path, out: Issues) -> None:
    if not spec.get("accessModes"):
        out.append(Issue((*path, "accessModes"), 'missing required field "accessModes"',
                         "required", "e.g. accessModes: [ReadWriteOnce]"))
    resources = _d(spec.get("resources"))
    requests = _d(resources.get("requests"))
    if requests.get("storage") is None:
        out.append(Issue((*path, "resources", "requests", "storage"),
                         'missing required field "storage"', "required", "e.g. storage: 1Gi"))
    for field in ("requests", "limits"):
        _quantities(resources.get(field), (*path, "resources", field), out)


def _pvc(spec: dict[str, Any], path: Path, out: Issues) -> None:
    _pvc_spec(spec, path, out)


def _pod(spec: dict[str, Any], path: Path, out: Issues) -> None:
    _pod_spec(spec, path, out)


def _service(spec: dict[str, Any], path: Path, out: Issues) -> None:
    svc_type = spec.get("type")
    if svc_type == "ExternalName":
        _external_name(spec.get("externalName"), path, out)
    ports = _l(spec.get("ports"))
    cluster_ip = spec.get("clusterIP")
    if not ports and cluster_ip != "None" and svc_type != "ExternalName":
        out.append(Issue((*path, "ports"), 'missing required field "ports"', "required",
                         "only a headless service (clusterIP: None) may have no ports"))
    names: dict[str, int] = {}
    for i, port in enumerate(ports):
        if isinstance(port, dict):
            _service_port(port, (*path, "ports", i), svc_type, out)
            _service_port_name(port.get("name"), i, len(ports), (*path, "ports", i), names,
                               out)
    selector = spec.get("selector")
    if isinstance(selector, dict):
        _labels(selector, (*path, "selector"), out)
    if isinstance(cluster_ip, str) and cluster_ip not in ("", "None"):
        try:
            ipaddress.ip_address(cluster_ip)
        except ValueError:
            out.append(Issue((*path, "clusterIP"),
                             f'clusterIP "{cluster_ip}" must be an IP address, "None" or empty',
                             "ip"))
    affinity = _d(_d(spec.get("sessionAffinityConfig")).get("clientIP"))
    _range(affinity.get("timeoutSeconds"), (*path, "sessionAffinityConfig", "clientIP",
           "timeoutSeconds"), out, 1, 86400, "timeoutSeconds")


def _external_name(target: Any, path: Path, out: Issues) -> None:
    err = dns1123_subdomain_error(target) if isinstance(target, str) and target else \
        "a DNS name is required"
    if err:
        out.append(Issue((*path, "externalName"), f"Invalid value: {target!r}: {err}",
                         "dns1123", "an ExternalName Service names a host, like "
                         "db.example.com"))


def _service_port(port: dict[str, Any], where: Path, svc_type: Any, out: Issues) -> None:
    """A service port's numbers: port, nodePort (only for a NodePort type) and targetPort."""
    _range(port.get("port"), (*where, "port"), out, 1, 65535, "port")
    if port.get("nodePort") not in (None, 0):
        _range(port.get("nodePort"), (*where, "nodePort"), out, 1, 65535, "nodePort")
        if svc_type in (None, "ClusterIP"):
            out.append(Issue((*where, "nodePort"),
                             "nodePort may only be set when type is NodePort", "node-port"))
    if port.get("targetPort") is not None:
        _port_ref(port.get("targetPort"), (*where, "targetPort"), out)


def _service_port_name(pname: Any, i: int, count: int, where: Path, names: dict[str, int],
                       out: Issues) -> None:
    """A DNS-label name, unique in the service, and required when it has several ports."""
    if isinstance(pname, str) and pname:
        err = dns1123_label_error(pname)
        if err:
            out.append(Issue((*where, "name"), f'invalid port name "{pname}": {err}',
                             "port-name"))
        if pname in names:
            out.append(Issue((*where, "name"), f'port name "{pname}" is used twice',
                             "duplicate-port", f"first at ports[{names[pname]}]"))
        names[pname] = i
    elif count > 1:
        out.append(Issue((*where, "name"), 'missing required field "name"', "required",
                         "every port of a multi-port service needs a name"))


MAX_CONFIG_BYTES = 1024 * 1024  # upstream's limit on a ConfigMap's or a Secret's data


def _data_size(obj: dict[str, Any], kind: str) -> int:
    """The bytes upstream counts against MAX_CONFIG_BYTES: a ConfigMap's keys and values, a
    Secret's (decoded) values."""
    size = 0
    fields = ("data", "binaryData") if kind == "ConfigMap" else ("data", "stringData")
    for field in fields:
        for key, value in _d(obj.get(field)).items():
            if not isinstance(value, str):
                continue
            if field == "binaryData" or (kind == "Secret" and field == "data"):
                size += len(value) * 3 // 4  # base64: its decoded length, near enough
            else:
                size += len(value.encode())
            if kind == "ConfigMap":
                size += len(str(key))
    return size


def _config_data(obj: dict[str, Any], kind: str, out: Issues) -> None:
    fields = ("data", "binaryData") if kind == "ConfigMap" else ("data", "stringData")
    size = _data_size(obj, kind)
    if size > MAX_CONFIG_BYTES:
        out.append(Issue((fields[0],), f"{kind} data is {size:,} bytes: too long, must have at "
                                       f"most {MAX_CONFIG_BYTES} bytes", "too-long",
                         "split it, or mount the data from a volume instead"))
    seen: dict[str, str] = {}
    for field in fields:
        for key, value in _d(obj.get(field)).items():
            if not isinstance(key, str):
                continue
            if len(key) > 253 or not _CONFIG_KEY.fullmatch(key):
                out.append(Issue((field, key), f'invalid key "{key}": keys must consist of '
                                 "alphanumeric characters, '-', '_' or '.'", "config-key"))
            if kind == "ConfigMap" and key in seen:
                out.append(Issue((field, key), f'key "{key}" is in both data and binaryData',
                                 "duplicate-key"))
            seen[key] = field
            base64_field = (kind == "Secret" and field == "data") or field == "binaryData"
            if base64_field and isinstance(value, str):
                try:
                    # Kubernetes (Go's base64) ignores line breaks inside the value.
                    base64.b64decode(value.replace("\n", "").replace("\r", ""),
                                     validate=True)
                except (binascii.Error, ValueError):
                    hint = ("use stringData for plain text" if kind == "Secret"
                            else "use data for plain text")
                    out.append(Issue((field, key), f'value of "{key}" is not valid base64',
                                     "base64", hint))


def _namespace(spec: dict[str, Any], path: Path, out: Issues) -> None:
    return None


_SPEC_CHECKS: dict[str, Callable[[dict[str, Any], Path, Issues], None]] = {
    "Pod": _pod,
    "Service": _service,
    "PersistentVolumeClaim": _pvc,
    "Namespace": _namespace,
}
