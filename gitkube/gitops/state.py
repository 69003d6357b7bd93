"""The GitOps state record of each source, and the notify command.

One api record per source, ``/gitkube/gitops/<source id>`` (next to the apply history, in the
same store, so ``gitkube status`` reads it through the same Client whether a daemon runs or
not). It keeps what status needs and git or the history cannot say: how the source is
synced (``watch`` or ``push``, branch), what it was last synced to (the commit the live state
matched or was made to match, even when that sync had nothing to apply), the last attempt's
outcome and the last error with its diagnostics.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from typing import Any, TextIO

from gitkube.api.client import Client, PutRecord
from gitkube.errors import GitkubeError
from gitkube.gitops.sync import APPLIED, SyncResult

PREFIX = "/gitkube/gitops/"
_MAX_DIAGNOSTICS = 20
NOTIFY_TIMEOUT = 30.0


def record_key(source_id: str) -> str:
    return f"{PREFIX}{source_id}"


def read_all(client: Client) -> list[dict[str, Any]]:
    """Every source's state record, by source id."""
    return [r.value for r in client.list_records(PREFIX)]


def record(client: Client, result: SyncResult, *, mode: str, target: dict[str, Any]) -> None:
    """Fold ``result`` into the source's state record. Best effort: a record that cannot be
    written (the store went away) must not turn a good apply into a failure."""
    if result.source is None:
        return
    key = record_key(result.source.id)
    with contextlib.suppress(GitkubeError):
        old = client.get_record(key)
        value: dict[str, Any] = dict(old.value) if old is not None else {}
        value.update({
            "source": {"id": result.source.id, "name": result.source.name,
                       "path": result.source.path},
            "mode": mode,
            "target": target,
            "lastAttempt": {"time": result.time, "outcome": result.outcome,
                            "commit": result.commit, "trigger": result.trigger,
                            "dirty": result.source.dirty},
        })
        if result.ok:
            value["synced"] = {"time": result.time, "commit": result.commit,
                               "dirty": result.source.dirty, "outcome": result.outcome,
                               "author": result.author}
        if result.outcome == APPLIED:
            value["lastApplied"] = {"time": result.time, "commit": result.commit,
                                    "history": result.history, "author": result.author,
                                    "storeRevision": result.store_revision}
        if not result.ok:
            value["lastError"] = {
                "time": result.time, "outcome": result.outcome, "commit": result.commit,
                "message": result.error,
                "diagnostics": [d.render() for d in result.diagnostics[:_MAX_DIAGNOSTICS]],
            }
        client.transaction([PutRecord(key, value)])


def notify(command: str | None, result: SyncResult, out: TextIO) -> None:
    """Run ``command`` (through /bin/sh) with the result's JSON on stdin; its output goes to
    ``out``. A failing or hanging command is reported, never fatal."""
    if not command:
        return
    payload = json.dumps(result.to_json(), ensure_ascii=False) + "\n"
    try:
        proc = subprocess.run(["/bin/sh", "-c", command], input=payload, text=True,
                              capture_output=True, timeout=NOTIFY_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        out.write(f"notify: {command!r} did not finish within {NOTIFY_TIMEOUT:g}s\n")
        return
    except OSError as err:
        out.write(f"notify: cannot run {command!r}: {err}\n")
        return
    for text in (proc.stdout, proc.stderr):
        for line in text.splitlines():
            out.write(f"notify: {line}\n")
    if proc.returncode != 0:
        out.write(f"notify: {command!r} exited {proc.returncode}\n")
    out.flush()
