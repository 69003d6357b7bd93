"""Every 422 the API raises carries ``details.causes`` (kubectl prints only those after
``The Deployment "web" is invalid``): each ``Invalid(...)`` in gitkube/ passes ``causes=``."""

from __future__ import annotations

import ast
from pathlib import Path

from gitkube.api.subresources import field_path

PACKAGE = Path(__file__).resolve().parents[2] / "gitkube"


def test_every_invalid_names_its_causes() -> None:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name == "Invalid" and not any(k.arg == "causes" for k in node.keywords):
                missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert missing == []


def test_field_path_writes_pointers_as_upstream_field_paths() -> None:
    assert field_path("/spec/template/spec/containers/0/image") == \
        "spec.template.spec.containers[0].image"
    assert field_path("/metadata/labels/a~1b") == "metadata.labels.a/b"
    assert field_path("/spec/ports/-") == "spec.ports[-]"
