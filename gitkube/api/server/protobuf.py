"""Request bodies in Kubernetes' protobuf encoding, for the kinds kubectl's typed clients send.

kubectl's generator commands (``kubectl create namespace|configmap|secret|deployment|job|
service ...``) use client-go's typed clients, which send ``application/vnd.kubernetes.protobuf``
bodies: the magic ``k8s\\0`` and a ``runtime.Unknown`` envelope (``typeMeta{apiVersion, kind}``,
``raw``) around the object's own message. This module decodes those into the JSON form for
the messages listed in ``_SCHEMAS`` (field numbers as in the upstream ``generated.proto``
files). Status fields are skipped (the api ignores a client's status on create and update).

Go writes every non-pointer field, zero or not; JSON omits empty ones. So zero scalars, empty
messages, lists and maps of ordinary fields are dropped, while pointer fields (marked ``ptr``)
keep an explicit zero (``replicas: 0``). A field this table does not know is refused (415)
rather than silently lost.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from gitkube.errors import BadRequest, GitkubeError
from gitkube.model.times import rfc3339

MAGIC = b"k8s\x00"
Obj = dict[str, Any]


class UndecodableProtobuf(GitkubeError, ValueError):
    """The body uses a message or field this decoder does not know (415). Still a ValueError."""


class MalformedProtobuf(GitkubeError, ValueError):
    """The body is not well-formed protobuf (400). Still a ValueError: callers catch that."""


@dataclass(frozen=True)
class F:
    """One field: its JSON name and type. ``type`` is a scalar (``str``, ``int``, ``bool``,
    ``bytes``), a message name, ``time``, ``intstr``, ``quantity``, ``skip`` (read and
    dropped), or ``map:<value type>`` (string keys)."""

    name: str
    type: str = "str"
    repeated: bool = False
    ptr: bool = False


_META = "meta.ObjectMeta"
_SCHEMAS: dict[str, dict[int, F]] = {
    # --- runtime and meta/v1 ---
    "runtime.Unknown": {1: F("typeMeta", "runtime.TypeMeta"), 2: F("raw", "bytes"),
                        3: F("contentEncoding"), 4: F("contentType")},
    "runtime.TypeMeta": {1: F("apiVersion"), 2: F("kind")},
    _META: {
        1: F("name"), 2: F("generateName"), 3: F("namespace"), 4: F("selfLink"), 5: F("uid"),
        6: F("resourceVersion"), 7: F("generation", "int"), 8: F("creationTimestamp", "time"),
        9: F("deletionTimestamp", "time"), 10: F("deletionGracePeriodSeconds", "int", ptr=True),
        11: F("labels", "map:str"), 12: F("annotations", "map:str"),
        13: F("ownerReferences", "meta.OwnerReference", repeated=True),
        14: F("finalizers", repeated=True), 17: F("managedFields", "skip", repeated=True),
    },
    "meta.OwnerReference": {1: F("kind"), 3: F("name"), 4: F("uid"), 5: F("apiVersion"),
                            6: F("controller", "bool", ptr=True),
                            7: F("blockOwnerDeletion", "bool", ptr=True)},
    "meta.LabelSelector": {1: F("matchLabels", "map:str"),
                           2: F("matchExpressions", "meta.LabelSelectorRequirement",
                                repeated=True)},
    "meta.LabelSelectorRequirement": {1: F("key"), 2: F("operator"),
                                      3: F("values", repeated=True)},
    "meta.DeleteOptions": {1: F("gracePeriodSeconds", "int", ptr=True),
                           2: F("preconditions", "meta.Preconditions"),
                           3: F("orphanDependents", "bool", ptr=True),
                           4: F("propagationPolicy", ptr=True), 5: F("dryRun", repeated=True)},
    "meta.Preconditions": {1: F("uid", ptr=True), 2: F("resourceVersion", ptr=True)},
    # --- core/v1 ---
    "v1.Namespace": {1: F("metadata", _META), 2: F("spec", "v1.NamespaceSpec"),
                     3: F("status", "skip")},
    "v1.NamespaceSpec": {1: F("finalizers", repeated=True)},
    "v1.ConfigMap": {1: F("metadata", _META), 2: F("data", "map:str"),
                     3: F("binaryData", "map:bytes"), 4: F("immutable", "bool", ptr=True)},
    "v1.Secret": {1: F("metadata", _META), 2: F("data", "map:bytes"), 3: F("type"),
                  4: F("stringData", "map:str"), 5: F("immutable", "bool", ptr=True)},
    "v1.ServiceAccount": {1: F("metadata", _META),
                          2: F("secrets", "v1.ObjectReference", repeated=True),
                          3: F("imagePullSecrets", "v1.LocalObjectReference", repeated=True),
                          4: F("automountServiceAccountToken", "bool", ptr=True)},
    "v1.LocalObjectReference": {1: F("name")},
    "v1.Service": {1: F("metadata", _META), 2: F("spec", "v1.ServiceSpec"),
                   3: F("status", "skip")},
    "v1.ServiceSpec": {
        1: F("ports", "v1.ServicePort", repeated=True), 2: F("selector", "map:str"),
        3: F("clusterIP"), 4: F("type"), 5: F("externalIPs", repeated=True),
        7: F("sessionAffinity"), 8: F("loadBalancerIP"),
        9: F("loadBalancerSourceRanges", repeated=True), 10: F("externalName"),
        11: F("externalTrafficPolicy"), 12: F("healthCheckNodePort", "int"),
        13: F("publishNotReadyAddresses", "bool"),
        17: F("ipFamilyPolicy", ptr=True), 18: F("clusterIPs", repeated=True),
        19: F("ipFamilies", repeated=True),
        20: F("allocateLoadBalancerNodePorts", "bool", ptr=True),
        21: F("loadBalancerClass", ptr=True), 22: F("internalTrafficPolicy", ptr=True),
    },
    "v1.ServicePort": {1: F("name"), 2: F("protocol"), 3: F("port", "int"),
                       4: F("targetPort", "intstr"), 5: F("nodePort", "int"),
                       6: F("appProtocol", ptr=True)},
    "v1.Pod": {1: F("metadata", _META), 2: F("spec", "v1.PodSpec"), 3: F("status", "skip")},
    "v1.PodTemplateSpec": {1: F("metadata", _META), 2: F("spec", "v1.PodSpec")},
    "v1.PodSpec": {
        2: F("containers", "v1.Container", repeated=True), 3: F("restartPolicy"),
        4: F("terminationGracePeriodSeconds", "int", ptr=True),
        5: F("activeDeadlineSeconds", "int", ptr=True), 6: F("dnsPolicy"),
        7: F("nodeSelector", "map:str"), 8: F("serviceAccountName"),
        9: F("serviceAccount"), 10: F("nodeName"), 11: F("hostNetwork", "bool"),
        12: F("hostPID", "bool"), 13: F("hostIPC", "bool"), 16: F("hostname"),
        17: F("subdomain"), 19: F("schedulerName"),
        20: F("initContainers", "v1.Container", repeated=True),
        21: F("automountServiceAccountToken", "bool", ptr=True), 24: F("priorityClassName"),
        25: F("priority", "int", ptr=True), 30: F("enableServiceLinks", "bool", ptr=True),
    },
    "v1.Container": {
        1: F("name"), 2: F("image"), 3: F("command", repeated=True),
        4: F("args", repeated=True), 5: F("workingDir"),
        6: F("ports", "v1.ContainerPort", repeated=True),
        7: F("env", "v1.EnvVar", repeated=True), 8: F("resources", "v1.ResourceRequirements"),
        13: F("terminationMessagePath"), 14: F("imagePullPolicy"), 16: F("stdin", "bool"),
        17: F("stdinOnce", "bool"), 18: F("tty", "bool"), 20: F("terminationMessagePolicy"),
    },
    "v1.ContainerPort": {1: F("name"), 2: F("hostPort", "int"), 3: F("containerPort", "int"),
                         4: F("protocol"), 5: F("hostIP")},
    "v1.EnvVar": {1: F("name"), 2: F("value")},
    "v1.ResourceRequirements": {1: F("limits", "map:quantity"),
                                2: F("requests", "map:quantity")},
    "v1.Binding": {1: F("metadata", _META), 2: F("target", "v1.ObjectReference")},
    "v1.ObjectReference": {1: F("kind"), 2: F("namespace"), 3: F("name"), 4: F("uid"),
                           5: F("apiVersion"), 6: F("resourceVersion"), 7: F("fieldPath")},
    # --- apps/v1, batch/v1, autoscaling/v1 ---
    "apps.Deployment": {1: F("metadata", _META), 2: F("spec", "apps.DeploymentSpec"),
                        3: F("status", "skip")},
    "apps.DeploymentSpec": {
        1: F("replicas", "int", ptr=True), 2: F("selector", "meta.LabelSelector"),
        3: F("template", "v1.PodTemplateSpec"), 4: F("strategy", "apps.DeploymentStrategy"),
        5: F("minReadySeconds", "int"), 6: F("revisionHistoryLimit", "int", ptr=True),
        7: F("paused", "bool"), 9: F("progressDeadlineSeconds", "int", ptr=True),
    },
    "apps.DeploymentStrategy": {1: F("type"),
                                2: F("rollingUpdate", "apps.RollingUpdateDeployment")},
    "apps.RollingUpdateDeployment": {1: F("maxUnavailable", "intstr", ptr=True),
                                     2: F("maxSurge", "intstr", ptr=True)},
    "batch.Job": {1: F("metadata", _META), 2: F("spec", "batch.JobSpec"),
                  3: F("status", "skip")},
    "batch.JobSpec": {
        1: F("parallelism", "int", ptr=True), 2: F("completions", "int", ptr=True),
        3: F("activeDeadlineSeconds", "int", ptr=True), 4: F("selector", "meta.LabelSelector"),
        5: F("manualSelector", "bool", ptr=True), 6: F("template", "v1.PodTemplateSpec"),
        7: F("backoffLimit", "int", ptr=True), 8: F("ttlSecondsAfterFinished", "int", ptr=True),
        9: F("completionMode", ptr=True), 10: F("suspend", "bool", ptr=True),
    },
    "autoscaling.Scale": {1: F("metadata", _META), 2: F("spec", "autoscaling.ScaleSpec"),
                          3: F("status", "skip")},
    "autoscaling.ScaleSpec": {1: F("replicas", "int", ptr=True)},
    # --- authorization/v1 and authentication/v1: the self reviews ---
    "authz.SelfSubjectAccessReview": {1: F("metadata", _META),
                                      2: F("spec", "authz.SelfSubjectAccessReviewSpec"),
                                      3: F("status", "skip")},
    "authz.SelfSubjectAccessReviewSpec": {
        1: F("resourceAttributes", "authz.ResourceAttributes"),
        2: F("nonResourceAttributes", "authz.NonResourceAttributes")},
    "authz.ResourceAttributes": {1: F("namespace"), 2: F("verb"), 3: F("group"),
                                 4: F("version"), 5: F("resource"), 6: F("subresource"),
                                 7: F("name"), 8: F("fieldSelector", "skip"),
                                 9: F("labelSelector", "skip")},
    "authz.NonResourceAttributes": {1: F("path"), 2: F("verb")},
    "authz.SelfSubjectRulesReview": {1: F("metadata", _META),
                                     2: F("spec", "authz.SelfSubjectRulesReviewSpec"),
                                     3: F("status", "skip")},
    "authz.SelfSubjectRulesReviewSpec": {1: F("namespace")},
    "authn.SelfSubjectReview": {1: F("metadata", _META), 2: F("status", "skip")},
}

# (apiVersion, kind) in the envelope -> the message of the raw object.
_TOP: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "v1.Namespace", ("v1", "ConfigMap"): "v1.ConfigMap",
    ("v1", "Secret"): "v1.Secret", ("v1", "Service"): "v1.Service", ("v1", "Pod"): "v1.Pod",
    ("v1", "ServiceAccount"): "v1.ServiceAccount",
    ("v1", "Binding"): "v1.Binding", ("apps/v1", "Deployment"): "apps.Deployment",
    ("batch/v1", "Job"): "batch.Job", ("autoscaling/v1", "Scale"): "autoscaling.Scale",
    ("meta.k8s.io/v1", "DeleteOptions"): "meta.DeleteOptions",
    ("v1", "DeleteOptions"): "meta.DeleteOptions",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "authz.SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "authz.SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "authn.SelfSubjectReview",
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise MalformedProtobuf("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise MalformedProtobuf("varint too long")


def _fields(data: Any) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value): ints for varints, bytes for length-delimited."""
    if not isinstance(data, bytes):
        raise MalformedProtobuf("expected an embedded message")
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise MalformedProtobuf("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise MalformedProtobuf(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(raw: Any) -> str:
    if not isinstance(raw, bytes):
        raise MalformedProtobuf("expected a length-delimited string")
    return raw.decode()


def _scalar(kind: str, wire: int, raw: Any) -> Any:
    if kind == "str":
        return _text(raw)
    if kind == "bytes":
        return base64.b64encode(raw).decode() if isinstance(raw, bytes) else ""
    if kind in ("int", "bool"):
        if wire != 0:
            raise MalformedProtobuf(f"expected a varint for a {kind}")
        return bool(raw) if kind == "bool" else _signed(raw)
    if kind == "time":
        parts = {n: v for n, _, v in _fields(raw)}
        seconds = _signed(parts.get(1, 0))
        if not seconds:
            return None
        return rfc3339(seconds)
    if kind == "quantity":
        return _text({n: v for n, _, v in _fields(raw)}.get(1, b""))
    if kind == "intstr":
        parts = {n: v for n, _, v in _fields(raw)}
        if parts.get(1, 0) == 1:
            return _text(parts.get(3, b""))
        return _signed(parts.get(2, 0))
    if kind in _SCHEMAS:
        return decode_message(raw, kind)
    raise UndecodableProtobuf(f"no decoder for {kind}")


def _empty(value: Any) -> bool:
    return value is None or value in ("", 0, False) or value == {} or value == []


def decode_message(data: Any, message: str) -> Obj:
    """One message as its JSON form (see the module docstring for zero values)."""
    if not isinstance(data, bytes):
        raise MalformedProtobuf(f"{message}: expected an embedded message")
    schema = _SCHEMAS[message]
    out: Obj = {}
    for number, wire, raw in _fields(data):
        field = schema.get(number)
        if field is None:
            raise UndecodableProtobuf(f"field {number} of {message} is not known to gitkube")
        if field.type == "skip":
            continue
        if field.type.startswith("map:"):
            entry = {n: v for n, _, v in _fields(raw)}
            value_kind = field.type[4:]
            value = _scalar(value_kind, 2 if value_kind != "int" else 0,
                            entry.get(2, b"" if value_kind != "int" else 0))
            out.setdefault(field.name, {})[_text(entry.get(1, b""))] = value
            continue
        value = _scalar(field.type, wire, raw)
        if field.repeated:
            out.setdefault(field.name, []).append(value)
        elif (field.ptr or not _empty(value)) and value is not None:
            out[field.name] = value
    return out


def decode(body: bytes) -> Obj:
    """A ``k8s\\0`` protobuf body as the JSON object. BadRequest when it is not one;
    UndecodableProtobuf when it holds a kind or field gitkube cannot read."""
    if not body.startswith(MAGIC):
        raise BadRequest("a protobuf body must start with the k8s\\0 magic prefix")
    envelope = decode_message(body[len(MAGIC):], "runtime.Unknown")
    type_meta = envelope.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    message = _TOP.get((api_version, kind))
    if message is None:
        raise UndecodableProtobuf(f"gitkube cannot read {api_version}/{kind} in protobuf")
    raw = base64.b64decode(envelope.get("raw") or "")
    obj = decode_message(raw, message)
    return {"apiVersion": api_version, "kind": kind, **obj}
