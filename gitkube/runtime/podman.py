"""PodmanRuntime: the ContainerRuntime over Podman's REST API. The only module that talks to
Podman's API (podman_service.py starts and ends the service it talks to).

It speaks to a Podman API service through the ``podman`` package. Which service:

1. ``url`` given (the callers pass ``$GITKUBE_PODMAN_URL``): that one, as is; it must answer.
2. otherwise gitkube's own in ``base_dir`` (``podman_service.PodmanService``): reused when it
   answers, else started, with settings that work on this host. ``linger=N`` (CLI commands)
   leaves it running N seconds after its last user, so the next command finds it warm;
   ``linger=None`` (``gitkube serve``, tests) stops the service this runtime started on
   ``close()``. Containers keep running without the service (conmon supervises them). A
   service that dies is started again on the next call, never after ``close()``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket as pysocket  # the class has a `socket` property
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from pathlib import Path
from typing import Any

from gitkube.model.times import rfc3339_nano
from gitkube.runtime.base import (
    Capabilities,
    ContainerInfo,
    ContainerSpec,
    ExecResult,
    ImageError,
    ImageInfo,
    NoSuchObject,
    ProcessStream,
    RuntimeFailure,
    RuntimeUnavailable,
    SandboxInfo,
    SandboxSpec,
    StreamOptions,
)
from gitkube.runtime.network import bridge_name
from gitkube.runtime.podman_service import (
    PODMAN_DEFAULT_RLIMIT,
    PodmanService,
    host_settings,
    podman_env,
    stop_recorded_service,
)
from gitkube.runtime.podman_stream import PodmanProcess, connect_port, hijack
from gitkube.runtime.podman_wire import (
    container_body,
    container_info,
    demux,
    epoch,
    is_missing,
    log_frames,
    sandbox_body,
    stamped_lines,
)

log = logging.getLogger("gitkube.runtime.podman")

URL_ENV = "GITKUBE_PODMAN_URL"
LINGER_ENV = "GITKUBE_PODMAN_LINGER"
DEFAULT_LINGER = 120


# --- the runtime ---------------------------------------------------------------------------


def _response_socket(response: Any) -> pysocket.socket | None:
    """The socket under a streamed ``requests`` response (urllib3's connection, or the
    http.client response's file), or None when it cannot be found."""
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if isinstance(sock, pysocket.socket):
        return sock
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, pysocket.socket) else None


