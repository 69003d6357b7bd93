"""The exception tree of gitkube/errors.py: every public exception of the package is a
GitkubeError, the module docstring's drawing names it (with its module when it lives
elsewhere), and no two exception classes share a name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections import defaultdict

import pytest

import gitkube
import gitkube.errors
from gitkube.api.server.protobuf import MalformedProtobuf, UndecodableProtobuf
from gitkube.errors import GitkubeError
from gitkube.model.labels import SelectorError, parse_label_selector
from gitkube.model.patch import PatchError, json_patch

# A rename made in parallel on another branch: the drawing already uses the new name.
# Drop an entry once the class carries its new name.
PENDING_RENAMES = {("gitkube.agents.kubelet.volumes", "ConfigError"): "ContainerConfigError"}


def _exception_classes() -> list[type[BaseException]]:
    found: dict[tuple[str, str], type[BaseException]] = {}
    for info in pkgutil.walk_packages(gitkube.__path__, "gitkube."):
        if info.name.endswith(".__main__"):  # runs a program when imported
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.__name__):
                found[value.__module__, value.__qualname__] = value
    return list(found.values())


CLASSES = _exception_classes()
PUBLIC = [c for c in CLASSES if not c.__name__.startswith("_")]
TREE = gitkube.errors.__doc__ or ""


def _drawn_name(cls: type[BaseException]) -> str:
    return PENDING_RENAMES.get((cls.__module__, cls.__name__), cls.__name__)


def test_every_module_was_searched() -> None:
    assert len(PUBLIC) > 30
    assert any(c.__name__ == "NftError" for c in PUBLIC)


def test_every_public_exception_is_a_gitkube_error() -> None:
    assert [c.__qualname__ for c in PUBLIC if not issubclass(c, GitkubeError)] == []


def test_the_drawing_names_every_public_exception_and_its_module() -> None:
    lines = TREE.splitlines()
    missing = []
    for cls in PUBLIC:
        name = _drawn_name(cls)
        at = [i for i, line in enumerate(lines) if re.search(rf"\b{name}\b", line)]
        if not at:
            missing.append(f"{name} is not drawn")
            continue
        if cls.__module__ == "gitkube.errors":
            continue
        path = cls.__module__.removeprefix("gitkube.").replace(".", "/") + ".py"
        # the module is on the class's line, or on the line below it
        if not any(path in " ".join(lines[i:i + 2]) for i in at):
            missing.append(f"{name}: {path} is not named beside it")
    assert missing == []


def test_the_private_ones_are_named_as_left_out() -> None:
    private = [c.__name__ for c in CLASSES if c.__name__.startswith("_")]
    assert private, "no private exception is left: drop this test and the docstring's note"
    assert [name for name in private if f"``{name}``" not in TREE] == []


def test_one_name_one_exception() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    for cls in PUBLIC:
        homes[_drawn_name(cls)].append(cls.__module__)
    assert {name: where for name, where in homes.items() if len(where) > 1} == {}


@pytest.mark.parametrize(
    "cls", [PatchError, SelectorError, UndecodableProtobuf, MalformedProtobuf])
def test_former_value_errors_are_still_value_errors(cls: type[Exception]) -> None:
    """Callers that caught ValueError before these joined the tree still catch them."""
    assert issubclass(cls, GitkubeError)
    assert issubclass(cls, ValueError)


def test_selector_and_patch_errors_are_caught_as_value_errors() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        parse_label_selector("a in (b")
    with pytest.raises(ValueError, match="does not exist"):
        json_patch({}, [{"op": "remove", "path": "/a"}])
