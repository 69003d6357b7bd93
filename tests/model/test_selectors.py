"""Label and field selectors: both label forms parse to the same Selector and match alike."""

from __future__ import annotations

import pytest

from gitkube.model.labels import (
    SelectorError,
    as_selector,
    field_value,
    from_label_selector,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)

LABELS = {"app": "web", "tier": "front", "version": "3"}


@pytest.mark.parametrize(("text", "expected"), [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app!=web", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("app in (web, db)", True),
    ("app notin (web,db)", False),
    ("tier", True),
    ("!tier", False),
    ("!missing", True),
    ("app=web,tier in (front),!missing", True),
    ("app=web,tier=back", False),
    ("version>2", True),
    ("version<3", False),
    ("missing>1", False),
])
def test_string_form(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize("text", ["app in (web", "app=web)", "a b c", "=x", "app=bad value",
                                  "version>x", "Bad Key=1"])
def test_string_form_errors(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(text)


def test_object_form() -> None:
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["front", "back"]},
        {"key": "legacy", "operator": "DoesNotExist"},
        {"key": "version", "operator": "Exists"},
        {"key": "zone", "operator": "NotIn", "values": ["a"]},
    ]}
    parsed = from_label_selector(selector)
    assert parsed.matches(LABELS)
    assert not parsed.matches({**LABELS, "legacy": "1"})
    assert not parsed.matches({"app": "web"})
    assert selector_string(selector) == (
        "app=web,tier in (back,front),!legacy,version,zone notin (a)")
    assert parse_label_selector(str(parsed)) == parsed


def test_nil_and_empty_object_forms() -> None:
    assert not from_label_selector(None).matches(LABELS)
    assert from_label_selector({}).matches(LABELS)
    assert as_selector(None).matches({})


@pytest.mark.parametrize("expression", [
    {"key": "a", "operator": "In"},
    {"key": "a", "operator": "Exists", "values": ["x"]},
    {"key": "a", "operator": "Near", "values": ["x"]},
])
def test_object_form_errors(expression: dict[str, object]) -> None:
    with pytest.raises(SelectorError):
        from_label_selector({"matchExpressions": [expression]})


POD = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1"},
       "status": {"phase": "Running"}}
EVENT = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p", "uid": "u"},
         "source": {"component": "kubelet"}}


def test_field_selectors() -> None:
    assert parse_field_selector("metadata.name=p,spec.nodeName==n1").matches(POD)
    assert parse_field_selector("status.phase!=Pending").matches(POD)
    assert not parse_field_selector("metadata.namespace=default").matches(POD)
    assert parse_field_selector("spec.nodeName=").matches({"spec": {}})
    assert parse_field_selector("involvedObject.name=p,involvedObject.uid=u").matches(EVENT)
    assert field_value(EVENT, "source") == "kubelet"
    assert field_value({"spec": {"unschedulable": True}}, "spec.unschedulable") == "true"
    assert parse_field_selector("").matches({})


def test_field_selector_errors() -> None:
    with pytest.raises(SelectorError, match="not supported"):
        parse_field_selector("spec.replicas=1")
    with pytest.raises(SelectorError):
        parse_field_selector("metadata.name")
