"""ResourceQuota and LimitRange on both paths with the documentation's examples unchanged:
embedded (validate, plan, apply --wait, get) and through a daemon with the real kubectl
(create quota, apply, the documented refusals, get)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.daemon.daemon_env import RunningDaemon, wait_for
from tests.kinds.kube import Kubectl, run

DOCS = Path(__file__).parent.parent / "data" / "upstream" / "k8s-website-resource"


def test_embedded_validate_plan_apply_get(tmp_path: Path, _isolated_state_dir: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    for name in ("quota-mem-cpu.yaml", "cpu-constraints.yaml"):
        shutil.copy(DOCS / name, root / name)
    assert run("validate", str(root))[0] == 0
    code, out = run("plan", str(root))
    assert code == 0 and "mem-cpu-demo" in out and "cpu-min-max-demo-lr" in out, out
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "60")
    assert code == 0, out
    code, out = run("get", "quota")
    assert out.splitlines()[0].split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    code, out = run("get", "limits", "-o", "json")
    item = json.loads(out)["items"][0]["spec"]["limits"][0]
    assert item["default"] == {"cpu": "800m"} and item["defaultRequest"] == {"cpu": "800m"}


def test_bad_limit_range_is_one_line_at_its_place(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    text = (DOCS / "memory-defaults.yaml").read_text().replace("type: Container",
                                                                 "type: Containers")
    (root / "lr.yaml").write_text(text.replace("  namespace: default-mem-example\n", ""))
    code, out = run("validate", str(root))
    assert code == 1 and "lr.yaml:11:5: LimitRange/mem-limit-range:" in out, out
    assert 'unsupported value "Containers": must be one of Container, Pod' in out


def test_kubectl_quota_and_limits(daemon: RunningDaemon, tmp_path: Path) -> None:
    kubectl = Kubectl(daemon, tmp_path)
    kubectl.ok("create", "namespace", "quota-mem-cpu-example")
    kubectl.ok("apply", "-n", "quota-mem-cpu-example", "-f", str(DOCS / "quota-mem-cpu.yaml"))
    kubectl.ok("apply", "-n", "quota-mem-cpu-example", "-f",
               str(DOCS / "quota-mem-cpu-pod.yaml"))
    refused = kubectl("apply", "-n", "quota-mem-cpu-example", "-f",
                      str(DOCS / "quota-mem-cpu-pod-2.yaml"))
    assert refused.returncode != 0
    assert ('pods "quota-mem-cpu-demo-2" is forbidden: exceeded quota: mem-cpu-demo, '
            "requested: requests.memory=700Mi, used: requests.memory=600Mi, limited: "
            "requests.memory=1Gi") in refused.stderr

    def used() -> dict[str, str]:
        got: dict[str, str] = (json.loads(kubectl.ok(
            "get", "quota", "mem-cpu-demo", "-n", "quota-mem-cpu-example", "-o", "json"))
            .get("status") or {}).get("used") or {}
        return got

    assert wait_for(lambda: used().get("requests.memory") == "600Mi", timeout=30)
    out = kubectl.ok("get", "quota", "-n", "quota-mem-cpu-example")
    assert "requests.cpu: 400m/1" in out and "limits.memory: 800Mi/2Gi" in out, out
    out = kubectl.ok("create", "quota", "two-pods", "--hard=pods=1", "-n", "default")
    assert "resourcequota/two-pods created" in out
    kubectl.ok("run", "first", "--image=busybox:1.36", "-n", "default")
    second = kubectl("run", "second", "--image=busybox:1.36", "-n", "default")
    assert second.returncode != 0 and "exceeded quota: two-pods" in second.stderr
    kubectl.ok("apply", "-f", str(DOCS / "cpu-constraints.yaml"))
    refused = kubectl("apply", "-f", str(DOCS / "cpu-constraints-pod-2.yaml"))
    assert refused.returncode != 0
    assert ('pods "constraints-cpu-demo-2" is forbidden: maximum cpu usage per Container is '
            "800m, but limit is 1500m") in refused.stderr
