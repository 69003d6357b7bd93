"""`gitkube exec`, `attach`, `cp` and `port-forward`, with kubectl's flags.

A pod's processes and ports are reached through the daemon's pods/exec, pods/attach and
pods/portforward when a daemon serves the store (gitkube/api/stream_client.py), else
through the local container runtime directly (the same ``RuntimeStreams`` the daemon
uses). ``run_session`` joins a process's streams to this terminal: raw mode and window
size (SIGWINCH) with ``-t``, stdin copied with ``-i``; the command's exit code becomes
gitkube's.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shlex
import signal
import socket
import sys
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import typer

from gitkube.api.client import Client
from gitkube.cli.app import STORE_HELP, app
from gitkube.errors import GitkubeError, UsageError
from gitkube.runtime.base import ProcessStream, StreamOptions

Obj = dict[str, Any]


class Duplex(Protocol):
    """One forwarded connection's far side."""

    def recv(self, size: int, /) -> bytes: ...

    def sendall(self, data: bytes, /) -> None: ...

    def close(self) -> None: ...


class _RemotePort:
    """``RemotePort`` with a socket's ``recv(size)``."""

    def __init__(self, port: Any):
        self._port = port

    def recv(self, size: int, /) -> bytes:
        data: bytes = self._port.recv()
        if not data and self._port.error:
            typer.echo(f"error: {self._port.error}", err=True)
        return data

    def sendall(self, data: bytes, /) -> None:
        self._port.sendall(data)

    def shutdown_write(self) -> None:
        self._port.shutdown_write()

    def close(self) -> None:
        self._port.close()


class PodAccess:
    """How this command reaches pods (module docstring)."""

    def __init__(self, client: Client):
        from gitkube.daemon.client import through_daemon

        server = getattr(client, "server", None)
        self.socket: str | None = None
        self._local: Any = None
        if through_daemon(client) and isinstance(server, str) and server.startswith(
                "unix://"):
            self.socket = server[len("unix://"):]
        else:
            from gitkube.agents.compose import open_runtime
            from gitkube.api.server.nodestreams import RuntimeStreams
            from gitkube.cli.app import settings

            current = settings()
            self._local = RuntimeStreams(lambda: open_runtime(current,
                                                              linger=current.podman_linger))

    @staticmethod
    def _path(pod: Obj, sub: str, query: list[tuple[str, str]]) -> str:
        meta = pod["metadata"]
        return (f"/api/v1/namespaces/{quote(str(meta.get('namespace') or 'default'))}/pods/"
                f"{quote(str(meta['name']))}/{sub}?{urlencode(query)}")

    def process(self, pod: Obj, container: str, command: list[str] | None,
                options: StreamOptions) -> ProcessStream:
        """``command`` in ``container`` (exec), or its main process (None: attach)."""
        if self._local is not None:
            if command is None:
                stream: ProcessStream = self._local.attach(pod, container, options)
                return stream
            stream = self._local.exec(pod, container, command, options)
            return stream
        from gitkube.api.stream_client import RemoteProcess

        query = [("container", container)] + [("command", c) for c in command or []]
        query += [(k, "true") for k, on in (("stdin", options.stdin), ("stdout", True),
                                            ("stderr", not options.tty), ("tty", options.tty))
                  if on]
        assert self.socket is not None
        return RemoteProcess(self.socket, self._path(
            pod, "attach" if command is None else "exec", query))

    def port(self, pod: Obj) -> Callable[[int], Duplex]:
        """Opens connections to the pod's ports."""
        if self._local is not None:
            connector = self._local.connector(pod)
            return lambda port: connector(port)
        from gitkube.api.server.tunnelport import TunnelPort

        socket_path = self.socket
        assert socket_path is not None
        return lambda port: _RemotePort(TunnelPort(
            socket_path, self._path(pod, "portforward", []), port))

    def close(self) -> None:
        if self._local is not None:
            self._local.close()


# --- a session on this terminal -------------------------------------------------------------


def _nothing() -> None:
    return None


