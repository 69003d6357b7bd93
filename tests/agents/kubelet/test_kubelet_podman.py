"""The kubelet on real Podman: pods run, restart, report status and clean up."""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.agents.kubelet.kubelet_env import Node, phase, ready
from tests.support.containers import EXAMPLE_IMAGE

pytestmark = pytest.mark.podman

SLEEP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_pod_runs_with_env_volumes_init_and_host_port(node: Node) -> None:
    node.client.create({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "cfg", "namespace": "default"},
                        "data": {"GREETING": "hello", "index.html": "<h1>hi</h1>"}})
    node.client.create({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "sec", "namespace": "default"},
                        "data": {"TOKEN": base64.b64encode(b"s3cret").decode()}})
    port = _free_port()
    node.pod("web", [{
        "name": "httpd", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "TOKEN"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "MSG", "value": "$(GREETING) world"},
                {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {
                    "resource": "requests.cpu", "divisor": "1m"}}}],
        "resources": {"requests": {"cpu": "250m"}},
        "ports": [{"name": "http", "containerPort": 8080, "hostPort": port}],
        "readinessProbe": {"httpGet": {"path": "/index.html", "port": "http"},
                           "periodSeconds": 1},
        "volumeMounts": [{"name": "site", "mountPath": "/www", "readOnly": True},
                         {"name": "secret", "mountPath": "/etc/secret"},
                         {"name": "scratch", "mountPath": "/scratch"}]}],
        initContainers=[{"name": "prepare", "command": ["sh", "-c", "echo init > /scratch/x"],
                         "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
        volumes=[{"name": "site", "configMap": {"name": "cfg", "items": [
                     {"key": "index.html", "path": "index.html"}]}},
                 {"name": "secret", "secret": {"secretName": "sec"}},
                 {"name": "scratch", "emptyDir": {}}])
    pod = node.wait("web", ready)
    status = pod["status"]
    assert status["phase"] == "Running" and status["podIP"]
    assert status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    cs = status["containerStatuses"][0]
    assert cs["ready"] and cs["restartCount"] == 0 and cs["imageID"] and cs["image"]
    cid = cs["containerID"].split("://")[1]
    env = node.runtime.exec(cid, ["env"], timeout=10).output
    assert "GREETING=hello" in env and "TOKEN=s3cret" in env and "POD=web" in env
    assert f"NODE={node.name}" in env and f"IP={status['podIP']}" in env
    assert "MSG=hello world" in env and "CPU_M=250" in env
    files = node.runtime.exec(cid, ["cat", "/www/index.html", "/etc/secret/TOKEN",
                                    "/scratch/x"], timeout=10).output
    assert files == "<h1>hi</h1>s3cretinit\n"
    assert node.runtime.exec(cid, ["touch", "/www/x"], timeout=10).exit_code != 0  # readOnly
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as resp:
        assert resp.read() == b"<h1>hi</h1>"


def test_killed_container_is_restarted(node: Node) -> None:
    node.pod("victim", [{"name": "main", "command": SLEEP}])
    pod = node.wait("victim", ready)
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://")[1]
    subprocess.run(["podman", "kill", cid], check=True, capture_output=True)
    pod = node.wait("victim", lambda p: ready(p) and
                    p["status"]["containerStatuses"][0]["restartCount"] >= 1)
    cs = pod["status"]["containerStatuses"][0]
    assert cs["containerID"].split("://")[1] != cid
    assert cs["lastState"]["terminated"]["exitCode"] != 0


def test_crash_loop_backs_off_with_growing_delays(node: Node) -> None:
    node.pod("crasher", [{"name": "main", "command": ["sh", "-c", "echo boom; exit 2"]}])
    delays: list[float] = []

    def collect(pod: dict[str, Any]) -> bool:
        state = pod["status"].get("containerStatuses", [{}])[0].get("state", {})
        message = state.get("waiting", {}).get("message", "")
        m = re.search(r"back-off ([0-9.]+)s", message)
        if state.get("waiting", {}).get("reason") == "CrashLoopBackOff" and m:
            value = float(m.group(1))
            if not delays or delays[-1] != value:
                delays.append(value)
        return len(delays) >= 3

    pod = node.wait("crasher", collect, timeout=60)
    assert delays == sorted(delays) and delays[1] == 2 * delays[0] and \
        delays[2] == 2 * delays[1]
    cs = pod["status"]["containerStatuses"][0]
    assert cs["restartCount"] >= 2 and cs["lastState"]["terminated"]["exitCode"] == 2
    assert pod["status"]["phase"] == "Running"


def test_job_like_pods_succeed_or_fail(node: Node) -> None:
    node.pod("ok", [{"name": "main", "command": ["sh", "-c", "echo done"]}],
             restartPolicy="Never")
    node.pod("bad", [{"name": "main", "command": ["sh", "-c", "exit 1"]}],
             restartPolicy="Never")
    ok = node.wait("ok", phase("Succeeded"))
    bad = node.wait("bad", phase("Failed"))
    assert ok["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    term = bad["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 1 and term["reason"] == "Error"
    assert bad["status"]["containerStatuses"][0]["restartCount"] == 0


def test_failing_readiness_probe_keeps_pod_unready(node: Node) -> None:
    node.pod("unready", [{"name": "main", "command": SLEEP, "readinessProbe": {
        "exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1}}])
    assert node.kubelet is not None
    prober = node.kubelet.prober

    def probed_three_times(pod: dict[str, Any]) -> bool:
        worker = prober.state(pod["metadata"]["uid"], "main", "readiness")
        return worker is not None and worker.failures >= 3

    pod = node.wait("unready", probed_three_times)
    pod = node.get("unready")
    assert pod["status"]["phase"] == "Running" and not ready(pod)
    assert pod["status"]["containerStatuses"][0]["ready"] is False


def test_image_never_pulled(node: Node) -> None:
    node.pod("noimage", [{"name": "main", "image": "localhost/gitkube-absent:1",
                          "imagePullPolicy": "Never"}])
    pod = node.wait("noimage", lambda p: p["status"].get("containerStatuses", [{}])[0].get(
        "state", {}).get("waiting", {}).get("reason") == "ErrImageNeverPull")
    assert pod["status"]["phase"] == "Pending"


def test_deleted_pod_leaves_no_containers(node: Node) -> None:
    pod = node.pod("doomed", [{"name": "main", "command": SLEEP}])
    node.wait("doomed", ready)
    assert node.containers(pod)
    node.client.delete("v1", "Pod", "default", "doomed")
    deadline = time.monotonic() + 30
    while node.containers(pod) or node.runtime.list_sandboxes(
            {"io.gitkube.pod-uid": pod["metadata"]["uid"]}):
        assert time.monotonic() < deadline, "containers of a deleted pod remain"
        time.sleep(0.05)


def test_kubelet_restart_adopts_running_containers(node: Node) -> None:
    node.pod("steady", [{"name": "main", "command": SLEEP}])
    gone = node.pod("gone", [{"name": "main", "command": SLEEP}])
    before = node.wait("steady", ready)["status"]["containerStatuses"][0]
    node.wait("gone", ready)
    node.stop()
    node.client.delete("v1", "Pod", "default", "gone")  # while the kubelet is down
    node.start()
    deadline = time.monotonic() + 30
    while node.containers(gone):
        assert time.monotonic() < deadline, "a pod deleted while the kubelet was down remains"
        time.sleep(0.05)
    after = node.wait("steady", ready)["status"]["containerStatuses"][0]
    assert after["containerID"] == before["containerID"] and after["restartCount"] == 0


def test_logs_of_current_and_previous_instance(node: Node) -> None:
    from gitkube.cli.logs import container_logs

    node.pod("talker", [{"name": "main", "command": ["sh", "-c", "echo run-$RANDOM; exit 1"]}])
    pod = node.wait("talker", lambda p: p["status"].get("containerStatuses", [{}])[0].get(
        "restartCount", 0) >= 1)
    current = "".join(container_logs(pod, None, runtime=node.runtime))
    previous = "".join(container_logs(pod, "main", previous=True, runtime=node.runtime))
    assert current.startswith("run-") and previous.startswith("run-")


def test_podman_service_restart_is_survived(node: Node) -> None:
    node.pod("survivor", [{"name": "main", "command": SLEEP}])
    before = node.wait("survivor", ready)["status"]["containerStatuses"][0]
    runtime = node.runtime
    assert hasattr(runtime, "stop_service")
    runtime.stop_service()  # the API service goes away; containers keep running
    cid = before["containerID"].split("://")[1]
    subprocess.run(["podman", "kill", cid], check=True, capture_output=True)
    pod = node.wait("survivor", lambda p: ready(p) and
                    p["status"]["containerStatuses"][0]["restartCount"] >= 1)
    assert pod["status"]["containerStatuses"][0]["containerID"] != before["containerID"]


def test_graceful_deletion_stops_with_sigterm_then_removes_the_pod(node: Node) -> None:

    pod = node.pod("graceful", [{"name": "main", "command": [
        "sh", "-c", "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done"]}],
        terminationGracePeriodSeconds=20)
    node.wait("graceful", ready)
    node.client.delete("v1", "Pod", "default", "graceful", grace_period_seconds=20)
    node.gone("graceful", timeout=15)  # well below the 20 s grace: SIGTERM was honoured
    assert not node.containers(pod)


def test_failing_liveness_probe_restarts_the_container(node: Node) -> None:
    node.pod("sick", [{"name": "main", "command": SLEEP, "livenessProbe": {
        "exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1}}])
    pod = node.wait("sick", lambda p: p["status"].get("containerStatuses", [{}])[0].get(
        "restartCount", 0) >= 1)
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert node.kubelet is not None
    node.kubelet.recorder.flush()
    events = node.client.list("v1", "Event", "default",
                              field_selector="involvedObject.name=sick").items
    assert {"Unhealthy", "Killing"} <= {e["reason"] for e in events}


def test_container_removed_by_hand_is_recreated(node: Node) -> None:
    node.pod("removed", [{"name": "main", "command": SLEEP}])
    before = node.wait("removed", ready)["status"]["containerStatuses"][0]
    cid = before["containerID"].split("://")[1]
    subprocess.run(["podman", "rm", "-f", "-t", "0", cid], check=True, capture_output=True)
    pod = node.wait("removed", lambda p: ready(p) and p["status"]["containerStatuses"][0][
        "containerID"] != before["containerID"])
    assert pod["status"]["phase"] == "Running"


def _cid(pod: dict[str, Any]) -> str:
    return str(pod["status"]["containerStatuses"][0]["containerID"].split("://")[1])


def _status_field(node: Node, cid: str, field: str) -> str:
    out = node.runtime.exec(cid, ["grep", f"^{field}:", "/proc/self/status"], timeout=10).output
    return out.split(":", 1)[1].strip()


def test_security_context_is_applied(node: Node) -> None:
    node.pod("secure", [{
        "name": "main", "command": SLEEP,
        "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                         {"name": "conf", "mountPath": "/conf"}]}],
        securityContext={"runAsUser": 1000, "runAsGroup": 3000, "runAsNonRoot": True,
                         "supplementalGroups": [4000], "fsGroup": 2000},
        volumes=[{"name": "scratch", "emptyDir": {}},
                 {"name": "conf", "secret": {"secretName": "conf", "defaultMode": 0o400}}])
    node.client.create({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "conf", "namespace": "default"},
                        "data": {"key": base64.b64encode(b"k3y").decode()}})
    cid = _cid(node.wait("secure", ready))

    def run(*command: str) -> tuple[int, str]:
        result = node.runtime.exec(cid, list(command), timeout=10)
        return result.exit_code, result.output.strip()

    assert run("id", "-u") == (0, "1000")
    assert run("id", "-g") == (0, "3000")
    assert {"2000", "4000"} <= set(run("id", "-G")[1].split())
    # fsGroup owns the volumes: the emptyDir is writable and new files get its group;
    # a secret file of mode 0400 is readable through the group
    assert run("sh", "-c", "touch /scratch/f && stat -c %g /scratch/f") == (0, "2000")
    assert run("cat", "/conf/key") == (0, "k3y")
    assert run("touch", "/rootfile")[0] != 0  # readOnlyRootFilesystem
    assert run("touch", "/tmp/f")[0] != 0  # no writable /tmp either, as upstream
    assert _status_field(node, cid, "NoNewPrivs") == "1"  # allowPrivilegeEscalation: false
    assert int(_status_field(node, cid, "CapBnd"), 16) == 1 << 10  # only NET_BIND_SERVICE
    assert _status_field(node, cid, "Seccomp") == "2"  # RuntimeDefault when none is given


def test_seccomp_unconfined_and_privileged(node: Node) -> None:
    node.pod("loose", [{"name": "main", "command": SLEEP,
                        "securityContext": {"privileged": True}}],
             securityContext={"seccompProfile": {"type": "Unconfined"}})
    cid = _cid(node.wait("loose", ready))
    assert _status_field(node, cid, "Seccomp") == "0"
    assert int(_status_field(node, cid, "CapEff"), 16) > 1 << 20  # every capability


def test_run_as_non_root_refuses_an_image_that_runs_as_root(node: Node) -> None:
    node.pod("rooty", [{"name": "main", "command": SLEEP}],
             securityContext={"runAsNonRoot": True})

    def refused(pod: dict[str, Any]) -> bool:
        statuses = pod["status"].get("containerStatuses") or []
        waiting = (statuses[0]["state"].get("waiting") or {}) if statuses else {}
        return waiting.get("reason") == "CreateContainerConfigError"

    pod = node.wait("rooty", refused)
    message = pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    assert "container has runAsNonRoot and image will run as root" in message
    assert not ready(pod)
    assert [c for c in node.containers(pod) if c.state == "running"] == []


def _events(node: Node, name: str) -> list[dict[str, Any]]:
    assert node.kubelet is not None
    node.kubelet.recorder.flush()
    return node.client.list("v1", "Event", "default",
                            field_selector=f"involvedObject.name={name}").items


def test_post_start_runs_before_the_container_counts_as_running(node: Node) -> None:
    node.pod("hooked", [{"name": "main", "command": SLEEP, "lifecycle": {
        "postStart": {"exec": {"command": ["sh", "-c", "echo started > /tmp/hook"]}}}}])
    cid = _cid(node.wait("hooked", ready))
    assert node.runtime.exec(cid, ["cat", "/tmp/hook"], timeout=10).output == "started\n"


def test_failing_post_start_stops_the_container_and_it_restarts(node: Node) -> None:
    node.pod("badhook", [{"name": "main", "command": SLEEP, "lifecycle": {
        "postStart": {"exec": {"command": ["sh", "-c", "exit 3"]}}}}])
    node.wait("badhook", lambda p: (p["status"].get("containerStatuses") or [{}])[0].get(
        "restartCount", 0) >= 1)
    reasons = [e["reason"] for e in _events(node, "badhook")]
    assert "FailedPostStartHook" in reasons and "Killing" in reasons


def test_pre_stop_runs_before_sigterm_when_the_pod_is_deleted(node: Node, tmp_path: Path) -> None:

    out = tmp_path / "out"
    out.mkdir()
    pod = node.pod("drain", [{
        "name": "main",
        "command": ["sh", "-c", "trap 'echo term >> /out/log; exit 0' TERM; "
                                "while true; do sleep 0.1; done"],
        "lifecycle": {"preStop": {"exec": {"command": [
            "sh", "-c", "echo prestop >> /out/log; sleep 1"]}}},
        "volumeMounts": [{"name": "out", "mountPath": "/out"}]}],
        volumes=[{"name": "out", "hostPath": {"path": str(out)}}],
        terminationGracePeriodSeconds=20)
    node.wait("drain", ready)
    node.client.delete("v1", "Pod", "default", "drain", grace_period_seconds=20)
    node.gone("drain")
    assert not node.containers(pod)
    assert (out / "log").read_text() == "prestop\nterm\n"


def test_pre_stop_runs_when_a_liveness_probe_fails(node: Node) -> None:
    node.pod("sick2", [{"name": "main", "command": SLEEP,
                        "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1,
                                          "failureThreshold": 1, "initialDelaySeconds": 1},
                        "lifecycle": {"preStop": {"exec": {"command": [
                            "sh", "-c", "echo hook >> /scratch/log"]}}},
                        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
             volumes=[{"name": "scratch", "emptyDir": {}}])
    pod = node.wait("sick2", lambda p: (p["status"].get("containerStatuses") or [{}])[0].get(
        "restartCount", 0) >= 1)
    # the emptyDir outlives the containers; read it on the host (the restarted container
    # may already be failing its probe again)
    log = node.root / "pods" / pod["metadata"]["uid"] / "volumes" / "scratch" / "log"
    assert log.read_text().startswith("hook\n")
    assert "FailedPreStopHook" not in [e["reason"] for e in _events(node, "sick2")]


def test_host_aliases_are_in_etc_hosts_with_and_without_infra(node: Node) -> None:
    aliases = [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar"]},
               {"ip": "10.1.2.4", "hostnames": ["baz.local"]}]
    node.pod("alone", [{"name": "main", "command": SLEEP}], hostAliases=aliases)
    node.pod("pair", [{"name": "one", "command": SLEEP}, {"name": "two", "command": SLEEP}],
             hostAliases=aliases)
    for name in ("alone", "pair"):
        pod = node.wait(name, ready)
        for cs in pod["status"]["containerStatuses"]:
            hosts = node.runtime.exec(cs["containerID"].split("://")[1], ["cat", "/etc/hosts"],
                                      timeout=10).output
            entries = {tuple(line.split()) for line in hosts.splitlines()}
            assert {("10.1.2.3", "foo.local"), ("10.1.2.3", "bar"),
                    ("10.1.2.4", "baz.local")} <= entries, hosts


def test_downward_api_and_projected_volumes(node: Node) -> None:
    node.client.create({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "proj-cm", "namespace": "default"},
                        "data": {"color": "blue"}})
    node.client.create({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "proj-sec", "namespace": "default"},
                        "data": {"token": base64.b64encode(b"t0k").decode()}})
    info = [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "tier", "fieldRef": {"fieldPath": "metadata.labels['tier']"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "main",
                                                 "resource": "limits.memory",
                                                 "divisor": "1Mi"}}]
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "downward", "namespace": "default",
                         "labels": {"app": "web", "tier": "front"}},
            "spec": {"nodeName": node.name, "terminationGracePeriodSeconds": 1,
                     "containers": [{
                         "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "Never",
                         "command": SLEEP, "resources": {"limits": {"memory": "64Mi"}},
                         "volumeMounts": [{"name": "info", "mountPath": "/info"},
                                          {"name": "all", "mountPath": "/all"}]}],
                     "volumes": [
                         {"name": "info", "downwardAPI": {"items": info}},
                         {"name": "all", "projected": {"sources": [
                             {"configMap": {"name": "proj-cm"}},
                             {"secret": {"name": "proj-sec",
                                         "items": [{"key": "token", "path": "sec/token"}]}},
                             {"downwardAPI": {"items": [
                                 {"path": "ns", "fieldRef": {
                                     "fieldPath": "metadata.namespace"}}]}}]}}]}}
    node.client.create(body)
    cid = _cid(node.wait("downward", ready))

    def cat(path: str) -> str:
        return node.runtime.exec(cid, ["cat", path], timeout=10).output

    assert cat("/info/labels") == 'app="web"\ntier="front"'
    assert cat("/info/tier") == "front" and cat("/info/name") == "downward"
    assert cat("/info/mem") == "64"
    assert cat("/all/color") == "blue" and cat("/all/sec/token") == "t0k"
    assert cat("/all/ns") == "default"
    # a label changed on the live pod reaches the file (bounded wait, no timing asserted)
    pod = node.get("downward")
    pod["metadata"]["labels"]["tier"] = "back"
    node.client.update(pod)
    deadline = time.monotonic() + 30
    while cat("/info/tier") != "back":
        assert time.monotonic() < deadline, "the downwardAPI file was not refreshed"
        time.sleep(0.2)


def test_host_network_pods_share_the_hosts_network_and_name(node: Node) -> None:
    port, port2 = _free_port(), _free_port()
    serve = ["sh", "-c", f"mkdir -p /tmp/w && hostname > /tmp/w/index.html && "
                         f"exec httpd -f -p 127.0.0.1:{port} -h /tmp/w"]
    node.pod("hostnet", [{"name": "web", "command": serve,
                          "ports": [{"containerPort": port, "hostPort": port}]}],
             hostNetwork=True)
    node.pod("hostnet2", [{"name": "web", "command": [
        "sh", "-c", f"mkdir -p /tmp/w && echo two > /tmp/w/index.html && "
                    f"exec httpd -f -p 127.0.0.1:{port2} -h /tmp/w"]},
        {"name": "side", "command": SLEEP}], hostNetwork=True)
    for name in ("hostnet", "hostnet2"):
        pod = node.wait(name, ready)
        assert pod["status"]["podIP"] == pod["status"]["hostIP"] == "127.0.0.1"
    # the servers listen on the host's own loopback: no port publishing involved
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as resp:
        assert resp.read().decode().strip() == socket.gethostname()
    with urllib.request.urlopen(f"http://127.0.0.1:{port2}/index.html", timeout=5) as resp:
        assert resp.read() == b"two\n"


def test_host_pid_and_host_ipc_share_the_hosts_namespaces(node: Node) -> None:
    import os

    # namespaces compared by inode; this test runs in the host's namespaces
    host = [str(os.stat(f"/proc/self/ns/{ns}").st_ino) for ns in ("pid", "ipc")]
    node.pod("hostns", [{"name": "main", "command": SLEEP}], hostPID=True, hostIPC=True)
    node.pod("hostns2", [{"name": "one", "command": SLEEP}, {"name": "two", "command": SLEEP}],
             hostPID=True, hostIPC=True)
    node.pod("ownns", [{"name": "main", "command": SLEEP}])
    for name, shared in (("hostns", True), ("hostns2", True), ("ownns", False)):
        pod = node.wait(name, ready)
        for cs in pod["status"]["containerStatuses"]:
            cid = cs["containerID"].split("://")[1]
            result = node.runtime.exec(cid, ["sh", "-c", "stat -L -c %i /proc/self/ns/pid "
                                                         "/proc/self/ns/ipc"], timeout=10)
            assert result.exit_code == 0, result.output
            inodes = result.output.split()
            assert [a == b for a, b in zip(inodes, host, strict=True)] == [shared, shared], \
                (name, inodes, host)


def test_termination_messages_like_kubernetes(node: Node) -> None:
    node.pod("said", [{"name": "main", "command": [
        "sh", "-c", "echo 'disk full' > /dev/termination-log; exit 3"]}], restartPolicy="Never")
    node.pod("custom", [{"name": "main", "terminationMessagePath": "/tmp/why",
                         "command": ["sh", "-c", "printf done > /tmp/why"]}],
             restartPolicy="Never", securityContext={"runAsUser": 1000})
    node.pod("logged", [{"name": "main", "terminationMessagePolicy": "FallbackToLogsOnError",
                         "command": ["sh", "-c", "echo first; echo boom; exit 1"]}],
             restartPolicy="Never")
    node.pod("quiet", [{"name": "main", "command": ["sh", "-c", "echo noise; exit 1"]}],
             restartPolicy="Never")

    def terminated(name: str) -> dict[str, Any]:
        pod = node.wait(name, lambda p: p["status"].get("phase") in ("Succeeded", "Failed"))
        return dict(pod["status"]["containerStatuses"][0]["state"]["terminated"])

    said = terminated("said")
    assert (said["exitCode"], said["message"]) == (3, "disk full\n")
    assert terminated("custom")["message"] == "done"  # written as a non-root user
    assert terminated("logged")["message"] == "first\nboom\n"
    assert "message" not in terminated("quiet")  # File policy and nothing written


def test_memory_empty_dir_is_a_shared_tmpfs_unmounted_with_the_pod(node: Node) -> None:

    pod = node.pod("ram", [
        {"name": "writer", "command": ["sh", "-c", "echo hi > /cache/x; exec sleep 600"],
         "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]},
        {"name": "reader", "command": SLEEP,
         "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
        volumes=[{"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}])
    pod = node.wait("ram", ready)
    host = node.root / "pods" / pod["metadata"]["uid"] / "volumes" / "cache"
    assert host.is_mount()
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    entry = next(m for m in mounts if m[1] == str(host))
    assert entry[2] == "tmpfs" and "size=16384k" in entry[3]
    reader = next(cs for cs in pod["status"]["containerStatuses"] if cs["name"] == "reader")
    cid = reader["containerID"].split("://")[1]
    deadline = time.monotonic() + 10
    while node.runtime.exec(cid, ["cat", "/cache/x"], timeout=10).output != "hi\n":
        assert time.monotonic() < deadline, "the writer's file never showed in the reader"
        time.sleep(0.1)
    node.client.delete("v1", "Pod", "default", "ram", grace_period_seconds=0)
    node.gone("ram")
    deadline = time.monotonic() + 10
    while host.parent.exists() and host.is_mount():
        assert time.monotonic() < deadline, "the tmpfs stayed mounted"
        time.sleep(0.05)
    assert str(host) not in Path("/proc/mounts").read_text()


def test_a_deleted_claims_data_goes_once_no_pod_mounts_it(node: Node) -> None:

    def claim(name: str) -> None:
        node.client.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": {"name": name, "namespace": "default"},
                            "spec": {"accessModes": ["ReadWriteOnce"],
                                     "resources": {"requests": {"storage": "1Mi"}}}})

    def wait_until(check: Any, what: str) -> None:
        deadline = time.monotonic() + 15
        while not check():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    for name in ("keep", "late"):
        claim(name)
        node.pod(f"uses-{name}", [{"name": "main", "command": [
            "sh", "-c", "echo data > /data/f; exec sleep 600"],
            "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
            volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": name}}])
        node.wait(f"uses-{name}", ready)
    keep, late = (node.root / "claims" / "default" / n for n in ("keep", "late"))
    wait_until(lambda: (keep / "f").exists() and (late / "f").exists(), "data written")
    # the pod goes, the claim stays: so does its data
    node.client.delete("v1", "Pod", "default", "uses-keep", grace_period_seconds=0)
    node.gone("uses-keep")
    time.sleep(0.5)  # give a wrong removal the chance to happen
    assert (keep / "f").read_text() == "data\n"
    # the claim goes: its data too
    node.client.delete("v1", "PersistentVolumeClaim", "default", "keep")
    wait_until(lambda: not keep.exists(), "the claim's data stayed")
    # a claim deleted while mounted keeps its data until the pod is gone
    node.client.delete("v1", "PersistentVolumeClaim", "default", "late")
    time.sleep(0.5)
    assert (late / "f").exists()
    node.client.delete("v1", "Pod", "default", "uses-late", grace_period_seconds=0)
    node.gone("uses-late")
    wait_until(lambda: not late.exists(), "the claim's data stayed after its pod went")


def test_a_probes_grace_period_wins_over_the_pods(node: Node) -> None:
    # `sleep` as PID 1 ignores SIGTERM: the kill waits out the grace period. With the pod's
    # 300 s the restart could not happen within the wait below; the probe's 1 s it can.
    node.pod("stubborn", [{"name": "main", "command": ["sleep", "600"], "livenessProbe": {
        "exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1,
        "terminationGracePeriodSeconds": 1}}], terminationGracePeriodSeconds=300)
    pod = node.wait("stubborn", lambda p: (p["status"].get("containerStatuses") or [{}])[0].get(
        "restartCount", 0) >= 1, timeout=60)
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 137  # SIGKILL after the probe's grace period
    node.client.delete("v1", "Pod", "default", "stubborn", grace_period_seconds=0)
