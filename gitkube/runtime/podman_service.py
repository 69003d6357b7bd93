"""gitkube's own Podman API service: where it listens, how it is started, and when it ends.

A ``PodmanService(base_dir, linger=...)`` is one owner's hold on the service listening on
``unix://<base_dir>/podman.sock``. Everything it needs lives in ``base_dir``:

=================== ===========================================================================
``podman.sock``     the API socket
``containers.conf`` settings that work on this host, chosen once by trying (``host_settings``)
``service.pid``     the PID of the service gitkube started (``stop_recorded_service`` reads it)
``service.lock``    one starter at a time, across processes: never two services on one socket
``service.users``   every owner holds a shared lock on it while it uses the service
``service.log``     the service's (and its keeper's) output
=================== ===========================================================================

``ensure()`` makes sure a service answers: a running one is reused (even another process's);
one recorded but not answering yet is waited for; otherwise one is started (``podman system
service --time=0``, with ``CONTAINERS_CONF`` pointing at ``containers.conf``). Its end does not
rely on Podman's idle timer (an idle keep-alive connection, or a stream whose client went
away, keeps Podman 4.3's from ever firing): each service gets a *keeper*
(``gitkube.runtime.podman_keeper``), a small process that stops it once no owner has held
``service.users`` for ``linger`` seconds. The kernel drops a dead process's locks, so an owner
killed without ``close()`` releases the service too.

``close()`` ends this owner's hold. ``linger=None`` (a long-lived owner: ``gitkube serve``,
tests): the service this owner started is stopped at once. ``linger=N`` (a CLI command): it
is left to the keeper, which stops it N seconds after its last owner is gone, so the next
command finds it warm.

Host settings are chosen by trying (``_try_run``: a throw-away container from a directory,
``--rootfs``, so no image is needed): the default OCI runtime, then runc (crun fails with
"cgroups in hybrid mode not supported" on some hosts); Podman's default RLIMIT_NOFILE/NPROC
(1048576) when they fit under this process's hard limits, then the hard limits, then 1024
(raising them is refused with ``setrlimit: Operation not permitted``); the ``k8s-file`` log
driver (logs readable through the API without journald). The choice is logged and kept in the
file's comments.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from gitkube.procenv import child_env, search_path
from gitkube.runtime.base import RuntimeUnavailable

log = logging.getLogger("gitkube.runtime.podman")

PODMAN_DEFAULT_RLIMIT = 1048576
START_TIMEOUT = 20.0  # seconds a starting service may take to answer
PROBE_TIMEOUT = 10.0  # seconds a probe waits for an answer
# Podman's network backend runs iptables/nft from the sbin directories: a gitkube started
# with a minimal PATH (cron, a systemd unit, env -i) must still hand them to Podman.
_SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


# --- the host's working settings ----------------------------------------------------------


def podman_env(conf: Path) -> dict[str, str]:
    """The environment for the podman processes gitkube starts: this process's own (a
    child inherits it, gitkube/procenv.py), with CONTAINERS_CONF pointing at gitkube's
    containers.conf and the system directories on PATH."""
    path = search_path()
    path += [d for d in _SYSTEM_PATH if d not in path]
    return child_env({"CONTAINERS_CONF": str(conf), "PATH": os.pathsep.join(path)})


def _try_run(conf: Path, runtime: str | None) -> str | None:
    """Run a throw-away container from a directory (no image needed) with the settings in
    ``conf``; None when it works, else Podman's last error line."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        return "no busybox to test with"
    with tempfile.TemporaryDirectory(prefix="gitkube-rt-") as root:
        shutil.copy(busybox, os.path.join(root, "busybox"))
        env = podman_env(conf)
        args = ["podman"] + (["--runtime", runtime] if runtime else [])
        try:
            proc = subprocess.run(
                [*args, "run", "--rm", "--network", "none", "--rootfs", root, "/busybox",
                 "true"], capture_output=True, text=True, timeout=60, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            return str(e)
        if proc.returncode == 0:
            return None
        return (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]


def _conf_text(ulimits: list[str], runtime: str | None) -> str:
    text = "[containers]\n"
    text += "default_ulimits = [" + ", ".join(f'"{u}"' for u in ulimits) + "]\n"
    text += 'log_driver = "k8s-file"\n'
    if runtime:
        text += f'[engine]\nruntime = "{runtime}"\n'
    return text


def host_settings(conf_dir: Path) -> Path:
    """Write (once) a containers.conf that works on this host and return its path. The
    choices are made by trying: the default OCI runtime, then runc; Podman's default rlimits
    when they fit under this host's hard limits, then the hard limits, then 1024."""
    conf = conf_dir / "containers.conf"
    if conf.exists():
        return conf
    conf_dir.mkdir(parents=True, exist_ok=True)
    trial = conf_dir / "containers.conf.trial"
    safe = ["nofile=1024:1024", "nproc=1024:1024"]
    choices: list[str] = []
    runtime: str | None = None
    trial.write_text(_conf_text(safe, None))
    error = _try_run(trial, None)
    if error is not None and shutil.which("runc"):
        trial.write_text(_conf_text(safe, "runc"))
        if _try_run(trial, "runc") is None:
            runtime = "runc"
            choices.append(f"OCI runtime runc (the default failed: {error})")
    if runtime is None:
        choices.append("the default OCI runtime" + (f" (it failed: {error})" if error else ""))
    hard = [resource.getrlimit(r)[1] for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC)]
    wanted = [PODMAN_DEFAULT_RLIMIT if h == resource.RLIM_INFINITY
              else min(h, PODMAN_DEFAULT_RLIMIT) for h in hard]
    ulimits = [f"nofile={wanted[0]}:{wanted[0]}", f"nproc={wanted[1]}:{wanted[1]}"]
    trial.write_text(_conf_text(ulimits, runtime))
    error = _try_run(trial, runtime)
    if error is None:
        choices.append(f"rlimits nofile={wanted[0]} nproc={wanted[1]}")
    else:
        ulimits = safe
        choices.append(f"rlimits nofile=1024 nproc=1024 (higher ones failed: {error})")
    trial.unlink()
    text = "# Written by gitkube: settings that work on this host.\n# " + \
        "\n# ".join(choices) + "\n" + _conf_text(ulimits, runtime)
    tmp = conf.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(conf)
    log.info("podman: chose %s (%s)", "; ".join(choices), conf)
    return conf


