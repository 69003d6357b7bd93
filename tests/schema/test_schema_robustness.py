"""check_object never raises, whatever the input: every mutation of every example object,
odd YAML values (dates, integer keys) and non-mapping documents give Issues, not exceptions."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest

from gitkube.schema import Issue, check_object
from tests.schema.mutations import mutations
from tests.schema.schemadata import DEPLOYMENT, SERVICE, example_objects

Obj = dict[str, Any]

ODD: list[Any] = [datetime.date(2024, 1, 1), -1, 10**30, float("inf"), "", "\x00", {1: "x"},
                  [[[]]], {"": None}]


@pytest.mark.parametrize("base", [*example_objects(), DEPLOYMENT, SERVICE],
                         ids=lambda o: f"{o['kind']}-{o['metadata']['name']}")
def test_never_raises_on_mutations(base: dict[str, Any]) -> None:
    for obj in mutations(base):
        for issue in check_object(obj):
            assert isinstance(issue, Issue) and issue.code and issue.message


@pytest.mark.parametrize("value", ODD, ids=repr)
def test_never_raises_on_odd_values(value: Any) -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = value
    obj["metadata"]["labels"]["x"] = value
    obj["spec"]["replicas"] = value
    check_object(obj)


@pytest.mark.parametrize("doc", [None, 1, "text", [], [{}], {}, {"kind": None},
                                 {"apiVersion": 1, "kind": ["Pod"]}], ids=repr)
def test_never_raises_on_non_objects(doc: Any) -> None:
    assert check_object(doc)


def test_integer_label_key_is_reported() -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["metadata"]["labels"][1] = "x"
    [issue] = check_object(obj)
    assert issue.code == "type" and issue.path == ("metadata", "labels", "1")


def test_env_name(deployment: Obj) -> None:
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A=B"}]
    assert [i.code for i in check_object(deployment)] == ["env"]
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "a.b-C_1"}]
    assert check_object(deployment) == []


def test_check_documents_never_raises_on_mutations() -> None:
    from gitkube.schema import check_documents
    from gitkube.source.document import Document

    docs = [Document(obj=o, file=f"m{i}.yaml", index=0, blob_id="0")
            for i, o in enumerate(mutations(example_objects()[0]))]
    docs += [Document(obj=o, file=f"d{i}.yaml", index=0, blob_id="0")
             for i, o in enumerate(mutations(DEPLOYMENT))]
    assert check_documents(docs)