def run_session(stream: ProcessStream, *, stdin: bool, tty: bool) -> int:
    """Join ``stream`` to this process's stdin/stdout/stderr until it ends; its exit code
    (0 when unknown)."""
    restore: Callable[[], None] = _nothing
    fd = sys.stdin.fileno() if stdin else -1
    if tty and stdin and os.isatty(fd):
        import termios
        import tty as ttymod

        saved = termios.tcgetattr(fd)
        ttymod.setraw(fd)
        restore = lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)  # noqa: E731

        def resize(*_: object) -> None:
            with contextlib.suppress(OSError):
                size = os.get_terminal_size(fd)
                stream.resize(size.columns, size.lines)

        resize()
        signal.signal(signal.SIGWINCH, resize)
    if stdin:
        def pump() -> None:
            with contextlib.suppress(OSError, GitkubeError):
                while data := os.read(fd, 65536):
                    stream.write(data)
                stream.close_stdin()

        threading.Thread(target=pump, name="stdin", daemon=True).start()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    try:
        while (item := stream.read()) is not None:
            target = out if item[0] == 1 else err
            target.write(item[1])
            target.flush()
        return stream.exit_code() or 0
    finally:
        restore()
        stream.close()


def _pod(client: Client, target: str, namespace: str) -> Obj:
    from gitkube.cli.logs import find_pod

    return find_pod(client, target, namespace)


def _container(pod: Obj, container: str | None) -> str:
    names = [str(c["name"]) for c in (pod.get("spec") or {}).get("containers") or []]
    every = names + [str(c["name"]) for c in (pod.get("spec") or {}).get(
        "initContainers") or []]
    if container is None:
        if len(names) > 1:
            typer.echo(f'Defaulted container "{names[0]}" out of: {", ".join(every)}', err=True)
        return names[0] if names else ""
    if container not in every:
        raise GitkubeError(f"container {container} is not valid for pod "
                           f"{pod['metadata']['name']}", hint=f"one of: {', '.join(every)}")
    return container


def _access(store: str | None) -> tuple[Client, PodAccess]:
    from gitkube.cli.connect import client_for

    client = client_for(store)
    return client, PodAccess(client)


NS_HELP = "Namespace."


