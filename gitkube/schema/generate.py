"""Generate gitkube's JSON Schemas from the upstream Kubernetes schemas.

The upstream Kubernetes API schemas (as shipped by the PyPI package kubernetes-validate, a test
dependency) are the facts: field names, types and nesting. This script keeps every upstream
field of every definition reachable from the kinds gitkube serves and adds gitkube's own
annotations:

- ``"x-gitkube-unsupported": "<reason>"`` on a property that is valid Kubernetes but that
  gitkube does not implement; the validator reports it as ``unsupported-field``;
- ``"x-gitkube-accepts": [...]`` on such a property: values that ask for nothing beyond what
  gitkube does anyway (``serviceAccountName: default``), accepted without a complaint;
- ``"enum"`` on string fields whose values Kubernetes validates server-side (documented in the
  upstream descriptions, not in the schema), with ``null`` kept because upstream types are
  nullable;
- ``"minimum"``/``"maximum"`` on every integer of format int32 or int64: the range of the Go
  type upstream decodes it into (an out-of-range value fails there; unbounded, it let a typo
  like ``replicas: 2147483648`` through).

Run ``python -m gitkube.schema.generate [--kubernetes 1.37.0]`` and commit the output
(gitkube/schema/schemas/*.json); ``SCHEMA_VERSION`` changes with it.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "1.37.0"
OUT_DIR = Path(__file__).parent / "schemas"
DEFINITIONS_FILE = "_definitions.json"
UPSTREAM_KINDS_FILE = "_upstream_kinds.json"  # apiVersion -> the kinds Kubernetes serves
DRAFT = "https://json-schema.org/draft/2020-12/schema"

_CORE = "io.k8s.api.core.v1."
_APPS = "io.k8s.api.apps.v1."
_BATCH = "io.k8s.api.batch.v1."
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."

# (apiVersion, kind, upstream definition)
KINDS: tuple[tuple[str, str, str], ...] = (
    ("v1", "Namespace", _CORE + "Namespace"),
    ("v1", "Pod", _CORE + "Pod"),
    ("v1", "Service", _CORE + "Service"),
    ("v1", "ConfigMap", _CORE + "ConfigMap"),
    ("v1", "Secret", _CORE + "Secret"),
    ("v1", "ServiceAccount", _CORE + "ServiceAccount"),
    ("v1", "PersistentVolumeClaim", _CORE + "PersistentVolumeClaim"),
    ("v1", "Node", _CORE + "Node"),
    ("v1", "Endpoints", _CORE + "Endpoints"),
    ("v1", "Event", _CORE + "Event"),
    ("apps/v1", "Deployment", _APPS + "Deployment"),
    ("apps/v1", "ReplicaSet", _APPS + "ReplicaSet"),
    ("apps/v1", "DaemonSet", _APPS + "DaemonSet"),
    ("apps/v1", "StatefulSet", _APPS + "StatefulSet"),
    ("batch/v1", "Job", _BATCH + "Job"),
    ("batch/v1", "CronJob", _BATCH + "CronJob"),
    ("scheduling.k8s.io/v1", "PriorityClass", "io.k8s.api.scheduling.v1.PriorityClass"),
    ("policy/v1", "PodDisruptionBudget", "io.k8s.api.policy.v1.PodDisruptionBudget"),
    ("v1", "ResourceQuota", _CORE + "ResourceQuota"),
    ("v1", "LimitRange", _CORE + "LimitRange"),
    ("networking.k8s.io/v1", "Ingress", "io.k8s.api.networking.v1.Ingress"),
    ("networking.k8s.io/v1", "IngressClass", "io.k8s.api.networking.v1.IngressClass"),
    ("discovery.k8s.io/v1", "EndpointSlice", "io.k8s.api.discovery.v1.EndpointSlice"),
    ("v1", "ReplicationController", _CORE + "ReplicationController"),
    ("apps/v1", "ControllerRevision", _APPS + "ControllerRevision"),
    ("coordination.k8s.io/v1", "Lease", "io.k8s.api.coordination.v1.Lease"),
)

NOT_SUPPORTED = "valid in Kubernetes, not supported by gitkube"
_NO_SA = "gitkube stores ServiceAccounts but mounts no service account tokens"
_NO_DRA = "gitkube has no dynamic resource allocation"
_NO_CLOUD = "gitkube has no cloud load balancers"
_VOLUME = (
    "gitkube's kubelet supports emptyDir, hostPath, configMap, secret, downwardAPI, "
    "projected and persistentVolumeClaim volumes"
)
_SELINUX = "gitkube's Podman containers use no SELinux labels of their own"
_WINDOWS = "gitkube runs Linux containers only"
_APPARMOR = "gitkube applies no AppArmor profile of its own"

# What gitkube implements is decided by the kubelet, controllers, scheduler and proxy (issues
# 5, 6 and 9). Per upstream definition: the properties gitkube does NOT implement, and why.
# Everything not listed (and every status, Node, Endpoints and Event field) is supported.
UNSUPPORTED: dict[str, dict[str, str]] = {
    _META + "ObjectMeta": {
        "selfLink": "selfLink was removed from Kubernetes and is never set",
    },
    _CORE + "PodSpec": {
        "activeDeadlineSeconds": "set activeDeadlineSeconds on the Job instead",
        "automountServiceAccountToken": _NO_SA,
        "ephemeralContainers": "added by kubectl debug through the pods/ephemeralcontainers "
                               "subresource, never in a manifest",
        "evictionResponders": NOT_SUPPORTED,
        "hostUsers": NOT_SUPPORTED,
        "hostnameOverride": NOT_SUPPORTED,
        "imagePullSecrets": "no registry credentials: gitkube pulls anonymously",
        "os": "gitkube runs Linux containers only",
        "overhead": NOT_SUPPORTED,
        "preemptionPolicy": "gitkube's scheduler does not preempt",
        "readinessGates": NOT_SUPPORTED,
        "resourceClaims": _NO_DRA,
        "resources": "pod-level resources are not supported; set them per container",
        "runtimeClassName": "gitkube has one runtime: Podman",
        "schedulingGates": NOT_SUPPORTED,
        "schedulingGroup": NOT_SUPPORTED,
        "setHostnameAsFQDN": NOT_SUPPORTED,
        "topologySpreadConstraints": "gitkube's scheduler has no topology spreading",
    },
    _CORE + "Container": {
        "resizePolicy": "in-place resize is not supported",
        "restartPolicyRules": NOT_SUPPORTED,
        "volumeDevices": "raw block devices are not supported",
    },
    _CORE + "Lifecycle": {"stopSignal": "containers stop with SIGTERM, then SIGKILL"},
    _CORE + "LifecycleHandler": {
        "tcpSocket": "not a lifecycle handler upstream either: use exec, httpGet or sleep",
    },
    _CORE + "ServiceAccount": {
        "automountServiceAccountToken": _NO_SA,
        "imagePullSecrets": "no registry credentials: gitkube pulls anonymously",
    },
    _CORE + "PodSecurityContext": {
        "appArmorProfile": _APPARMOR,
        "seLinuxChangePolicy": _SELINUX,
        "seLinuxOptions": _SELINUX,
        "supplementalGroupsPolicy": "only the Merge policy is supported",
        "sysctls": "pod sysctls are not supported",
        "windowsOptions": _WINDOWS,
    },
    _CORE + "SecurityContext": {
        "appArmorProfile": _APPARMOR,
        "procMount": "only the Default proc mount is supported",
        "seLinuxOptions": _SELINUX,
        "windowsOptions": _WINDOWS,
    },
    _CORE + "VolumeMount": {
        "bindMountOptions": NOT_SUPPORTED,
        "mountPropagation": NOT_SUPPORTED,
        "recursiveReadOnly": NOT_SUPPORTED,
        "subPathExpr": NOT_SUPPORTED,
    },
    _CORE + "Volume": {
        name: _VOLUME
        for name in (
            "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi",
            "ephemeral", "fc", "flexVolume", "flocker", "gcePersistentDisk",
            "gitRepo", "glusterfs", "image", "iscsi", "nfs", "photonPersistentDisk",
            "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos",
            "vsphereVolume",
        )
    },
    _CORE + "ConfigMapVolumeSource": {"defaultUser": NOT_SUPPORTED},
    _CORE + "SecretVolumeSource": {"defaultUser": NOT_SUPPORTED},
    _CORE + "KeyToPath": {"user": NOT_SUPPORTED},
    _CORE + "DownwardAPIVolumeFile": {"user": NOT_SUPPORTED},
    _CORE + "ProjectedVolumeSource": {"defaultUser": NOT_SUPPORTED},
    _CORE + "VolumeProjection": {
        "serviceAccountToken": _NO_SA,
        "clusterTrustBundle": NOT_SUPPORTED,
        "podCertificate": NOT_SUPPORTED,
    },
    _CORE + "EmptyDirVolumeSource": {"mode": NOT_SUPPORTED},
    _CORE + "EnvVarSource": {
        "fileKeyRef": NOT_SUPPORTED,
    },
    _CORE + "ResourceRequirements": {"claims": _NO_DRA},
    _CORE + "GRPCAction": {
        "mode": "gRPC probes connect in plaintext (mode: Plaintext); TLS is not implemented",
    },
    _CORE + "Affinity": {
        "podAffinity": "gitkube's scheduler supports node affinity only",
        "podAntiAffinity": "gitkube's scheduler supports node affinity only",
    },
    _CORE + "ServiceSpec": {
        "allocateLoadBalancerNodePorts": _NO_CLOUD,
        "externalIPs": NOT_SUPPORTED,
        "healthCheckNodePort": _NO_CLOUD,
        "loadBalancerClass": _NO_CLOUD,
        "loadBalancerIP": _NO_CLOUD,
        "loadBalancerSourceRanges": _NO_CLOUD,
        "trafficDistribution": NOT_SUPPORTED,
    },
    _CORE + "PersistentVolumeClaimSpec": {
        "dataSource": "claims are empty directories; no data sources",
        "dataSourceRef": "claims are empty directories; no data sources",
        "selector": "gitkube has no PersistentVolumes to select",
        "volumeAttributesClassName": NOT_SUPPORTED,
        "volumeName": "gitkube has no PersistentVolumes to bind to",
    },
    _APPS + "StatefulSetSpec": {
        "ordinals": NOT_SUPPORTED,
    },
    _CORE + "ResourceQuotaSpec": {
        "scopes": "quota scopes are not supported: a quota counts every pod of its namespace",
        "scopeSelector": "quota scopes are not supported: a quota counts every pod of its "
                         "namespace",
    },
    _BATCH + "JobSpec": {
        "backoffLimitPerIndex": "indexed Jobs are not supported",
        "completionMode": "indexed Jobs are not supported",
        "managedBy": NOT_SUPPORTED,
        "maxFailedIndexes": "indexed Jobs are not supported",
        "podFailurePolicy": NOT_SUPPORTED,
        "podReplacementPolicy": NOT_SUPPORTED,
        "scheduling": NOT_SUPPORTED,
        "successPolicy": NOT_SUPPORTED,
    },
}

# Values of an unsupported field that ask for nothing beyond what gitkube does anyway (often
# Kubernetes' own defaults, as ``kubectl get -o yaml`` prints them). null, false, {} and []
# are always accepted.
ACCEPTS: dict[tuple[str, str], list[Any]] = {
    # Never asks not to preempt, which gitkube's scheduler never does
    (_CORE + "PodSpec", "preemptionPolicy"): ["PreemptLowerPriority", "Never"],
    (_CORE + "PodSecurityContext", "supplementalGroupsPolicy"): ["Merge"],
    (_CORE + "PodSecurityContext", "appArmorProfile"): [{"type": "RuntimeDefault"}],
    (_CORE + "SecurityContext", "appArmorProfile"): [{"type": "RuntimeDefault"}],
    (_CORE + "SecurityContext", "procMount"): ["Default"],
    (_BATCH + "JobSpec", "completionMode"): ["NonIndexed"],
    (_BATCH + "JobSpec", "podReplacementPolicy"): ["TerminatingOrFailed"],
    (_CORE + "GRPCAction", "mode"): ["Plaintext"],
}

# String fields whose values Kubernetes validates (the values are documented upstream in
# each field's description but not expressed in the schema).
ENUMS: dict[tuple[str, str], list[str]] = {
    (_CORE + "Container", "imagePullPolicy"): ["Always", "IfNotPresent", "Never"],
    (_CORE + "Container", "terminationMessagePolicy"): ["File", "FallbackToLogsOnError"],
    (_CORE + "PodSpec", "restartPolicy"): ["Always", "OnFailure", "Never"],
    (_CORE + "PodSpec", "dnsPolicy"): [
        "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None",
    ],
    (_CORE + "ContainerPort", "protocol"): ["TCP", "UDP", "SCTP"],
    (_CORE + "SeccompProfile", "type"): ["RuntimeDefault", "Unconfined", "Localhost"],
    (_APPS + "StatefulSetPersistentVolumeClaimRetentionPolicy", "whenDeleted"): [
        "Retain", "Delete"],
    (_APPS + "StatefulSetPersistentVolumeClaimRetentionPolicy", "whenScaled"): [
        "Retain", "Delete"],
    (_CORE + "PodSecurityContext", "fsGroupChangePolicy"): ["Always", "OnRootMismatch"],
    (_CORE + "ServicePort", "protocol"): ["TCP", "UDP", "SCTP"],
    (_CORE + "ServiceSpec", "type"): ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"],
    (_CORE + "ServiceSpec", "sessionAffinity"): ["None", "ClientIP"],
    (_CORE + "ServiceSpec", "externalTrafficPolicy"): ["Cluster", "Local"],
    (_CORE + "ServiceSpec", "internalTrafficPolicy"): ["Cluster", "Local"],
    (_CORE + "ServiceSpec", "ipFamilyPolicy"): [
        "SingleStack", "PreferDualStack", "RequireDualStack",
    ],
    (_CORE + "HTTPGetAction", "scheme"): ["HTTP", "HTTPS"],
    (_CORE + "GRPCAction", "mode"): ["TLS", "Plaintext"],
    (_CORE + "Toleration", "operator"): ["Exists", "Equal"],
    (_CORE + "Toleration", "effect"): ["NoSchedule", "PreferNoSchedule", "NoExecute"],
    (_CORE + "NodeSelectorRequirement", "operator"): [
        "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt",
    ],
    (_CORE + "HostPathVolumeSource", "type"): [
        "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
        "BlockDevice",
    ],
    (_CORE + "EmptyDirVolumeSource", "medium"): ["", "Memory"],
    (_CORE + "PersistentVolumeClaimSpec", "volumeMode"): ["Filesystem", "Block"],
    (_META + "LabelSelectorRequirement", "operator"): ["In", "NotIn", "Exists", "DoesNotExist"],
    (_APPS + "DeploymentStrategy", "type"): ["Recreate", "RollingUpdate"],
    (_APPS + "DaemonSetUpdateStrategy", "type"): ["RollingUpdate", "OnDelete"],
    (_APPS + "StatefulSetUpdateStrategy", "type"): ["RollingUpdate", "OnDelete"],
    (_APPS + "StatefulSetSpec", "podManagementPolicy"): ["OrderedReady", "Parallel"],
    (_BATCH + "CronJobSpec", "concurrencyPolicy"): ["Allow", "Forbid", "Replace"],
    ("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", "unhealthyPodEvictionPolicy"): [
        "IfHealthyBudget", "AlwaysAllow"],
    (_CORE + "LimitRangeItem", "type"): ["Container", "Pod", "PersistentVolumeClaim"],
    ("io.k8s.api.networking.v1.HTTPIngressPath", "pathType"): [
        "Exact", "Prefix", "ImplementationSpecific"],
}


def upstream_dir(version: str) -> Path:
    """The strict upstream schema directory for ``version`` inside kubernetes-validate."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or spec.origin is None:
        raise SystemExit("kubernetes-validate is not installed: pip install -e .[test]")
    root = Path(spec.origin).parent / "kubernetes-json-schema"
    path = root / f"v{version}-local-strict"
    if not path.is_dir():
        have = sorted(p.name for p in root.iterdir())
        raise SystemExit(f"no upstream schemas for Kubernetes {version}; have: {have}")
    return path


