"""Scheduling predicates: taints and tolerations, and node affinity.

The one home of these rules for the scheduler's filters and scores, the DaemonSet
controller's placement and the node lifecycle controller's evictions. They follow upstream's
``k8s.io/component-helpers/scheduling/corev1`` (``TolerationsTolerateTaint``,
``nodeaffinity``) and ``Toleration.ToleratesTaint``:

- A toleration with an empty effect tolerates every effect; an empty key (operator Exists)
  every key; operator Equal (or none) compares values, Exists does not. Lt and Gt are
  alpha upstream, behind a feature gate that is off by default: they tolerate nothing.
- ``nodeSelector``: every label equal. Required node affinity: its terms are ORed, a term's
  matchExpressions and matchFields ANDed. A term with neither matches no node, and a
  required affinity whose terms are all empty (or that has none) matches no node. A term
  with an invalid requirement (In/NotIn without values, Exists/DoesNotExist with values,
  Gt/Lt without exactly one integer, matchFields other than In/NotIn with one value, an
  unknown operator) matches no node either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.model.views import ObjectView, PodSpec, Raw, children, number, text

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
HARD_EFFECTS = ("NoSchedule", "NoExecute")


# --- taints and tolerations ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint."""

    key: str
    value: str
    effect: str

    @classmethod
    def of(cls, raw: Raw) -> Taint:
        return cls(text(raw, "key"), text(raw, "value"), text(raw, "effect"))


@dataclass(frozen=True, slots=True)
class Toleration:
    """A pod toleration (``seconds``: tolerationSeconds; None is forever)."""

    key: str
    operator: str
    value: str
    effect: str
    seconds: int | None = None

    @classmethod
    def of(cls, raw: Raw) -> Toleration:
        seconds = raw.get("tolerationSeconds")
        return cls(text(raw, "key"), text(raw, "operator") or "Equal", text(raw, "value"),
                   text(raw, "effect"),
                   number(raw, "tolerationSeconds") if seconds is not None else None)

    def tolerates(self, taint: Taint) -> bool:
        """Upstream's ``Toleration.ToleratesTaint`` (the module docstring)."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.operator in ("", "Equal") and self.value == taint.value


def tolerations_of(pod_spec: Mapping[str, Any]) -> tuple[Toleration, ...]:
    """A pod spec's (or pod template spec's) tolerations."""
    return tuple(Toleration.of(t) for t in PodSpec(pod_spec).tolerations)


def taints_of(node: Mapping[str, Any]) -> tuple[Taint, ...]:
    """A Node's taints (entries without a key, which the API refuses, skipped)."""
    raws = children(ObjectView(node).spec_raw, "taints")
    return tuple(Taint.of(t) for t in raws if text(t, "key"))


