"""The live store: revisioned objects with watch (SQLite by default, etcd, in-memory)."""
