"""Parity: the same scenarios embedded (``gitkube apply --wait``, no daemon) and through the
daemon (``gitkube up``, then the same commands), on real Podman, with the real CLI in its own
processes and the settings given only through the environment.

Both paths compose their agents from one table and one Settings (gitkube/agents/compose.py);
these scenarios catch a path that leaves an agent or a setting out:

- a Deployment behind a Service, reached by its DNS name from another pod (a Job whose pod
  resolves ``web.parity.svc.cluster.local``, fetches the page and sees the Service's
  environment variables; ``apply --wait`` succeeds only when that Job completes), with pods on
  the pod network and Services in the service range the environment names;
- a Job that runs to completion;
- a ConfigMap change rolled out (a new page, seen through the Service by a second Job);
- Events expired (``GITKUBE_EVENT_TTL``): the first apply's Events are gone after the TTL.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.kubelet.config import cluster_id
from gitkube.api.local import LocalClient
from gitkube.runtime.base import LABEL_CLUSTER
from gitkube.runtime.network import remove_service_range
from gitkube.store import open_store
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing, sweep

pytestmark = [pytest.mark.podman, pytest.mark.slow]

NS = "parity"
EVENT_TTL = 8.0  # seconds
RUN = uuid.uuid4().hex[:6]

MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: site, namespace: {ns}}}
data:
  index.html: "<p>{page}</p>"
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}
      annotations: {{parity.gitkube.io/config: "{version}"}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: {image}
        imagePullPolicy: Never
        command: [httpd, -f, -p, "8080", -h, /site]
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe:
          httpGet: {{path: /index.html, port: 8080}}
          periodSeconds: 1
        volumeMounts: [{{name: site, mountPath: /site}}]
      volumes: [{{name: site, configMap: {{name: site}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http}}]
---
apiVersion: batch/v1
kind: Job
metadata: {{name: client-{version}, namespace: {ns}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: client
        image: {image}
        imagePullPolicy: Never
        env: [{{name: WANT, value: "{page}"}}]
        command:
        - sh
        - -c
        - |
          name=web.{ns}.svc.cluster.local
          for i in $(seq 1 60); do
            found=$(nslookup $name 2>&1); page=$(timeout 5 wget -q -O - http://$name/ 2>&1)
            if [ -n "$WEB_SERVICE_HOST" ] && echo "$page" | grep -q "$WANT"; then
              echo "ok: $name is $WEB_SERVICE_HOST and serves $page"; exit 0
            fi
            sleep 1
          done
          echo "env: $(env | grep WEB_ || true)"; echo "resolv.conf: $(cat /etc/resolv.conf)"
          echo "nslookup: $found"; echo "wget: $page"; exit 1
"""


def _free_ranges() -> tuple[str, str]:
    """A pod subnet and a service range no other network of this machine uses."""
    taken = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True,
                           check=False).stdout + subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
        check=False).stdout
    for _ in range(50):
        n = random.randint(10, 240)
        pods, services = f"10.252.{n}.0/24", f"10.253.{n}.0/24"
        if f"10.252.{n}." not in taken and f"10.253.{n}." not in taken:
            return pods, services
    raise AssertionError("no free test ranges")


