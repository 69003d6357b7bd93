"""PodDisruptionBudget rules (pure): the status of a budget and one eviction's verdict."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.model.disruption import budget_status, eviction_verdict

Obj = dict[str, Any]
NOW = "2026-12-08T00:00:00Z"


def pod(name: str, *, ready: bool = True, phase: str = "Running") -> Obj:
    return {"metadata": {"name": name}, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(**spec: Any) -> Obj:
    return {"metadata": {"name": "web", "generation": 1}, "spec": spec}


@pytest.mark.parametrize(("spec", "scale", "want"), [
    ({"minAvailable": 2}, None, (3, 2, 3, 1)),
    ({"minAvailable": "50%"}, 4, (3, 2, 4, 1)),
    ({"maxUnavailable": 1}, 4, (3, 3, 4, 0)),
    ({"maxUnavailable": "100%"}, 3, (3, 0, 3, 3)),
    ({"minAvailable": 5}, None, (3, 5, 3, 0)),
])
def test_status(spec: Obj, scale: int | None, want: tuple[int, int, int, int]) -> None:
    pods = [pod("a"), pod("b"), pod("c"), pod("d", ready=False)]
    if scale is None:
        pods = pods[:3]
    st = budget_status(pdb(**spec), pods, scale, now=NOW)
    got = (st["currentHealthy"], st["desiredHealthy"], st["expectedPods"],
           st["disruptionsAllowed"])
    assert got == want
    assert st["conditions"][0]["status"] == ("True" if want[3] else "False")
    assert st["observedGeneration"] == 1


def test_evicted_pods_not_yet_terminating_do_not_count() -> None:
    budget = {**pdb(minAvailable=1), "status": {"disruptedPods": {"a": NOW, "gone": NOW}}}
    st = budget_status(budget, [pod("a"), pod("b")], None, now=NOW)
    assert st["currentHealthy"] == 1 and st["disruptionsAllowed"] == 0
    assert st["disruptedPods"] == {"a": NOW}


def test_verdicts() -> None:
    budget = {**pdb(minAvailable=2), "status": budget_status(
        pdb(minAvailable=2), [pod("a"), pod("b")], None, now=NOW)}
    refused = eviction_verdict(budget, pod("a"))
    assert not refused.allowed
    assert refused.message == "The disruption budget web needs 2 healthy pods and has 2 " \
        "currently"
    assert eviction_verdict(budget, pod("p", phase="Pending")).allowed
    assert eviction_verdict(budget, pod("s", phase="Succeeded")).allowed
    # an unready pod: allowed while the budget is met (IfHealthyBudget)
    assert eviction_verdict(budget, pod("u", ready=False)).allowed
    roomy = {**pdb(minAvailable=1), "status": budget_status(
        pdb(minAvailable=1), [pod("a"), pod("b")], None, now=NOW)}
    verdict = eviction_verdict(roomy, pod("a"))
    assert verdict.allowed and verdict.uses_budget
    stale = {**roomy, "metadata": {"name": "web", "generation": 2}}
    assert not eviction_verdict(stale, pod("a")).allowed
