"""Service address allocation in the api write path: ClusterIPs and NodePorts.

Done the Kubernetes way, on the Service's own write:

- **create**: ``spec.clusterIP`` requested and inside the service range and free -> kept;
  ``None`` -> headless (nothing allocated); missing/empty -> the next free address of the
  range (the scan starts at a random offset). ``type: NodePort``/``LoadBalancer``: each
  port's requested ``nodePort`` is kept when free and in range, else one is allocated from
  30000-32767. ``clusterIPs``, ``ipFamilies`` and ``ipFamilyPolicy`` are filled as upstream.
- **update**: allocated values the update leaves out are kept from the stored object (the
  API server's ``patchAllocatedValues``); a set clusterIP may not change; new NodePorts are
  claimed and NodePorts no longer used (type changed, port removed) are released.
- **delete**: every claim of the Service is released.

Each address or port is claimed by a raw record ``/gitkube/allocations/clusterip/<ip>`` or
``/gitkube/allocations/nodeport/<port>`` written **in the same store transaction** as the
Service (a store ``Create``: two writers racing for one address make one of them fail with a
conflict, never a double allocation). The record names the Service (``namespace/name`` and
uid). Pure decisions (``plan_*``) are separate from the store reads (``ServiceAllocator``).

The range is the settings' service range (``$GITKUBE_SERVICE_CIDR``, default
``10.96.0.0/16``; docs/NETWORKING.md explains why it never leaves the machine), given to
``LocalClient(store, service_cidr=...)``. Its first address (network), ``.1`` (upstream's
``kubernetes`` Service), ``.10`` (the cluster DNS) and the last (broadcast) are never handed
out automatically.
"""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gitkube.errors import Invalid
from gitkube.model.network import DEFAULT_SERVICE_CIDR, DNS_OFFSET, dns_address
from gitkube.store.base import Create, Delete, Store
from gitkube.store.base import Op as StoreOp

Obj = dict[str, Any]
NODE_PORT_RANGE = (30000, 32767)
ALLOCATIONS_PREFIX = "/gitkube/allocations/"
IP_PREFIX = "/gitkube/allocations/clusterip/"
PORT_PREFIX = "/gitkube/allocations/nodeport/"
_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def _invalid(svc: Obj, field: str, message: str) -> Invalid:
    name = str((svc.get("metadata") or {}).get("name") or "")
    return Invalid(f'Service "{name}" is invalid: {field}: {message}', kind="Service",
                   name=name, causes=[{"reason": "FieldValueInvalid", "field": field,
                                       "message": message}])


def claims_of(svc: Obj) -> set[str]:
    """The allocation record keys a stored Service holds."""
    spec = svc.get("spec") or {}
    out: set[str] = set()
    ip = spec.get("clusterIP")
    if ip and ip != "None":
        out.add(IP_PREFIX + str(ip))
    if spec.get("type") in _NODE_PORT_TYPES:
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and port.get("nodePort"):
                out.add(f"{PORT_PREFIX}{int(port['nodePort'])}")
    return out


@dataclass(frozen=True)
class Ranges:
    cidr: ipaddress.IPv4Network
    node_ports: tuple[int, int] = NODE_PORT_RANGE

    def reserved(self) -> set[ipaddress.IPv4Address]:
        net = self.cidr
        return {net.network_address, net.broadcast_address, net.network_address + 1,
                net.network_address + DNS_OFFSET}


Taken = Callable[[str], bool]  # is this claim key held (in the store or this transaction)?


def _allocate_ip(ranges: Ranges, taken: Taken, rng: random.Random) -> str | None:
    net = ranges.cidr
    size = net.num_addresses
    start = rng.randrange(size)
    reserved = ranges.reserved()
    for i in range(size):
        addr = net.network_address + (start + i) % size
        if addr not in reserved and not taken(IP_PREFIX + str(addr)):
            return str(addr)
    return None


def _allocate_port(ranges: Ranges, taken: Taken, rng: random.Random) -> int | None:
    low, high = ranges.node_ports
    size = high - low + 1
    start = rng.randrange(size)
    for i in range(size):
        port = low + (start + i) % size
        if not taken(f"{PORT_PREFIX}{port}"):
            return port
    return None


def plan_allocation(svc: Obj, old: Obj | None, ranges: Ranges, taken: Taken,
                    rng: random.Random | None = None) -> None:
    """Fill ``svc``'s allocated fields in place (pure but for ``taken``). ``old`` is the
    stored Service for an update (its claims count as free for ``svc``). Raises Invalid."""
    rng = rng or random.Random()
    spec = svc.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    mine = claims_of(old) if old is not None else set()

    def held(key: str) -> bool:
        return key not in mine and taken(key)

    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        for field in ("clusterIP", "clusterIPs"):
            spec.pop(field, None)
        return
    requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
    if not requested and old_spec.get("clusterIP"):
        requested = old_spec["clusterIP"]  # patchAllocatedValues
    if old_spec.get("clusterIP") and requested != old_spec["clusterIP"]:
        raise _invalid(svc, "spec.clusterIPs[0]",
                       f'Invalid value: "{requested}": may not change once set')
    if requested == "None":
        ip = "None"
    elif requested:
        try:
            addr = ipaddress.IPv4Address(str(requested))
        except ValueError:
            raise _invalid(svc, "spec.clusterIPs", f'Invalid value: "{requested}": must be a '
                           'valid IP address, (e.g. 10.9.8.7), or "None"') from None
        if addr not in ranges.cidr:
            raise _invalid(svc, "spec.clusterIPs", f'Invalid value: "{requested}": failed to '
                           f"allocate IP {requested}: the provided IP ({requested}) is not in "
                           f"the valid range. The range of valid IPs is {ranges.cidr}")
        if held(IP_PREFIX + str(addr)):
            raise _invalid(svc, "spec.clusterIPs", f'Invalid value: "{requested}": failed to '
                           f"allocate IP {requested}: provided IP is already allocated")
        ip = str(addr)
    else:
        found = _allocate_ip(ranges, held, rng)
        if found is None:
            raise _invalid(svc, "spec.clusterIPs", "failed to allocate a serviceIP: range is "
                           "full")
        ip = found
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    _plan_node_ports(svc, old_spec, ranges, held, rng)


