"""The compiled validator agrees with jsonschema's Draft202012Validator on the same files.

The corpus is every example manifest and the fixtures, plus systematic mutations of them:
every value replaced by each JSON type, an unknown key added to every mapping, every key
removed. For each object both validators must find errors at the same set of paths
(``unsupported-field`` is gitkube's annotation, which jsonschema ignores by design).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from gitkube.schema.validator import SCHEMA_DIR, _checks, schema_file
from tests.schema.mutations import mutations
from tests.schema.schemadata import CONFIGMAP, DEPLOYMENT, JOB, SERVICE, example_objects

Path = tuple[str | int, ...]


def _registry() -> Registry[Any]:
    defs = json.loads((SCHEMA_DIR / "_definitions.json").read_text())
    registry: Registry[Any] = Registry().with_resource("_definitions.json",
                                                       Resource.from_contents(defs))
    return registry


REGISTRY = _registry()


def reference(obj: dict[str, Any], api_version: str, kind: str) -> set[Path]:
    schema = json.loads(schema_file(api_version, kind).read_text())
    validator = Draft202012Validator(schema, registry=REGISTRY)
    paths: set[Path] = set()
    for err in validator.iter_errors(obj):
        at = tuple(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = err.schema.get("properties", {})
            paths.update((*at, k) for k in err.instance if k not in allowed)
        elif err.validator == "required":
            paths.update((*at, k) for k in err.validator_value if k not in err.instance)
        else:
            paths.add(at)
    return paths


def fast(obj: dict[str, Any], api_version: str, kind: str) -> set[Path]:
    check = _checks()[(api_version, kind)]
    assert check is not None
    errs = check(obj) or []
    return {tuple(reversed(e[0])) for e in errs if e[1] != "unsupported-field"}


BASES = [*example_objects(), DEPLOYMENT, SERVICE, JOB, CONFIGMAP]


@pytest.mark.parametrize("base", BASES, ids=lambda o: f"{o['kind']}-{o['metadata']['name']}")
def test_agrees_with_jsonschema(base: dict[str, Any]) -> None:
    api_version, kind = base["apiVersion"], base["kind"]
    assert fast(base, api_version, kind) == reference(base, api_version, kind) == set()
    invalid = 0
    for obj in mutations(base):
        expected = reference(obj, api_version, kind)
        assert fast(obj, api_version, kind) == expected, json.dumps(obj)
        invalid += bool(expected)
    assert invalid > 10  # the corpus really exercises failures
