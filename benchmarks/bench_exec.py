"""kubectl exec and kubectl port-forward through gitkube, beside their peers in the same run.

    .venv/bin/python benchmarks/bench_exec.py [--runs 50] [--mib 100]

Set-up: `gitkube serve` (real kubelet on Podman, TLS on loopback) in a fresh state
directory, one pod running the example image: a sender (``nc -ll -e``, writing ``--mib``
MiB of zeros to each connection) on port 9001, not published.

- exec: ``kubectl exec POD -- true`` round trips (process start to exit), ``--runs`` times,
  interleaved with ``podman exec CONTAINER true`` on the same container (Podman's CLI with
  gitkube's containers.conf): p50 and p99 of each and the p50 ratio. Target <= 1.5x.
- port-forward: MB/s of one ``--mib`` MiB download through ``kubectl port-forward`` (SPDY in
  WebSocket to the daemon, then a connection made inside the pod's network namespace),
  beside the same download straight from the pod's address (the host routes to the pod
  network). Best of 3 each. Target >= 50% of direct.
- dropped sessions: ``--sessions`` exec sessions (``cat`` with stdin) opened through the
  daemon's socket and dropped mid-stream (the connection shut without a Close), then the
  daemon's thread and socket counts beside the counts before. Target: equal (+- a few).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image  # noqa: E402

GITKUBE = [sys.executable, "-m", "gitkube.cli.main"]
KUBECTL = str(Path(sys.executable).parent / "kubectl")


def _pod(mib: int) -> dict[str, object]:
    script = f"printf '#!/bin/sh\\nexec dd if=/dev/zero bs=1048576 count={mib} 2>/dev/null\\n'" \
             " > /tmp/send && chmod +x /tmp/send && exec nc -ll -p 9001 -e /tmp/send"
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "bench", "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", script]}]}}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    return time.perf_counter() - start


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _counts(pid: int) -> tuple[int, int]:
    """(threads, sockets) of process ``pid``."""
    sockets = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            sockets += os.readlink(fd).startswith("socket:")
    return len(os.listdir(f"/proc/{pid}/task")), sockets


def _drop_sessions(socket_path: str, count: int, pid: int) -> str:
    from gitkube.api.stream_client import RemoteProcess

    target = ("/api/v1/namespaces/default/pods/bench/exec?container=main&command=cat"
              "&stdin=true&stdout=true&stderr=true")
    RemoteProcess(socket_path, target).close()  # warm
    time.sleep(1)
    before = _counts(pid)
    for _ in range(count):
        session = RemoteProcess(socket_path, target)
        session.write(b"some input\n")
        session.close()  # no Close frame, no end of stdin: the client just goes
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        threads, sockets = _counts(pid)
        if threads <= before[0] + 2 and sockets <= before[1] + 2:
            break
        time.sleep(0.5)
    after = _counts(pid)
    return (f"dropped sessions, {count}: daemon threads {before[0]} before, {after[0]} after; "
            f"sockets {before[1]} before, {after[1]} after (target: equal +- a few)")


def _download(port: int, host: str, size: int) -> float:
    """Seconds to read ``size`` bytes from host:port."""
    with socket.create_connection((host, port), timeout=60) as sock:
        start = time.perf_counter()
        got = 0
        while got < size:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        elapsed = time.perf_counter() - start
    if got != size:
        raise RuntimeError(f"read {got} of {size} bytes")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    ensure_example_image()
    state = Path(tempfile.mkdtemp(prefix="gk-bench-exec-"))
    env = {**os.environ, "GITKUBE_STATE_DIR": str(state), "HOME": str(state)}
    daemon = subprocess.Popen([*GITKUBE, "serve", "--listen", "127.0.0.1:0", "--node-name",
                               "bench-node"], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    forward: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        while not (state / "daemon.json").exists():
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise RuntimeError("gitkube serve did not start")
            time.sleep(0.2)
        config = state / "kubeconfig"
        config.write_text(subprocess.run([*GITKUBE, "kubeconfig"], env=env, check=True,
                                         capture_output=True, text=True).stdout)
        kenv = {**env, "KUBECONFIG": str(config)}
        subprocess.run([KUBECTL, "apply", "-f", "-"], input=json.dumps(_pod(args.mib)),
                       text=True, env=kenv, check=True, capture_output=True)
        subprocess.run([KUBECTL, "wait", "--for=condition=Ready", "pod/bench",
                        "--timeout=120s"], env=kenv, check=True, capture_output=True)
        pod = json.loads(subprocess.run([KUBECTL, "get", "pod", "bench", "-o", "json"],
                                        env=kenv, check=True, capture_output=True).stdout)
        conf = next(state.rglob("containers.conf"))
        penv = {**os.environ, "CONTAINERS_CONF": str(conf)}
        container = subprocess.run(
            ["podman", "ps", "-q", "--filter", f"label=io.gitkube.pod-uid="
             f"{pod['metadata']['uid']}"], env=penv, check=True, capture_output=True,
            text=True).stdout.split()[0]

        # exec: interleaved, one warm-up each
        _timed([KUBECTL, "exec", "bench", "--", "true"], kenv)
        _timed(["podman", "exec", container, "true"], penv)
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(_timed([KUBECTL, "exec", "bench", "--", "true"], kenv))
            theirs.append(_timed(["podman", "exec", container, "true"], penv))
        p50, p50_peer = statistics.median(ours), statistics.median(theirs)
        print(f"exec, {args.runs} runs: kubectl exec via gitkube p50 {p50 * 1000:.0f} ms, "
              f"p99 {_percentile(ours, 0.99) * 1000:.0f} ms; podman exec p50 "
              f"{p50_peer * 1000:.0f} ms, p99 {_percentile(theirs, 0.99) * 1000:.0f} ms; "
              f"p50 ratio {p50 / p50_peer:.2f}x (target <= 1.5x)")

        # port-forward
        forward = subprocess.Popen([KUBECTL, "port-forward", "pod/bench", ":9001"],
                                   env=kenv, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
        assert forward.stdout is not None
        found = re.search(rb"127\.0\.0\.1:(\d+)", forward.stdout.readline())
        assert found, "kubectl port-forward printed no port"
        local = int(found.group(1))
        size = args.mib << 20
        pod_ip = pod["status"]["podIP"]
        direct = min(_download(9001, pod_ip, size) for _ in range(3))
        cpu = _cpu(daemon.pid), _cpu(forward.pid)
        forwarded = min(_download(local, "127.0.0.1", size) for _ in range(3))
        used = _cpu(daemon.pid) - cpu[0], _cpu(forward.pid) - cpu[1]
        mb = size / 1e6
        print(f"port-forward, {args.mib} MiB: through kubectl port-forward "
              f"{mb / forwarded:.0f} MB/s; direct to the pod {mb / direct:.0f} MB/s; "
              f"{100 * direct / forwarded:.0f}% of direct (target >= 50%); CPU seconds for "
              f"the 3 forwarded downloads: daemon {used[0]:.2f}, kubectl {used[1]:.2f}")
        print(_drop_sessions(str(state / "gitkube.sock"), args.sessions, daemon.pid))
    finally:
        if forward is not None:
            forward.terminate()
            forward.wait(10)
        with_kubectl = {**env, "KUBECONFIG": str(state / "kubeconfig")}
        subprocess.run([KUBECTL, "delete", "pod", "bench", "--wait=true", "--timeout=60s"],
                       env=with_kubectl, capture_output=True, timeout=90)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
