"""Plans against a Namespace being deleted (Terminating): it is not pruned again, and one
still in git is a warning."""

from __future__ import annotations

from typing import Any

from gitkube.model.objects import ObjectRef
from gitkube.plan.model import Action, SourceInfo
from gitkube.plan.planner import Desired, LiveLookups, make_plan

SRC = SourceInfo("s-1", "git:x//m", "m", "abc")
NS = ObjectRef("v1", "Namespace", "", "shop")


def _ns() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def _live_terminating() -> dict[ObjectRef, dict[str, Any]]:
    first = make_plan([Desired(_ns())], {}, source=SRC)
    live: dict[ObjectRef, dict[str, Any]] = {
        c.ref: c.desired for c in first.changes if c.desired is not None}
    ns = live[NS]
    ns["metadata"].update(resourceVersion="7", uid="u-1",
                          deletionTimestamp="2026-01-01T00:00:00Z")
    ns["spec"] = {"finalizers": ["kubernetes"]}
    ns["status"] = {"phase": "Terminating"}
    return live


def test_a_terminating_namespace_gone_from_git_is_not_deleted_again() -> None:
    plan = make_plan([], _live_terminating(), source=SRC,
                     lookups=LiveLookups(last_applied=lambda r, d: None))
    assert plan.actionable == () and plan.skipped == ()
    assert not plan.summary.has_changes and not plan.empty_desired_guard


def test_a_terminating_namespace_still_in_git_is_a_warning() -> None:
    plan = make_plan([Desired(_ns())], _live_terminating(), source=SRC,
                     lookups=LiveLookups(last_applied=lambda r, d: None))
    assert [c.action for c in plan.changes] == [Action.NOOP]
    assert any("is being deleted (Terminating)" in w for w in plan.warnings), plan.warnings
