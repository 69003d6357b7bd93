"""Strategic-merge list keys: how Kubernetes identifies the items of a list.

One table for every user of it: the strategic merge patch (gitkube/model/patch.py) and the
plan's three-way diff and merge (gitkube/plan/diff.py). A list with a merge key is merged item
by item, items matched by the key's value (containers by ``name``, volumeMounts by
``mountPath``...); a list without one is atomic (tolerations, args, command...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "resourceClaims": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
# Lists of scalars that merge as sets (patchStrategy: merge on a primitive list).
SET_LISTS: frozenset[str] = frozenset({"finalizers"})
# The lists of containers: their ``ports`` are keyed by ``containerPort``.
CONTAINER_LISTS: frozenset[str] = frozenset({"containers", "initContainers", "ephemeralContainers"})


def merge_key(field: str, items: Sequence[Any]) -> str | None:
    """The merge key of list ``field`` when only the field name is known (a patch): ``ports``
    are keyed by ``containerPort`` when its items have one, else by ``port``."""
    if field == "ports":
        sample = next((x for x in items if isinstance(x, dict) and "$patch" not in x), None)
        return "containerPort" if sample is not None and "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def merge_key_at(path: Sequence[Any]) -> str | None:
    """The merge key of the list at ``path`` in a whole object (None: the list is atomic).

    ``ports`` depends on where it is: a container's ports are keyed by ``containerPort``, a
    Service's ``spec.ports`` by ``port``; other ``ports`` lists (NetworkPolicy,
    EndpointSlice) are atomic, as in Kubernetes."""
    if not path:
        return None
    field = path[-1]
    if not isinstance(field, str):
        return None
    if field == "ports":
        if len(path) >= 3 and path[-3] in CONTAINER_LISTS:
            return "containerPort"
        return "port" if len(path) == 2 and path[0] == "spec" else None
    return MERGE_KEYS.get(field)
