"""The package layering of docs/ARCHITECTURE.md, enforced on the source's import statements.

Top to bottom: cli -> gitops | daemon | api.server -> plan | agents -> api -> schema | source
| store | runtime -> model. Only store/ talks to SQLite or etcd, only runtime/ to Podman;
agents never import each other except through the shared manager and event recorder.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gitkube"

# The composition roots may wire sibling agents together; nothing else may.
AGENT_ROOTS = {"converge", "compose"}
AGENT_SHARED = {"manager", "events"}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(rel.parts), path


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _layer(module: str) -> str:
    """``gitkube.agents.scheduler.x`` -> ``agents.scheduler``; ``gitkube.api.server.y`` ->
    ``api.server``; ``gitkube.plan.diff`` -> ``plan``."""
    parts = module.split(".")[1:]
    if not parts:
        return ""
    if parts[0] == "agents" and len(parts) > 1:
        return f"agents.{parts[1]}"
    # the clients over HTTP (http_client, and stream_client for exec/attach/port-forward)
    # sit above the api layer, beside its server
    if parts[0] == "api" and len(parts) > 1 and parts[1] in ("server", "http_client",
                                                             "stream_client"):
        return f"api.{parts[1]}"
    return parts[0]


ALL = [(module, path, _imports(path)) for module, path in _modules()]


def _violations(rule: str, allowed: set[str], layers: set[str]) -> list[str]:
    bad = []
    for module, _path, imports in ALL:
        if _layer(module) not in layers:
            continue
        for name in imports:
            if name.startswith("gitkube.") and _layer(name) not in allowed | layers:
                bad.append(f"{module} imports {name} ({rule})")
    return bad


def test_every_module_was_read() -> None:
    assert len(ALL) > 50
    assert any(m == "gitkube.store.sqlite" for m, _, _ in ALL)


@pytest.mark.parametrize(
    ("layers", "allowed"),
    [
        ({"model"}, {"errors"}),
        ({"errors", "diagnostics", "procenv", "statedir"}, set()),
        ({"settings"}, {"model", "errors"}),
        ({"store"}, {"errors", "settings", "statedir"}),
        ({"schema", "source", "validate"},
         {"model", "errors", "diagnostics", "settings"}),
        ({"runtime"}, {"model", "errors", "settings", "procenv"}),
        ({"api"}, {"schema", "store", "model", "errors", "diagnostics", "settings"}),
        (
            {"plan"},
            {"api", "validate", "source", "schema", "store", "model", "errors", "diagnostics",
             "settings"},
        ),
    ],
    ids=["model", "base", "settings", "store", "schema+source", "runtime", "api", "plan"],
)
def test_lower_layers_do_not_import_upper_ones(layers: set[str], allowed: set[str]) -> None:
    assert _violations("layering", allowed, layers) == []


def test_plan_reads_the_store_only_through_its_value_types() -> None:
    """plan's live index reuses the api's store handle read-only (docs/PLAN.md); it may name
    the store's value types but never opens or writes a store itself."""
    for module, _path, imports in ALL:
        if _layer(module) == "plan":
            store_imports = {n for n in imports if n.startswith("gitkube.store")}
            assert store_imports <= {"gitkube.store.base"}, module


def test_agents_do_not_import_each_other() -> None:
    bad = []
    for module, _path, imports in ALL:
        layer = _layer(module)
        if not layer.startswith("agents.") or layer[7:] in AGENT_ROOTS | AGENT_SHARED:
            continue
        for name in imports:
            other = _layer(name)
            if other.startswith("agents.") and other != layer and other[7:] not in AGENT_SHARED:
                bad.append(f"{module} imports {name}")
    assert bad == []


def test_agents_and_api_never_import_the_cli() -> None:
    bad = [
        f"{module} imports {name}"
        for module, _path, imports in ALL
        for name in imports
        if name.startswith("gitkube.cli") and _layer(module) != "cli"
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("library", "owner"),
    [
        ("sqlite3", "gitkube.store."),
        ("etcd3gw", "gitkube.store."),
        ("podman", "gitkube.runtime."),
        ("watchfiles", "gitkube.gitops."),
        ("grpc", "gitkube.agents.kubelet.grpcprobe"),
    ],
)
def test_only_the_adapter_talks_to_its_library(library: str, owner: str) -> None:
    users = [
        module
        for module, _path, imports in ALL
        if any(n == library or n.startswith(library + ".") for n in imports)
    ]
    assert users, f"nothing imports {library}: the rule would be vacuous"
    assert [m for m in users if not m.startswith(owner)] == []


# Where the process environment may be touched: the entry points read settings from it
# (gitkube/cli/, through gitkube/settings.py's Settings.from_env), and procenv hands it on to
# the programs gitkube runs. Everything else gets its settings passed down.
ENVIRONMENT_ALLOWED = ("gitkube.cli", "gitkube.procenv")


def _environment_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "environb", "getenv",
                                                               "putenv", "unsetenv"):
            found.append(f"{path.name}:{line}: os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                a.name in ("environ", "getenv", "environb") for a in node.names):
            found.append(f"{path.name}:{line}: from os import ...")
    return found


def test_nothing_below_the_entry_points_reads_the_environment() -> None:
    bad = [use for module, path, _ in ALL if not module.startswith(ENVIRONMENT_ALLOWED)
           for use in _environment_uses(path)]
    assert bad == []


def test_the_environment_check_sees_a_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom os import getenv\nx = os.environ.get('A')\n"
                      "y = os.getenv('B')\nz = dict(os.environ)\n", encoding="utf-8")
    assert sorted(_environment_uses(sample)) == ["sample.py:2: from os import ...",
                                         "sample.py:3: os.environ", "sample.py:4: os.getenv",
                                         "sample.py:5: os.environ"]
