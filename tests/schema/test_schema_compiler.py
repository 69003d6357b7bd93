"""The schema compiler, keyword by keyword, against jsonschema on small synthetic schemas."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gitkube.schema.compiler import Compiler

VALUES: list[Any] = [None, 0, 1, 1.0, 1.5, -3, True, False, "", "x", "Always", [], [1], ["a"],
                     {}, {"a": 1}, {"a": "x", "b": 2}, {"zz": None}]

SCHEMAS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": ["integer", "null"]},
    {"type": "number"},
    {"type": ["boolean", "null"]},
    {"type": ["string", "null"], "enum": ["Always", "Never", None]},
    {"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]},
    {"oneOf": [{"type": "string"}, {"type": "number"}]},
    {"type": ["array", "null"], "items": {"type": "string"}},
    {"type": "array", "items": {"type": "integer"}},
    {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
     "additionalProperties": False, "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": "integer"}}},
    {"properties": {"a": {"type": "integer"}}, "additionalProperties": False},
    {"items": {"type": "string"}},
    {"additionalProperties": {"type": "string"}},
    {"$ref": "#/$defs/T"},
    {"description": "anything"},
]
DEFS = {"T": {"type": "object", "properties": {"a": {"$ref": "#/$defs/U"}},
              "additionalProperties": False},
        "U": {"type": ["integer", "null"]}}


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: str(s)[:60])
def test_keyword_agrees_with_jsonschema(schema: dict[str, Any]) -> None:
    check = Compiler(DEFS).compile(schema)
    reference = Draft202012Validator({**schema, "$defs": DEFS})
    for value in VALUES:
        expected = reference.is_valid(value)
        got = check is None or not check(value)
        assert got == expected, (schema, value)


def test_errors_carry_paths_and_codes() -> None:
    schema = {"type": "object", "additionalProperties": False, "required": ["a"],
              "properties": {"list": {"type": "array", "items": {"$ref": "#/$defs/T"}}}}
    check = Compiler(DEFS).compile(schema)
    assert check is not None
    errs = check({"list": [{"a": 1}, {"a": "x"}, {"b": 1}], "c": 1}) or []
    got = sorted((tuple(reversed(e[0])), e[1]) for e in errs)
    assert got == [(("a",), "required"), (("c",), "unknown-field"),
                   (("list", 1, "a"), "type"), (("list", 2, "b"), "unknown-field")]


def test_unsupported_annotation() -> None:
    schema = {"type": "object", "properties": {
        "x": {"type": "boolean", "x-gitkube-unsupported": "no reason"},
        "y": {"type": "string", "x-gitkube-unsupported": "", "x-gitkube-accepts": ["ok"]}}}
    check = Compiler({}).compile(schema)
    assert check is not None
    assert check({"x": False, "y": "ok"}) is None
    errs = check({"x": True, "y": "no"}) or []
    assert sorted((e[0][0], e[1]) for e in errs) == [("x", "unsupported-field"),
                                                      ("y", "unsupported-field")]
    # the value of an unsupported field is still checked; a value Kubernetes refuses gets
    # that error alone (one cause, one error), and unsupported-field once it is valid
    errs = check({"x": "yes"}) or []
    assert [(e[0], e[1]) for e in errs] == [(["x"], "type")]
