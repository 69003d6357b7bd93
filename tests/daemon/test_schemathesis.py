"""schemathesis drives a real daemon (`gitkube serve`, simulated kubelet, TLS and a token on
loopback) from the OpenAPI v3 documents that daemon publishes: generated paths, query
parameters and bodies (objects from the kinds' schemas, patches of every patch type) for
every operation. Whatever the input, the daemon answers — never a 5xx, never a connection
closed without a response — and it keeps answering afterwards.

Bounded: ``GITKUBE_SCHEMATHESIS_EXAMPLES`` examples per operation (default 4) and
``GITKUBE_SCHEMATHESIS_SECONDS`` in all (default 120; operations not reached by then are
left out, and the test prints how many were run). The operations of every group-version
are taken in one fixed shuffled order, so a short budget still reaches each group; examples
are derandomized, so a run is repeatable.
"""

from __future__ import annotations

import json
import os
import random
import ssl
import time
import urllib.request
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case

from tests.daemon.daemon_env import RunningDaemon

EXAMPLES = int(os.environ.get("GITKUBE_SCHEMATHESIS_EXAMPLES", "4"))
SECONDS = float(os.environ.get("GITKUBE_SCHEMATHESIS_SECONDS", "120"))


@schemathesis.serializer("application/apply-patch+yaml")
def _apply_patch(context: schemathesis.SerializationContext, value: Any) -> bytes:
    """Server-side apply bodies are YAML, and JSON is YAML."""
    return json.dumps(value).encode()


def _get(daemon: RunningDaemon, path: str) -> Any:
    assert daemon.info.url and daemon.info.ca_file
    context = ssl.create_default_context(cafile=daemon.info.ca_file)
    request = urllib.request.Request(daemon.info.url + path, headers={
        "Authorization": f"Bearer {daemon.token()}"})
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        return json.loads(answer.read())


def _documents(daemon: RunningDaemon) -> list[dict[str, Any]]:
    index = _get(daemon, "/openapi/v3")
    return [_get(daemon, entry["serverRelativeURL"]) for entry in index["paths"].values()]


def test_generated_requests_never_get_a_server_error(daemon: RunningDaemon) -> None:
    assert daemon.info.url and daemon.info.ca_file
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {daemon.token()}"
    session.verify = daemon.info.ca_file
    deadline = time.monotonic() + SECONDS
    failures: list[str] = []
    run = total = requests_sent = 0
    operations = [result.ok() for doc in _documents(daemon)  # type: ignore[union-attr]
                  for result in schemathesis.openapi.from_dict(doc).get_all_operations()]
    random.Random(23).shuffle(operations)
    for operation in operations:
        total += 1
        if time.monotonic() > deadline:
            continue
        run += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  derandomize=True, suppress_health_check=list(HealthCheck))
        def check(case: Case[Any]) -> None:
            nonlocal requests_sent
            # a dropped connection raises here (requests.ConnectionError): a failure
            response = case.call(base_url=daemon.info.url, session=session, timeout=30,
                                 verify=daemon.info.ca_file)
            requests_sent += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> "
                                f"{response.status_code}: {response.text[:300]}")

        check()
    assert run >= 1 and requests_sent >= run
    print(f"schemathesis: {run} of {total} operations, {requests_sent} requests")
    assert failures == []
    # the daemon keeps answering (the generated requests may have deleted any object,
    # every namespace included, so only the answers' shape is checked)
    assert daemon.proc.poll() is None
    assert _get(daemon, "/api/v1/namespaces")["kind"] == "NamespaceList"
    assert _get(daemon, "/apis/apps/v1/deployments")["kind"] == "DeploymentList"
    assert _get(daemon, "/openapi/v3")["paths"]
