"""The committed schema files are exactly what the generator makes from upstream."""

from __future__ import annotations

import json
from pathlib import Path

from gitkube.schema import SCHEMA_VERSION, generate
from gitkube.schema.validator import SCHEMA_DIR


def test_committed_schemas_are_up_to_date(tmp_path: Path) -> None:
    written = generate.generate(generate.KUBERNETES_VERSION, tmp_path)
    committed = sorted(p.name for p in SCHEMA_DIR.glob("*.json"))
    assert sorted(p.name for p in written) == committed
    for path in written:
        assert path.read_text() == (SCHEMA_DIR / path.name).read_text(), (
            f"{path.name} is stale: run python -m gitkube.schema.generate"
        )


def test_annotations_are_present() -> None:
    defs = json.loads((SCHEMA_DIR / "_definitions.json").read_text())["$defs"]
    pod_spec = defs["io.k8s.api.core.v1.PodSpec"]["properties"]
    assert "x-gitkube-unsupported" in pod_spec["setHostnameAsFQDN"]
    assert "x-gitkube-unsupported" not in pod_spec["containers"]
    assert pod_spec["preemptionPolicy"]["x-gitkube-accepts"] == ["PreemptLowerPriority", "Never"]
    container = defs["io.k8s.api.core.v1.Container"]["properties"]
    assert container["imagePullPolicy"]["enum"] == ["Always", "IfNotPresent", "Never", None]


def test_every_kind_file_is_draft_2020_12() -> None:
    for path in SCHEMA_DIR.glob("*.json"):
        if path.name == generate.UPSTREAM_KINDS_FILE:  # a table, not a schema
            continue
        assert json.loads(path.read_text())["$schema"] == generate.DRAFT


def test_schema_version_is_a_digest() -> None:
    assert len(SCHEMA_VERSION) == 16
    int(SCHEMA_VERSION, 16)


def test_the_upstream_kinds_table_knows_what_kubernetes_serves() -> None:
    table = json.loads((SCHEMA_DIR / generate.UPSTREAM_KINDS_FILE).read_text())["kinds"]
    assert {"CronJob", "Job"} <= set(table["batch/v1"])
    assert "NetworkPolicy" in table["networking.k8s.io/v1"]
    assert {"PersistentVolume", "ReplicationController", "Pod"} <= set(table["v1"])
    assert "extensions/v1beta1" not in table and "apps/v1beta1" not in table
    assert not any(k.endswith("List") for kinds in table.values() for k in kinds)
    for api_version, kind, _definition in generate.KINDS:  # gitkube's kinds are all upstream
        assert kind in table[api_version]