def _plan_node_ports(svc: Obj, old_spec: Obj, ranges: Ranges, held: Taken,
                     rng: random.Random) -> None:
    spec = svc["spec"]
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    if spec.get("type") not in _NODE_PORT_TYPES:
        for port in ports:
            port.pop("nodePort", None)
        return
    previous = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                for p in old_spec.get("ports") or [] if isinstance(p, dict)
                and old_spec.get("type") in _NODE_PORT_TYPES}
    used: set[int] = set()
    low, high = ranges.node_ports
    for i, port in enumerate(ports):
        wanted = port.get("nodePort") or previous.get((port.get("port"),
                                                       port.get("protocol", "TCP")))
        if wanted:
            number = int(wanted)
            if not low <= number <= high:
                raise _invalid(svc, f"spec.ports[{i}].nodePort", f"Invalid value: {number}: "
                               "provided port is not in the valid range. The range of valid "
                               f"ports is {low}-{high}")
            if number not in used and held(f"{PORT_PREFIX}{number}"):
                raise _invalid(svc, f"spec.ports[{i}].nodePort", f"Invalid value: {number}: "
                               "provided port is already allocated")
        else:
            found = _allocate_port(ranges, lambda k: k in {f"{PORT_PREFIX}{u}" for u in used}
                                   or held(k), rng)
            if found is None:
                raise _invalid(svc, f"spec.ports[{i}].nodePort", "failed to allocate a "
                               "nodePort: range is full")
            number = found
        port["nodePort"] = number
        used.add(number)


def claim_ops(new: Obj | None, old: Obj | None, taken_keys: Iterable[str] = ()) -> tuple[
        list[StoreOp], set[str]]:
    """The store ops moving the claims of ``old`` to those of ``new`` (either may be None),
    and the keys newly claimed. ``taken_keys``: claims of ``old`` that exist in the store
    (only those are deleted)."""
    new_claims = claims_of(new) if new is not None else set()
    old_claims = claims_of(old) if old is not None else set()
    existing = set(taken_keys)
    ops: list[StoreOp] = []
    if new is not None:
        meta = new.get("metadata") or {}
        value = json.dumps({"service": f"{meta.get('namespace')}/{meta.get('name')}",
                            "uid": meta.get("uid")}, separators=(",", ":")).encode()
        for key in sorted(new_claims - old_claims):
            ops.append(Create(key, value))
    for key in sorted((old_claims - new_claims) & existing):
        ops.append(Delete(key))
    return ops, new_claims - old_claims


class ServiceAllocator:
    """The store side: which claims exist, and the ops for a Service write. ``pending`` is
    the set of keys claimed earlier in the same transaction."""

    def __init__(self, store: Store, ranges: Ranges | None = None):
        self.store = store
        self.ranges = ranges or Ranges(ipaddress.IPv4Network(DEFAULT_SERVICE_CIDR))

    def _taken(self, pending: set[str]) -> Taken:
        held: set[str] | None = None  # one list of each prefix, read on first need

        def taken(key: str) -> bool:
            nonlocal held
            if key in pending:
                return True
            if held is None:
                held = {kv.key for prefix in (IP_PREFIX, PORT_PREFIX)
                        for kv in self.store.list(prefix)[0]}
            return key in held
        return taken

    def on_write(self, new: Obj, old: Obj | None, pending: set[str]) -> list[StoreOp]:
        """Allocate ``new``'s fields in place; the claim ops (and ``pending`` updated)."""
        plan_allocation(new, old, self.ranges, self._taken(pending))
        existing = [k for k in claims_of(old) if self.store.get(k) is not None] if old else []
        ops, claimed = claim_ops(new, old, existing)
        pending |= claimed
        return ops

    def on_remove(self, old: Obj) -> list[StoreOp]:
        """Release every claim ``old`` holds (records that exist)."""
        existing = [k for k in claims_of(old) if self.store.get(k) is not None]
        return claim_ops(None, old, existing)[0]


__all__ = ["ALLOCATIONS_PREFIX", "DEFAULT_SERVICE_CIDR", "IP_PREFIX", "NODE_PORT_RANGE",
           "PORT_PREFIX", "Ranges", "ServiceAllocator", "claim_ops", "claims_of",
           "dns_address", "plan_allocation"]
