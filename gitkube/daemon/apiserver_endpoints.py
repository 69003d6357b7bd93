"""Every API server an endpoint of the ``default/kubernetes`` Service (upstream's lease
endpoint reconciler).

Each daemon serving TCP keeps a Lease of its own, ``kube-system/apiserver-<digest>``
(labelled ``apiserver.kubernetes.io/identity=kube-apiserver`` as upstream's identity
Leases), with the address it serves on in an annotation, renewed every ``PERIOD`` seconds.
Every daemon then writes the Endpoints ``default/kubernetes`` from the Leases that have not
expired, so the Service lists every live API server; a daemon that stops deletes its Lease,
one that dies drops out when its Lease expires. The Service itself (ClusterIP ``.1`` of the
service range, port 443) is created by whichever daemon comes first.

The pure part, ``endpoints_from(leases, now)``, decides; ``APIServerEndpoints`` reads and
writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from gitkube.api.client import Client
from gitkube.errors import AlreadyExists, Conflict, GitkubeError, NotFound
from gitkube.model import leases
from gitkube.model.times import parse_time

Obj = dict[str, Any]
log = logging.getLogger("gitkube.daemon")
PERIOD = 10.0
DURATION = 30  # seconds a daemon stays an endpoint after its last renewal
IDENTITY_LABEL = "apiserver.kubernetes.io/identity"
ENDPOINT_ANNOTATION = "gitkube.io/apiserver-endpoint"


def lease_name(identity: str) -> str:
    return "apiserver-" + hashlib.sha256(identity.encode()).hexdigest()[:16]


def endpoints_from(items: Iterable[Obj], now: float) -> list[Obj]:
    """The ``subsets`` of ``default/kubernetes`` for the live API-server Leases in
    ``items`` (one subset per port, addresses sorted)."""
    by_port: dict[int, set[str]] = {}
    for lease in items:
        spec = lease.get("spec") or {}
        renewed = parse_time(spec.get("renewTime")) or 0.0
        if renewed + int(spec.get("leaseDurationSeconds") or 0) <= now:
            continue
        endpoint = str(((lease.get("metadata") or {}).get("annotations") or {})
                       .get(ENDPOINT_ANNOTATION) or "")
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit():
            continue
        by_port.setdefault(int(port), set()).add(host.strip("[]"))
    return [{"addresses": [{"ip": ip} for ip in sorted(ips)],
             "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
            for port, ips in sorted(by_port.items())]


class APIServerEndpoints:
    """The loop of one daemon (module docstring); ``start``/``stop``."""

    def __init__(self, client: Client, identity: str, host: str, port: int,
                 service_cidr: str, *, clock: Callable[[], float]):
        self.client = client
        self.identity = identity
        self.endpoint = f"{host}:{port}"
        self.port = port
        self.cluster_ip = str(ipaddress.IPv4Network(service_cidr, strict=False)
                              .network_address + 1)
        self.clock = clock
        self.name = lease_name(identity)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> APIServerEndpoints:
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="gitkube-apiserver-endpoints")
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                self.sync()
            except (GitkubeError, OSError) as exc:
                log.warning("publishing this API server in default/kubernetes: %s", exc)
            if self._stop.wait(PERIOD):
                return

    def sync(self) -> None:
        """Renew this server's Lease, make sure the Service exists, write the Endpoints."""
        now = self.clock()
        lease = leases.lease_object("kube-system", self.name, leases.LeaseRecord(
            self.identity, DURATION, now, now, 0))
        lease["metadata"]["labels"] = {IDENTITY_LABEL: "kube-apiserver"}
        lease["metadata"]["annotations"] = {ENDPOINT_ANNOTATION: self.endpoint}
        try:
            self.client.create(lease)
        except AlreadyExists:
            self.client.patch(leases.API_VERSION, "Lease", "kube-system", self.name,
                              {"metadata": {"annotations": lease["metadata"]["annotations"]},
                               "spec": {"renewTime": lease["spec"]["renewTime"],
                                        "holderIdentity": self.identity}})
        self._ensure_service()
        self.write_endpoints()

    def _ensure_service(self) -> None:
        try:  # looked up first: a create of an existing one fails on its address first
            self.client.get("v1", "Service", "default", "kubernetes")
            return
        except NotFound:
            pass
        with contextlib.suppress(AlreadyExists):
            self.client.create({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": self.cluster_ip, "type": "ClusterIP",
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                    "targetPort": self.port}]}})

    def write_endpoints(self) -> None:
        items = self.client.list(leases.API_VERSION, "Lease", "kube-system",
                                 label_selector={IDENTITY_LABEL: "kube-apiserver"}).items
        subsets = endpoints_from(items, self.clock())
        try:
            current = self.client.get("v1", "Endpoints", "default", "kubernetes")
        except NotFound:
            with contextlib.suppress(AlreadyExists):
                self.client.create({"apiVersion": "v1", "kind": "Endpoints",
                                    "metadata": {"name": "kubernetes",
                                                 "namespace": "default"},
                                    "subsets": subsets})
            return
        if (current.get("subsets") or []) == subsets:
            return
        with contextlib.suppress(Conflict):  # another daemon wrote it: the next round
            self.client.update({**current, "subsets": subsets})

    def stop(self) -> None:
        """Stop renewing, delete this server's Lease and drop it from the Endpoints."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            self.client.delete(leases.API_VERSION, "Lease", "kube-system", self.name)
            self.write_endpoints()
        except (GitkubeError, OSError) as exc:
            log.debug("removing this API server from default/kubernetes: %s", exc)


__all__ = ["DURATION", "ENDPOINT_ANNOTATION", "IDENTITY_LABEL", "PERIOD",
           "APIServerEndpoints", "endpoints_from", "lease_name"]
