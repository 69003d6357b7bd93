"""The kubelet's settings and the store id that scopes everything it creates."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube.api.client import Client, PutRecord
from gitkube.errors import APIError, Conflict


@dataclass
class KubeletConfig:
    """What a kubelet is told: its node, capacity, timings and where its files live."""

    node_name: str = field(default_factory=socket.gethostname)
    cpu: str | None = None  # None: the host's
    memory: str | None = None
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    address: str = "127.0.0.1"
    heartbeat_interval: float = 10.0
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    workers: int = 8
    relist_period: float = 1.0
    resync_period: float = 10.0
    # how long stop() waits for the syncs in flight (a pod being stopped, within its grace
    # period) before it returns and its owner closes the runtime
    shutdown_timeout: float = 90.0
    root_dir: Path | None = None  # needed: pods' volumes, claims, seccomp profiles
    # Extra labels on everything created (tests use one per run to find leftovers).
    runtime_labels: dict[str, str] = field(default_factory=dict)
    # a gitkube.runtime.network.NetworkConfig: pods join that network, get the
    # cluster DNS in resolv.conf and the service environment variables (None: engine default)
    network: Any = None


STORE_ID_RECORD = "/gitkube/store-id"  # the same record plan's apply writes


def cluster_id(client: Client) -> str:
    """The store's id (recorded on first use): it labels everything this kubelet creates, so
    kubelets of two stores on one host never touch each other's containers."""
    for _ in range(3):
        record = client.get_record(STORE_ID_RECORD)
        if record is not None and record.value.get("id"):
            return str(record.value["id"])[:16]
        try:
            client.transaction([PutRecord(STORE_ID_RECORD, {"id": uuid.uuid4().hex},
                                          expected_revision=0)])
        except APIError:
            continue
    raise Conflict("could not record the store id")
