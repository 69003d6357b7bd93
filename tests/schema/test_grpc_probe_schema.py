"""Probe.grpc in manifests: the shapes upstream accepts validate, the rest is refused with
its reason; the Online Boutique demo's published manifests validate unchanged."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitkube.model.defaults import apply_defaults
from gitkube.schema import check_object
from gitkube.source.yamlfast import parse_yaml
from tests.cliapp import app
from tests.schema.schemadata import DEPLOYMENT
from tests.schema.test_schema_oracle import upstream_ok

Obj = dict[str, Any]
BOUTIQUE = Path(__file__).resolve().parents[1] / "data" / "upstream" / "online-boutique"


def _with_probe(probe: Obj, field: str = "readinessProbe") -> Obj:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["template"]["spec"]["containers"][0][field] = probe
    return obj


def _codes(obj: Obj) -> list[tuple[str, str]]:
    return [(issue.code, issue.dotted.rsplit(".", 1)[-1]) for issue in check_object(obj)]


@pytest.mark.parametrize("field", ["livenessProbe", "readinessProbe", "startupProbe"])
@pytest.mark.parametrize("grpc", [
    {"port": 9555},
    {"port": 8080, "service": "shop"},
    {"port": 8080, "service": ""},
    {"port": 8080, "mode": "Plaintext"},  # what the default means, said out loud
])
def test_grpc_probes_upstream_accepts_validate(field: str, grpc: Obj) -> None:
    obj = _with_probe({"grpc": grpc, "periodSeconds": 5}, field)
    assert upstream_ok(obj)
    assert check_object(obj) == []
    assert check_object(apply_defaults(obj)) == []


def test_the_default_service_is_the_whole_server() -> None:
    defaulted = apply_defaults(_with_probe({"grpc": {"port": 9555}}))
    probe = defaulted["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["grpc"] == {"port": 9555, "service": ""}
    assert upstream_ok(defaulted)


def test_tls_mode_is_valid_kubernetes_but_not_supported() -> None:
    obj = _with_probe({"grpc": {"port": 8080, "mode": "TLS"}})
    assert upstream_ok(obj)
    [issue] = check_object(obj)
    assert (issue.code, issue.dotted) == (
        "unsupported-field",
        "spec.template.spec.containers[0].readinessProbe.grpc.mode")
    assert issue.hint is not None and "TLS is not implemented" in issue.hint


@pytest.mark.parametrize(("grpc", "expected"), [
    ({"port": 0}, [("port-range", "port")]),
    ({"port": 70000}, [("port-range", "port")]),
    ({"port": "grpc"}, [("type", "port")]),  # a number only, unlike httpGet's port
    ({"service": "x"}, [("required", "port")]),
    ({"port": 80, "host": "10.0.0.1"}, [("unknown-field", "host")]),
    ({"port": 80, "mode": "plaintext"}, [("enum", "mode")]),
])
def test_bad_grpc_actions_are_refused(grpc: Obj, expected: list[tuple[str, str]]) -> None:
    obj = _with_probe({"grpc": grpc})
    assert _codes(obj) == expected


def test_grpc_is_one_handler_among_the_others() -> None:
    obj = _with_probe({"grpc": {"port": 80}, "exec": {"command": ["true"]}})
    [issue] = check_object(obj)
    assert issue.code == "probe-handler"
    assert issue.message == ("a probe needs exactly one of exec, httpGet, tcpSocket, grpc "
                             "(found exec, grpc)")


def test_the_online_boutique_manifests_validate_unchanged() -> None:
    """The demo's whole release file (every Deployment probes with grpc) validates with
    ``gitkube validate``, as it is published."""
    manifest = BOUTIQUE / "kubernetes-manifests.yaml"
    docs, problem = parse_yaml(manifest.read_bytes())
    assert problem is None
    objs = [value for value, _line, _col in docs if value is not None]
    probes = [c[p] for o in objs if o["kind"] == "Deployment"
              for c in o["spec"]["template"]["spec"]["containers"]
              for p in ("readinessProbe", "livenessProbe") if p in c]
    assert sum("grpc" in p for p in probes) >= 16  # the shape this test is about is there
    result = CliRunner().invoke(app, ["validate", str(BOUTIQUE)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"valid: 1 file, {len(objs)} documents"


def test_the_online_boutique_manifests_are_valid_upstream_too() -> None:
    docs, _problem = parse_yaml((BOUTIQUE / "kubernetes-manifests.yaml").read_bytes())
    for value, _line, _col in docs:
        if value is not None:
            assert upstream_ok(value), value["metadata"]["name"]