@app.command(context_settings={"allow_interspersed_args": False})
def exec(
    pod: str = typer.Argument(..., help="POD, or deploy/NAME, sts/NAME, ..."),
    command: list[str] = typer.Argument(..., help="The command and its arguments, after --."),
    container: str | None = typer.Option(None, "--container", "-c", help="Container name."),
    stdin: bool = typer.Option(False, "--stdin", "-i", help="Pass stdin to the container."),
    tty: bool = typer.Option(False, "--tty", "-t", help="Stdin is a TTY."),
    namespace: str = typer.Option("default", "--namespace", "-n", help=NS_HELP),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Run a command in a container (kubectl exec)."""
    client, access = _access(store)
    try:
        the_pod = _pod(client, pod, namespace)
        name = _container(the_pod, container)
        if tty and not stdin:
            typer.echo("Unable to use a TTY - input is not a terminal or the right kind of "
                       "file", err=True)
            tty = False
        argv = list(command)[1:] if command and command[0] == "--" else list(command)
        if not argv:
            raise UsageError("no command given", hint="gitkube exec POD -- COMMAND [ARGS...]")
        stream = access.process(the_pod, name, argv, StreamOptions(stdin=stdin, tty=tty))
        code = run_session(stream, stdin=stdin, tty=tty)
    finally:
        access.close()
    if code:
        raise typer.Exit(code)


@app.command()
def attach(
    pod: str = typer.Argument(..., help="POD, or deploy/NAME, ..."),
    container: str | None = typer.Option(None, "--container", "-c", help="Container name."),
    stdin: bool = typer.Option(False, "--stdin", "-i", help="Pass stdin to the container."),
    tty: bool = typer.Option(False, "--tty", "-t", help="Stdin is a TTY."),
    namespace: str = typer.Option("default", "--namespace", "-n", help=NS_HELP),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Attach to a container's main process (kubectl attach)."""
    client, access = _access(store)
    try:
        the_pod = _pod(client, pod, namespace)
        stream = access.process(the_pod, _container(the_pod, container), None,
                                StreamOptions(stdin=stdin, tty=tty))
        code = run_session(stream, stdin=stdin, tty=tty)
    finally:
        access.close()
    if code:
        raise typer.Exit(code)


# --- cp -------------------------------------------------------------------------------------


def _split_remote(spec: str) -> tuple[str, str, str] | None:
    """``[NS/]POD:PATH`` -> (namespace or "", pod, path); None for a local path."""
    head, sep, path = spec.partition(":")
    if not sep or "/" in head.split("/", 1)[-1] or not head or spec.startswith(("/", ".")):
        return None
    ns, _, pod = head.rpartition("/")
    return ns, pod, path


def _collect(stream: ProcessStream, sink: io.BytesIO) -> str:
    """Read a process's stdout into ``sink``; its stderr."""
    err = bytearray()
    while (item := stream.read()) is not None:
        if item[0] == 1:
            sink.write(item[1])
        else:
            err += item[1]
    code = stream.exit_code()
    stream.close()
    if code:
        raise GitkubeError(f"tar in the container failed (exit code {code}): "
                           f"{err.decode(errors='replace').strip()}",
                           hint="the container needs tar (kubectl cp uses it too)")
    return err.decode(errors="replace")


@app.command()
def cp(
    source: str = typer.Argument(..., help="LOCAL or [NS/]POD:PATH"),
    dest: str = typer.Argument(..., help="LOCAL or [NS/]POD:PATH"),
    container: str | None = typer.Option(None, "--container", "-c", help="Container name."),
    namespace: str = typer.Option("default", "--namespace", "-n", help=NS_HELP),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Copy files and directories to and from containers (kubectl cp; tar in the
    container)."""
    src_remote, dst_remote = _split_remote(source), _split_remote(dest)
    if (src_remote is None) == (dst_remote is None):
        raise UsageError("one of SOURCE and DEST must be a pod path (POD:PATH), the other "
                         "local", hint="gitkube cp ./dir web:/tmp/dir")
    client, access = _access(store)
    try:
        remote = src_remote or dst_remote
        assert remote is not None
        ns, pod_name, path = remote
        the_pod = _pod(client, pod_name, ns or namespace)
        name = _container(the_pod, container)
        if dst_remote is not None:
            _copy_in(access, the_pod, name, Path(source), path)
        else:
            _copy_out(access, the_pod, name, path, Path(dest))
    finally:
        access.close()


def _copy_in(access: PodAccess, pod: Obj, container: str, local: Path, path: str) -> None:
    if not local.exists():
        raise GitkubeError(f"{local}: no such file or directory")
    path = path.rstrip("/") or "/"
    parent, base = posixpath.split(path)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(str(local), arcname=base or local.name)
    stream = access.process(pod, container, ["sh", "-c", f"mkdir -p {shlex.quote(parent or '/')}"
                                             f" && tar -xmf - -C {shlex.quote(parent or '/')}"],
                            StreamOptions(stdin=True))
    data = buffer.getvalue()

    def send() -> None:
        stream.write(data)
        stream.close_stdin()

    writer = threading.Thread(target=send)
    writer.start()
    _collect(stream, io.BytesIO())
    writer.join()


def _copy_out(access: PodAccess, pod: Obj, container: str, path: str, local: Path) -> None:
    parent, base = posixpath.split(path.rstrip("/") or "/")
    stream = access.process(pod, container, ["tar", "-cf", "-", "-C", parent or "/", base],
                            StreamOptions())
    buffer = io.BytesIO()
    _collect(stream, buffer)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer, mode="r") as tar:
        members = []
        for member in tar.getmembers():
            rel = member.name.split("/", 1)[1] if "/" in member.name else ""
            member.name = str(Path(local.name) / rel) if rel else local.name
            members.append(member)
        local.parent.mkdir(parents=True, exist_ok=True)
        tar.extractall(str(local.parent), members=members, filter="data")


# --- port-forward ---------------------------------------------------------------------------


def _service_pod(client: Client, name: str, namespace: str, port: int) -> tuple[Obj, int]:
    """A running pod behind Service ``name`` and the container port its ``port`` targets."""
    from gitkube.errors import NotFound

    try:
        svc = client.get("v1", "Service", namespace, name)
    except NotFound as e:
        raise GitkubeError(f'services "{name}" not found in namespace "{namespace}"') from e
    spec = svc.get("spec") or {}
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items())
    pods = [p for p in client.list("v1", "Pod", namespace, label_selector=selector).items
            if (p.get("status") or {}).get("phase") == "Running"] if selector else []
    if not pods:
        raise GitkubeError(f"service {namespace}/{name} has no running pod")
    pod = sorted(pods, key=lambda p: p["metadata"]["name"])[0]
    for sp in spec.get("ports") or []:
        if sp.get("port") == port:
            target = sp.get("targetPort", port)
            if isinstance(target, int):
                return pod, target
            for c in (pod.get("spec") or {}).get("containers") or []:
                for cp_ in c.get("ports") or []:
                    if cp_.get("name") == target:
                        return pod, int(cp_["containerPort"])
            raise GitkubeError(f"service {name}: port {port} targets {target!r}, which no "
                               "container port of the pod is named")
    raise GitkubeError(f"service {name} has no port {port}")


def _half_close(end: Any) -> None:
    """End the writing side of ``end`` (a socket, or a forwarded connection that can)."""
    with contextlib.suppress(OSError, GitkubeError):
        if isinstance(end, socket.socket):
            end.shutdown(socket.SHUT_WR)
        elif hasattr(end, "shutdown_write"):
            end.shutdown_write()


def _copy(a: Duplex, b: Duplex) -> bool:
    """Copy ``a`` to ``b`` until ``a`` ends; whether it ended cleanly (EOF)."""
    with contextlib.suppress(OSError, GitkubeError):
        while data := a.recv(262144):
            b.sendall(data)
        return True
    return False


def _serve_connection(conn: socket.socket, open_port: Callable[[], Duplex],
                      remote: int) -> None:
    try:
        far = open_port()
    except (OSError, GitkubeError) as e:
        typer.echo(f"error: forwarding to port {remote}: {e}", err=True)
        conn.close()
        return

    def upstream() -> None:
        # the client closed its writing: the pod reads EOF and its reply still comes back
        if _copy(conn, far):
            _half_close(far)
        else:
            far.close()

    threading.Thread(target=upstream, daemon=True).start()
    _copy(far, conn)  # as kubectl: the pod's side ending ends the connection
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    far.close()
    conn.close()


@app.command("port-forward")
def port_forward(
    target: str = typer.Argument(..., help="POD, pod/NAME, svc/NAME, deploy/NAME, ..."),
    ports: list[str] = typer.Argument(..., help="[LOCAL]:REMOTE, or PORT (the same both)."),
    address: str = typer.Option("127.0.0.1", "--address", help="Local address to listen on."),
    namespace: str = typer.Option("default", "--namespace", "-n", help=NS_HELP),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Forward local ports to a pod's ports, inside its network namespace (kubectl
    port-forward)."""
    client, access = _access(store)
    listeners: list[socket.socket] = []
    try:
        for spec in ports:
            local_text, _, remote_text = spec.rpartition(":") if ":" in spec else (spec, "",
                                                                                   spec)
            try:
                local, remote = int(local_text or 0), int(remote_text)
            except ValueError as e:
                raise UsageError(f"invalid port {spec!r}", hint="8080:80, :80 or 80") from e
            kind, _, name = target.partition("/")
            if name and kind in ("svc", "service", "services"):
                pod, remote = _service_pod(client, name, namespace, remote)
            else:
                pod = _pod(client, target, namespace)
            opener = access.port(pod)
            listener = socket.create_server((address, local))
            listeners.append(listener)
            bound = listener.getsockname()[1]
            typer.echo(f"Forwarding from {address}:{bound} -> {remote}")
            threading.Thread(target=_accept, args=(listener, opener, remote),
                             daemon=True).start()
        sys.stdout.flush()
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for listener in listeners:
            listener.close()
        access.close()


def _accept(listener: socket.socket, opener: Callable[[int], Duplex], remote: int) -> None:
    with contextlib.suppress(OSError):
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=_serve_connection,
                             args=(conn, lambda: opener(remote), remote), daemon=True).start()


__all__ = ["PodAccess", "run_session"]
