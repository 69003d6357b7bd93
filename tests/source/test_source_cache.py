"""The content cache: unchanged content is not parsed again; changes, new check versions and
corrupt cache files are handled; many files are parsed in worker processes identically."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gitkube.source.loader as load_module
from gitkube.settings import Settings
from gitkube.source.tree import WorkTree
from tests.gitrepo import GitRepo
from tests.source.sourcetest import load

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"

calls: list[str] = []


def counting_check(obj: dict[str, Any]) -> list[Any]:
    """A stand-in per-object check that records each call and returns one JSON issue."""
    name = obj["metadata"]["name"]
    calls.append(name)
    return [{"path": ["metadata", "name"], "message": f"seen {name}"}]


def make_tree(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"cm{i:03}.yaml").write_text(CM.format(name=f"c{i}"))


def age(root: Path, seconds: float = 10) -> None:
    """Backdate every file: the stat index trusts only files older than its last write."""
    past = time.time() - seconds
    for path in root.rglob("*.yaml"):
        os.utime(path, (past, past))


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


def test_second_run_parses_nothing(tmp_path: Path) -> None:
    make_tree(tmp_path / "m", 5)
    age(tmp_path / "m")
    first = load(tmp_path / "m", check=counting_check, check_version="t1")
    assert first.parsed_files == 5 and len(calls) == 5
    assert list(Settings.from_env(os.environ).cache_dir.glob("source-*.marshal"))
    calls.clear()
    second = load(tmp_path / "m", check=counting_check, check_version="t1")
    assert second.parsed_files == 0 and calls == []
    assert second.checked == first.checked == [[{"path": ["metadata", "name"],
                                                 "message": f"seen c{i}"}] for i in range(5)]
    assert [d.obj for d in second.documents] == [d.obj for d in first.documents]
    assert second.documents[2].locate(["metadata", "name"]) == (4, 3)


def test_unchanged_files_are_not_even_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path / "m", 3)
    age(tmp_path / "m")
    load(tmp_path / "m")
    read: list[int] = []
    original = WorkTree.read

    def spy(self: Any, entries: list[Any]) -> Any:
        read.append(len(entries))
        return original(self, entries)

    monkeypatch.setattr(WorkTree, "read", spy)
    assert load(tmp_path / "m").parsed_files == 0
    assert read == []


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    make_tree(tmp_path / "m", 4)
    age(tmp_path / "m")
    load(tmp_path / "m", check=counting_check, check_version="t1")
    calls.clear()
    (tmp_path / "m" / "cm002.yaml").write_text(CM.format(name="changed"))
    result = load(tmp_path / "m", check=counting_check, check_version="t1")
    assert result.parsed_files == 1 and calls == ["changed"]
    assert [d.obj["metadata"]["name"] for d in result.documents] == ["c0", "c1", "changed", "c3"]


def test_same_size_same_second_edit_is_not_missed(tmp_path: Path) -> None:
    """An edit that keeps size and lands in the same clock tick must still be seen."""
    make_tree(tmp_path / "m", 1)
    path = tmp_path / "m" / "cm000.yaml"
    load(tmp_path / "m")
    stat = path.stat()
    path.write_text(CM.format(name="c9"))  # same length as "c0"
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load(tmp_path / "m").documents[0].obj["metadata"]["name"] == "c9"


def test_content_cache_is_shared_by_revision_and_work_tree(
        git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    make_tree(repo.root / "m", 3)
    repo.commit()
    assert load(repo.root / "m").parsed_files == 3
    assert load(repo.root / "m", "HEAD").parsed_files == 0
    (repo.root / "m" / "cm000.yaml").write_text(CM.format(name="new"))
    assert load(repo.root / "m").parsed_files == 1
    assert load(repo.root / "m", "HEAD").parsed_files == 0  # the old blob is still cached


def test_a_new_check_version_checks_again(tmp_path: Path) -> None:
    make_tree(tmp_path / "m", 2)
    load(tmp_path / "m", check=counting_check, check_version="t1")
    calls.clear()
    assert load(tmp_path / "m", check=counting_check, check_version="t2").parsed_files == 2
    assert calls == ["c0", "c1"]


@pytest.mark.parametrize("garbage", [b"", b"\x00\x01garbage", b"\xfb\x00\x00",
                                     bytes(range(256)) * 4])
def test_corrupt_cache_files_are_ignored_and_rebuilt(tmp_path: Path, garbage: bytes) -> None:
    make_tree(tmp_path / "m", 2)
    age(tmp_path / "m")
    load(tmp_path / "m")
    for cache_file in Settings.from_env(os.environ).cache_dir.glob("source-*.marshal"):
        cache_file.write_bytes(garbage)
    result = load(tmp_path / "m")
    assert result.parsed_files == 2 and result.diagnostics == []
    assert load(tmp_path / "m").parsed_files == 0


@pytest.mark.parametrize("kind", ["index", "blobs"])
def test_a_truncated_cache_file(tmp_path: Path, kind: str) -> None:
    make_tree(tmp_path / "m", 2)
    age(tmp_path / "m")
    load(tmp_path / "m")
    (cache_file,) = Settings.from_env(os.environ).cache_dir.glob(f"source-*.{kind}.marshal")
    cache_file.write_bytes(cache_file.read_bytes()[:-20])
    result = load(tmp_path / "m")
    assert len(result.documents) == 2 and result.diagnostics == []
    assert result.parsed_files == (2 if kind == "blobs" else 0)  # the index only has stats


def test_an_unwritable_cache_only_costs_time(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GITKUBE_STATE_DIR", str(blocker))
    make_tree(tmp_path / "m", 1)
    assert len(load(tmp_path / "m").documents) == 1


def test_bad_input_results_are_cached_too(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "bad.yaml").write_text("a: [\n")
    first = load(tmp_path / "m")
    second = load(tmp_path / "m")
    assert second.parsed_files == 0
    assert second.diagnostics == first.diagnostics and first.diagnostics[0].code == "yaml-syntax"


def test_worker_processes_give_the_same_result(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path / "m", 30)
    (tmp_path / "m" / "bad.yaml").write_text("a: [\n")
    serial = load(tmp_path / "m", check=counting_check, check_version="s", use_cache=False)
    monkeypatch.setattr(load_module, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setenv("GITKUBE_JOBS", "2")
    parallel = load(tmp_path / "m", check=counting_check, check_version="s", use_cache=False)
    assert parallel.parsed_files == 31
    assert [d.obj for d in parallel.documents] == [d.obj for d in serial.documents]
    assert parallel.checked == serial.checked
    assert parallel.diagnostics == serial.diagnostics


def broken_check(obj: dict[str, Any]) -> list[Any]:
    raise KeyError("bug")


def test_a_failing_check_is_a_diagnostic_not_a_traceback(tmp_path: Path) -> None:
    make_tree(tmp_path / "m", 1)
    result = load(tmp_path / "m", check=broken_check, check_version="broken")
    assert [d.code for d in result.diagnostics] == ["internal-error"]
    assert result.diagnostics[0].object == "ConfigMap/c0"
    assert len(result.documents) == 1
