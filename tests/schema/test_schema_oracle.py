"""kubernetes-validate (the upstream Kubernetes schemas) as an oracle.

Valid manifests that use only supported fields pass both; typos and type errors fail both;
a field gitkube does not implement passes upstream and is reported by gitkube as
``unsupported-field`` only (valid Kubernetes, not a typo).
"""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from gitkube.model.defaults import apply_defaults
from gitkube.schema import check_object
from gitkube.schema.generate import KUBERNETES_VERSION
from tests.schema.schemadata import CONFIGMAP, DEPLOYMENT, JOB, SERVICE, example_objects

VALID = [*example_objects(), DEPLOYMENT, SERVICE, JOB, CONFIGMAP]


def upstream_ok(obj: dict[str, Any]) -> bool:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError:
        return False
    return True


def _id(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}-{obj['metadata']['name']}"


@pytest.mark.parametrize("obj", VALID, ids=_id)
def test_valid_manifests_pass_both(obj: dict[str, Any]) -> None:
    assert upstream_ok(obj)
    assert check_object(obj) == []


@pytest.mark.parametrize("obj", VALID, ids=_id)
def test_defaulted_manifests_pass_both(obj: dict[str, Any]) -> None:
    defaulted = apply_defaults(obj)
    assert upstream_ok(defaulted)
    assert check_object(defaulted) == []


def _typo(obj: dict[str, Any]) -> None:
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Never"


def _wrong_type(obj: dict[str, Any]) -> None:
    obj["spec"]["replicas"] = "two"


def _missing_name(obj: dict[str, Any]) -> None:
    del obj["spec"]["template"]["spec"]["containers"][0]["name"]


@pytest.mark.parametrize("mutate", [_typo, _wrong_type, _missing_name])
def test_invalid_manifests_fail_both(mutate: Any) -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    mutate(obj)
    assert not upstream_ok(obj)
    assert check_object(obj)


@pytest.mark.parametrize("field,value", [
    ("setHostnameAsFQDN", True), ("hostUsers", True),
    ("automountServiceAccountToken", True),
    ("topologySpreadConstraints", [{"maxSkew": 1, "topologyKey": "zone",
                                    "whenUnsatisfiable": "DoNotSchedule"}]),
])
def test_unsupported_fields_are_valid_upstream(field: str, value: Any) -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["template"]["spec"][field] = value
    assert upstream_ok(obj)
    assert [i.code for i in check_object(obj)] == ["unsupported-field"]
