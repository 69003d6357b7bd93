"""``/openapi/v2`` in protobuf: the ``openapi.v2.Document`` message of gnostic, which kubectl
asks for (``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf``) and decodes
without looking at the Content-Type, so JSON is no answer to it.

A small table-driven encoder of the parts of a Swagger 2.0 document gitkube publishes:
info, paths (operations, parameters, responses), definitions (schemas) and vendor
extensions, whose values gnostic carries as YAML text (JSON is YAML). Field numbers are
those of gnostic's ``openapiv2/OpenAPIv2.proto``.
"""

from __future__ import annotations

import json
import struct
from typing import Any

Obj = dict[str, Any]
MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# the spelling without "@", which is also a valid Content-Type
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
MEDIA_TYPES = frozenset({MEDIA_TYPE, CONTENT_TYPE})

# message -> JSON key -> (field number, type). Types: "str", "bool", "double", "int",
# "[str]" (repeated), "any" (an Any holding YAML), "[any]", "ext" (vendor extensions: every
# "x-" key of the JSON object), or a message name; "[Name]" is a repeated message and
# "{Name}" a map rendered as repeated Named<Name> pairs inside a wrapper message.
_SPEC: dict[str, dict[str, tuple[int, str]]] = {
    "Document": {"swagger": (1, "str"), "info": (2, "Info"), "paths": (8, "Paths"),
                 "definitions": (9, "Definitions"), "x-": (16, "ext")},
    "Info": {"title": (1, "str"), "version": (2, "str"), "description": (3, "str"),
             "x-": (7, "ext")},
    "Paths": {"x-": (1, "ext"), "*": (2, "PathItem")},
    "Definitions": {"*": (1, "Schema")},
    "PathItem": {"get": (2, "Operation"), "put": (3, "Operation"), "post": (4, "Operation"),
                 "delete": (5, "Operation"), "head": (7, "Operation"),
                 "patch": (8, "Operation"), "parameters": (9, "[ParametersItem]"),
                 "x-": (10, "ext")},
    "Operation": {"tags": (1, "[str]"), "summary": (2, "str"), "description": (3, "str"),
                  "operationId": (5, "str"), "produces": (6, "[str]"),
                  "consumes": (7, "[str]"), "parameters": (8, "[ParametersItem]"),
                  "responses": (9, "Responses"), "schemes": (10, "[str]"),
                  "deprecated": (11, "bool"), "x-": (13, "ext")},
    "Responses": {"x-": (2, "ext"), "*": (1, "ResponseValue")},
    "Response": {"description": (1, "str"), "schema": (2, "SchemaItem"), "x-": (5, "ext")},
    "BodyParameter": {"description": (1, "str"), "name": (2, "str"), "in": (3, "str"),
                      "required": (4, "bool"), "schema": (5, "Schema"), "x-": (6, "ext")},
    "QueryParameterSubSchema": {"required": (1, "bool"), "in": (2, "str"),
                                "description": (3, "str"), "name": (4, "str"),
                                "type": (6, "str"), "format": (7, "str"),
                                "uniqueItems": (20, "bool"), "x-": (23, "ext")},
    "PathParameterSubSchema": {"required": (1, "bool"), "in": (2, "str"),
                               "description": (3, "str"), "name": (4, "str"),
                               "type": (5, "str"), "format": (6, "str"),
                               "uniqueItems": (19, "bool"), "x-": (22, "ext")},
    "Schema": {"$ref": (1, "str"), "format": (2, "str"), "title": (3, "str"),
               "description": (4, "str"), "default": (5, "any"), "maximum": (7, "double"),
               "minimum": (9, "double"), "maxLength": (11, "int"), "minLength": (12, "int"),
               "pattern": (13, "str"), "maxItems": (14, "int"), "minItems": (15, "int"),
               "required": (19, "[str]"), "enum": (20, "[any]"),
               "additionalProperties": (21, "AdditionalPropertiesItem"),
               "type": (22, "TypeItem"), "items": (23, "ItemsItem"), "allOf": (24, "[Schema]"),
               "properties": (25, "Properties"), "readOnly": (27, "bool"),
               "x-": (31, "ext")},
    "Properties": {"*": (1, "Schema")},
}


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _varint(len(data)) + data


def _str(number: int, text: str) -> bytes:
    return _bytes(number, text.encode("utf-8"))


def _any(value: Any) -> bytes:
    """gnostic's ``Any``: the value as YAML text (field 2)."""
    return _str(2, json.dumps(value, ensure_ascii=False))


def _named(name: str, value: bytes) -> bytes:
    return _str(1, name) + _bytes(2, value)


def _special(message: str, value: Any) -> bytes | None:
    """The messages that are not plain field tables: oneofs and wrappers."""
    if message == "TypeItem":
        types = value if isinstance(value, list) else [value]
        return b"".join(_str(1, t) for t in types)
    if message == "ItemsItem":
        return _bytes(1, encode("Schema", value))
    if message == "AdditionalPropertiesItem":
        if isinstance(value, bool):
            return _key(2, 0) + _varint(int(value))
        return _bytes(1, encode("Schema", value))
    if message == "SchemaItem":
        return _bytes(1, encode("Schema", value))
    if message == "ResponseValue":
        return _bytes(1, encode("Response", value))
    if message == "ParametersItem":
        where = value.get("in")
        if where == "body":
            return _bytes(1, _bytes(1, encode("BodyParameter", value)))
        sub = {"query": (3, "QueryParameterSubSchema"),
               "path": (4, "PathParameterSubSchema")}.get(str(where))
        if sub is None:
            return b""
        return _bytes(1, _bytes(2, _bytes(sub[0], encode(sub[1], value))))
    return None


def _field(number: int, kind: str, value: Any) -> bytes:
    if kind == "str":
        return _str(number, str(value)) if value != "" else b""
    if kind == "bool":
        return _key(number, 0) + _varint(1) if value else b""
    if kind == "int":
        return _key(number, 0) + _varint(int(value))
    if kind == "double":
        return _key(number, 1) + struct.pack("<d", float(value))
    if kind == "any":
        return _bytes(number, _any(value))
    if kind == "[any]":
        return b"".join(_bytes(number, _any(v)) for v in value)
    if kind == "[str]":
        return b"".join(_str(number, str(v)) for v in value)
    if kind.startswith("["):
        return b"".join(_bytes(number, encode(kind[1:-1], v)) for v in value)
    return _bytes(number, encode(kind, value))


def encode(message: str, value: Any) -> bytes:
    """``value`` (the JSON form of a Swagger 2.0 part) as the gnostic message ``message``."""
    special = _special(message, value)
    if special is not None:
        return special
    spec = _SPEC[message]
    out = bytearray()
    extensions = bytearray()
    for key, item in value.items():
        if key.startswith("x-") and "x-" in spec:
            extensions += _bytes(spec["x-"][0], _named(key, _any(item)))
        elif "*" in spec and key not in spec:
            number, kind = spec["*"]
            out += _bytes(number, _named(key, encode(kind, item)))
        elif key in spec:
            number, kind = spec[key]
            out += _field(number, kind, item)
    return bytes(out + extensions)


def document(doc: Obj) -> bytes:
    """A Swagger 2.0 document as a serialized ``openapi.v2.Document``."""
    return encode("Document", doc)
