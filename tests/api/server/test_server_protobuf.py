"""The protobuf request decoder, with bodies built by hand (field numbers of the upstream
generated.proto): zero values, pointers, maps, IntOrString, refusals."""

from __future__ import annotations

import pytest

from gitkube.api.server.protobuf import MAGIC, UndecodableProtobuf, decode, message_of
from gitkube.errors import BadRequest
from tests.api.server.httphelp import assert_status, call
from tests.api.server.serving import Served

PROTOBUF = "application/vnd.kubernetes.protobuf"


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: bytes | str) -> bytes:
    return field(number, field(1, key) + field(2, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version) + field(2, kind)
    return MAGIC + field(1, type_meta) + field(2, raw)


def configmap() -> bytes:
    meta = field(1, "cm") + field(3, "") + entry(11, "app", "web") + field(7, 0)
    raw = field(1, meta) + entry(2, "a", "b") + entry(3, "bin", b"\x00\x01") + field(4, 0)
    return envelope("v1", "ConfigMap", raw)


def test_decode_drops_zero_values_but_keeps_pointers() -> None:
    assert decode(configmap()) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm", "labels": {"app": "web"}},
        "data": {"a": "b"}, "binaryData": {"bin": "AAE="}, "immutable": False}


def test_decode_int_or_string_and_negative_ints() -> None:
    port = field(3, 80) + field(4, field(1, 1) + field(3, "http"))
    spec = field(1, port) + field(12, -1)
    out = decode(envelope("v1", "Service", field(1, field(1, "s")) + field(2, spec)))
    assert out["spec"] == {"ports": [{"port": 80, "targetPort": "http"}],
                           "healthCheckNodePort": -1}


def test_unknown_fields_and_kinds_are_refused() -> None:
    with pytest.raises(UndecodableProtobuf, match=r"field 99 of v1\.ConfigMap"):
        decode(envelope("v1", "ConfigMap", field(99, "x")))
    with pytest.raises(UndecodableProtobuf, match="cannot read v1/Widget"):
        decode(envelope("v1", "Widget", b""))
    with pytest.raises(BadRequest):
        decode(b"{}")


def test_protobuf_bodies_over_http(served: Served) -> None:
    created = call(served.port, "POST", "/api/v1/namespaces/default/configmaps", configmap(),
                   content_type=PROTOBUF)
    assert created.code == 201 and created.json["data"] == {"a": "b"}
    odd = envelope("v1", "ConfigMap", field(1, field(1, "x")) + field(42, 1))
    status = assert_status(call(served.port, "POST", "/api/v1/namespaces/default/configmaps",
                                odd, content_type=PROTOBUF), 415, "UnsupportedMediaType")
    assert "field 42" in status["message"]
    assert_status(call(served.port, "POST", "/api/v1/namespaces/default/configmaps",
                       MAGIC + b"\xff\xff", content_type=PROTOBUF), 400, "BadRequest")


def test_generated_tables_are_whole() -> None:
    """Every message a field refers to has a table (or a JSON form of its own)."""
    from gitkube.api.server.protobuf_fields import MESSAGES

    forms = {"str", "int", "bool", "bytes", "double", "float", "time", "duration", "quantity",
             "intstr", "rawjson"}
    missing = {kind for fields in MESSAGES.values() for _, kind, _ in fields.values()
               if kind not in forms and kind not in MESSAGES}
    assert missing == set()
    for api_version, kind in (("v1", "Pod"), ("apps/v1", "StatefulSet"), ("v1", "Node"),
                              ("batch/v1", "Job"), ("v1", "DeleteOptions")):
        assert message_of(api_version, kind) in MESSAGES, (api_version, kind)


def test_decode_a_pod_as_kubectl_debug_sends_it() -> None:
    """Inline structs (a Volume's source, a Probe's handler, a key selector's name), Go
    pointers to empty messages (emptyDir: {}) and lists of messages."""
    volumes = (field(1, field(1, "scratch") + field(2, field(2, b"")))  # emptyDir: {}
               + field(1, field(1, "root") + field(2, field(1, field(1, "/")))))  # hostPath
    env = field(1, "K") + field(3, field(3, field(1, field(1, "cm")) + field(2, "key")))
    probe = field(1, field(1, field(1, "true"))) + field(4, 5)  # exec: [true], periodSeconds
    container = (field(1, "dbg") + field(2, "img:1") + field(7, env) + field(11, probe)
                 + field(9, field(1, "scratch") + field(3, "/s")))
    spec = volumes + field(2, container) + field(12, 1) + field(27, 1)
    out = decode(envelope("v1", "Pod", field(1, field(1, "p")) + field(2, spec)))
    assert out["spec"] == {
        "volumes": [{"name": "scratch", "emptyDir": {}},
                    {"name": "root", "hostPath": {"path": "/"}}],
        "containers": [{
            "name": "dbg", "image": "img:1",
            "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm",
                                                                    "key": "key"}}}],
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
            "volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}],
        "hostPID": True, "shareProcessNamespace": True}
