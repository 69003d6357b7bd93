"""Endpoints made by the endpoints controller carry their Service's labels, the source label
included, but no ownerReferences: they are the controller's, never pruned."""

from __future__ import annotations

from typing import Any

from gitkube.model.objects import ObjectRef
from gitkube.plan import annotations as ann
from gitkube.plan.model import Action, SourceInfo
from gitkube.plan.planner import Desired, LiveLookups, make_plan

SRC = SourceInfo("s-1", "git:x//m", "m", "abc")


def test_endpoints_of_the_endpoints_controller_are_not_pruned() -> None:
    svc: dict[str, Any] = {"apiVersion": "v1", "kind": "Service",
                           "metadata": {"name": "web", "namespace": "default"},
                           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    first = make_plan([Desired(svc)], {}, source=SRC)
    live: dict[ObjectRef, dict[str, Any]] = {
        c.ref: c.desired for c in first.changes if c.desired is not None}
    labels = dict(live[ObjectRef("v1", "Service", "default", "web")]["metadata"]["labels"])
    assert labels[ann.SOURCE_ID] == "s-1"
    endpoints = ObjectRef("v1", "Endpoints", "default", "web")
    live[endpoints] = {"apiVersion": "v1", "kind": "Endpoints",
                       "metadata": {"name": "web", "namespace": "default", "uid": "e-1",
                                    "labels": {**labels, "endpoints.kubernetes.io/managed-by":
                                               "endpoint-controller"}},
                       "subsets": []}
    plan = make_plan([Desired(svc)], live, source=SRC,
                     lookups=LiveLookups(last_applied=lambda r, d: None))
    assert [c.action for c in plan.changes] == [Action.NOOP]
    assert plan.owned_count == 1
