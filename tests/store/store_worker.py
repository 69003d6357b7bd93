"""A child process for the store's multi-process tests (run as a script, not collected).

    store_worker.py incr URL KEY COUNT          CAS-increment KEY COUNT times; print conflicts
    store_worker.py bigtxn URL PREFIX N MODE    one N-object txn; MODE=hang: print INSIDE and
                                                sleep just before COMMIT; MODE=commit: print
                                                COMMITTED after it and sleep
    store_worker.py txnloop URL N               N-object txns in a loop; print each batch done
    store_worker.py write URL PREFIX COUNT GAP  COUNT creates, GAP seconds apart
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any
from unittest import mock

from gitkube.errors import RevisionConflict
from gitkube.store import Create, Store, open_store
from gitkube.store.sqlite import SqliteStore


def incr(store: Store, key: str, count: int) -> int:
    conflicts = 0
    for _ in range(count):
        while True:
            kv = store.get(key)
            assert kv is not None, f"{key} is missing"
            try:
                store.update(key, str(int(kv.value) + 1).encode(), kv.mod_revision)
                break
            except RevisionConflict:
                conflicts += 1
    return conflicts


def main(argv: list[str]) -> None:
    mode, url = argv[0], argv[1]
    store = open_store(url)
    if mode == "incr":
        print(incr(store, argv[2], int(argv[3])), flush=True)
    elif mode == "bigtxn":
        prefix, n, how = argv[2], int(argv[3]), argv[4]
        if how == "hang":
            apply = SqliteStore._apply

            def hang(self: SqliteStore, conn: Any, ops: Any) -> int:
                rev = apply(self, conn, ops)
                print("INSIDE", flush=True)
                time.sleep(60)
                return rev

            mock.patch.object(SqliteStore, "_apply", hang).start()  # for this process's life
        store.txn([Create(f"{prefix}{i:05}", b"x" * 200) for i in range(n)])
        print("COMMITTED", flush=True)
        time.sleep(60)
    elif mode == "txnloop":
        n = int(argv[2])
        for batch in range(10_000):
            store.txn([Create(f"/crash/{os.getpid()}-{batch:05}/{i:05}", b"y" * 200)
                       for i in range(n)])
            print(batch, flush=True)
    elif mode == "write":
        prefix, count, gap = argv[2], int(argv[3]), float(argv[4])
        for i in range(count):
            store.create(f"{prefix}{i:05}", str(time.time()).encode())
            time.sleep(gap)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
