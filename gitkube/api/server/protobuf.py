"""Request bodies in Kubernetes' protobuf encoding, for every kind gitkube serves.

kubectl's typed clients (``kubectl create namespace|configmap|secret|deployment|job|...``,
``kubectl debug --copy-to`` and ``debug node/``) send ``application/vnd.kubernetes.protobuf``
bodies: the magic ``k8s\\0`` and a ``runtime.Unknown`` envelope (``apiVersion``, ``kind``,
``raw``) around the object's own message. This module decodes those into the JSON form with
the field tables in ``protobuf_fields.py``, generated from upstream's ``generated.proto``
and ``types.go`` by ``scripts/gen-protobuf-fields`` (which records the commits it read).

Go writes every non-pointer field, zero or not; JSON omits empty ones. So zero scalars, empty
messages, lists and maps of ordinary fields are dropped, while Go pointer fields keep an
explicit zero (``replicas: 0``, ``emptyDir: {}``); structs embedded inline in JSON
(``VolumeSource`` in a Volume, ``LocalObjectReference`` in a key selector) give their fields
to the parent. A field the tables do not know (newer than the upstream commit they were made
from) is refused (415) rather than silently lost.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

from gitkube.api.server.protobuf_fields import MESSAGES
from gitkube.errors import BadRequest, GitkubeError
from gitkube.model.times import rfc3339

MAGIC = b"k8s\x00"
Obj = dict[str, Any]


class UndecodableProtobuf(GitkubeError, ValueError):
    """The body uses a message or field this decoder does not know (415). Still a ValueError."""


class MalformedProtobuf(GitkubeError, ValueError):
    """The body is not well-formed protobuf (400). Still a ValueError: callers catch that."""


_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_ENVELOPE = "k8s.io.apimachinery.pkg.runtime.Unknown"
# apiVersion -> the proto package of its kinds
_PACKAGES = {"v1": "k8s.io.api.core.v1", "apps/v1": "k8s.io.api.apps.v1",
             "batch/v1": "k8s.io.api.batch.v1", "autoscaling/v1": "k8s.io.api.autoscaling.v1",
             "meta.k8s.io/v1": "k8s.io.apimachinery.pkg.apis.meta.v1",
             "authorization.k8s.io/v1": "k8s.io.api.authorization.v1",
             "authentication.k8s.io/v1": "k8s.io.api.authentication.v1",
             "policy/v1": "k8s.io.api.policy.v1",
             "scheduling.k8s.io/v1": "k8s.io.api.scheduling.v1",
             "networking.k8s.io/v1": "k8s.io.api.networking.v1",
             "discovery.k8s.io/v1": "k8s.io.api.discovery.v1",
             "coordination.k8s.io/v1": "k8s.io.api.coordination.v1"}
# kinds whose message lives in another package than their apiVersion names
_ELSEWHERE = {("v1", "DeleteOptions"): _META + "DeleteOptions"}


def _short(message: str) -> str:
    """``k8s.io.api.core.v1.Pod`` as ``v1.Pod``, for messages."""
    return ".".join(message.split(".")[-2:])


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise MalformedProtobuf("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise MalformedProtobuf("varint too long")


def _fields(data: Any) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value): ints for varints, bytes for length-delimited."""
    if not isinstance(data, bytes):
        raise MalformedProtobuf("expected an embedded message")
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise MalformedProtobuf("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise MalformedProtobuf(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(raw: Any) -> str:
    if not isinstance(raw, bytes):
        raise MalformedProtobuf("expected a length-delimited string")
    return raw.decode()


def _duration(nanos: int) -> str:
    """A Go duration as metav1.Duration's JSON writes it (``1h2m3s``, ``1.5s``, ``0s``)."""
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _special(kind: str, raw: Any) -> Any:
    """The messages with a JSON form of their own (time, duration, quantity, intstr,
    rawjson: RawExtension and FieldsV1 carry JSON bytes)."""
    parts = {n: v for n, _, v in _fields(raw)}
    if kind == "time":
        seconds = _signed(parts.get(1, 0))
        return rfc3339(seconds) if seconds else None
    if kind == "duration":
        return _duration(_signed(parts.get(1, 0)))
    if kind == "quantity":
        return _text(parts.get(1, b""))
    if kind == "intstr":
        if parts.get(1, 0) == 1:
            return _text(parts.get(3, b""))
        return _signed(parts.get(2, 0))
    data = parts.get(1, b"")
    try:
        return json.loads(data) if data else None
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedProtobuf(f"embedded JSON does not parse: {e}") from e


_SPECIAL = frozenset({"time", "duration", "quantity", "intstr", "rawjson"})


def _scalar(kind: str, wire: int, raw: Any) -> Any:
    if kind == "str":
        return _text(raw)
    if kind == "bytes":
        return base64.b64encode(raw).decode() if isinstance(raw, bytes) else ""
    if kind in ("int", "bool"):
        if wire != 0:
            raise MalformedProtobuf(f"expected a varint for a {kind}")
        return bool(raw) if kind == "bool" else _signed(raw)
    if kind in ("double", "float"):
        if not isinstance(raw, bytes) or len(raw) not in (4, 8):
            raise MalformedProtobuf(f"expected a fixed-size {kind}")
        return struct.unpack("<d" if len(raw) == 8 else "<f", raw)[0]
    if kind in _SPECIAL:
        return _special(kind, raw)
    if kind in MESSAGES:
        return decode_message(raw, kind)
    raise UndecodableProtobuf(f"no decoder for {_short(kind)}")


def _empty(value: Any) -> bool:
    return value is None or value in ("", 0, False) or value == {} or value == []


def _map_entry(raw: Any, value_kind: str) -> tuple[str, Any]:
    entry = {n: (w, v) for n, w, v in _fields(raw)}
    varint = value_kind in ("int", "bool")
    wire, value = entry.get(2, (0, 0) if varint else (2, b""))
    return _text(entry.get(1, (2, b""))[1]), _scalar(value_kind, wire, value)


def decode_message(data: Any, message: str) -> Obj:
    """One message as its JSON form (see the module docstring for zero values)."""
    if not isinstance(data, bytes):
        raise MalformedProtobuf(f"{_short(message)}: expected an embedded message")
    schema = MESSAGES[message]
    out: Obj = {}
    for number, wire, raw in _fields(data):
        field = schema.get(number)
        if field is None:
            raise UndecodableProtobuf(f"field {number} of {_short(message)} is not known to "
                                      "gitkube")
        name, kind, flags = field
        if "m" in flags:
            key, value = _map_entry(raw, kind)
            out.setdefault(name, {})[key] = value
            continue
        value = _scalar(kind, wire, raw)
        if "i" in flags and isinstance(value, dict):
            out.update(value)  # embedded inline: its fields are this message's
        elif "r" in flags:
            out.setdefault(name, []).append(value)
        elif ("p" in flags or not _empty(value)) and value is not None:
            out[name] = value
    return out


def message_of(api_version: str, kind: str) -> str | None:
    """The message a body of ``apiVersion``/``kind`` is encoded as (None: not known)."""
    message = _ELSEWHERE.get((api_version, kind))
    if message is None and api_version in _PACKAGES:
        message = f"{_PACKAGES[api_version]}.{kind}"
    return message if message in MESSAGES else None


def decode(body: bytes) -> Obj:
    """A ``k8s\\0`` protobuf body as the JSON object. BadRequest when it is not one;
    UndecodableProtobuf when it holds a kind or field gitkube cannot read."""
    if not body.startswith(MAGIC):
        raise BadRequest("a protobuf body must start with the k8s\\0 magic prefix")
    envelope = decode_message(body[len(MAGIC):], _ENVELOPE)
    api_version, kind = envelope.get("apiVersion", ""), envelope.get("kind", "")
    message = message_of(api_version, kind)
    if message is None:
        raise UndecodableProtobuf(f"gitkube cannot read {api_version}/{kind} in protobuf")
    raw = base64.b64decode(envelope.get("raw") or "")
    obj = decode_message(raw, message)
    return {"apiVersion": api_version, "kind": kind, **obj}
