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


class SingleOpWrites:
    """``create``/``update``/``delete`` as one-op transactions, for every backend: the
    transaction is where each backend checks and commits, so single writes share its rules."""

    def txn(self, ops: Sequence[Op]) -> int:
        raise NotImplementedError

    def create(self, key: str, value: bytes) -> int:
        return self.txn([Create(key, value)])

    def update(self, key: str, value: bytes, expected_revision: int | None = None) -> int:
        return self.txn([Update(key, value, expected_revision)])

    def delete(self, key: str, expected_revision: int | None = None) -> int:
        return self.txn([Delete(key, expected_revision)])
