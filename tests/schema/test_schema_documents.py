"""check_documents: issues placed at file:line:col, duplicates, undefined namespaces, caching."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, cast

from gitkube.schema import Issue, check_documents
from gitkube.source.document import Document
from tests.schema.schemadata import CONFIGMAP, DEPLOYMENT, example_objects


def doc(obj: dict[str, Any], file: str = "app.yaml", index: int = 0,
        lines: dict[tuple[Any, ...], tuple[int, int]] | None = None) -> Document:
    """A Document whose locator answers from ``lines`` (nearest known ancestor)."""
    table = lines or {}

    def locate(path: Sequence[str | int]) -> tuple[int, int]:
        p = tuple(path)
        while p and p not in table:
            p = p[:-1]
        return table.get(p, (1, 1))

    return Document(obj=obj, file=file, index=index, blob_id="0" * 40, locator=locate)


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}


def test_examples_are_clean_together() -> None:
    docs = [doc(o, f"f{i}.yaml") for i, o in enumerate(example_objects())]
    assert check_documents(docs) == []


def test_issue_is_placed_at_file_line_column() -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["replicas"] = "two"
    lines = {("spec", "replicas"): (9, 13)}
    [d] = check_documents([doc(NAMESPACE, "ns.yaml"), doc(obj, "web.yaml", lines=lines)])
    assert (d.file, d.line, d.column, d.code) == ("web.yaml", 9, 13, "type")
    assert d.object == "Deployment/web"
    assert d.path == "spec.replicas"
    assert d.render().startswith("web.yaml:9:13: Deployment/web: must be an integer")


def test_duplicate_object_reports_both_locations() -> None:
    lines_a = {("metadata", "name"): (4, 9)}
    lines_b = {("metadata", "name"): (30, 9)}
    docs = [doc(NAMESPACE, "ns.yaml"), doc(CONFIGMAP, "a.yaml", lines=lines_a),
            doc(CONFIGMAP, "b.yaml", 2, lines=lines_b)]
    found = check_documents(docs)
    assert [(d.file, d.line, d.code) for d in found] == [
        ("a.yaml", 4, "duplicate-object"), ("b.yaml", 30, "duplicate-object")]
    assert "also at b.yaml:30:9" in found[0].message
    assert "also at a.yaml:4:9" in found[1].message


def test_same_name_in_other_namespace_or_kind_is_not_a_duplicate() -> None:
    other_ns = copy.deepcopy(CONFIGMAP)
    other_ns["metadata"]["namespace"] = "default"
    other_kind = {"apiVersion": "v1", "kind": "Secret", "metadata": dict(CONFIGMAP["metadata"])}
    docs = [doc(NAMESPACE), doc(CONFIGMAP), doc(other_ns), doc(other_kind)]
    assert check_documents(docs) == []


def test_missing_namespace_means_default() -> None:
    a = copy.deepcopy(CONFIGMAP)
    del a["metadata"]["namespace"]
    b = copy.deepcopy(CONFIGMAP)
    b["metadata"]["namespace"] = "default"
    assert [d.code for d in check_documents([doc(a), doc(b)])] == ["duplicate-object"] * 2


def test_undefined_namespace() -> None:
    lines = {("metadata", "namespace"): (5, 14)}
    [d] = check_documents([doc(CONFIGMAP, lines=lines)])
    assert (d.code, d.line, d.column) == ("undefined-namespace", 5, 14)
    assert 'namespace "demo" is not defined' in d.message


def test_default_namespace_needs_no_definition() -> None:
    obj = copy.deepcopy(CONFIGMAP)
    obj["metadata"]["namespace"] = "default"
    assert check_documents([doc(obj)]) == []


def test_precomputed_issues_are_used_instead_of_checking() -> None:
    cached = [Issue(("data",), "from the cache", "cached")]
    found = check_documents([doc(NAMESPACE), doc(CONFIGMAP)], issues=[None, cached])
    assert [d.message for d in found] == ["from the cache"]


def test_not_a_mapping_document() -> None:
    not_a_mapping = cast(dict[str, Any], ["a", "list"])  # against the type: a defensive check
    [d] = check_documents([doc(not_a_mapping)])
    assert d.code == "type"


def test_system_namespaces_need_no_namespace_object() -> None:
    """As the api: kube-system and the other system namespaces always exist."""
    docs = [doc({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": f"c{i}", "namespace": ns}}, index=i)
            for i, ns in enumerate(["default", "kube-system", "kube-public", "kube-node-lease"])]
    assert check_documents(docs) == []


def test_a_near_miss_of_a_known_namespace_is_named() -> None:
    obj = copy.deepcopy(CONFIGMAP)
    obj["metadata"]["namespace"] = "kube-sytem"
    [d] = check_documents([doc(obj)])
    assert (d.code, d.hint) == ("undefined-namespace", "did you mean kube-system?")
    obj["metadata"]["namespace"] = "demmo"  # a Namespace the set defines counts too
    [d] = check_documents([doc(NAMESPACE, "ns.yaml"), doc(obj)])
    assert d.hint == "did you mean demo?"


def test_the_undefined_namespace_hint_offers_only_what_validate_knows() -> None:
    """Validate sees no live store: it offers no "existing" namespace it cannot know of."""
    [d] = check_documents([doc(CONFIGMAP)])
    assert d.hint == ("add a Namespace named demo to the manifests (besides the Namespaces "
                      "they define, only default, kube-system, kube-public, kube-node-lease "
                      "exist without one)")
