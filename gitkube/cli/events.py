"""`gitkube events [-n NS | -A] [--for TYPE/NAME] [--types Warning]`: the Events table.

Columns as ``kubectl events``: LAST SEEN (age of lastTimestamp), TYPE, REASON, OBJECT
(``kind/name``, lower-case kind), MESSAGE; with ``-A`` a NAMESPACE column first. Sorted
oldest first, so the newest is at the bottom.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import typer

from gitkube.api.client import Client
from gitkube.cli.app import STORE_HELP, app
from gitkube.errors import UsageError
from gitkube.model import kinds

Obj = dict[str, Any]


def _client(store: str | None) -> Client:
    from gitkube.cli.connect import client_for  # the daemon's API when one serves the store

    return client_for(store)


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def human_age(seconds: float) -> str:
    """kubectl's HumanDuration: 45s, 119s, 3m12s, 150m, 2h5m, 30h, 3d4h, 20d, 3y."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    return f"{hours // (24 * 365)}y"


def last_seen(event: Obj) -> float:
    return (_epoch(event.get("lastTimestamp")) or _epoch(event.get("eventTime"))
            or _epoch(event.get("firstTimestamp"))
            or _epoch((event.get("metadata") or {}).get("creationTimestamp")) or 0.0)


def event_rows(events: list[Obj], now: float, *, all_namespaces: bool) -> list[list[str]]:
    """Pure: the table rows (header first) for ``events`` at ``now``."""
    header = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = [header]
    for e in sorted(events, key=lambda e: (last_seen(e), e["metadata"].get("name", ""))):
        ref = e.get("involvedObject") or {}
        seen = last_seen(e)
        age = human_age(now - seen) if seen else "<unknown>"
        count = int(e.get("count") or 1)
        if count > 1:
            first = _epoch(e.get("firstTimestamp"))
            age += f" (x{count} over {human_age(seen - first)})" if first else f" (x{count})"
        row = [age, str(e.get("type") or ""), str(e.get("reason") or ""),
               f"{str(ref.get('kind') or '').lower()}/{ref.get('name') or ''}",
               " ".join(str(e.get("message") or "").split())]
        if all_namespaces:
            row.insert(0, str(e["metadata"].get("namespace") or ""))
        rows.append(row)
    return rows


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)] + [r[-1]]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


@app.command()
def events(
    namespace: str = typer.Option("default", "--namespace", "-n", help="The namespace."),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A",
                                        help="Events of every namespace."),
    for_object: str | None = typer.Option(None, "--for",
                                          help="Only events about TYPE/NAME, e.g. pod/web-x."),
    types: str | None = typer.Option(None, "--types",
                                     help="Comma-separated types: Normal, Warning."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """List Events: what the agents did and what failed."""
    client = _client(store)
    fields = []
    if for_object:
        kind_text, _, name = for_object.partition("/")
        rt = kinds.by_name(kind_text)
        if rt is None or not name:
            raise UsageError(f"--for expects TYPE/NAME such as pod/web-1, got {for_object!r}")
        fields += [f"involvedObject.kind={rt.kind}", f"involvedObject.name={name}"]
    items = client.list("v1", "Event", None if all_namespaces else namespace,
                        field_selector=",".join(fields) or None).items
    if types:
        wanted = {t.strip().lower() for t in types.split(",") if t.strip()}
        items = [e for e in items if str(e.get("type") or "").lower() in wanted]
    if not items:
        where = "any namespace" if all_namespaces else f"{namespace} namespace"
        typer.echo(f"No events found in {where}.")
        return
    typer.echo(render_table(event_rows(items, time.time(), all_namespaces=all_namespaces)))
