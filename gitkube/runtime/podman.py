"""PodmanRuntime: the ContainerRuntime over Podman's REST API. The only module that talks to
Podman.

It speaks to a Podman API service through the ``podman`` package. Which service:

1. ``url`` given (or ``$GITKUBE_PODMAN_URL``): that one, as is.
2. otherwise gitkube's own service on ``unix://<state_dir>/podman/podman.sock``: reused when it
   answers, else started (``podman system service --time=0``) with ``CONTAINERS_CONF`` pointing
   at a gitkube-owned containers.conf that works on this host. The settings are detected once
   and written there, and a log line says what was chosen:

   - the OCI runtime: the default one (crun) is tried by running a throw-away container from a
     directory (``--rootfs``, no image needed); when it fails (e.g. "cgroups in hybrid mode not
     supported") and runc is installed, runc is used;
   - rlimits: Podman's default RLIMIT_NOFILE/NPROC (1048576) are lowered to this process's hard
     limits when those are smaller (raising them is not permitted and every container would
     fail with ``setrlimit: Operation not permitted``);
   - the log driver: ``k8s-file`` (logs readable through the API without journald).

   The service's PID is recorded in ``<state_dir>/podman/service.pid``; ``close()`` (or
   ``stop_service()``) stops only that process — or, with ``linger=N`` (CLI commands),
   leaves it to exit by itself after N idle seconds (``--time=N``) so the next command
   finds it warm. Containers keep running without the service
   (conmon supervises them). A service that dies is started again on the next call.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from gitkube.config import state_dir
from gitkube.runtime.base import (
    ContainerInfo,
    ContainerSpec,
    ContainerStateName,
    ExecResult,
    ImageError,
    ImageInfo,
    NoSuchObject,
    RuntimeFailure,
    RuntimeUnavailable,
    SandboxInfo,
    SandboxSpec,
    Security,
)

log = logging.getLogger("gitkube.runtime.podman")

URL_ENV = "GITKUBE_PODMAN_URL"
PODMAN_DEFAULT_RLIMIT = 1048576
_START_TIMEOUT = 20.0
_CPU_PERIOD = 100_000


def _frames(data: bytes) -> bytes:
    """Strip the 8-byte multiplexing headers of a non-tty stream (stdout and stderr)."""
    out = bytearray()
    i = 0
    while len(data) - i >= 8:
        size = int.from_bytes(data[i + 4:i + 8], "big")
        out += data[i + 8:i + 8 + size]
        i += 8 + size
    return bytes(out)


def _epoch(value: Any) -> float | None:
    """Podman's list API gives epoch seconds (negative: never); inspect gives RFC 3339."""
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    if isinstance(value, str) and value and not value.startswith("0001"):
        text = value.replace("Z", "+00:00")
        if "." in text:  # nanoseconds: Python takes at most microseconds
            head, _, rest = text.partition(".")
            digits = "".join(ch for ch in rest if ch.isdigit())
            zone = rest[len(digits):]
            text = f"{head}.{digits[:6]}{zone}"
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            return None
    return None


# --- the host's working settings ----------------------------------------------------------


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


# Podman's network backend runs iptables/nft from the sbin directories: a gitkube started
# with a minimal PATH (cron, a systemd unit, env -i) must still hand them to Podman.
_SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


LINGER_ENV = "GITKUBE_PODMAN_LINGER"


def cli_linger() -> int:
    """Idle seconds a Podman service started by a CLI command outlives it, so the next
    command finds it warm: ``$GITKUBE_PODMAN_LINGER``, default 120, at least 1 (Podman
    reads 0 as "never exit")."""
    try:
        return max(1, int(os.environ.get(LINGER_ENV, "120")))
    except ValueError:
        return 120


def podman_env(conf: Path) -> dict[str, str]:
    """The environment for the podman processes gitkube starts: ours, with CONTAINERS_CONF
    pointing at gitkube's containers.conf and the system directories on PATH."""
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    path += [d for d in _SYSTEM_PATH if d not in path]
    return dict(os.environ, CONTAINERS_CONF=str(conf), PATH=os.pathsep.join(path))


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


