"""Golden plan cases: tests/data/plans/<case>/.

Each case directory holds:

- ``applied/``   manifests gitkube applied earlier (optional): the live state starts as
                 their apply result
- ``live.yaml``  objects others wrote directly to the live store (optional; may carry another
                 source's label, or ownerReferences)
- ``edits.yaml`` hand edits after that: ``{apiVersion, kind, namespace, name, patch}`` merge
                 patches (optional; drift; ``patchType: strategic`` for a strategic merge
                 patch), or ``status: {...}`` status writes
- ``desired/``   the manifests now in git (may be empty)
- ``case.yaml``  options: ``prune`` (default true), ``apply_error`` (a substring: apply must
                 refuse with it), ``stale_edits`` (edits made after ``plan --out``: applying
                 the saved plan must be refused as stale)
- ``expected.txt`` the rendered plan (no colour); ``UPDATE_GOLDEN=1`` rewrites it
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from gitkube.api.client import Client
from gitkube.api.local import LocalClient
from gitkube.plan.apply import apply_plan
from gitkube.plan.build import build_plan
from gitkube.plan.model import Plan, SourceInfo
from gitkube.plan.planner import Desired
from gitkube.settings import Settings
from gitkube.store import open_store

CASES = Path(__file__).resolve().parent.parent / "data" / "plans"
SOURCE = SourceInfo("s-golden", "git:golden//manifests", "manifests", "c0ffee", False)
STORE = "memory://"


def _yaml_docs(path: Path) -> list[Any]:
    yaml = YAML(typ="safe", pure=True)
    with open(path, encoding="utf-8") as fh:
        return [d for d in yaml.load_all(fh) if d is not None]


def read_dir(path: Path) -> list[Desired]:
    """Every document under ``path`` (sorted by file), as the planner takes them."""
    out: list[Desired] = []
    if not path.is_dir():
        return out
    for file in sorted(path.rglob("*.yaml")):
        for i, doc in enumerate(_yaml_docs(file)):
            content = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
            out.append(Desired(doc, file.relative_to(path).as_posix(), f"{content}:{i}"))
    return out


def options(case: Path) -> dict[str, Any]:
    file = case / "case.yaml"
    return (_yaml_docs(file) or [{}])[0] if file.exists() else {}


def edit(client: Client, edits: list[dict[str, Any]]) -> None:
    for e in edits:
        if "status" in e:
            obj = client.get(e["apiVersion"], e["kind"], e.get("namespace"), e["name"])
            obj["status"] = e["status"]
            client.update_status(obj)
        else:
            client.patch(e["apiVersion"], e["kind"], e.get("namespace"), e["name"], e["patch"],
                         e.get("patchType", "merge"))


def prepare(case: Path) -> Client:
    """A live store in the case's starting state."""
    client = LocalClient(open_store(STORE))
    applied = read_dir(case / "applied")
    if applied:
        apply_plan(client, build_plan(client, applied, SOURCE, store_url=STORE), author="test")
    if (case / "live.yaml").exists():
        for obj in _yaml_docs(case / "live.yaml"):
            client.create(obj)
    if (case / "edits.yaml").exists():
        edit(client, _yaml_docs(case / "edits.yaml")[0])
    return client


def plan_case(case: Path, client: Client, *, use_cache: bool = False) -> Plan:
    prune = bool(options(case).get("prune", True))
    cache_dir = Settings.from_env(os.environ).cache_dir if use_cache else None
    return build_plan(client, read_dir(case / "desired"), SOURCE, store_url=STORE, prune=prune,
                      cache_dir=cache_dir)