@dataclass
class Cluster:
    """One path's gitkube: its state directory, environment and, through the daemon, the
    running daemon."""

    path: str  # "embedded" or "daemon"
    state: Path
    env: dict[str, str]
    manifests: Path
    pod_subnet: str
    service_cidr: str
    network: str
    notes: dict[str, Any] = field(default_factory=dict)

    def gitkube(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gitkube.cli.main", *args],
                              capture_output=True, text=True, env=self.env, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def client(self) -> LocalClient:
        return LocalClient(open_store(f"sqlite:///{self.state / 'state.db'}"))

    def apply(self, version: int, page: str) -> subprocess.CompletedProcess[str]:
        (self.manifests / "app.yaml").write_text(MANIFESTS.format(
            ns=NS, version=version, page=page, image=EXAMPLE_IMAGE))
        return self.gitkube("apply", "--yes", "--wait", "--timeout", "240",
                            str(self.manifests))

    def explain(self, result: subprocess.CompletedProcess[str], job: str) -> str:
        logs = self.gitkube("logs", "-n", NS, f"job/{job}", timeout=60)
        return (f"{self.path}: exit {result.returncode}\n{result.stdout}\n{result.stderr}\n"
                f"client logs:\n{logs.stdout}{logs.stderr}")


@pytest.fixture(scope="module", params=["embedded", "daemon"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    state = Path(tempfile.mkdtemp(prefix=f"gk-parity-{request.param}-"))
    manifests = state / "manifests"
    manifests.mkdir()
    pods, services = _free_ranges()
    network = f"gkp-{RUN}-{request.param[0]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITKUBE_")}
    env.update(GITKUBE_STATE_DIR=str(state), GITKUBE_POD_NETWORK=network,
               GITKUBE_POD_SUBNET=pods, GITKUBE_SERVICE_CIDR=services,
               GITKUBE_EVENT_TTL=f"{EVENT_TTL:g}s", GITKUBE_PODMAN_LINGER="1")
    if request.param == "embedded":
        env["GITKUBE_NO_DAEMON"] = "1"
    c = Cluster(request.param, state, env, manifests, pods, services, network)
    try:
        if request.param == "daemon":
            up = c.gitkube("up", "--listen", "none", timeout=120)
            assert up.returncode == 0, up.stdout + up.stderr
        yield c
    finally:
        _teardown(c)


def _teardown(c: Cluster) -> None:
    """Delete the namespace (its pods' containers go with it), stop the daemon, then remove
    whatever is left, the network and the service range's route."""
    try:
        c.gitkube("delete", "namespace", NS, "--timeout", "120", "--ignore-not-found",
                  timeout=180)
    finally:
        if c.path == "daemon":
            c.gitkube("down", timeout=90)
        from gitkube.runtime.podman import PodmanRuntime

        client = c.client()
        runtime = PodmanRuntime(base_dir=c.state / "podman")
        try:
            left = sweep(runtime, {LABEL_CLUSTER: cluster_id(client)})
            runtime.remove_network(c.network)
        finally:
            runtime.close()
            client.store.close()
            remove_service_range(c.service_cidr)
            shutil.rmtree(c.state, ignore_errors=True)
        assert left == 0, f"{left} containers or pods of the {c.path} path were left"


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


def test_deployment_behind_a_service_is_reached_by_its_dns_name(cluster: Cluster) -> None:
    result = cluster.apply(1, "version one")
    assert result.returncode == 0, cluster.explain(result, "client-1")
    assert "Converged:" in result.stdout
    client = cluster.client()
    svc = client.get("v1", "Service", NS, "web")
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in ipaddress.ip_network(
        cluster.service_cidr)
    pods = client.list("v1", "Pod", NS, label_selector="app=web").items
    assert len(pods) == 2
    for pod in pods:  # on the pod network the environment names, not Podman's default
        assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(
            cluster.pod_subnet), pod["status"]
    cluster.notes["v1 events"] = {e["metadata"]["name"]
                                  for e in client.list("v1", "Event", NS).items}
    cluster.notes["v1 done"] = time.time()
    assert cluster.notes["v1 events"], "the first apply recorded Events"


def test_a_job_runs_to_completion(cluster: Cluster) -> None:
    client = cluster.client()
    job = client.get("batch/v1", "Job", NS, "client-1")
    assert job["status"].get("succeeded") == 1, job["status"]
    assert any(c["type"] == "Complete" and c["status"] == "True"
               for c in job["status"]["conditions"])
    pods = client.list("v1", "Pod", NS, label_selector="job-name=client-1").items
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]
    logs = cluster.gitkube("logs", "-n", NS, "job/client-1", timeout=60)
    assert "ok: web.parity.svc.cluster.local is " in logs.stdout, logs.stdout + logs.stderr


def test_a_configmap_change_is_rolled_out(cluster: Cluster) -> None:
    # the first apply's Events must be older than the TTL when the agents next sweep
    time.sleep(max(0.0, cluster.notes["v1 done"] + EVENT_TTL + 1 - time.time()))
    result = cluster.apply(2, "version two")
    assert result.returncode == 0, cluster.explain(result, "client-2")
    client = cluster.client()
    deploy = client.get("apps/v1", "Deployment", NS, "web")
    assert deploy["status"].get("updatedReplicas") == 2
    pods = client.list("v1", "Pod", NS, label_selector="app=web").items
    assert {p["metadata"]["annotations"]["parity.gitkube.io/config"] for p in pods} == {"2"}
    logs = cluster.gitkube("logs", "-n", NS, "job/client-2", timeout=60)
    assert "version two" in logs.stdout, logs.stdout + logs.stderr


def test_events_expire(cluster: Cluster) -> None:
    client = cluster.client()
    first = cluster.notes["v1 events"]

    def expired() -> bool:
        left = {e["metadata"]["name"] for e in client.list("v1", "Event", NS).items}
        return not (left & first)

    # embedded: the second apply's agents swept them when they started; the daemon's agents
    # sweep every second with this TTL
    assert _wait(expired, timeout=0 if cluster.path == "embedded" else 60), \
        "Events older than the TTL are still there"
    assert client.list("v1", "Event", NS).items, "the second apply's Events are kept"
