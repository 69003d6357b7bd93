"""The streams behind kubectl exec, attach, cp and port-forward, on both runtimes: Podman runs
them; the simulated runtime says it cannot (a simulated container runs no process)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid

import pytest

from gitkube.runtime.base import (
    ContainerRuntime,
    ContainerSpec,
    ProcessStream,
    RuntimeFailure,
    SandboxSpec,
    StreamOptions,
)
from tests.runtime.runtime_env import RUN_LABEL
from tests.support.containers import EXAMPLE_IMAGE


def _name() -> str:
    return f"gk-st-{uuid.uuid4().hex[:8]}"


def _drain(stream: ProcessStream) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    while (item := stream.read()) is not None:
        (out if item[0] == 1 else err).extend(item[1])
    return bytes(out), bytes(err)


def _running(runtime: ContainerRuntime, name: str, *, infra: bool = False,
             **spec: object) -> tuple[str, str]:
    sb = runtime.ensure_sandbox(SandboxSpec(name=name, labels=RUN_LABEL, infra=infra))
    fields: dict[str, object] = {"entrypoint": ("sleep", "300"), **spec}
    cid = runtime.create_container(sb.id, ContainerSpec(
        name=f"{name}-c", image=EXAMPLE_IMAGE, labels=RUN_LABEL, **fields))  # type: ignore[arg-type]
    runtime.start_container(cid)
    deadline = time.monotonic() + 20
    while (info := runtime.inspect_container(cid)) is None or info.state != "running":
        assert time.monotonic() < deadline, "the container did not start"
        time.sleep(0.05)
    return sb.id, cid


def test_the_simulated_runtime_refuses_streams_saying_why(runtime: ContainerRuntime) -> None:
    if runtime.capabilities().streaming:
        pytest.skip("this runtime runs processes")
    name = _name()
    sb_id, cid = _running(runtime, name)
    try:
        for call in (lambda: runtime.exec_stream(cid, ["true"], StreamOptions()),
                     lambda: runtime.attach(cid, StreamOptions()),
                     lambda: runtime.connect_port(cid, 80, 1.0)):
            with pytest.raises(RuntimeFailure, match="runs no process"):
                call()
    finally:
        runtime.remove_sandbox(sb_id, timeout=0)


def test_exec_streams_stdin_stdout_stderr_and_the_exit_code(runtime: ContainerRuntime) -> None:
    if not runtime.capabilities().streaming:
        pytest.skip("this runtime runs no process")
    name = _name()
    sb_id, cid = _running(runtime, name)
    try:
        stream = runtime.exec_stream(
            cid, ["sh", "-c", "md5sum; echo oops >&2; exit 7"],
            StreamOptions(stdin=True))
        # every byte value, ctrl-p ctrl-q (Podman's default detach keys) included
        payload = bytes(range(256)) * 4096 + b"\x10\x11" * 100
        def send() -> None:
            stream.write(payload)
            stream.close_stdin()

        writer = threading.Thread(target=send)
        writer.start()
        out, err = _drain(stream)
        writer.join()
        assert out.decode().split()[0] == hashlib.md5(payload).hexdigest()
        assert err == b"oops\n"
        assert stream.exit_code() == 7
        stream.close()
        stream.close()  # idempotent
    finally:
        runtime.remove_sandbox(sb_id, timeout=0)


def test_exec_with_a_terminal_follows_resizes(runtime: ContainerRuntime) -> None:
    if not runtime.capabilities().streaming:
        pytest.skip("this runtime runs no process")
    name = _name()
    sb_id, cid = _running(runtime, name)
    try:
        stream = runtime.exec_stream(cid, ["sh"], StreamOptions(stdin=True, tty=True))
        stream.resize(123, 45)
        time.sleep(0.2)
        stream.write(b"stty size; exit 4\n")
        out, err = _drain(stream)
        assert b"45 123" in out and err == b""
        assert stream.exit_code() == 4
        stream.close()
    finally:
        runtime.remove_sandbox(sb_id, timeout=0)


def test_attach_reaches_the_main_process_and_its_stdin(runtime: ContainerRuntime) -> None:
    if not runtime.capabilities().streaming:
        pytest.skip("this runtime runs no process")
    name = _name()
    sb_id, cid = _running(runtime, name, entrypoint=("sh", "-c", "read line; echo got $line; "
                                                     "exit 5"), stdin=True, stdin_once=True)
    try:
        stream = runtime.attach(cid, StreamOptions(stdin=True))
        stream.write(b"hello\n")
        out, _ = _drain(stream)
        assert out == b"got hello\n"
        assert stream.exit_code() == 5
        stream.close()
    finally:
        runtime.remove_sandbox(sb_id, timeout=0)


@pytest.mark.parametrize("infra", [False, True], ids=["own-netns", "infra-netns"])
def test_connect_port_reaches_an_unpublished_port_inside_the_pod(
        runtime: ContainerRuntime, infra: bool) -> None:
    if not runtime.capabilities().streaming:
        pytest.skip("this runtime runs no process")
    if os.geteuid() != 0:
        pytest.skip("joining a network namespace needs root")
    name = _name()
    host_netns = os.readlink("/proc/thread-self/ns/net")
    # listens on the pod's loopback only: not reachable from the host at all
    sb_id, cid = _running(runtime, name, infra=infra, entrypoint=(
        "sh", "-c", "echo ok > /tmp/i; httpd -f -p 127.0.0.1:8081 -h /tmp"))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = runtime.connect_port(cid, 8081, 5.0)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "httpd did not listen"
                time.sleep(0.1)
        with sock:
            sock.sendall(b"GET /i HTTP/1.0\r\n\r\n")
            got = b""
            while chunk := sock.recv(4096):
                got += chunk
        assert got.startswith(b"HTTP/1.") and got.endswith(b"ok\n")
        with pytest.raises(ConnectionRefusedError):
            runtime.connect_port(cid, 8082, 5.0)
        # the threads that joined the pod's namespace ended; this one never left the host's
        assert not [t for t in threading.enumerate() if t.name.startswith("netns-")]
        assert os.readlink("/proc/thread-self/ns/net") == host_netns
    finally:
        runtime.remove_sandbox(sb_id, timeout=0)
