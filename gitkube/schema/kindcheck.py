"""What to say about an apiVersion/kind that gitkube does not serve.

Five different situations, each with its own message (and code):

- a kind gitkube serves, under another apiVersion: a removed one gets the release that
  removed it and its replacement (``removed-api-version``), any other the one to use
  (``unknown-kind``);
- a kind Kubernetes serves and gitkube does not (CronJob, NetworkPolicy, PersistentVolume,
  ...): "valid in Kubernetes, not supported by gitkube" with the reason
  (``unsupported-kind``), naming the kind to move to where there is one;
- a kind Kubernetes served once under an apiVersion since removed (batch/v1beta1 CronJob,
  PodSecurityPolicy): the removal, and what replaced it (``removed-api-version``);
- a kind of a group that is not built into Kubernetes (ServiceMonitor of
  monitoring.coreos.com): a custom resource (``unknown-kind``);
- anything else (``unknown-kind``), with "did you mean" only for a close edit of a kind
  gitkube serves (Deploymnet, deployment, Services), never for another valid kind
  (CronJob is not a misspelt Job).

The kinds Kubernetes serves come from ``schemas/_upstream_kinds.json``, generated with the
schemas from the same upstream release.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache

from gitkube.schema.issue import Issue

UPSTREAM_KINDS_FILE = "_upstream_kinds.json"

_STORAGE = ("gitkube's volume claims are directories the kubelet makes on the node: there "
            "are no storage classes, PersistentVolumes or CSI drivers")
_RBAC = ("gitkube's API authorises each token by its role (admin or read-only), not by RBAC "
         "objects")
_ADMISSION = "gitkube's API has no admission webhooks, admission policies or aggregated APIs"
_REQUEST = "a request to the API server, not an object to store"
_SUBRESOURCE = "the body of an API subresource call, not an object to store"

# Why a kind Kubernetes serves is not served by gitkube (by kind, whatever its apiVersion).
UNSUPPORTED_KINDS: dict[str, str] = {
    "CronJob": "gitkube has no CronJob controller, so nothing would run on the schedule",
    "NetworkPolicy": "gitkube enforces no network policies: every pod reaches every other",
    "Ingress": "gitkube has no ingress controller (a NodePort or LoadBalancer Service is "
               "served on the node)",
    "IngressClass": "gitkube has no ingress controller",
    "HorizontalPodAutoscaler": "gitkube has no metrics pipeline or autoscaler (set the "
                               "workload's replicas)",
    "StorageClass": _STORAGE,
    "PersistentVolume": _STORAGE,
    "VolumeAttachment": _STORAGE,
    "VolumeAttributesClass": _STORAGE,
    "CSIDriver": _STORAGE,
    "CSINode": _STORAGE,
    "CSIStorageCapacity": _STORAGE,
    "PodDisruptionBudget": "gitkube has no eviction API: nothing drains a node",
    "PriorityClass": "gitkube's scheduler has no priorities or preemption",
    "ResourceQuota": "gitkube enforces no quotas",
    "LimitRange": "gitkube enforces no limit ranges",
    "Role": _RBAC,
    "ClusterRole": _RBAC,
    "RoleBinding": _RBAC,
    "ClusterRoleBinding": _RBAC,
    "CustomResourceDefinition": "gitkube serves only the built-in kinds it implements, no "
                                "custom resources",
    "APIService": _ADMISSION,
    "MutatingWebhookConfiguration": _ADMISSION,
    "ValidatingWebhookConfiguration": _ADMISSION,
    "MutatingAdmissionPolicy": _ADMISSION,
    "MutatingAdmissionPolicyBinding": _ADMISSION,
    "ValidatingAdmissionPolicy": _ADMISSION,
    "ValidatingAdmissionPolicyBinding": _ADMISSION,
    "RuntimeClass": "gitkube has one container runtime: Podman",
    "PodTemplate": "gitkube stores no pod templates on their own (a workload holds its own)",
    "Binding": _SUBRESOURCE,
    "Eviction": _SUBRESOURCE,
    "Scale": _SUBRESOURCE,
    "TokenRequest": _SUBRESOURCE,
    "TokenReview": _REQUEST,
    "SelfSubjectReview": _REQUEST,
    "SubjectAccessReview": _REQUEST,
    "LocalSubjectAccessReview": _REQUEST,
    "SelfSubjectAccessReview": _REQUEST,
    "SelfSubjectRulesReview": _REQUEST,
}
_DEFAULT_REASON = "gitkube does not implement it"

# What to write instead, where there is one kind to move to.
_INSTEAD: dict[str, str] = {}

# apiVersions Kubernetes no longer serves, and the release that removed them (for a kind
# that was removed at another release than the rest of its apiVersion: by (apiVersion, kind)).
REMOVED: dict[str, str] = {
    "extensions/v1beta1": "1.16",
    "apps/v1beta1": "1.16",
    "apps/v1beta2": "1.16",
    "batch/v2alpha1": "1.21",
    "batch/v1beta1": "1.25",
    "policy/v1beta1": "1.25",
    "autoscaling/v2beta1": "1.25",
    "autoscaling/v2beta2": "1.26",
    "networking.k8s.io/v1beta1": "1.22",
    "rbac.authorization.k8s.io/v1alpha1": "1.22",
    "rbac.authorization.k8s.io/v1beta1": "1.22",
    "apiextensions.k8s.io/v1beta1": "1.22",
    "apiregistration.k8s.io/v1beta1": "1.22",
    "admissionregistration.k8s.io/v1beta1": "1.22",
    "authentication.k8s.io/v1beta1": "1.22",
    "authorization.k8s.io/v1beta1": "1.22",
    "certificates.k8s.io/v1beta1": "1.22",
    "coordination.k8s.io/v1beta1": "1.22",
    "scheduling.k8s.io/v1alpha1": "1.22",
    "scheduling.k8s.io/v1beta1": "1.22",
    "storage.k8s.io/v1beta1": "1.22",
    "discovery.k8s.io/v1beta1": "1.25",
    "events.k8s.io/v1beta1": "1.25",
    "node.k8s.io/v1beta1": "1.25",
    "flowcontrol.apiserver.k8s.io/v1beta1": "1.26",
    "flowcontrol.apiserver.k8s.io/v1beta2": "1.29",
    "flowcontrol.apiserver.k8s.io/v1beta3": "1.32",
}
REMOVED_KIND_AT: dict[tuple[str, str], str] = {
    ("extensions/v1beta1", "Ingress"): "1.22",
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity"): "1.27",
}
# Kinds removed from Kubernetes altogether: the release, and what took their place.
REMOVED_KINDS: dict[str, tuple[str, str]] = {
    "PodSecurityPolicy": ("1.25", "Pod Security Admission took its place: label the "
                                  "Namespace (pod-security.kubernetes.io/enforce: baseline)"),
}


@cache
def upstream_kinds() -> dict[str, frozenset[str]]:
    """apiVersion -> the kinds Kubernetes serves under it (the schemas' release)."""
    from gitkube.schema.validator import SCHEMA_DIR

    table = json.loads((SCHEMA_DIR / UPSTREAM_KINDS_FILE).read_text())["kinds"]
    return {av: frozenset(kinds) for av, kinds in table.items()}


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    two neighbouring letters each count one."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        prev2, prev = prev, row
    return prev[-1]


def close_edit(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` is a slip of the keyboard away from: the same ignoring case,
    or at most one edit (two for words longer than 5 letters) away. None when none is or
    when two are equally close."""
    lowered = word.lower()
    best: list[tuple[int, str]] = []
    for candidate in candidates:
        d = edit_distance(lowered, candidate.lower())
        if d <= (2 if len(candidate) > 5 else 1):
            best.append((d, candidate))
    best.sort()
    if not best or (len(best) > 1 and best[0][0] == best[1][0]):
        return None
    return best[0][1]


def kind_issue(api_version: str, kind: str, served: Iterable[tuple[str, str]]) -> Issue:
    """The one problem of an object whose (apiVersion, kind) gitkube does not serve;
    ``served``: the (apiVersion, kind) pairs gitkube does."""
    served = sorted(served)
    upstream = upstream_kinds()
    same_kind = [av for av, k in served if k == kind]
    if kind in upstream.get(api_version, ()):
        return _unsupported(api_version, kind, same_kind[0] if same_kind else None)
    if same_kind:
        return _moved(api_version, kind, same_kind[0], None)
    elsewhere = sorted(av for av, kinds in upstream.items() if kind in kinds)
    if elsewhere or kind in REMOVED_KINDS:
        return _moved(api_version, kind, _preferred(api_version, elsewhere),
                      UNSUPPORTED_KINDS.get(kind, _DEFAULT_REASON))
    return _unknown(api_version, kind, served, upstream)


_VERSION = re.compile(r"v([0-9]+)(?:(alpha|beta)([0-9]+))?")


def _maturity(api_version: str) -> tuple[int, int, int]:
    """Sorts versions as Kubernetes does: GA above beta above alpha, then by number."""
    m = _VERSION.fullmatch(api_version.rpartition("/")[2])
    if m is None:
        return (-1, 0, 0)
    stage = {"alpha": 0, "beta": 1, None: 2}[m.group(2)]
    return (stage, int(m.group(1)), int(m.group(3) or 0))


def _preferred(api_version: str, candidates: list[str]) -> str | None:
    """Of the apiVersions serving a kind now, the most mature of the same group, else of
    any group (extensions/v1beta1's kinds moved to other groups)."""
    group = _group(api_version)
    pool = [av for av in candidates if _group(av) == group] or candidates
    return max(pool, key=_maturity) if pool else None


def _moved(api_version: str, kind: str, now: str | None, unsupported: str | None) -> Issue:
    """``kind`` is (or was) served under another apiVersion: ``now``, None if none any
    more. ``unsupported``: why gitkube lacks the kind, None when it serves it."""
    removed = REMOVED_KIND_AT.get((api_version, kind)) or REMOVED.get(api_version)
    if kind in REMOVED_KINDS and now is None:
        release, replacement = REMOVED_KINDS[kind]
        return Issue(("kind",), f"{kind} was removed from Kubernetes in {release}",
                     "removed-api-version", replacement)
    if removed:
        message = (f'apiVersion "{api_version}" of {kind} was removed from Kubernetes in '
                   f"{removed}")
        code = "removed-api-version"
    else:
        message = f'apiVersion "{api_version}" is not served for kind {kind}'
        code = "unknown-kind"
    hint = f"use apiVersion: {now}"
    if unsupported is not None:
        hint += (f" (note: {kind} is valid in Kubernetes, not supported by gitkube: "
                 f"{unsupported})")
    return Issue(("apiVersion",), message, code, hint)


def _unsupported(api_version: str, kind: str, served_as: str | None) -> Issue:
    """A kind Kubernetes serves as ``api_version``; ``served_as``: the apiVersion under
    which gitkube serves the same kind (Event: v1, not events.k8s.io/v1), if any."""
    reason = UNSUPPORTED_KINDS.get(kind, _DEFAULT_REASON)
    if served_as is not None:
        return Issue(("apiVersion",), f"kind {kind} ({api_version}) is valid in Kubernetes, "
                     "not supported by gitkube", "unsupported-kind",
                     f"gitkube serves {kind} as apiVersion: {served_as}")
    hint = _INSTEAD.get(kind) or f"{reason}; remove it, or keep it out of this directory " \
                                  "(.gitkubeignore)"
    message = f"kind {kind} ({api_version}) is valid in Kubernetes, not supported by gitkube"
    if kind in _INSTEAD:
        message += f": {reason}"
    return Issue(("kind",), message, "unsupported-kind", hint)


def _unknown(api_version: str, kind: str, served: list[tuple[str, str]],
             upstream: dict[str, frozenset[str]]) -> Issue:
    message = f'unknown kind "{kind}" (apiVersion "{api_version}")'
    close = close_edit(kind, {k for _, k in served})
    if close is not None:
        right = next(av for av, k in served if k == close)
        hint = f"did you mean {close}?" + (f" (apiVersion: {right})"
                                            if right != api_version else "")
        return Issue(("kind",), message, "unknown-kind", hint)
    group = _group(api_version)
    built_in = {_group(av) for av in upstream} | {_group(av) for av in REMOVED}
    if group not in built_in:
        return Issue(("kind",), f"kind {kind} ({api_version}) is not built into Kubernetes: "
                     "it is a custom resource", "unknown-kind",
                     "a CustomResourceDefinition makes it valid in a cluster; gitkube serves "
                     "only its built-in kinds (docs/SCHEMA.md lists them)")
    here = [k for av, k in served if av == api_version]
    hint = (f"gitkube serves {api_version}: {', '.join(here)}" if here else
            f"Kubernetes has no kind {kind} in {api_version}; docs/SCHEMA.md lists the kinds "
            "gitkube serves")
    return Issue(("kind",), message, "unknown-kind", hint)
