"""Checks every backend applies to a transaction before touching data."""

from __future__ import annotations

from collections.abc import Sequence

from gitkube.errors import StoreError
from gitkube.store.base import Create, Delete, Op, Update


def check_ops(ops: Sequence[Op]) -> None:
    """Refuse a transaction that names one key twice: its outcome would depend on op order,
    and etcd refuses it too. Every op must be a Create, Update or Delete."""
    seen: set[str] = set()
    for op in ops:
        if not isinstance(op, Create | Update | Delete):
            raise StoreError(f"not a store operation: {op!r}")
        if op.key in seen:
            raise StoreError(
                f"transaction touches key {op.key} more than once",
                hint="merge the operations on that key into one",
            )
        seen.add(op.key)
