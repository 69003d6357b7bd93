"""PriorityClass on both paths, and a public application's manifest that names a built-in
class: embedded (validate, plan, apply --wait, get) and through a daemon with kubectl."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.daemon.daemon_env import RunningDaemon, wait_for
from tests.kinds.kube import Kubectl, run

UPSTREAM = Path(__file__).parent.parent / "data" / "upstream"

CLASS = """\
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: batch-high
value: 100000
description: "Batch jobs that go first."
"""


def test_descheduler_cronjob_validates_unchanged(tmp_path: Path) -> None:
    """The descheduler's published CronJob runs in kube-system at system-cluster-critical."""
    code, out = run("validate", str(UPSTREAM / "descheduler"))
    assert code == 0, out


def test_embedded_validate_plan_apply_get(tmp_path: Path, _isolated_state_dir: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "pc.yaml").write_text(CLASS)
    shutil.copy(UPSTREAM / "descheduler" / "cronjob.yaml", root / "cronjob.yaml")
    assert run("validate", str(root))[0] == 0
    code, out = run("plan", str(root))
    assert code == 0 and "batch-high" in out and "descheduler-cronjob" in out, out
    # applied without the CronJob: its every-two-minutes schedule would have the apply's
    # agents pull the descheduler's image from the internet
    (root / "cronjob.yaml").unlink()
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "60")
    assert code == 0, out
    code, out = run("get", "priorityclasses")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    row = next(line.split() for line in lines if line.startswith("batch-high"))
    assert row[:3] == ["batch-high", "100000", "False"] and row[-1] == "PreemptLowerPriority"


def test_bad_class_is_one_line_at_its_place(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "pc.yaml").write_text(CLASS.replace("batch-high", "system-high"))
    code, out = run("validate", str(root))
    assert code == 1
    assert 'pc.yaml:4:3: PriorityClass/system-high: priority class names with "system-" ' \
        "prefix are reserved for system use only" in out, out
    assert "hint: choose a name without the system- prefix" in out


def test_kubectl_priority_classes_and_pods(daemon: RunningDaemon, tmp_path: Path) -> None:
    kubectl = Kubectl(daemon, tmp_path)
    out = kubectl.ok("create", "priorityclass", "high", "--value=1000",
                     "--description=first")
    assert "priorityclass.scheduling.k8s.io/high created" in out
    # the built-in classes are made by the daemon at start
    assert wait_for(lambda: "system-node-critical" in kubectl.ok("get", "pc"))
    out = kubectl.ok("get", "priorityclasses")
    assert out.splitlines()[0].split() == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE",
                                           "PREEMPTIONPOLICY"]
    kubectl.ok("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"priorityClassName": "high",
                 "containers": [{"name": "c", "image": "busybox:1.36"}]}}))
    pod = json.loads(kubectl.ok("get", "pod", "p", "-o", "json"))
    assert pod["spec"]["priority"] == 1000
    bad = kubectl("run", "q", "--image=busybox:1.36",
                  "--overrides", json.dumps({"spec": {"priorityClassName": "nope"}}))
    assert bad.returncode != 0
    assert 'pods "q" is forbidden: no PriorityClass with name nope was found' in bad.stderr
    immutable = kubectl("patch", "pc", "high", "-p", '{"value": 5}')
    assert immutable.returncode != 0 and "field is immutable" in immutable.stderr
