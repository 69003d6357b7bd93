"""The api layer: the single write path over the store, and the Client interface.

``LocalClient(store)`` is the in-process api; ``Client`` is the protocol it (and the HTTP
client) implement. See docs/API.md.
"""

from gitkube.api.client import (
    BindOp,
    Client,
    CreateOp,
    DeleteOp,
    DeleteRecord,
    ObjectList,
    PutRecord,
    Record,
    TxnOp,
    TxnResult,
    UpdateOp,
    Watcher,
    WatchEvent,
)
from gitkube.api.local import RECORD_PREFIX, LocalClient

__all__ = [
    "RECORD_PREFIX",
    "BindOp",
    "Client",
    "CreateOp",
    "DeleteOp",
    "DeleteRecord",
    "LocalClient",
    "ObjectList",
    "PutRecord",
    "Record",
    "TxnOp",
    "TxnResult",
    "UpdateOp",
    "WatchEvent",
    "Watcher",
]
