"""gitkube.model.labels: name and label syntax, selector matching."""

from __future__ import annotations

import pytest

from gitkube.model.labels import (
    dns1035_label_error,
    dns1123_label_error,
    dns1123_subdomain_error,
    label_value_error,
    port_name_error,
    qualified_name_error,
    selector_matches,
)


@pytest.mark.parametrize("name,label,subdomain,rfc1035", [
    ("web", True, True, True), ("web-1", True, True, True), ("1web", True, True, False),
    ("web.v2", False, True, False), ("Web", False, False, False), ("-web", False, False, False),
    ("web-", False, False, False), ("a" * 63, True, True, True), ("a" * 64, False, True, False),
    ("", False, False, False), ("web_app", False, False, False),
])
def test_dns_names(name: str, label: bool, subdomain: bool, rfc1035: bool) -> None:
    assert (dns1123_label_error(name) is None) == label
    assert (dns1123_subdomain_error(name) is None) == subdomain
    assert (dns1035_label_error(name) is None) == rfc1035


@pytest.mark.parametrize("key,ok", [
    ("app", True), ("app.kubernetes.io/name", True), ("example.com/My_Key.1", True),
    ("/name", False), ("Example.com/name", False), ("a/b/c", False), ("-app", False),
    ("app-", False), ("a" * 64, False), ("x/", False), ("has space", False),
])
def test_qualified_names(key: str, ok: bool) -> None:
    assert (qualified_name_error(key) is None) == ok


@pytest.mark.parametrize("value,ok", [
    ("", True), ("web", True), ("Web_1.2-x", True), ("-x", False), ("a b", False),
    ("a" * 63, True), ("a" * 64, False), ("x/y", False),
])
def test_label_values(value: str, ok: bool) -> None:
    assert (label_value_error(value) is None) == ok


@pytest.mark.parametrize("name,ok", [
    ("http", True), ("web-8080", True), ("8080", False), ("a--b", False), ("HTTP", False),
    ("a-very-long-port-name", False),
])
def test_port_names(name: str, ok: bool) -> None:
    assert (port_name_error(name) is None) == ok


def test_selector_matches() -> None:
    labels = {"app": "web", "tier": "front"}
    assert selector_matches({"matchLabels": {"app": "web"}}, labels)
    assert not selector_matches({"matchLabels": {"app": "db"}}, labels)
    assert selector_matches({}, labels)
    assert not selector_matches(None, labels)
    exprs = [{"key": "tier", "operator": "In", "values": ["front", "back"]},
             {"key": "legacy", "operator": "DoesNotExist"}]
    assert selector_matches({"matchExpressions": exprs}, labels)
    exprs.append({"key": "app", "operator": "NotIn", "values": ["web"]})
    assert not selector_matches({"matchExpressions": exprs}, labels)