class LogLines:
    """A container's log, line by line, from a streamed Podman response; ``close()`` from
    any thread ends a read that waits for the container to write (``logs -f`` whose client
    went away), by shutting the connection down."""

    def __init__(self, response: Any, *, stamped: bool, since: float | None,
                 timestamps: bool):
        self._response = response
        self._closed = False
        frames = log_frames(self._read)
        self._lines = stamped_lines(frames, since=since, timestamps=timestamps) if stamped \
            else self._plain(frames)

    def _read(self, size: int) -> bytes:
        if self._closed:
            return b""
        try:
            return bytes(self._response.raw.read(size))
        except Exception:  # the connection was shut down under the read: the end
            if self._closed:
                return b""
            raise

    @staticmethod
    def _plain(frames: Iterator[bytes]) -> Iterator[str]:
        buffered = b""
        for frame in frames:
            buffered += frame
            while b"\n" in buffered:
                line, _, buffered = buffered.partition(b"\n")
                yield line.decode(errors="replace") + "\n"
        if buffered:
            yield buffered.decode(errors="replace")

    def __iter__(self) -> LogLines:
        return self

    def __next__(self) -> str:
        return next(self._lines)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sock = _response_socket(self._response)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(pysocket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._response.close()


class PodmanRuntime:
    """The ContainerRuntime on Podman (see the module docstring)."""

    name = "podman"

    def __init__(self, url: str | None = None, *, base_dir: Path | None = None,
                 timeout: float = 60.0, linger: int | None = None):
        """Talk to the service at ``url``, or to gitkube's own in ``base_dir`` (one of the
        two is needed). ``linger``: seconds gitkube's service outlives its last user (a CLI
        command's next command reuses it); None: ``close()`` stops the service this runtime
        started. ``timeout``: seconds one API request may take."""
        if url is None and base_dir is None:
            raise ValueError("PodmanRuntime needs the url of a Podman API service or the "
                             "base_dir of gitkube's own")
        self.linger = linger
        self._explicit = url
        self.base_dir = base_dir
        self.timeout = timeout
        self._local = threading.local()
        self._ips: dict[str, str] = {}
        self.limits_supported = True
        self._version: str | None = None
        self._closed = False
        self._exec_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="podman-exec")
        self.service = PodmanService(base_dir, linger=linger) \
            if url is None and base_dir is not None else None
        self._ensure_service()

    # -- connection and service

    @property
    def url(self) -> str:
        if self.service is not None:
            return self.service.url
        return str(self._explicit)

    @property
    def socket(self) -> Path | None:
        """gitkube's own service's socket (None with an explicit ``url``)."""
        return self.service.socket if self.service is not None else None

    def capabilities(self) -> Capabilities:
        return Capabilities(network_probes=True, streaming=True)

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
        if self._closed:
            raise RuntimeUnavailable("the Podman runtime is closed")
        if self.service is not None:
            self.service.ensure()
        elif not self._ping():
            raise RuntimeUnavailable(f"no Podman API service answers at {self._explicit}",
                                     hint=f"start it, or unset {URL_ENV}")

    def stop_service(self) -> None:
        """Stop the API service this runtime started (only that process)."""
        if self.service is not None:
            self.service.stop()

    def close(self) -> None:
        """Release connections and this runtime's hold on the service (module docstring);
        nothing is started again afterwards. Idempotent."""
        self._closed = True
        self._exec_pool.shutdown(wait=False, cancel_futures=True)
        if self.service is not None:
            self.service.close()

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204),
              missing_ok: bool = False, **kwargs: Any) -> Any:
        """One API request; the service is (re)started when the connection fails."""
        for attempt in (0, 1):
            try:
                response = getattr(self._client().api, method)(path, **kwargs)
                break
            except Exception as e:  # requests' connection errors: the service went away
                self._local.client = None
                if attempt or self._closed:
                    raise RuntimeUnavailable(f"Podman API: {e}") from e
                self._ensure_service()
        if response.status_code in ok:
            return response
        try:
            message = response.json().get("message") or response.text
        except ValueError:
            message = response.text
        # Podman answers 500 "no such pod/container" when the object went away between
        # a look and the request (removed concurrently): that is "not found" too
        if is_missing(response.status_code, str(message)):
            if missing_ok:
                return None
            raise NoSuchObject(f"podman: {path}: not found")
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
        body = sandbox_body(spec)
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
        infra = str(data.get("InfraContainerID") or "")
        self._ips.pop(infra, None)
        ids = [str(c.get("Id")) for c in data.get("Containers") or [] if str(c.get("Id")) != infra]
        # every container at once, as upstream kills a pod's containers in parallel: the
        # grace period is the pod's, not each container's in turn (Podman's own pod stop
        # cannot kill at once: it reads a timeout of 0 as the containers' default, 10 s)
        if len(ids) > 1:
            with ThreadPoolExecutor(max_workers=len(ids), thread_name_prefix="podman-stop") as pool:
                list(pool.map(lambda cid: self.stop_container(cid, timeout), ids))
        elif ids:
            self.stop_container(ids[0], timeout)
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
        bridge = interface or bridge_name(name)
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
        body = container_body(sandbox_id, spec, limits=self.limits_supported)
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

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        response = self._call("get", f"/containers/{container_id}/json", missing_ok=True)
        if response is None:
            return None
        data = response.json()
        state = data.get("State") or {}
        status = str(state.get("Status", "unknown"))
        info = container_info({
            "Id": data.get("Id"), "Names": [data.get("Name", "")], "Pod": data.get("Pod"),
            "Labels": (data.get("Config") or {}).get("Labels") or {}, "State": status,
            "ExitCode": state.get("ExitCode"), "StartedAt": epoch(state.get("StartedAt")),
            "ExitedAt": epoch(state.get("FinishedAt")), "Image": data.get("ImageName", ""),
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
        return [container_info(i) for i in items if not i.get("IsInfra")]

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             since: float | None = None, timestamps: bool = False) -> Iterator[str]:
        params: dict[str, Any] = {"stdout": True, "stderr": True, "follow": follow}
        if tail is not None:
            params["tail"] = str(tail)
        stamped = timestamps or since is not None
        if stamped:  # Podman filters by time too; gitkube checks each line's stamp again
            params["timestamps"] = True
        if since is not None:
            params["since"] = rfc3339_nano(int(since * 1_000_000_000))
        response = self._call("get", f"/containers/{container_id}/logs", params=params,
                              stream=True, timeout=None if follow else self.timeout)
        return LogLines(response, stamped=stamped, since=since, timestamps=timestamps)

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
                              output=demux(started.content).decode(errors="replace"))

        future = self._exec_pool.submit(run)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            return ExecResult(exit_code=-1, output=f"command timed out after {timeout}s")


    # -- streams (kubectl exec, attach, cp, port-forward)

    def _running_container(self, container_id: str) -> dict[str, Any]:
        response = self._call("get", f"/containers/{container_id}/json", missing_ok=True)
        if response is None:
            raise NoSuchObject(f"container {container_id} not found")
        data: dict[str, Any] = response.json()
        if str((data.get("State") or {}).get("Status", "")).lower() != "running":
            raise RuntimeFailure(f"container {data.get('Name') or container_id} is not running")
        return data

    def exec_stream(self, container_id: str, command: list[str],
                    options: StreamOptions) -> ProcessStream:
        self._ensure_service()
        # no detach keys: a byte sequence in stdin (ctrl-p ctrl-q in a tar stream) must not
        # end the session
        created = self._call("post", f"/containers/{container_id}/exec", data=json.dumps({
            "AttachStdin": options.stdin, "AttachStdout": options.stdout,
            "AttachStderr": options.stderr and not options.tty, "Tty": options.tty,
            "Cmd": command, "DetachKeys": ""}), headers={"content-type": "application/json"})
        exec_id = str(created.json()["Id"])

        def start(size: tuple[int, int] | None) -> tuple[pysocket.socket, bytes]:
            body: dict[str, Any] = {"Detach": False, "Tty": options.tty}
            if size is not None:
                body.update(w=size[0], h=size[1])
            return hijack(self.url, f"/exec/{exec_id}/start", body, timeout=self.timeout)

        def ended() -> tuple[bool, int | None]:
            info = self._call("get", f"/exec/{exec_id}/json", missing_ok=True)
            if info is None:
                return True, None
            data = info.json()
            if data.get("Running"):
                return False, None
            code = data.get("ExitCode")
            return True, int(code) if code is not None else None

        def resize(width: int, height: int) -> None:
            self._call("post", f"/exec/{exec_id}/resize", params={"h": height, "w": width},
                       ok=(200, 201, 204), missing_ok=True)

        if options.tty:  # started with the client's first terminal size
            return PodmanProcess(None, b"", tty=True, ended=ended, resizer=resize,
                                 starter=start)
        sock, initial = start(None)
        return PodmanProcess(sock, initial, tty=False, ended=ended, resizer=resize)

    def attach(self, container_id: str, options: StreamOptions) -> ProcessStream:
        self._ensure_service()
        data = self._running_container(container_id)
        tty = bool((data.get("Config") or {}).get("Tty"))
        query = {"stream": "true", "logs": "false", "detachKeys": "",
                 "stdin": str(options.stdin).lower(), "stdout": str(options.stdout).lower(),
                 "stderr": str(options.stderr).lower()}
        sock, initial = hijack(self.url, f"/containers/{container_id}/attach", None,
                               timeout=self.timeout, query=query)

        def ended() -> tuple[bool, int | None]:
            info = self.inspect_container(container_id)
            if info is None:
                return True, None
            if info.state == "running":
                return False, None
            return True, info.exit_code

        def resize(width: int, height: int) -> None:
            self._call("post", f"/containers/{container_id}/resize",
                       params={"h": height, "w": width}, ok=(200, 201, 204), missing_ok=True)

        return PodmanProcess(sock, initial, tty=tty, ended=ended, resizer=resize)

    def connect_port(self, container_id: str, port: int, timeout: float) -> pysocket.socket:
        return connect_port(self._running_container(container_id), port, timeout)


__all__ = [
    "DEFAULT_LINGER",
    "LINGER_ENV",
    "PODMAN_DEFAULT_RLIMIT",
    "URL_ENV",
    "PodmanRuntime",
    "host_settings",
    "podman_env",
    "stop_recorded_service",
]
