"""PodDisruptionBudget on both paths: embedded (validate, plan, apply --wait, get) with the
Kubernetes documentation's budgets unchanged, and through a daemon where the real
``kubectl drain`` is held back by a budget (429) and goes through once it allows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.daemon.daemon_env import RunningDaemon, wait_for
from tests.kinds.kube import Kubectl, run

UPSTREAM = Path(__file__).parent.parent / "data" / "upstream" / "k8s-website-policy"
BUDGETS = sorted(UPSTREAM.glob("*.yaml"))

ZOOKEEPER = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: zk
spec:
  serviceName: zk
  replicas: 3
  selector:
    matchLabels: {app.kubernetes.io/name: zookeeper}
  template:
    metadata:
      labels: {app.kubernetes.io/name: zookeeper}
    spec:
      containers:
      - name: zk
        image: busybox:1.36
        command: [sleep, "3600"]
"""


@pytest.mark.parametrize("budget", BUDGETS, ids=[p.name for p in BUDGETS])
def test_embedded_validate_plan_get(budget: Path, tmp_path: Path,
                                    _isolated_state_dir: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    shutil.copy(budget, root / budget.name)
    assert run("validate", str(root))[0] == 0
    code, out = run("plan", str(root))
    assert code == 0 and "zk-pdb" in out, out
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "60")
    assert code == 0, out
    code, out = run("get", "pdb")
    assert out.splitlines()[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE",
                                           "ALLOWED", "DISRUPTIONS", "AGE"]
    row = out.splitlines()[1].split()
    assert row[0] == "zk-pdb" and row[3] == "0", out  # no pods yet: nothing may go


def test_bad_budget_is_one_line_at_its_place(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    text = (UPSTREAM / "zookeeper-pod-disruption-budget-minavailable.yaml").read_text()\
        .replace("minAvailable: 2", "minAvailable: 150%")
    (root / "pdb.yaml").write_text(text)
    code, out = run("validate", str(root))
    assert code == 1 and "pdb.yaml:6:3: PodDisruptionBudget/zk-pdb: must not be greater " \
        "than 100%" in out, out
    assert "hint: use a percentage from 0% to 100%" in out


def test_kubectl_drain_respects_the_budget(daemon: RunningDaemon, tmp_path: Path) -> None:
    kubectl = Kubectl(daemon, tmp_path)
    kubectl.ok("apply", "-f", "-", stdin=ZOOKEEPER)
    budget = (UPSTREAM / "zookeeper-pod-disruption-budget-minavailable.yaml").read_text()
    kubectl.ok("apply", "-f", "-", stdin=budget)

    def pdb() -> dict[str, int]:
        got: dict[str, int] = json.loads(kubectl.ok("get", "pdb", "zk-pdb", "-o", "json"))\
            .get("status") or {}
        return got

    assert wait_for(lambda: pdb().get("currentHealthy") == 3, timeout=60)
    assert pdb()["disruptionsAllowed"] == 1 and pdb()["expectedPods"] == 3
    out = kubectl.ok("get", "pdb")
    assert out.splitlines()[1].split()[:4] == ["zk-pdb", "2", "N/A", "1"]
    # minAvailable 3 of 3: no pod may go; drain keeps retrying the 429 until its timeout
    kubectl.ok("patch", "pdb", "zk-pdb", "--type=merge", "-p", '{"spec":{"minAvailable":3}}')
    assert wait_for(lambda: pdb().get("disruptionsAllowed") == 0
                    and pdb().get("desiredHealthy") == 3)
    drain = kubectl("drain", "daemon-node", "--timeout=8s", "--delete-emptydir-data")
    assert drain.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget" in drain.stderr
    assert "node/daemon-node cordoned" in drain.stdout
    pods = json.loads(kubectl.ok("get", "pods", "-o", "json"))["items"]
    assert len([p for p in pods if not p["metadata"].get("deletionTimestamp")]) == 3
    # allowed again: the drain evicts every pod (the StatefulSet's replacements stay
    # pending: the node is cordoned)
    kubectl.ok("patch", "pdb", "zk-pdb", "--type=merge", "-p", '{"spec":{"minAvailable":0}}')
    assert wait_for(lambda: pdb().get("disruptionsAllowed") == 3)
    drain = kubectl("drain", "daemon-node", "--timeout=60s", "--delete-emptydir-data")
    assert drain.returncode == 0, drain.stderr
    assert "evicted" in drain.stdout and "node/daemon-node drained" in drain.stdout


def test_kubectl_create_pdb_counts_the_deployment(daemon: RunningDaemon,
                                                  tmp_path: Path) -> None:
    """maxUnavailable: the expected pods are what the Deployment asks for."""
    kubectl = Kubectl(daemon, tmp_path)
    kubectl.ok("create", "deployment", "web", "--image=busybox:1.36", "--replicas=3")
    out = kubectl.ok("create", "pdb", "web", "--selector=app=web", "--max-unavailable=1")
    assert "poddisruptionbudget.policy/web created" in out

    def status() -> dict[str, int]:
        got: dict[str, int] = json.loads(kubectl.ok("get", "pdb", "web", "-o", "json"))\
            .get("status") or {}
        return got

    assert wait_for(lambda: status().get("currentHealthy") == 3, timeout=60)
    assert (status()["expectedPods"], status()["desiredHealthy"],
            status()["disruptionsAllowed"]) == (3, 2, 1)
    kubectl.ok("scale", "deployment", "web", "--replicas=5")
    assert wait_for(lambda: status().get("expectedPods") == 5, timeout=60)
