"""Helpers for the store tests."""

from __future__ import annotations

from gitkube.store import KeyValue, Store


def stored(store: Store, key: str) -> KeyValue:
    """The KeyValue at ``key``; the test fails when the key is missing."""
    kv = store.get(key)
    assert kv is not None, f"{key} is missing"
    return kv
