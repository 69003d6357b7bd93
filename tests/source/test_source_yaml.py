"""The fast YAML/JSON reader: values as kubectl reads them, and every refusal."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gitkube.source.yamlfast import (
    ALIAS_EXPANSION_LIMIT,
    MAX_DEPTH,
    Problem,
    parse_json,
    parse_yaml,
    resolve_plain,
)


def values(text: str) -> list[Any]:
    docs, problem = parse_yaml(text.encode())
    assert problem is None, problem
    return [value for value, _line, _col in docs]


def problem_of(text: str | bytes) -> Problem:
    data = text.encode() if isinstance(text, str) else text
    _docs, problem = parse_yaml(data)
    assert problem is not None
    return problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True), ("On", True), ("true", True), ("no", False), ("OFF", False),
        ("~", None), ("null", None), ("", None),
        ("42", 42), ("-7", -7), ("0x1F", 31), ("0o17", 15), ("017", 15), ("1_000", 1000),
        ("1.5", 1.5), ("1e3", 1000.0), (".5", 0.5),
        ("2024-01-01", "2024-01-01"), ("100m", "100m"), ("1.5Gi", "1.5Gi"), ("web", "web"),
        ("-", "-"), ("+", "+"), (".", "."),
    ],
)
def test_plain_scalars_resolve_like_kubectl(text: str, expected: object) -> None:
    assert resolve_plain(text) == expected
    assert type(resolve_plain(text)) is type(expected)


def test_special_floats() -> None:
    assert resolve_plain(".inf") == math.inf
    assert math.isnan(resolve_plain(".nan"))


def test_quoted_and_explicitly_tagged_scalars() -> None:
    assert values("a: '1'\nb: \"yes\"\nc: !!str 2\nd: !!int '3'\ne: !!float 4\n") == [
        {"a": "1", "b": "yes", "c": "2", "d": 3, "e": 4.0}
    ]


def test_keys_are_always_strings() -> None:
    assert values("1: a\nyes: b\n") == [{"1": "a", "yes": "b"}]


def test_multi_document_streams_keep_indexes_and_start_lines() -> None:
    docs, problem = parse_yaml(b"a: 1\n---\n---\n- x\n---\nb: 2\n")
    assert problem is None
    assert [(v, line) for v, line, _c in docs] == [({"a": 1}, 1), (None, 3), (["x"], 4),
                                                  ({"b": 2}, 6)]


def test_anchors_aliases_and_merge_keys() -> None:
    text = "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nsame: *b\n"
    assert values(text) == [{"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3},
                             "same": {"x": 1, "y": 2}}]


def test_invalid_yaml_reports_line_and_column() -> None:
    problem = problem_of("a: 1\nb: [1, 2\nc: 3\n")
    assert problem.code == "yaml-syntax"
    assert (problem.line, problem.column) == (3, 2)
    assert "flow sequence" in problem.message


def test_tabs_in_indentation() -> None:
    problem = problem_of("metadata:\n\tname: x\n")
    assert problem.code == "yaml-syntax"
    assert problem.line == 2
    assert problem.hint is not None and "tab" in problem.hint


def test_duplicate_keys_name_both_lines() -> None:
    problem = problem_of("kind: Pod\nmetadata:\n  name: a\n  name: b\n")
    assert problem.code == "yaml-duplicate-key"
    assert (problem.line, problem.column) == (4, 3)
    assert "'name'" in problem.message and "line 3" in problem.message


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    problem = problem_of("\n".join(lines) + "\n")
    assert problem.code == "yaml-alias-bomb"
    assert f"{ALIAS_EXPANSION_LIMIT:,}" in problem.message
    assert problem.line > 1


def test_long_scalars_count_towards_the_alias_limit() -> None:
    text = f"a: &a {'x' * 100_000}\nb: [" + ", ".join(["*a"] * 100) + "]\n"
    assert problem_of(text).code == "yaml-alias-bomb"


def test_modest_aliasing_is_fine() -> None:
    text = "c: &c {name: x, image: y}\nlist: [" + ", ".join(["*c"] * 200) + "]\n"
    assert len(values(text)[0]["list"]) == 200


def test_recursive_alias() -> None:
    assert problem_of("a: &a [*a]\n").code == "yaml-recursive-alias"


def test_undefined_alias() -> None:
    problem = problem_of("a: *nothing\n")
    assert problem.code == "yaml-syntax" and "alias" in problem.message


@pytest.mark.parametrize("text", [
    "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5),
    "- " * 50_000 + "x",  # deep enough to overflow libyaml's C stack if it were composed
    "a: " + "[" * 40_000 + "]" * 40_000,
])
def test_deep_nesting_is_refused_without_crashing(text: str) -> None:
    assert problem_of(text).code == "yaml-too-deep"


def test_unknown_tags_and_complex_keys() -> None:
    assert problem_of("a: !Ref x\n").code == "yaml-tag"
    assert problem_of("? [a, b]\n: c\n").code == "yaml-complex-key"
    assert problem_of("a: !!int x\n").code == "yaml-tag"


def test_control_characters() -> None:
    problem = problem_of(b"a: 1\nb: \x07\n")
    assert problem.code == "yaml-syntax"
    assert (problem.line, problem.column) == (2, 4)


def test_documents_before_an_error_are_kept() -> None:
    docs, problem = parse_yaml(b"a: 1\n---\nb: [\n")
    assert [v for v, _l, _c in docs] == [{"a": 1}]
    assert problem is not None and problem.document == 1


def test_json() -> None:
    docs, problem = parse_json(b'{"kind": "Pod", "n": 1.5}')
    assert problem is None and docs[0][0] == {"kind": "Pod", "n": 1.5}
    _docs, problem = parse_json(b'{\n  "a": 1,\n}')
    assert problem is not None and problem.code == "json-syntax" and problem.line == 3
    _docs, problem = parse_json(b'{"a": 1, "a": 2}')
    assert problem is not None and problem.code == "json-duplicate-key"


def test_random_fragments_never_raise() -> None:
    """Bad input of any shape is a Problem, never an exception (a small seeded fuzz)."""
    import random

    from gitkube.source.parse import parse_content

    pieces = [b"a", b":", b" ", b"\n", b"- ", b"[", b"]", b"{", b"}", b"&x ", b"*x", b"<<: ",
              b"!!str ", b"!!int ", b"? ", b"---\n", b"'", b'"', b"\t", b"#", b"|\n",
              b"kind: List\n", b"items:\n", b"apiVersion: v1\n", b"0x", b"1", b".", b"~",
              b"\xc3", b"\xff", b"%YAML 1.1\n", b"!foo", b"!!map ", b"!!seq ", b",", b"\x00"]
    rng = random.Random(2)
    for _ in range(2000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        parse_content("f.yaml", data)
        parse_content("f.json", data)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 900, 50_000])
def test_deep_json_is_refused_where_it_goes_too_deep(depth: int) -> None:
    head = b'{"apiVersion": "v1",\n "data": '
    docs, problem = parse_json(head + b"[" * depth + b'"]"' + b"]" * depth + b"}")
    assert docs == [] and problem is not None and problem.code == "json-too-deep"
    # the bracket at which nesting passes the limit (brackets inside strings not counted)
    assert (problem.line, problem.column) == (2, len(' "data": ') + MAX_DEPTH + 1)


def test_json_as_deep_as_allowed_is_read() -> None:
    depth = MAX_DEPTH
    docs, problem = parse_json(b"[" * depth + b"]" * depth)
    assert problem is None and docs
