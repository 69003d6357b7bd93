"""model/scheduling.py: tolerations and node affinity as upstream's component-helpers
decide them, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.model.scheduling import (
    PreferredSchedulingTerms,
    RequiredNodeAffinity,
    Taint,
    Toleration,
    node_matches,
    taints_of,
    tolerations_of,
    untolerated_taints,
)

Obj = dict[str, Any]
GPU = Taint("gpu", "nvidia", "NoSchedule")


@pytest.mark.parametrize(("toleration", "tolerates"), [
    ({"key": "gpu", "operator": "Equal", "value": "nvidia", "effect": "NoSchedule"}, True),
    ({"key": "gpu", "value": "nvidia"}, True),  # no operator: Equal; no effect: any effect
    ({"key": "gpu", "operator": "Equal", "value": "amd"}, False),
    ({"key": "gpu", "operator": "Exists"}, True),
    ({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}, False),
    ({"operator": "Exists"}, True),  # empty key with Exists: every taint
    ({"operator": "Exists", "effect": "NoSchedule"}, True),
    ({"key": "cpu", "operator": "Exists"}, False),
    ({"key": "gpu", "operator": "Lt", "value": "9"}, False),  # alpha upstream, gate off
])
def test_toleration_tolerates_taint(toleration: Obj, tolerates: bool) -> None:
    assert Toleration.of(toleration).tolerates(GPU) is tolerates


def test_untolerated_taints_keep_only_the_effects_asked_for() -> None:
    node = {"spec": {"taints": [{"key": "gpu", "value": "nvidia", "effect": "NoSchedule"},
                                {"key": "soft", "effect": "PreferNoSchedule"},
                                {"key": "evict", "effect": "NoExecute"},
                                {"effect": "NoSchedule"}]}}  # no key: not a taint
    taints = taints_of(node)
    assert [t.key for t in taints] == ["gpu", "soft", "evict"]
    tolerations = tolerations_of({"tolerations": [{"key": "gpu", "operator": "Exists"}]})
    assert [t.key for t in untolerated_taints(tolerations, taints)] == ["evict"]
    assert [t.key for t in untolerated_taints((), taints, ("PreferNoSchedule",))] == ["soft"]
    assert Toleration.of({"tolerationSeconds": 30}).seconds == 30
    assert Toleration.of({}).seconds is None


def node(name: str = "n1", **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": labels}}


def required(*terms: object) -> Obj:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}}


def expr(key: str, op: str, *values: str) -> Obj:
    out: Obj = {"key": key, "operator": op}
    if values:
        out["values"] = list(values)
    return out


def term(*exprs: Obj, fields: list[Obj] | None = None) -> Obj:
    out: Obj = {"matchExpressions": list(exprs)}
    if fields is not None:
        out["matchFields"] = fields
    return out


SSD = node("n1", disk="ssd", gen="5")

# (pod spec, matches SSD)
AFFINITY: dict[str, tuple[Obj, bool]] = {
    "nothing required": ({}, True),
    "nodeSelector matches": ({"nodeSelector": {"disk": "ssd"}}, True),
    "nodeSelector differs": ({"nodeSelector": {"disk": "hdd"}}, False),
    "In": (required(term(expr("disk", "In", "ssd", "nvme"))), True),
    "NotIn": (required(term(expr("disk", "NotIn", "ssd"))), False),
    "NotIn on a missing label": (required(term(expr("zone", "NotIn", "a"))), True),
    "Exists": (required(term(expr("disk", "Exists"))), True),
    "DoesNotExist": (required(term(expr("disk", "DoesNotExist"))), False),
    "Gt": (required(term(expr("gen", "Gt", "4"))), True),
    "Lt": (required(term(expr("gen", "Lt", "5"))), False),
    "Gt on a label that is not a number": (required(term(expr("disk", "Gt", "1"))), False),
    "field In": (required(term(fields=[expr("metadata.name", "In", "n1")])), True),
    "field NotIn": (required(term(fields=[expr("metadata.name", "NotIn", "n1")])), False),
    "terms are ORed": (required(term(expr("disk", "In", "hdd")), term(expr("gen", "Exists"))),
                       True),
    "expressions are ANDed": (required(term(expr("disk", "In", "ssd"),
                                            expr("gen", "In", "4"))), False),
    "an empty term matches nothing": (required({}), False),
    "an empty term beside a matching one": (required({}, term(expr("disk", "Exists"))), True),
    "no terms match nothing": (required(), False),
    "terms with empty lists match nothing": (required(term()), False),
    "In without values is invalid": (required(term(expr("disk", "In"))), False),
    "NotIn without values is invalid": (required(term(expr("zone", "NotIn"))), False),
    "Exists with values is invalid": (required(term(expr("disk", "Exists", "ssd"))), False),
    "Gt needs one integer": (required(term(expr("gen", "Gt", "x"))), False),
    "unknown operator": (required(term(expr("disk", "Like", "ssd"))), False),
    "field In with two values is invalid": (
        required(term(fields=[expr("metadata.name", "In", "n1", "n2")])), False),
    "field Exists is invalid": (required(term(fields=[expr("metadata.name", "Exists")])), False),
    "an invalid term beside a matching one": (
        required(term(expr("disk", "In")), term(expr("disk", "In", "ssd"))), True),
}


@pytest.mark.parametrize("case", AFFINITY.values(), ids=AFFINITY.keys())
def test_required_node_affinity(case: tuple[Obj, bool]) -> None:
    spec, matches = case
    assert node_matches(spec, SSD) is matches
    assert RequiredNodeAffinity.of(spec).matches({"disk": "ssd", "gen": "5"}, "n1") is matches


def test_empty_means_nothing_is_required() -> None:
    assert RequiredNodeAffinity.of({}).empty
    assert not RequiredNodeAffinity.of(required()).empty  # required, and matching nothing
    assert not RequiredNodeAffinity.of({"nodeSelector": {"a": "b"}}).empty


def test_preferred_terms_add_their_weights() -> None:
    spec = {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 5, "preference": term(expr("disk", "In", "ssd"))},
        {"weight": 3, "preference": term(expr("gen", "Gt", "3"))},
        {"weight": 7, "preference": term(expr("disk", "In", "hdd"))},
        {"weight": 0, "preference": term(expr("disk", "Exists"))},  # weight 0: skipped
        {"weight": 9, "preference": {}},  # empty: skipped
    ]}}}
    preferred = PreferredSchedulingTerms.of(spec)
    assert len(preferred.terms) == 3
    assert preferred.score({"disk": "ssd", "gen": "5"}, "n1") == 8
    assert PreferredSchedulingTerms.of({}).score({}, "n1") == 0