def tolerated(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    """Some toleration tolerates ``taint`` (upstream's TolerationsTolerateTaint)."""
    return any(t.tolerates(taint) for t in tolerations)


def untolerated_taints(tolerations: Iterable[Toleration], taints: Iterable[Taint],
                       effects: tuple[str, ...] = HARD_EFFECTS) -> list[Taint]:
    """The taints with one of ``effects`` that no toleration tolerates, in order
    (upstream's FindMatchingUntoleratedTaint gives the first)."""
    tols = tuple(tolerations)
    return [t for t in taints if t.effect in effects and not tolerated(tols, t)]


# --- node affinity ------------------------------------------------------------------------


def _int64(value: str) -> int | None:
    try:
        number_ = int(value, 10)
    except ValueError:
        return None
    return number_ if -2**63 <= number_ < 2**63 else None


@dataclass(frozen=True, slots=True)
class Requirement:
    """One NodeSelectorRequirement of a term's matchExpressions (labels) or matchFields."""

    key: str
    operator: str
    values: tuple[str, ...]

    @classmethod
    def of(cls, raw: Raw) -> Requirement:
        values = raw.get("values")
        return cls(text(raw, "key"), text(raw, "operator"),
                   tuple(str(v) for v in values) if isinstance(values, list) else ())

    def label_valid(self) -> bool:
        """Upstream's labels.NewRequirement checks."""
        if self.operator in ("In", "NotIn"):
            return bool(self.values)
        if self.operator in ("Exists", "DoesNotExist"):
            return not self.values
        if self.operator in ("Gt", "Lt"):
            return len(self.values) == 1 and _int64(self.values[0]) is not None
        return False

    def field_valid(self) -> bool:
        """Node field selectors: In or NotIn with exactly one value."""
        return self.operator in ("In", "NotIn") and len(self.values) == 1

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if self.operator in ("Gt", "Lt") and present:
            have, want = _int64(labels[self.key]), _int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if self.operator == "Gt" else have < want
        return False

    def matches_fields(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.key, "") == self.values[0]
        return equal if self.operator == "In" else not equal


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """One term: its requirements ANDed. ``valid`` False: it matches no node."""

    expressions: tuple[Requirement, ...]
    fields: tuple[Requirement, ...]
    valid: bool

    @classmethod
    def of(cls, raw: Raw) -> NodeSelectorTerm | None:
        """The parsed term; None for an empty one (it matches no node)."""
        expressions = tuple(Requirement.of(r) for r in children(raw, "matchExpressions"))
        fields = tuple(Requirement.of(r) for r in children(raw, "matchFields"))
        if not expressions and not fields:
            return None
        valid = all(r.label_valid() for r in expressions) and \
            all(r.field_valid() for r in fields)
        return cls(expressions, fields, valid)

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        if not self.valid:
            return False
        if not all(r.matches_labels(labels) for r in self.expressions):
            return False
        node_fields = {"metadata.name": node_name} if node_name else {}
        return not node_fields or all(r.matches_fields(node_fields) for r in self.fields)


@dataclass(frozen=True, slots=True)
class NodeSelector:
    """A v1.NodeSelector: its non-empty terms, ORed (none left: it matches no node)."""

    terms: tuple[NodeSelectorTerm, ...]

    @classmethod
    def of(cls, raw: Raw) -> NodeSelector:
        parsed = (NodeSelectorTerm.of(t) for t in children(raw, "nodeSelectorTerms"))
        return cls(tuple(t for t in parsed if t is not None))

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        return any(t.matches(labels, node_name) for t in self.terms)


@dataclass(frozen=True, slots=True)
class RequiredNodeAffinity:
    """What a pod requires of its node: ``nodeSelector`` and the required node affinity
    (upstream's nodeaffinity.GetRequiredNodeAffinity)."""

    node_selector: tuple[tuple[str, str], ...]
    affinity: NodeSelector | None

    @classmethod
    def of(cls, pod_spec: Mapping[str, Any]) -> RequiredNodeAffinity:
        spec = PodSpec(pod_spec)
        required = spec.required_node_selector
        return cls(tuple(sorted(spec.node_selector.items())),
                   NodeSelector.of(required) if required is not None else None)

    @property
    def empty(self) -> bool:
        """Nothing is required: every node matches."""
        return not self.node_selector and self.affinity is None

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        """Both the nodeSelector and the required affinity hold for a node with these
        labels and this name."""
        if any(labels.get(k) != v for k, v in self.node_selector):
            return False
        return self.affinity is None or self.affinity.matches(labels, node_name)


@dataclass(frozen=True, slots=True)
class PreferredSchedulingTerms:
    """The preferred node affinity: (weight, term) for weights > 0 and non-empty terms."""

    terms: tuple[tuple[int, NodeSelectorTerm], ...]

    @classmethod
    def of(cls, pod_spec: Mapping[str, Any]) -> PreferredSchedulingTerms:
        out = []
        for preferred in PodSpec(pod_spec).preferred_node_terms:
            weight = number(preferred, "weight")
            preference = preferred.get("preference")
            term = NodeSelectorTerm.of(preference) if isinstance(preference, Mapping) else None
            if weight > 0 and term is not None:
                out.append((weight, term))
        return cls(tuple(out))

    def score(self, labels: Mapping[str, str], node_name: str) -> int:
        """The sum of the weights of the terms the node matches."""
        return sum(w for w, term in self.terms if term.matches(labels, node_name))


def node_matches(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """``pod_spec``'s nodeSelector and required node affinity hold for ``node`` (a Node
    object)."""
    meta = ObjectView(node).metadata
    return RequiredNodeAffinity.of(pod_spec).matches(meta.labels, meta.name)


__all__ = [
    "HARD_EFFECTS",
    "TAINT_NOT_READY",
    "TAINT_UNREACHABLE",
    "TAINT_UNSCHEDULABLE",
    "NodeSelector",
    "NodeSelectorTerm",
    "PreferredSchedulingTerms",
    "RequiredNodeAffinity",
    "Requirement",
    "Taint",
    "Toleration",
    "node_matches",
    "taints_of",
    "tolerated",
    "tolerations_of",
    "untolerated_taints",
]
