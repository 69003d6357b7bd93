"""The SAME Client contract tests as LocalClient's (tests/api/test_client_*.py), run here
against an HTTPClient talking to an APIServer: the ``client`` fixture of this directory is
the HTTP one. The functions are imported, not copied."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

_SUITES = ("test_client_reads", "test_client_writes", "test_client_patch_txn")


def _load(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[1] / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"gitkube_http_contract_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


for _name in _SUITES:
    for _attr, _value in vars(_load(_name)).items():
        if _attr.startswith("test_") and callable(_value):
            globals()[f"{_attr}__{_name.removeprefix('test_client_')}"] = _value
