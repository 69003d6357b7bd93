"""Pod priority rules (pure): classes, the global default, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.model.priority import (
    HIGHEST_USER_DEFINABLE,
    PriorityRefused,
    class_problems,
    resolve,
)

Obj = dict[str, Any]


def pc(name: str, value: int, **more: Any) -> Obj:
    return {"metadata": {"name": name}, "value": value, **more}


def test_a_named_class_gives_its_value_and_policy() -> None:
    classes = {"high": pc("high", 1000, preemptionPolicy="Never")}
    found = resolve({"priorityClassName": "high"}, classes)
    assert (found.class_name, found.value, found.preemption_policy) == ("high", 1000, "Never")


def test_builtin_classes_are_known_without_being_stored() -> None:
    assert resolve({"priorityClassName": "system-node-critical"}, {}).value == 2_000_001_000
    assert resolve({"priorityClassName": "system-cluster-critical"}, {}).value == \
        2_000_000_000


def test_no_class_means_the_global_default_or_zero() -> None:
    assert resolve({}, {}).value == 0 and resolve({}, {}).class_name == ""
    classes = {"std": pc("std", 50, globalDefault=True), "other": pc("other", 70)}
    found = resolve({}, classes)
    assert (found.class_name, found.value) == ("std", 50)


def test_refusals_as_upstream_words_them() -> None:
    with pytest.raises(PriorityRefused, match="no PriorityClass with name nope was found"):
        resolve({"priorityClassName": "nope"}, {})
    with pytest.raises(PriorityRefused, match=r"the integer value of priority \(5\) must not"):
        resolve({"priorityClassName": "high", "priority": 5}, {"high": pc("high", 1000)})
    assert resolve({"priorityClassName": "high", "priority": 1000},
                   {"high": pc("high", 1000)}).value == 1000


@pytest.mark.parametrize(("obj", "field"), [
    (pc("system-mine", 10), "metadata.name"),
    (pc("system-node-critical", 10), "value"),
    (pc("huge", HIGHEST_USER_DEFINABLE + 1), "value"),
])
def test_class_problems(obj: Obj, field: str) -> None:
    assert [p[0] for p in class_problems(obj)] == [field]


def test_good_classes_have_no_problems() -> None:
    assert class_problems(pc("high", HIGHEST_USER_DEFINABLE)) == []
    assert class_problems(pc("system-cluster-critical", 2_000_000_000)) == []
