"""gitkube.validate: the orchestration of load + cache + schema checks, and load_valid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitkube.errors import ValidationFailed
from gitkube.source.cache import ContentCache
from tests.gitrepo import GitRepo
from tests.source.sourcetest import load_valid, validate

NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\n"


def tree(root: Path, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / f"{name}.yaml").write_text(text)
    return root


def test_load_valid_returns_the_documents(tmp_path: Path) -> None:
    root = tree(tmp_path / "m", ns=NS, cm=CM.format(name="a"))
    result = load_valid(root)
    assert [d.obj["kind"] for d in result.documents] == ["ConfigMap", "Namespace"]
    assert result.diagnostics == []


def test_load_valid_raises_with_every_diagnostic(tmp_path: Path) -> None:
    root = tree(tmp_path / "m", ns=NS, cm=CM.format(name="Bad_Name"), broken="a: [\n")
    with pytest.raises(ValidationFailed) as info:
        load_valid(root)
    codes = {d.code for d in info.value.diagnostics}
    assert "yaml-syntax" in codes and len(info.value.diagnostics) >= 2
    assert info.value.exit_code == 1


def test_an_unchanged_tree_reuses_its_report_without_reading_content(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree(tmp_path / "m", ns=NS, cm=CM.format(name="Bad_Name"))
    first = validate(root)
    assert first.result is not None and not first.valid

    def no_blobs(self: ContentCache) -> None:
        raise AssertionError("the parsed content was read")

    with monkeypatch.context() as m:
        m.setattr(ContentCache, "blobs", property(no_blobs))
        second = validate(root)
    assert second.result is None
    assert second.diagnostics == first.diagnostics
    assert (second.documents, second.files) == (2, 2)

    (root / "cm.yaml").write_text(CM.format(name="good"))
    third = validate(root)
    assert third.valid and third.result is not None


def test_the_report_is_remembered_per_revision(tmp_path: Path,
                                                git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    bad = repo.commit(files={"ns.yaml": NS, "cm.yaml": CM.format(name="Bad_Name")})
    good = repo.commit(files={"cm.yaml": CM.format(name="good")})
    assert not validate(repo.root, bad).valid
    assert validate(repo.root, good).valid
    assert not validate(repo.root, bad).valid
    assert validate(repo.root, good).commit == good
