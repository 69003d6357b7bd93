"""Start a throw-away etcd on loopback, for tests and benchmarks (not for production use).

The server listens on 127.0.0.1 on free ports with its data in a directory the caller owns,
and is started with the flags gitkube's large transactions need (see docs/STORE.md):
``--max-txn-ops`` and ``--max-request-bytes``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from gitkube.errors import StoreUnavailable

MAX_TXN_OPS = 50_000
MAX_REQUEST_BYTES = 128 * 1024 * 1024


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EtcdServer:
    """One etcd process. ``url`` is its gitkube store URL (``etcd://127.0.0.1:PORT``)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        executable: str | None = None,
        ports: tuple[int, int] | None = None,
        extra_args: tuple[str, ...] = (
            "--max-txn-ops", str(MAX_TXN_OPS),
            "--max-request-bytes", str(MAX_REQUEST_BYTES),
        ),
    ):
        """Start etcd; ``extra_args`` default to the limits big transactions need (pass
        ``()`` for etcd's defaults); ``ports`` (client, peer): where an earlier server of the
        same data directory listened (a restart), else free ones."""
        exe = executable or shutil.which("etcd")
        if exe is None:
            raise FileNotFoundError("etcd")
        self.data_dir = Path(data_dir)
        self.client_port, self.peer_port = ports or (free_port(), free_port())
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.url = f"etcd://127.0.0.1:{self.client_port}"
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [
                exe,
                "--name", "gitkube-test",
                "--data-dir", str(self.data_dir),
                "--listen-client-urls", client,
                "--advertise-client-urls", client,
                "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"gitkube-test={peer}",
                "--logger", "zap",
                "--log-level", "warn",
                *extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Block until etcd answers /health, or raise StoreUnavailable with its log."""
        deadline = time.monotonic() + timeout
        health = f"http://127.0.0.1:{self.client_port}/health"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=1) as resp:
                if b'"health":"true"' in resp.read():
                    return
            time.sleep(0.1)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise StoreUnavailable(f"etcd did not become healthy:\n{tail}", location=self.url)

    def stop(self) -> None:
        """Stop the process this object started (by its PID) and close its log. Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> EtcdServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
