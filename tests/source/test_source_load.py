"""load(): directories and git revisions, ignore rules, List expansion, positions, and every
kind of bad input reported as a diagnostic (or a usage error) rather than a traceback."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitkube.diagnostics import Diagnostic
from gitkube.errors import UsageError
from gitkube.source import LoadResult
from tests.gitrepo import GitRepo
from tests.source.sourcetest import load

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: value\n"


def cm(name: str) -> str:
    return CM.format(name=name)


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def names(result: LoadResult) -> list[str]:
    return [d.obj["metadata"]["name"] for d in result.documents]


def codes(result: LoadResult) -> list[tuple[str | None, str]]:
    return [(d.file, d.code) for d in result.diagnostics]


def only(result: LoadResult, code: str) -> Diagnostic:
    found = [d for d in result.diagnostics if d.code == code]
    assert len(found) == 1, result.diagnostics
    return found[0]


def test_reads_yaml_and_json_recursively_in_path_order(tmp_path: Path) -> None:
    write(tmp_path, {
        "b.yaml": cm("b1") + "---\n" + cm("b2"),
        "a/x.yml": cm("x"),
        "a/y.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}}',
        "notes.txt": "not a manifest",
        "README.md": "# hi",
    })
    result = load(tmp_path)
    assert result.diagnostics == []
    assert names(result) == ["x", "y", "b1", "b2"]
    assert [(d.file, d.index) for d in result.documents] == [
        ("a/x.yml", 0), ("a/y.json", 0), ("b.yaml", 0), ("b.yaml", 1)]
    assert result.files == 3
    assert all(len(d.blob_id) == 40 for d in result.documents)


def test_blob_ids_match_git(git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    repo.commit(files={"a.yaml": cm("a")})
    expected = repo.git("rev-parse", "HEAD:a.yaml")
    assert load(repo.root).documents[0].blob_id == expected
    assert load(repo.root, "HEAD").documents[0].blob_id == expected


def test_hidden_directories_and_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, {".github/workflow.yaml": "on: push\n", ".hidden.yaml": "x: [",
                     "sub/.git-crypt/k.yaml": "{", "ok.yaml": cm("ok")})
    result = load(tmp_path)
    assert names(result) == ["ok"] and result.diagnostics == []


def test_gitkubeignore_uses_gitignore_syntax(tmp_path: Path) -> None:
    write(tmp_path, {
        ".gitkubeignore": "# comment\nbuild/\n*.draft.yaml\n!keep.draft.yaml\n/top.yaml\n",
        "build/out.yaml": "{",
        "app/build/out.yaml": "{",
        "a.draft.yaml": "{",
        "keep.draft.yaml": cm("keep"),
        "top.yaml": "{",
        "sub/top.yaml": cm("sub-top"),
    })
    result = load(tmp_path)
    assert result.diagnostics == []
    assert sorted(names(result)) == ["keep", "sub-top"]


def test_kind_list_is_expanded(tmp_path: Path) -> None:
    items = "".join(f"  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: i{i}\n"
                    for i in range(3))
    write(tmp_path, {"list.yaml": cm("before") + "---\napiVersion: v1\nkind: List\nitems:\n"
                     + items})
    result = load(tmp_path)
    assert names(result) == ["before", "i0", "i1", "i2"]
    assert [(d.index, d.item) for d in result.documents] == [(0, None), (1, 0), (1, 1), (1, 2)]
    # positions inside an item are relative to the item
    assert result.documents[3].locate(["metadata", "name"]) == (22, 7)


def test_positions_are_one_based_and_lazy(tmp_path: Path) -> None:
    write(tmp_path, {"d.yaml": "# head\n" + cm("one") + "---\n" + (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
        "  template:\n    spec:\n      containers:\n        - name: a\n          image: x\n"
        "        - name: b\n          image: y\n")})
    docs = load(tmp_path).documents
    assert docs[0].locate([]) == (2, 1)
    assert docs[0].locate(["metadata", "name"]) == (5, 3)
    deploy = docs[1]
    assert deploy.locate(["spec", "template", "spec", "containers", 1, "image"]) == (20, 11)
    # a missing field points at its nearest existing ancestor
    assert deploy.locate(["spec", "replicas"]) == (13, 1)
    assert deploy.locate(["spec", "template", "spec", "containers", 5]) == (16, 7)


def test_json_positions(tmp_path: Path) -> None:
    write(tmp_path, {"p.json": '{\n  "apiVersion": "v1",\n  "kind": "Pod",\n'
                     '  "metadata": {\n    "name": "p"\n  }\n}\n'})
    assert load(tmp_path).documents[0].locate(["metadata", "name"]) == (5, 5)


def test_positions_for_a_file_changed_after_loading_degrade_to_unknown(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": cm("a")})
    doc = load(tmp_path).documents[0]
    write(tmp_path, {"a.yaml": "\n\n\n" + cm("a")})
    assert doc.locate(["metadata", "name"]) == (0, 0)


# --- git revisions ---------------------------------------------------------------------


def test_revision_reads_an_older_commit_without_touching_the_work_tree(
        git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    old = repo.commit(files={"m/a.yaml": cm("old-a"), "m/gone.yaml": cm("gone")})
    repo.commit(files={"m/a.yaml": cm("new-a")})
    (repo.root / "m" / "gone.yaml").unlink()
    repo.git("commit", "-qam", "remove")
    repo.write({"m/a.yaml": cm("work-tree-a"), "m/untracked.yaml": cm("untracked")})
    repo.git("add", "m/untracked.yaml")  # staged, so the index differs from HEAD too
    status = repo.git("status", "--porcelain")
    index = (repo.root / ".git" / "index").read_bytes()

    at_old = load(repo.root / "m", old[:10])
    assert names(at_old) == ["old-a", "gone"]
    assert at_old.commit == old
    assert names(load(repo.root / "m", "HEAD")) == ["new-a"]
    assert sorted(names(load(repo.root / "m"))) == ["untracked", "work-tree-a"]

    assert repo.git("status", "--porcelain") == status
    assert (repo.root / ".git" / "index").read_bytes() == index
    assert (repo.root / "m" / "a.yaml").read_text() == cm("work-tree-a")


def test_revision_of_a_directory_deleted_from_the_work_tree(
        git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    first = repo.commit(files={"old/a.yaml": cm("a")})
    repo.git("rm", "-rq", "old")
    repo.commit()
    assert names(load(repo.root / "old", first)) == ["a"]


def test_revision_honours_ignore_file_hidden_dirs_and_lists(
        git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    rev = repo.commit(files={
        ".gitkubeignore": "skip/\n", "skip/x.yaml": "{", ".ci/x.yaml": "{",
        "l.yaml": "apiVersion: v1\nkind: List\nitems:\n- " + cm("i").replace("\n", "\n  "),
    })
    result = load(repo.root, rev)
    assert names(result) == ["i"] and result.diagnostics == []
    assert result.documents[0].locate(["metadata", "name"]) == (7, 5)


def test_revision_errors(git_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    repo = git_repo()
    repo.commit(files={"m/a.yaml": cm("a")})
    with pytest.raises(UsageError, match="unknown revision"):
        load(repo.root, "no-such-branch")
    with pytest.raises(UsageError, match="unknown revision"):
        load(repo.root, "--output=/tmp/x")
    with pytest.raises(UsageError, match="does not exist at revision"):
        load(repo.root / "nope", "HEAD")
    with pytest.raises(UsageError, match="not a directory"):
        load(repo.root / "m" / "a.yaml", "HEAD")
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(UsageError, match="needs a git repository") as info:
        load(outside, "HEAD")
    assert info.value.exit_code == 2 and info.value.hint


def test_path_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load(tmp_path / "missing")
    (tmp_path / "f.yaml").write_text(cm("f"))
    with pytest.raises(UsageError, match="not a directory"):
        load(tmp_path / "f.yaml")


# --- bad input ---------------------------------------------------------------------------


def test_invalid_yaml_is_a_diagnostic_with_position(tmp_path: Path) -> None:
    write(tmp_path, {"bad.yaml": cm("first") + "---\nmetadata:\n  name: [x\n", "ok.yaml": cm("ok")})
    result = load(tmp_path)
    d = only(result, "yaml-syntax")
    assert (d.file, d.line) == ("bad.yaml", 10)
    assert d.render().startswith("bad.yaml:10:")
    assert sorted(names(result)) == ["first", "ok"]  # the rest is still read


def test_tabs(tmp_path: Path) -> None:
    write(tmp_path, {"t.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n"})
    d = only(load(tmp_path), "yaml-syntax")
    assert d.line == 4 and d.hint is not None and "tab" in d.hint


def test_duplicate_keys(tmp_path: Path) -> None:
    write(tmp_path, {"d.yaml": cm("a") + "kind: Secret\n"})
    d = only(load(tmp_path), "yaml-duplicate-key")
    assert (d.line, d.column) == (7, 1) and "line 2" in d.message


def test_alias_bomb(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    write(tmp_path, {"bomb.yaml": "\n".join(lines) + "\n"})
    d = only(load(tmp_path), "yaml-alias-bomb")
    assert d.file == "bomb.yaml" and d.line > 0


def test_documents_that_are_not_mappings(tmp_path: Path) -> None:
    write(tmp_path, {"s.yaml": cm("a") + "---\n- just\n- a list\n---\nplain scalar\n---\n",
                     "j.json": "[1, 2]"})
    result = load(tmp_path)
    assert [(d.file, d.line, d.code) for d in result.diagnostics] == [
        ("j.json", 1, "not-a-mapping"), ("s.yaml", 8, "not-a-mapping"),
        ("s.yaml", 11, "not-a-mapping")]
    assert names(result) == ["a"]  # the empty last document is skipped silently


def test_missing_api_version_or_kind(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": "kind: ConfigMap\nmetadata:\n  name: a\n---\n"
                     "apiVersion: v1\nmetadata:\n  name: b\n---\nmetadata: {name: c}\n"})
    result = load(tmp_path)
    assert [(d.line, d.object, d.message) for d in result.diagnostics] == [
        (1, "ConfigMap/a", "document 1 has no apiVersion"),
        (5, None, "document 2 has no kind"),
        (9, None, "document 3 has no apiVersion and kind"),
    ]
    assert result.documents == []


def test_binary_files(tmp_path: Path) -> None:
    write(tmp_path, {"image.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"})
    d = only(load(tmp_path), "binary-file")
    assert d.file == "image.yaml"


def test_non_utf8_text(tmp_path: Path) -> None:
    text = "kind: ConfigMap\ndata:\n  city: Z\xfcrich\n"
    write(tmp_path, {"latin1.yaml": text.encode("latin-1")})
    d = only(load(tmp_path), "encoding")
    assert (d.line, d.column) == (3, 10) and "0xfc" in d.message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, {"bom.yaml": b"\xef\xbb\xbf" + cm("bom").encode()})
    assert names(load(tmp_path)) == ["bom"]


def test_files_above_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"big.yaml": cm("big") + "#" * 2000 + "\n", "small.yaml": cm("small")})
    monkeypatch.setenv("GITKUBE_MAX_FILE_BYTES", "1000")
    result = load(tmp_path)
    d = only(result, "file-too-large")
    assert d.file == "big.yaml" and "1,000" in d.message
    assert names(result) == ["small"]
    monkeypatch.setenv("GITKUBE_MAX_FILE_BYTES", "lots")
    with pytest.raises(UsageError):
        load(tmp_path)


def test_size_limit_applies_to_revisions(git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    rev = repo.commit(files={"big.yaml": cm("big") + "#" * 2000 + "\n"})
    assert only(load(repo.root, rev, max_bytes=1000), "file-too-large").file == "big.yaml"


def test_symlinks_leaving_the_repository(tmp_path: Path, git_repo: Callable[..., GitRepo]) -> None:
    secret = tmp_path / "outside"
    write(secret, {"s.yaml": cm("outside"), "dir/t.yaml": cm("outside-dir")})
    repo = git_repo()
    repo.write({"m/in.yaml": cm("in"), "shared/base.yaml": cm("base")})
    m = repo.root / "m"
    os.symlink(secret / "s.yaml", m / "abs.yaml")
    os.symlink("../../outside/dir", m / "reldir")
    os.symlink("../shared/base.yaml", m / "base.yaml")  # leaves m/ but not the repository
    os.symlink("nowhere.yaml", m / "broken.yaml")
    rev = repo.commit()
    for result in (load(m), load(m, rev)):
        assert sorted(names(result)) == ["base", "in"]
        assert codes(result) == [("abs.yaml", "symlink-outside"), ("broken.yaml", "broken-symlink"),
                                 ("reldir", "symlink-outside")]


def test_symlink_outside_a_plain_directory(tmp_path: Path) -> None:
    write(tmp_path, {"other/o.yaml": cm("o"), "m/a.yaml": cm("a")})
    os.symlink(tmp_path / "other", tmp_path / "m" / "linked")
    result = load(tmp_path / "m")
    assert codes(result) == [("linked", "symlink-outside")]


def test_symlink_loop_inside_the_tree_terminates(tmp_path: Path) -> None:
    write(tmp_path, {"a/x.yaml": cm("x")})
    os.symlink("..", tmp_path / "a" / "up")
    result = load(tmp_path)
    assert "x" in names(result)


def test_positions_of_documents_before_a_syntax_error(tmp_path: Path) -> None:
    write(tmp_path, {"f.yaml": cm("first") + "---\ndata: [\n"})
    result = load(tmp_path)
    assert names(result) == ["first"]
    assert result.documents[0].locate(["metadata", "name"]) == (4, 3)


def test_positions_in_tab_indented_json(tmp_path: Path) -> None:
    write(tmp_path, {"p.json": '{\n\t"apiVersion": "v1",\n\t"kind": "Pod",\n'
                     '\t"metadata": {\n\t\t"name": "p"\n\t}\n}\n'})
    assert load(tmp_path).documents[0].locate(["metadata", "name"]) == (5, 3)


def test_symlinked_directory_inside_the_repository(git_repo: Callable[..., GitRepo]) -> None:
    repo = git_repo()
    repo.write({"m/a.yaml": cm("a"), "shared/lib/s.yaml": cm("shared")})
    os.symlink("../shared/lib", repo.root / "m" / "lib")
    rev = repo.commit()
    for result in (load(repo.root / "m"), load(repo.root / "m", rev)):
        assert result.diagnostics == []
        assert [(d.file, d.obj["metadata"]["name"]) for d in result.documents] == [
            ("a.yaml", "a"), ("lib/s.yaml", "shared")]
