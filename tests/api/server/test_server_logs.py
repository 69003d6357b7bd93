"""pods/log's time options through the runtime interface: the server's default provider
(``RuntimeLogs``) over a simulated runtime whose clock the test sets, so a line's age is
known exactly. ``sinceSeconds``, ``sinceTime`` and ``timestamps`` reach the runtime; bad
combinations are refused as upstream refuses them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from gitkube.api.server import RuntimeLogs
from gitkube.model.times import parse_time_ns, rfc3339
from gitkube.runtime.base import LABEL_CONTAINER, LABEL_POD_UID, ContainerSpec, SandboxSpec
from gitkube.runtime.simulated import SimulatedRuntime
from gitkube.store import Store
from tests.api.server.httphelp import assert_status, call, pod
from tests.api.server.serving import Served, start

LOG = "/api/v1/namespaces/default/pods/a/log"
AGE = 100.0  # seconds: how old the container's only line is


@pytest.fixture
def logged(store: Store) -> Iterator[tuple[Served, float]]:
    """A server whose pod ``a`` has a container that wrote one line AGE seconds ago."""
    written = time.time() - AGE
    runtime = SimulatedRuntime(clock=lambda: written)
    served = start(store, logs=RuntimeLogs(lambda: runtime))
    try:
        created = served.local.create({**pod("a"), "spec": {
            "nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}})
        sandbox = runtime.ensure_sandbox(SandboxSpec(name="a", labels={}))
        cid = runtime.create_container(sandbox.id, ContainerSpec(
            name="a-c", image="busybox", labels={LABEL_POD_UID: created["metadata"]["uid"],
                                                 LABEL_CONTAINER: "c"}))
        runtime.start_container(cid)
        yield served, written
    finally:
        served.server.shutdown()


def text(served: Served, query: str) -> str:
    answer = call(served.port, "GET", f"{LOG}?{query}")
    assert answer.code == 200, answer.body[:300]
    return answer.body.decode()


def test_timestamps_are_the_kubelets_rfc3339_with_nanoseconds(
        logged: tuple[Served, float]) -> None:
    served, written = logged
    assert text(served, "") == "started a-c\n"
    stamped = text(served, "timestamps=true")
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) started a-c\n", stamped)
    assert m is not None, stamped
    assert parse_time_ns(m.group(1)) == int(written * 1_000_000_000)


def test_since_seconds_and_since_time_select_by_the_lines_age(
        logged: tuple[Served, float]) -> None:
    served, written = logged
    assert text(served, f"sinceSeconds={int(AGE) + 60}") == "started a-c\n"
    assert text(served, f"sinceSeconds={int(AGE) - 60}") == ""
    # sinceTime is whole seconds, as metav1.Time sends it: at or after it
    assert text(served, "sinceTime=" + quote(rfc3339(written - 1))) == "started a-c\n"
    assert text(served, "sinceTime=" + quote(rfc3339(written + 2))) == ""
    assert text(served, f"sinceSeconds={int(AGE) + 60}&timestamps=true&follow=false"
                ).endswith(" started a-c\n")


@pytest.mark.parametrize(("query", "code", "words"), [
    ("sinceSeconds=5&sinceTime=2026-01-02T03:04:05Z", 422, "at most one of `sinceTime`"),
    ("sinceSeconds=0", 422, "sinceSeconds: Invalid value: 0: must be greater than 0"),
    ("sinceSeconds=-3", 422, "must be greater than 0"),
    ("tailLines=-1", 422, "tailLines: Invalid value: -1"),
    ("limitBytes=0", 422, "limitBytes: Invalid value: 0"),
    ("sinceTime=yesterday", 400, "'yesterday' is not an RFC 3339 time"),
    ("sinceSeconds=soon", 400, "is not an integer"),
])
def test_bad_log_options_are_refused(logged: tuple[Served, float], query: str, code: int,
                                     words: str) -> None:
    served, _ = logged
    status = assert_status(call(served.port, "GET", f"{LOG}?{query}"), code,
                           "Invalid" if code == 422 else "BadRequest")
    assert words in status["message"], status["message"]
