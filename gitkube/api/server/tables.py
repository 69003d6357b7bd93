"""Table output (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``) for ``kubectl get``.

The columns and cells are gitkube/model/columns.py's (upstream's printers), the same ones
``gitkube get`` prints: every column is sent, kubectl shows the priority-1 ones with
``-o wide``. Each row carries the object's metadata as a PartialObjectMetadata so ``-A`` and
``--show-labels`` work (the whole object with ``includeObject=Object``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gitkube.model.columns import NAME, Column, cells, columns_for
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]


def wants_table(accept: str | None) -> bool:
    """True when the Accept header asks for a meta.k8s.io Table (first JSON choice)."""
    if not accept:
        return False
    for part in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip()
                  for p in part.split(";")[1:] if "=" in p}
        media = part.split(";", 1)[0].strip()
        if media == "application/json" and params.get("as") == "Table":
            return params.get("g", "meta.k8s.io") == "meta.k8s.io"
        if media == "application/json":
            return False
    return False


def _definition(column: Column) -> Obj:
    return {"name": column.name, "type": column.type, "format": column.format,
            "priority": column.priority,
            "description": ("Name must be unique within a namespace." if column is NAME
                            else column.name)}


def table_parts(rt: ResourceType, resource_version: str,
                wide: bool = False) -> tuple[Obj, Callable[[Obj], Obj]]:
    """A meta.k8s.io/v1 Table without its ``rows`` (the last field), and the function
    making one object's row: what a streamed list writes piece by piece."""
    now = time.time()
    columns = columns_for(rt.kind)

    def row(obj: Obj) -> Obj:
        partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": obj.get("metadata") or {}}
        return {"cells": cells(columns, obj, now), "object": obj if wide else partial}

    head = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": [_definition(c) for c in columns]}
    return head, row


def as_table(rt: ResourceType, items: list[Obj], resource_version: str,
             wide: bool = False) -> Obj:
    """A meta.k8s.io/v1 Table of ``items``."""
    head, row = table_parts(rt, resource_version, wide)
    return {**head, "rows": [row(o) for o in items]}
