"""Three `gitkube serve` on a three-member etcd cluster (no kubelets; simulated nodes):
one scheduler and one controller-manager leader at a time, a 50-replica rollout that
survives kill -9 of the leading daemon, and every API server serving the same objects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.api.http_client import HTTPClient
from gitkube.daemon.kubeconfig import build_kubeconfig, render_yaml
from gitkube.errors import GitkubeError
from gitkube.store import open_store
from tests.daemon.daemon_env import kubectl_binary, wait_for
from tests.ha.hacluster import LEASES, HACluster, assert_one_at_a_time, leader_terms

pytestmark = [pytest.mark.etcd, pytest.mark.slow]
REPLICAS = 50


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c",
                                                           "image": "localhost/x:1"}]}}}}


@pytest.fixture
def ha(tmp_path: Path) -> Iterator[HACluster]:
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    cluster = HACluster(tmp_path)
    cluster.start(nodes=5, start_delay=1.0)
    try:
        yield cluster
    finally:
        cluster.stop()


class _Binds:
    """Every nodeName each pod was seen with, from a watch on a surviving API server."""

    def __init__(self, client: HTTPClient):
        self.nodes: dict[str, set[str]] = {}
        self._stop = threading.Event()
        self._watch = client.watch("v1", "Pod", "default", resource_version="0")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event = self._watch.next_event(timeout=0.5)
            except GitkubeError:
                return
            if event is None:
                continue
            node = (event.object.get("spec") or {}).get("nodeName")
            uid = event.object["metadata"]["uid"]
            if node:
                self.nodes.setdefault(uid, set()).add(node)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._watch.close()


def test_rollout_survives_kill_of_the_leading_daemon(ha: HACluster) -> None:
    e = ha.election
    assert wait_for(lambda: all(ha.holder(lease, 0) for lease in LEASES), 30), ha.logs()
    leader_id = ha.holder("kube-controller-manager", 0)
    leader = ha.index_of(leader_id)
    assert leader is not None
    other = next(i for i in ha.live() if i != leader)
    client = ha.client(other)
    assert wait_for(lambda: len(client.list("v1", "Node").items) == 5, 30)
    binds = _Binds(client)
    try:
        client.create(_deployment("big", REPLICAS))

        def pods() -> list[dict[str, Any]]:
            return client.list("v1", "Pod", "default", label_selector="app=big").items

        # mid-rollout: pods exist, the rollout is not complete (nodes start them in 1 s)
        assert wait_for(lambda: len(pods()) >= 10, 30), ha.logs()
        status = client.get("apps/v1", "Deployment", "default", "big").get("status") or {}
        assert (status.get("availableReplicas") or 0) < REPLICAS
        killed_at = time.time()
        ha.kill(leader)
        # a new leader of both Leases, found by polling a surviving server
        t0 = time.monotonic()
        assert wait_for(lambda: all(ha.holder(lease, other) not in ("", leader_id)
                                    for lease in LEASES), 60), ha.logs()
        took = time.monotonic() - t0
        # the protocol's bound: the candidates saw the last renewal at most one (jittered)
        # retry period before the kill; they take over lease duration after that, at their
        # next retry; plus this test's own polling of the Lease
        assert took <= e.lease + 3 * e.retry + 2.0, took

        def complete() -> bool:
            d = client.get("apps/v1", "Deployment", "default", "big")
            s = d.get("status") or {}
            return (s.get("observedGeneration") == d["metadata"]["generation"]
                    and s.get("updatedReplicas") == REPLICAS
                    and s.get("availableReplicas") == REPLICAS
                    and s.get("replicas") == REPLICAS)

        assert wait_for(complete, 120), ha.logs()
        time.sleep(2 * e.retry)  # let any stray duplicate show up
        final = pods()
        assert len(final) == REPLICAS
        assert all(p["status"].get("phase") == "Running" for p in final)
        rs = client.list("apps/v1", "ReplicaSet", "default", label_selector="app=big").items
        assert len(rs) == 1, [r["metadata"]["name"] for r in rs]
    finally:
        binds.close()
    twice = {uid: nodes for uid, nodes in binds.nodes.items() if len(nodes) > 1}
    assert not twice
    assert len(binds.nodes) >= REPLICAS
    logs = [(state / "serve-test.log").read_text(errors="replace") for state in ha.states]
    terms = leader_terms(logs, {leader_id: killed_at})
    assert len(terms["kube-controller-manager"]) >= 2, terms  # the killed term and the next
    assert_one_at_a_time(terms)


def test_every_api_server_serves_the_same_objects(ha: HACluster) -> None:
    first = ha.client(0)
    for i in range(10):
        first.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": f"cm-{i}", "namespace": "default"},
                      "data": {"n": str(i)}})
    views = []
    for i in ha.live():
        items = ha.client(i).list("v1", "ConfigMap", "default").items
        views.append(sorted((o["metadata"]["name"], o["metadata"]["resourceVersion"])
                            for o in items))
    assert views[0] and all(v == views[0] for v in views)
    kubectl = kubectl_binary()
    if kubectl is not None:  # a real client sees the same through each server
        for i in ha.live():
            out = subprocess.run([kubectl, "get", "configmaps", "-n", "default", "-o",
                                  "json"], capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "KUBECONFIG": str(_kubeconfig(ha, i))})
            assert out.returncode == 0, out.stderr
            seen = sorted((o["metadata"]["name"], o["metadata"]["resourceVersion"])
                          for o in json.loads(out.stdout)["items"])
            assert seen == views[0]
    # a write through one server is a version the others serve and watch from
    rv = ha.client(1).update({**first.get("v1", "ConfigMap", "default", "cm-0"),
                              "data": {"n": "x"}})["metadata"]["resourceVersion"]
    assert ha.client(2).get("v1", "ConfigMap", "default", "cm-0")["metadata"][
        "resourceVersion"] == rv


def _kubeconfig(ha: HACluster, i: int) -> Path:
    daemon = ha.daemons[i]
    assert daemon is not None and daemon.info.url and daemon.info.ca_file
    doc = build_kubeconfig(daemon.info.url, Path(daemon.info.ca_file).read_bytes(),
                           daemon.token("admin"), "admin")
    path = ha.states[i] / "kubeconfig"
    path.write_text(render_yaml(doc))
    return path


def test_kubernetes_service_lists_every_api_server(ha: HACluster) -> None:
    client = ha.client(0)

    def ports() -> set[int]:
        try:
            ep = client.get("v1", "Endpoints", "default", "kubernetes")
        except GitkubeError:
            return set()
        return {p["port"] for s in ep.get("subsets") or [] for p in s["ports"]
                if s.get("addresses") == [{"ip": "127.0.0.1"}]}

    def served() -> set[int]:
        return {int(str(d.info.url).rsplit(":", 1)[1]) for d in ha.daemons
                if d is not None}

    assert wait_for(lambda: ports() == served(), 30), (ports(), served())
    service = client.get("v1", "Service", "default", "kubernetes")
    assert service["spec"]["clusterIP"] == "10.96.0.1"
    assert service["spec"]["ports"][0]["port"] == 443
    # a daemon that stops takes itself out
    last = ha.daemons[2]
    assert last is not None
    last.stop()
    ha.daemons[2] = None
    assert wait_for(lambda: ports() == served(), 30), (ports(), served())
    assert len(ports()) == 2


def test_an_etcd_member_dies_and_comes_back(ha: HACluster) -> None:
    assert ha.etcd is not None
    # the first member in the store URL: every daemon's store starts on it
    ha.etcd.members[0].kill()
    for i in ha.live():
        client = ha.client(i)
        client.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": f"during-{i}", "namespace": "default"}})
        assert len([o for o in client.list("v1", "ConfigMap", "default").items
                    if o["metadata"]["name"].startswith("during-")]) == i + 1
    ha.etcd.restart(0)
    alone = open_store(f"etcd://{ha.etcd.members[0].spec.store_endpoint}")
    try:
        assert wait_for(lambda: len(alone.list("/registry/configmaps/default/during-")[0])
                        == len(ha.live()), 30)
    finally:
        alone.close()
