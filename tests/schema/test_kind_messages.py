"""What `gitkube validate` says about kinds and fields it does not serve, as golden files:
tests/data/messages/NAME.yaml is validated alone and its report must equal NAME.txt
(``UPDATE_GOLDEN=1`` rewrites the .txt files; review the diff)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.schema.kindcheck import close_edit, edit_distance, kind_issue, upstream_kinds
from gitkube.schema.validator import _checks
from tests.cliapp import app

CASES = Path(__file__).resolve().parents[1] / "data" / "messages"
INPUTS = sorted(CASES.glob("*.yaml"))


@pytest.mark.parametrize("case", INPUTS, ids=[p.stem for p in INPUTS])
def test_golden_messages(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m").mkdir()
    shutil.copy(case, tmp_path / "m" / case.name)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["validate", "m"])
    assert result.exit_code == 1
    expected = case.with_suffix(".txt")
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(result.output, encoding="utf-8")
    assert result.output == expected.read_text(encoding="utf-8")


def test_every_unsupported_kind_message_says_valid_in_kubernetes() -> None:
    """Every kind Kubernetes serves and gitkube does not gets the "valid in Kubernetes"
    wording, never "unknown kind" and never a guess at another kind."""
    served = _checks()
    for api_version, kinds in upstream_kinds().items():
        for kind in kinds:
            if (api_version, kind) in served:
                continue
            issue = kind_issue(api_version, kind, served)
            assert issue.code == "unsupported-kind", (api_version, kind)
            assert "is valid in Kubernetes, not supported by gitkube" in issue.message
            assert "did you mean" not in (issue.hint or "")


@pytest.mark.parametrize(("typed", "meant"), [
    ("Deploymnet", "Deployment"), ("deployment", "Deployment"), ("Services", "Service"),
    ("ConfigMaps", "ConfigMap"), ("Secert", "Secret"), ("Pods", "Pod"), ("Jbo", "Job"),
    ("ServiceMonitor", None), ("PersistentVolume", None), ("CronJob", None),
    ("Endpoint", "Endpoints"), ("EndpointSlices", "EndpointSlice"), ("Nod", None),  # Node or Pod?
])
def test_did_you_mean_only_for_a_close_edit(typed: str, meant: str | None) -> None:
    supported = {kind for _av, kind in _checks()}
    assert close_edit(typed, supported) == meant


def test_edit_distance_counts_a_swap_as_one() -> None:
    assert edit_distance("deploymnet", "deployment") == 1
    assert edit_distance("abc", "abc") == 0
    assert edit_distance("", "job") == 3
    assert edit_distance("kitten", "sitting") == 3
