"""The positions of an error-bearing tree, pinned: tests/data/positions/tree/ validated must
give exactly tests/data/positions/expected.json (every diagnostic's file, line, column,
path, code, message and hint). Recorded with the round-trip parser that positions came from
before the fast parser's own marks replaced it (``UPDATE_GOLDEN=1`` rewrites it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cliapp import app

DATA = Path(__file__).resolve().parents[1] / "data" / "positions"


def _report(root: Path) -> str:
    result = CliRunner().invoke(app, ["validate", str(root.name), "-o", "json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    return json.dumps(data["diagnostics"], indent=1) + "\n"


def test_positions_of_an_error_bearing_tree(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(DATA / "tree", tmp_path / "tree")
    monkeypatch.chdir(tmp_path)
    got = _report(tmp_path / "tree")
    expected = DATA / "expected.json"
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")
    # the same again from the cache (positions included), and after one file changed
    assert _report(tmp_path / "tree") == got
    web = tmp_path / "tree" / "apps" / "web.yaml"
    web.write_text(web.read_text() + "\n")
    assert _report(tmp_path / "tree") == got