def _network_fields(body: dict[str, Any], spec: SandboxSpec | ContainerSpec) -> None:
    """Join the pod to ``spec.network`` and give it the resolv.conf asked for."""
    if spec.network:
        body["netns"] = {"nsmode": "bridge"}
        body["Networks"] = {spec.network: {}}
    if spec.dns_servers:
        body["dns_server"] = list(spec.dns_servers)
    if spec.dns_searches:
        body["dns_search"] = list(spec.dns_searches)
    if spec.dns_options:
        body["dns_option"] = list(spec.dns_options)


def _security_fields(body: dict[str, Any], sec: Security) -> None:
    """The securityContext (as ``Security``) in Podman's terms."""
    if sec.user:
        body["user"] = sec.user
    if sec.groups:
        body["groups"] = list(sec.groups)
    if sec.privileged:
        body["privileged"] = True
    if sec.cap_add:
        body["cap_add"] = list(sec.cap_add)
    if sec.cap_drop:
        body["cap_drop"] = list(sec.cap_drop)
    if sec.read_only_root:
        body["read_only_filesystem"] = True
    if sec.no_new_privileges:
        body["no_new_privileges"] = True
    if sec.seccomp:
        body["seccomp_profile_path"] = sec.seccomp


def stop_recorded_service(base_dir: Path) -> bool:
    """Stop the API service whose PID a PodmanRuntime recorded in ``base_dir`` (a lingering
    one, started by an earlier command), if that process is still that service. True when
    one was stopped."""
    try:
        pid = int((base_dir / "service.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return False
    if "system service" not in cmdline or str(base_dir / "podman.sock") not in cmdline:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(FileNotFoundError):
        (base_dir / "service.pid").unlink()
    return True


# --- the runtime ---------------------------------------------------------------------------


class PodmanRuntime:
    """The ContainerRuntime on Podman (see the module docstring)."""

    name = "podman"

    def __init__(self, url: str | None = None, *, base_dir: Path | None = None,
                 timeout: float = 60.0, linger: int | None = None):
        """``linger``: a service this runtime starts exits by itself after that many idle
        seconds, and ``close()`` leaves it running (a CLI command's next command reuses it);
        None: it runs until ``close()`` stops it (``--time=0``)."""
        self.linger = linger
        self._explicit = url or os.environ.get(URL_ENV) or None
        self.base_dir = base_dir or state_dir() / "podman"
        self.socket = self.base_dir / "podman.sock"
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._service: subprocess.Popen[bytes] | None = None
        self._ips: dict[str, str] = {}
        self.limits_supported = True
        self._version: str | None = None
        self._exec_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="podman-exec")
        self._ensure_service()

    # -- connection and service

    @property
    def url(self) -> str:
        return self._explicit or f"unix://{self.socket}"

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from podman import PodmanClient

            client = PodmanClient(base_url=self.url, timeout=self.timeout)
            self._local.client = client
        return client

    def _ping(self) -> bool:
        try:
            return bool(self._client().ping())
        except Exception:
            self._local.client = None
            return False

    def _ensure_service(self) -> None:
        if self._ping():
            return
        if self._explicit:
            raise RuntimeUnavailable(f"no Podman API service answers at {self._explicit}",
                                     hint=f"start it, or unset {URL_ENV}")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # one starter at a time, across processes too: never two services on one socket
        with self._lock, open(self.base_dir / "service.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self._ping() or self._wait_for_recorded():
                    return
                self._start_service()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _wait_for_recorded(self) -> bool:
        """A recorded service that is alive but not answering yet (starting, or busy): wait
        for it rather than start a second one on the same socket; True when it answers."""
        try:
            pid = int((self.base_dir / "service.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ValueError):
            return False
        if str(self.socket).encode() not in cmdline:
            return False
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            if self._ping():
                return True
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # ours (recorded), and not answering: replace it
        return False

    def _start_service(self) -> None:
        if shutil.which("podman") is None:
            raise RuntimeUnavailable("podman is not installed",
                                     hint="run scripts/setup (apt-get install podman runc)")
        conf = host_settings(self.base_dir)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        logfile = open(self.base_dir / "service.log", "ab")  # noqa: SIM115
        env = podman_env(conf)
        self._service = subprocess.Popen(
            ["podman", "system", "service", f"--time={self.linger or 0}", self.url],
            stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, env=env,
            start_new_session=True)
        logfile.close()
        (self.base_dir / "service.pid").write_text(f"{self._service.pid}\n")
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._service.poll() is not None:
                break
            if self.socket.exists() and self._ping():
                log.info("podman: started API service pid %d on %s", self._service.pid,
                         self.url)
                return
            time.sleep(0.05)
        raise RuntimeUnavailable(
            f"the Podman API service did not start on {self.url}",
            hint=f"see {self.base_dir / 'service.log'}")

    def stop_service(self) -> None:
        """Stop the API service this runtime started (only that process)."""
        proc, self._service = self._service, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            (self.base_dir / "service.pid").unlink()

    def close(self) -> None:
        self._exec_pool.shutdown(wait=False, cancel_futures=True)
        if self.linger is None:
            self.stop_service()
        else:
            self._service = None  # it exits by itself once idle

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204),
              missing_ok: bool = False, **kwargs: Any) -> Any:
        """One API request; the service is (re)started when the connection fails."""
        for attempt in (0, 1):
            try:
                response = getattr(self._client().api, method)(path, **kwargs)
                break
            except Exception as e:  # requests' connection errors: the service went away
                self._local.client = None
                if attempt:
                    raise RuntimeUnavailable(f"Podman API: {e}") from e
                self._ensure_service()
        if response.status_code in ok:
            return response
        if response.status_code == 404:
            if missing_ok:
                return None
            raise NoSuchObject(f"podman: {path}: not found")
        try:
            message = response.json().get("message") or response.text
        except ValueError:
            message = response.text
        raise RuntimeFailure(f"podman {method.upper()} {path}: {message}")

    # -- images

    def version(self) -> str:
        if self._version is None:
            data = self._call("get", "/version").json()
            self._version = f"podman://{data.get('Version', '?')}"
        return self._version

    def image(self, ref: str) -> ImageInfo | None:
        response = self._call("get", f"/images/{ref}/json", missing_ok=True)
        if response is None:
            return None
        data = response.json()
        user = data.get("User") or (data.get("Config") or {}).get("User") or ""
        return ImageInfo(ref=ref, id=str(data.get("Id", "")), user=str(user))

    def pull(self, ref: str) -> ImageInfo:
        try:
            response = self._call("post", "/images/pull", params={"reference": ref,
                                                                   "quiet": True})
        except RuntimeFailure as e:
            raise ImageError(str(e)) from e
        error = ""
        for line in response.text.splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                error = item.get("error") or error
        info = None if error else self.image(ref)
        if info is None:
            raise ImageError(f"pull {ref}: {error or 'image not found'}")
        return info

    # -- sandboxes (Podman pods)

    def _sandbox_ip(self, infra_id: str) -> str:
        ip = self._ips.get(infra_id)
        if ip:
            return ip
        response = self._call("get", f"/containers/{infra_id}/json", missing_ok=True)
        if response is None:
            return ""
        networks = (response.json().get("NetworkSettings") or {}).get("Networks") or {}
        for net in networks.values():
            if net.get("IPAddress"):
                ip = str(net["IPAddress"])
                self._ips[infra_id] = ip
                return ip
        return ""

    def _sandbox_info(self, item: Mapping[str, Any]) -> SandboxInfo:
        infra = str(item.get("InfraId") or item.get("InfraContainerID") or "")
        # without infra a sandbox holds nothing that runs: it "runs" while it exists
        running = not infra or str(item.get("Status", "")).lower() in ("running", "degraded")
        ip = self._sandbox_ip(infra) if infra and running else ""
        return SandboxInfo(id=str(item.get("Id")), name=str(item.get("Name")),
                           labels=dict(item.get("Labels") or {}), ip=ip, running=running,
                           infra=bool(infra))

    def ensure_sandbox(self, spec: SandboxSpec) -> SandboxInfo:
        body: dict[str, Any] = {
            "name": spec.name,
            "labels": dict(spec.labels),
            "shared_namespaces": ["net", "ipc", "uts"] + (["pid"] if spec.share_pid else []),
            "exit_policy": "continue",
        }
        if spec.host_ipc:  # each container joins the host's IPC namespace instead
            body["shared_namespaces"].remove("ipc")
        if not spec.infra:
            body.update(no_infra=True, shared_namespaces=[])
        if spec.host_network and spec.infra:
            body["netns"] = {"nsmode": "host"}
            body["utsns"] = {"nsmode": "host"}
        if spec.hostname and spec.infra and not spec.host_network:
            body["hostname"] = spec.hostname
        if spec.hosts and spec.infra:  # the pod's containers share the infra's /etc/hosts
            body["hostadd"] = [f"{name}:{ip}" for name, ip in spec.hosts]
        if spec.ports and spec.infra and not spec.host_network:
            body["portmappings"] = [
                {"container_port": p.container_port, "host_port": p.host_port,
                 "protocol": p.protocol.lower(), "host_ip": p.host_ip} for p in spec.ports]
        if spec.infra and not spec.host_network:
            _network_fields(body, spec)  # (without infra: on the container)
        elif spec.infra:
            _network_fields(body, replace(spec, network=""))  # resolv.conf only
        created = ""
        try:
            response = self._call("post", "/pods/create", data=json.dumps(body),
                                  headers={"content-type": "application/json"})
            created = str(response.json().get("Id") or "")
        except RuntimeFailure as e:
            if "already exists" not in str(e) and "in use" not in str(e):
                raise
        if created and not spec.infra:  # nothing to start, no IP: the answer says it all
            return SandboxInfo(id=created, name=spec.name, labels=dict(spec.labels), ip="",
                               running=True, infra=False, fresh=True)
        data = self._call("get", f"/pods/{spec.name}/json").json()
        infra = str(data.get("InfraContainerID") or "")
        if str(data.get("State", "")).lower() not in ("running", "degraded") and infra:
            self._ips.pop(infra, None)
            self._call("post", f"/containers/{infra}/start", ok=(200, 204, 304))
        return SandboxInfo(id=str(data.get("Id")), name=str(data.get("Name")),
                           labels=dict(data.get("Labels") or {}),
                           ip=self._sandbox_ip(infra) if infra else "", running=True,
                           infra=bool(infra), fresh=bool(created))

    def list_sandboxes(self, labels: Mapping[str, str]) -> list[SandboxInfo]:
        filters = json.dumps({"label": [f"{k}={v}" for k, v in labels.items()]})
        items = self._call("get", "/pods/json", params={"filters": filters}).json() or []
        return [self._sandbox_info(item) for item in items]

    def remove_sandbox(self, sandbox_id: str, timeout: float = 0) -> None:
        found = self._call("get", f"/pods/{sandbox_id}/json", missing_ok=True)
        if found is None:
            return
        data = found.json()
        self._ips.pop(str(data.get("InfraContainerID") or ""), None)
        for ctr in data.get("Containers") or []:
            if str(ctr.get("Id")) != data.get("InfraContainerID"):
                self.stop_container(str(ctr.get("Id")), timeout)
        self._call("delete", f"/pods/{sandbox_id}", params={"force": True}, missing_ok=True,
                   ok=(200, 204))

    # -- networks (gitkube's pod network)

    def ensure_network(self, name: str, subnet: str, gateway: str,
                       labels: Mapping[str, str], interface: str = "") -> list[str]:
        """The bridge network ``name`` with ``subnet``, created when missing (Podman's own DNS
        off: the cluster DNS serves the pods). An existing one is kept as it is. Returns the
        network's subnets."""
        found = self._call("get", f"/networks/{name}/json", missing_ok=True)
        if found is not None:
            return [str(s.get("subnet")) for s in found.json().get("subnets") or []]
        # the bridge's name derives from the network's: Podman's own choice (podmanN) can be
        # made twice by two processes creating networks at once, and two networks sharing
        # one bridge break each other
        bridge = interface or (name if len(name) <= 15 else
                               "gk" + hashlib.sha1(name.encode()).hexdigest()[:12])
        body = {"name": name, "driver": "bridge", "dns_enabled": False,
                "network_interface": bridge, "labels": dict(labels),
                "subnets": [{"subnet": subnet, "gateway": gateway}]}
        try:
            self._call("post", "/networks/create", data=json.dumps(body),
                       headers={"content-type": "application/json"})
        except RuntimeFailure as e:
            if "already exists" not in str(e):
                raise
        log.info("podman: created network %s (%s)", name, subnet)
        return [subnet]

    def remove_network(self, name: str) -> None:
        """Remove the network ``name`` (missing: no error)."""
        self._call("delete", f"/networks/{name}", params={"force": True}, ok=(200, 204),
                   missing_ok=True)

    # -- containers

    def create_container(self, sandbox_id: str, spec: ContainerSpec) -> str:
        body: dict[str, Any] = {
            "name": spec.name,
            "pod": sandbox_id,
            "image": spec.image,
            "labels": dict(spec.labels),
            "env": dict(spec.env),
            "log_configuration": {"driver": "k8s-file"},
        }
        if spec.entrypoint is not None:
            body["entrypoint"] = list(spec.entrypoint)
            body["command"] = list(spec.command or [])
        elif spec.command is not None:
            body["command"] = list(spec.command)
        if spec.working_dir:
            body["work_dir"] = spec.working_dir
        if spec.host_pid:
            body["pidns"] = {"nsmode": "host"}
        if spec.host_ipc:
            body["ipcns"] = {"nsmode": "host"}
        if spec.host_network:  # the host's namespaces: its name, addresses and ports
            body["netns"] = {"nsmode": "host"}
            body["utsns"] = {"nsmode": "host"}
            _network_fields(body, replace(spec, network=""))  # resolv.conf only
            spec = replace(spec, hostname="", ports=(), network="")
        if spec.hostname:
            body["hostname"] = spec.hostname
        if spec.hosts:
            body["hostadd"] = [f"{name}:{ip}" for name, ip in spec.hosts]
        if spec.ports:
            body["portmappings"] = [
                {"container_port": p.container_port, "host_port": p.host_port,
                 "protocol": p.protocol.lower(), "host_ip": p.host_ip} for p in spec.ports]
        if spec.hostname or spec.ports or spec.network:
            body["netns"] = {"nsmode": "bridge"}
            _network_fields(body, spec)
        _security_fields(body, spec.security)
        if spec.network and spec.ip:  # Podman allocates it at start: taken -> start fails
            body["Networks"] = {spec.network: {"static_ips": [spec.ip]}}
        if spec.mounts:
            body["mounts"] = [
                {"destination": m.target, "source": m.source, "type": "bind",
                 "options": ["rbind", "ro" if m.read_only else "rw"]} for m in spec.mounts]
        limits: dict[str, Any] = {}
        if spec.memory_limit:
            limits["memory"] = {"limit": spec.memory_limit}
        if spec.cpu_limit_milli:
            limits["cpu"] = {"quota": max(1000, spec.cpu_limit_milli * _CPU_PERIOD // 1000),
                             "period": _CPU_PERIOD}
        if limits and self.limits_supported:
            body["resource_limits"] = limits
        headers = {"content-type": "application/json"}
        try:
            response = self._call("post", "/containers/create", data=json.dumps(body),
                                  headers=headers)
        except RuntimeFailure as e:
            if "resource_limits" not in body or "cgroup" not in str(e).lower():
                raise
            self.limits_supported = False
            log.warning("podman: resource limits are not supported here (%s); "
                        "creating containers without them", e)
            del body["resource_limits"]
            response = self._call("post", "/containers/create", data=json.dumps(body),
                                  headers=headers)
        return str(response.json()["Id"])

    def start_container(self, container_id: str) -> None:
        self._call("post", f"/containers/{container_id}/start", ok=(200, 204, 304))

    def stop_container(self, container_id: str, timeout: float) -> None:
        self._call("post", f"/containers/{container_id}/stop",
                   params={"timeout": max(0, int(timeout + 0.999))},
                   ok=(200, 204, 304), missing_ok=True, timeout=timeout + self.timeout)

    def remove_container(self, container_id: str) -> None:
        self._call("delete", f"/containers/{container_id}",
                   params={"force": True, "v": True, "timeout": 0}, ok=(200, 204),
                   missing_ok=True)

    def _container_info(self, item: Mapping[str, Any]) -> ContainerInfo:
        state = str(item.get("State", "unknown")).lower()
        mapped: ContainerStateName = (
            "running" if state in ("running", "paused", "stopping")
            else "exited" if state in ("exited", "stopped", "dead")
            else "created" if state in ("created", "configured", "initialized")
            else "unknown")
        exit_code = int(item.get("ExitCode") or 0) if mapped == "exited" else None
        reason = ""
        if mapped == "exited":
            reason = "Completed" if exit_code == 0 else "Error"
        names = item.get("Names") or [item.get("Name", "")]
        return ContainerInfo(
            id=str(item.get("Id")), name=str(names[0] if isinstance(names, list) else names),
            sandbox_id=str(item.get("Pod") or ""), labels=dict(item.get("Labels") or {}),
            state=mapped, exit_code=exit_code, started_at=_epoch(item.get("StartedAt")),
            finished_at=_epoch(item.get("ExitedAt")) if mapped == "exited" else None,
            image=str(item.get("Image", "")), image_id=str(item.get("ImageID", "")),
            reason=reason)

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        response = self._call("get", f"/containers/{container_id}/json", missing_ok=True)
        if response is None:
            return None
        data = response.json()
        state = data.get("State") or {}
        status = str(state.get("Status", "unknown"))
        info = self._container_info({
            "Id": data.get("Id"), "Names": [data.get("Name", "")], "Pod": data.get("Pod"),
            "Labels": (data.get("Config") or {}).get("Labels") or {}, "State": status,
            "ExitCode": state.get("ExitCode"), "StartedAt": _epoch(state.get("StartedAt")),
            "ExitedAt": _epoch(state.get("FinishedAt")), "Image": data.get("ImageName", ""),
            "ImageID": data.get("Image", "")})
        ip = ""
        for net in ((data.get("NetworkSettings") or {}).get("Networks") or {}).values():
            ip = ip or str(net.get("IPAddress") or "")
        reason = "OOMKilled" if state.get("OOMKilled") else info.reason
        return replace(info, ip=ip, reason=reason)

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        filters = json.dumps({"label": [f"{k}={v}" for k, v in labels.items()]})
        items = self._call("get", "/containers/json",
                           params={"all": True, "filters": filters}).json() or []
        return [self._container_info(i) for i in items if not i.get("IsInfra")]

    def logs(self, container_id: str, *, follow: bool = False,
             tail: int | None = None) -> Iterator[str]:
        params: dict[str, Any] = {"stdout": True, "stderr": True, "follow": follow}
        if tail is not None:
            params["tail"] = str(tail)
        response = self._call("get", f"/containers/{container_id}/logs", params=params,
                              stream=True, timeout=None if follow else self.timeout)
        buffered = b""
        raw = response.raw
        while True:
            header = raw.read(8)
            if len(header) < 8:
                break
            size = int.from_bytes(header[4:8], "big")
            buffered += raw.read(size) if size else b""
            while b"\n" in buffered:
                line, _, buffered = buffered.partition(b"\n")
                yield line.decode(errors="replace") + "\n"
        if buffered:
            yield buffered.decode(errors="replace")

    def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        def run() -> ExecResult:
            created = self._call("post", f"/containers/{container_id}/exec", data=json.dumps(
                {"AttachStdout": True, "AttachStderr": True, "Cmd": command}),
                headers={"content-type": "application/json"})
            exec_id = created.json()["Id"]
            started = self._call("post", f"/exec/{exec_id}/start",
                                 data=json.dumps({"Detach": False, "Tty": False}),
                                 headers={"content-type": "application/json"})
            info = self._call("get", f"/exec/{exec_id}/json").json()
            code = info.get("ExitCode")
            return ExecResult(exit_code=int(code) if code is not None else -1,
                              output=_frames(started.content).decode(errors="replace"))

        future = self._exec_pool.submit(run)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            return ExecResult(exit_code=-1, output=f"command timed out after {timeout}s")
