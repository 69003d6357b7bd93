"""etcd v3 backend (in progress)."""

from __future__ import annotations

from gitkube.errors import StoreUnavailable
from gitkube.store.base import Store


def EtcdStore(host: str, port: int) -> Store:
    raise StoreUnavailable("the etcd backend is not finished yet", location=f"etcd://{host}:{port}")