def _refs(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out.append(value.rsplit("/", 1)[-1])
            else:
                out.extend(_refs(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_refs(value))
    return out


def reachable(defs: dict[str, Any], roots: list[str]) -> list[str]:
    """Every definition reachable from ``roots`` through $ref, sorted."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_refs(defs[name]))
    return sorted(seen)


def annotate(defs: dict[str, Any]) -> None:
    """Add gitkube's annotations in place; fail loudly if upstream no longer has a field."""
    for def_name, fields in UNSUPPORTED.items():
        props = defs[def_name]["properties"]
        for field, reason in fields.items():
            if field not in props:
                raise SystemExit(f"{def_name} has no field {field!r} upstream any more")
            props[field]["x-gitkube-unsupported"] = reason
    for (def_name, field), values in ACCEPTS.items():
        defs[def_name]["properties"][field]["x-gitkube-accepts"] = values
    for (def_name, field), values in ENUMS.items():
        prop = defs[def_name]["properties"][field]
        nullable = isinstance(prop.get("type"), list) and "null" in prop["type"]
        prop["enum"] = [*values, None] if nullable else list(values)


INTEGER_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def bound_integers(node: Any) -> None:
    """Give every int32/int64 integer schema below ``node`` its Go type's range, in place."""
    if isinstance(node, dict):
        types = node.get("type")
        is_int = types == "integer" or (isinstance(types, list) and "integer" in types)
        bounds = INTEGER_RANGES.get(str(node.get("format"))) if is_int else None
        if bounds is not None:
            node.setdefault("minimum", bounds[0])
            node.setdefault("maximum", bounds[1])
        for value in node.values():
            bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            bound_integers(value)


def kind_schema(api_version: str, kind: str, upstream: dict[str, Any]) -> dict[str, Any]:
    """The per-kind file: the upstream top-level object, its refs pointing into the shared
    definitions file, apiVersion/kind/metadata required (gitkube needs them to know what
    an object is)."""
    body = copy.deepcopy(upstream)
    body.pop("$schema", None)
    body.pop("$id", None)

    def relink(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (DEFINITIONS_FILE + "#/$defs/" + v.rsplit("/", 1)[-1] if k == "$ref" else
                    relink(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [relink(v) for v in node]
        return node

    body = relink(body)
    required = [r for r in ("apiVersion", "kind", "metadata") if r in body["properties"]]
    body["required"] = sorted(set(required) | set(body.get("required", [])))
    body["type"] = "object"
    return {
        "$schema": DRAFT,
        "title": f"{kind} ({api_version})",
        **body,
    }


def file_name(api_version: str, kind: str) -> str:
    """``deployment-apps-v1.json``, ``pod-v1.json``: upstream's naming."""
    group, _, version = api_version.rpartition("/")
    parts = [kind.lower(), *([group.split(".")[0]] if group else []), version]
    return "-".join(parts) + ".json"


def upstream_kinds(version: str, defs: dict[str, Any]) -> dict[str, Any]:
    """Every kind of object Kubernetes ``version`` serves, by apiVersion: the definitions
    that name a group/version/kind and have metadata (lists and bare request bodies such as
    DeleteOptions have none). Validation tells a valid Kubernetes kind gitkube lacks from a
    kind that does not exist with it."""
    kinds: dict[str, set[str]] = {}
    for name, schema in defs.items():
        props = schema.get("properties") or {}
        if "metadata" not in props or name.startswith(_META):  # meta's Status: an answer
            continue
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            group, ver, kind = gvk["group"], gvk["version"], gvk["kind"]
            if kind.endswith("List") and "items" in props:
                continue
            kinds.setdefault(f"{group}/{ver}" if group else ver, set()).add(kind)
    return {
        "$comment": (
            f"Generated by gitkube/schema/generate.py from the Kubernetes v{version} API "
            "schemas; do not edit by hand."
        ),
        "kubernetes": version,
        "kinds": {av: sorted(names) for av, names in sorted(kinds.items())},
    }


def generate(version: str, out_dir: Path) -> list[Path]:
    """Write the definitions file and one file per kind; return the paths written."""
    src = upstream_dir(version)
    defs = json.loads((src / "_definitions.json").read_text())["$defs"]
    names = reachable(defs, [d for _, _, d in KINDS])
    kept = {n: copy.deepcopy(defs[n]) for n in names}
    annotate(kept)
    bound_integers(kept)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    definitions = {
        "$schema": DRAFT,
        "$comment": (
            f"Generated by gitkube/schema/generate.py from the Kubernetes v{version} API "
            "schemas; do not edit by hand."
        ),
        "$defs": kept,
    }
    path = out_dir / DEFINITIONS_FILE
    path.write_text(json.dumps(definitions, indent=1, sort_keys=True) + "\n")
    written.append(path)
    path = out_dir / UPSTREAM_KINDS_FILE
    path.write_text(json.dumps(upstream_kinds(version, defs), indent=1, sort_keys=True) + "\n")
    written.append(path)
    for api_version, kind, def_name in KINDS:
        upstream = json.loads((src / file_name(api_version, kind)).read_text())
        path = out_dir / file_name(api_version, kind)
        schema = kind_schema(api_version, kind, upstream)
        bound_integers(schema)
        # the top-level object's own fields take the annotations of its definition too
        for field, reason in UNSUPPORTED.get(def_name, {}).items():
            schema["properties"][field]["x-gitkube-unsupported"] = reason
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kubernetes", default=KUBERNETES_VERSION, help="upstream version")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    for path in generate(args.kubernetes, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