# --- probing and recorded processes ---------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def answers(socket_path: Path, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a Podman API service answers its ping on ``socket_path``."""
    conn = _UnixConnection(socket_path, timeout)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _recorded_pid(base_dir: Path) -> int | None:
    """The PID in ``service.pid`` when that process is still a service on ``base_dir``'s
    socket (a PID reused by another process is not)."""
    try:
        pid = int((base_dir / "service.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    cmdline = _cmdline(pid)
    if "system service" not in cmdline or str(base_dir / "podman.sock") not in cmdline:
        return None
    return pid


def stop_recorded_service(base_dir: Path) -> bool:
    """Stop the API service whose PID gitkube recorded in ``base_dir`` (a lingering one,
    started by an earlier command), if that process is still that service. True when one was
    stopped. Its keeper then ends by itself."""
    pid = _recorded_pid(base_dir)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(FileNotFoundError):
        (base_dir / "service.pid").unlink()
    return True


# --- the service --------------------------------------------------------------------------


class PodmanService:
    """One owner's hold on gitkube's Podman API service in ``base_dir`` (module docstring).
    Thread-safe."""

    def __init__(self, base_dir: Path, *, linger: int | None = None,
                 start_timeout: float = START_TIMEOUT):
        """Hold the service in use from now until ``close()``. ``linger``: seconds the
        service outlives its last owner (None: the service this owner starts is stopped by
        its ``close()``)."""
        self.base_dir = base_dir
        self.linger = linger
        self.start_timeout = start_timeout
        self.socket = base_dir / "podman.sock"
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        base_dir.mkdir(parents=True, exist_ok=True)
        self._users: IO[str] | None = open(base_dir / "service.users", "a")  # noqa: SIM115
        fcntl.flock(self._users, fcntl.LOCK_SH)  # waits while a keeper stops the service

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        """The PID of the service this owner started (None: it uses another's, or none)."""
        proc = self._process
        return proc.pid if proc is not None and proc.poll() is None else None

    def answers(self) -> bool:
        return answers(self.socket)

    def ensure(self) -> None:
        """Make sure a service answers on the socket: reuse, wait for, or start one.
        RuntimeUnavailable when none can be had (or this hold was closed)."""
        if self._users is None:
            raise RuntimeUnavailable("the Podman runtime is closed: its service is not "
                                     "started again")
        if self.answers():
            return
        # one starter at a time, across processes too: never two services on one socket
        with self._lock, open(self.base_dir / "service.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self.answers() or self._wait_for_recorded():
                    return
                self._start()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _wait_for_recorded(self) -> bool:
        """A recorded service that is alive but not answering yet (starting, or busy): wait
        for it rather than start a second one on the same socket; True when it answers."""
        pid = _recorded_pid(self.base_dir)
        if pid is None:
            return False
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            if self.answers():
                return True
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # ours (recorded), and not answering: replace it
        return False

    def _start(self) -> None:
        if shutil.which("podman") is None:
            raise RuntimeUnavailable("podman is not installed",
                                     hint="run scripts/setup (apt-get install podman runc)")
        conf = host_settings(self.base_dir)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        with open(self.base_dir / "service.log", "ab") as logfile:
            self._process = proc = subprocess.Popen(
                ["podman", "system", "service", "--time=0", self.url],
                stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile,
                env=podman_env(conf),
                start_new_session=True)
            (self.base_dir / "service.pid").write_text(f"{proc.pid}\n")
            self._start_keeper(proc.pid, logfile)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if self.socket.exists() and self.answers():
                log.info("podman: started API service pid %d on %s", proc.pid, self.url)
                return
            time.sleep(0.05)
        raise RuntimeUnavailable(f"the Podman API service did not start on {self.url}",
                                 hint=f"see {self.base_dir / 'service.log'}")

    def _start_keeper(self, pid: int, logfile: IO[bytes]) -> None:
        """The process that stops service ``pid`` once it has had no owner for ``linger``
        seconds (it outlives this process on purpose, and ends with the service)."""
        subprocess.Popen(
            [sys.executable, "-m", "gitkube.runtime.podman_keeper", "--pid", str(pid),
             "--socket", str(self.socket), "--users", str(self.base_dir / "service.users"),
             "--linger", str(self.linger or 0)],
            stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, start_new_session=True)

    def stop(self) -> None:
        """Stop the service this owner started (only that process)."""
        with self._lock:
            proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if _recorded_pid(self.base_dir) is None:
            with contextlib.suppress(FileNotFoundError):
                (self.base_dir / "service.pid").unlink()

    def close(self) -> None:
        """End this hold (idempotent): without ``linger``, stop the service this owner
        started; with it, leave the service to its keeper. Never starts it again."""
        with self._lock:
            users, self._users = self._users, None
        if users is None:
            return
        if self.linger is None:
            self.stop()
        else:
            with self._lock:
                self._process = None  # the keeper ends it once unused for ``linger`` s
        users.close()  # releases the shared lock


__all__ = [
    "PODMAN_DEFAULT_RLIMIT",
    "PodmanService",
    "answers",
    "host_settings",
    "podman_env",
    "stop_recorded_service",
]
