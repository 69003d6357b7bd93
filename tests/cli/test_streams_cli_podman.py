"""`gitkube exec`, `cp` and `port-forward` embedded (no daemon): the CLI reaches the pod's
containers through the local Podman directly."""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.agents.kubelet.config import cluster_id
from gitkube.api.local import LocalClient
from gitkube.runtime.base import LABEL_CLUSTER
from gitkube.settings import Settings
from gitkube.store import open_store
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing, sweep

pytestmark = [pytest.mark.podman, pytest.mark.slow]

POD = f"""\
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: default, labels: {{app: web}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {EXAMPLE_IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /tmp/www && echo hello > /tmp/www/index.html &&
              exec httpd -f -p 127.0.0.1:8080 -h /tmp/www"]
"""


def gitkube(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "gitkube.cli.main", *args], input=stdin,
                          capture_output=True, timeout=180)


@pytest.fixture
def embedded(_isolated_state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    monkeypatch.setenv("GITKUBE_NO_DAEMON", "1")
    monkeypatch.setenv("GITKUBE_POD_NETWORK", "")
    monkeypatch.setenv("GITKUBE_SERVICES", "0")
    yield
    from gitkube.runtime.podman import PodmanRuntime

    client = LocalClient(open_store(Settings.from_env(os.environ).store_url))
    base = Path(tempfile.mkdtemp(prefix="gk-st-"))
    runtime = PodmanRuntime(base_dir=base)
    try:
        left = sweep(runtime, {LABEL_CLUSTER: cluster_id(client)})
    finally:
        runtime.close()
        shutil.rmtree(base, ignore_errors=True)
    assert left == 0, f"{left} sandboxes/containers were left behind"


def test_exec_cp_and_port_forward_embedded(embedded: None, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pod.yaml").write_text(POD)
    out = gitkube("apply", str(tmp_path / "m"), "--yes", "--wait", "--timeout", "120")
    assert out.returncode == 0, out.stdout + out.stderr
    out = gitkube("exec", "web", "--", "sh", "-c", "echo $HOSTNAME; echo e >&2; exit 3")
    assert out.returncode == 3 and out.stdout == b"web\n" and out.stderr == b"e\n", out
    payload = random.Random(9).randbytes(1024 * 1024)
    out = gitkube("exec", "-i", "web", "--", "md5sum", stdin=payload)
    assert out.stdout.split()[0].decode() == hashlib.md5(payload).hexdigest(), out.stderr
    out = gitkube("exec", "-c", "nope", "web", "--", "true")
    assert out.returncode == 1 and b"container nope is not valid for pod web" in out.stderr
    src = tmp_path / "tree"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.bin").write_bytes(payload)
    assert gitkube("cp", str(src), "web:/tmp/t").returncode == 0
    out = gitkube("cp", "web:/tmp/t", str(tmp_path / "back"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "back" / "d" / "f.bin").read_bytes() == payload
    # a port bound to the pod's loopback only
    proc = subprocess.Popen([sys.executable, "-m", "gitkube.cli.main", "port-forward",
                             "pod/web", ":8080"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        found = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        assert found, line
        conn = http.client.HTTPConnection("127.0.0.1", int(found.group(1)), timeout=30)
        conn.request("GET", "/index.html")
        assert conn.getresponse().read() == b"hello\n"
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert gitkube("delete", "pod/web", "--timeout", "60").returncode == 0


def test_debug_embedded(embedded: None, tmp_path: Path) -> None:
    """`gitkube debug` without a daemon runs the kubelet here until the ephemeral container
    runs; with --target it sees the target's processes (httpd), and -i attaches stdin."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pod.yaml").write_text(POD)
    out = gitkube("apply", str(tmp_path / "m"), "--yes", "--wait", "--timeout", "120")
    assert out.returncode == 0, out.stdout + out.stderr
    out = gitkube("debug", "pod/web", "--image", EXAMPLE_IMAGE, "--target", "main",
                  "-c", "dbg", "-i", "--", "sh", stdin=b"ps; hostname; exit 4\n")
    assert out.returncode == 4, out
    assert b"httpd -f -p 127.0.0.1:8080" in out.stdout, out
    assert b"web\n" in out.stdout  # the pod's hostname: it joined the pod's namespaces
    client = LocalClient(open_store(Settings.from_env(os.environ).store_url))
    pod = client.get("v1", "Pod", "default", "web")
    assert [c["name"] for c in pod["spec"]["ephemeralContainers"]] == ["dbg"]
    out = gitkube("debug", "pod/web", "--image", EXAMPLE_IMAGE, "--target", "nope",
                  "--", "true")
    assert out.returncode == 1 and b'targetContainerName: Not found: "nope"' in out.stderr, out
    assert b"Traceback" not in out.stderr
    out = gitkube("debug", "node/x", "--image", EXAMPLE_IMAGE)
    assert out.returncode == 2 and b"node debugging" in out.stderr, out
    assert gitkube("delete", "pod/web", "--timeout", "60").returncode == 0
