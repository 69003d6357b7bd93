"""Positions from libyaml's marks: the same as ruamel.yaml's round-trip loader places them
(the reference, and what gitkube used before), and computed once, while parsing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitkube.source import positions
from gitkube.source.positions import node_position
from gitkube.source.yamlfast import compose_nodes, parse_yaml
from gitkube.validate import validate

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "manifests").glob("*.yaml"),
                *(ROOT / "tests" / "data" / "positions" / "tree").rglob("*.yaml"),
                ROOT / "tests" / "data" / "upstream" / "online-boutique" /
                "kubernetes-manifests.yaml"])
Path_ = tuple[str | int, ...]


def _round_trip_position(root: Any, path: Path_) -> tuple[int, int]:
    """The reference: ruamel.yaml's round-trip containers record where each key and item
    is written; walk ``path`` as far as it exists."""
    line, column = root.lc.line, root.lc.col
    node = root
    for part in path:
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        try:
            if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
                line, column = lc.item(part)
                node = node[part]
            elif isinstance(part, str) and isinstance(node, dict) and part in node:
                line, column = lc.key(part)
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return (line + 1, column + 1)


def _paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every path in ``value``, and beside each container a key and an index that are not
    there (a missing field is placed at its nearest parent)."""
    yield prefix
    if isinstance(value, dict):
        yield (*prefix, "no-such-field")
        for key, child in value.items():
            yield from _paths(child, (*prefix, str(key)))
    elif isinstance(value, list):
        yield (*prefix, len(value))
        for i, child in enumerate(value):
            yield from _paths(child, (*prefix, i))


@pytest.mark.parametrize("file", FILES, ids=[f.name for f in FILES])
def test_every_path_is_placed_where_the_round_trip_loader_places_it(file: Path) -> None:
    data = file.read_bytes()
    parsed, _problem = parse_yaml(data)
    nodes, _complete = compose_nodes(data)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True
    reference: list[Any] = []
    try:
        for doc in yaml.load_all(data.decode()):
            reference.append(doc)
    except Exception:  # documents after a syntax error have no positions either way
        pass
    compared = 0
    for (value, _line, _col), node, rt in zip(parsed, nodes, reference, strict=False):
        if not isinstance(value, dict):
            continue
        for path in _paths(value):
            assert node_position(node, path) == _round_trip_position(rt, path), (file, path)
            compared += 1
    assert compared >= 5


def test_issue_positions_are_found_while_parsing_and_cached(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """A file with problems is not composed a second time to place them, neither on the
    cold run nor on a warm one after another file changed."""
    tree = tmp_path / "m"
    tree.mkdir()
    (tree / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
                                 "dta:\n  x: y\n")
    (tree / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n")

    def no_second_parse(_data: bytes) -> list[Any]:
        raise AssertionError("a file was parsed again for positions")

    monkeypatch.setattr(positions, "compose_text", no_second_parse)
    from gitkube.source.loader import SourceOptions

    options = SourceOptions(cache_dir=tmp_path / "cache")
    first = validate(tree, options=options)
    [d] = first.diagnostics
    assert (d.file, d.line, d.column, d.code) == ("a.yaml", 5, 1, "unknown-field")
    (tree / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bb\n")
    second = validate(tree, options=options)
    assert second.diagnostics == first.diagnostics
    assert second.result is not None and second.result.parsed_files == 1  # b.yaml only


def test_cross_document_problems_are_placed_on_demand(tmp_path: Path) -> None:
    """Positions no per-object problem named (a duplicate's metadata.name) are found by
    composing the file again, quickly, with the same parser."""
    tree = tmp_path / "m"
    tree.mkdir()
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n  name: same\n"
    (tree / "a.yaml").write_text(cm + "---\n" + cm)
    report = validate(tree)
    assert [(d.line, d.column, d.code) for d in report.diagnostics] == [
        (5, 3, "duplicate-object"), (11, 3, "duplicate-object")]
