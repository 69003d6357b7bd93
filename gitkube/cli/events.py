"""`gitkube events [-n NS | -A] [--for TYPE/NAME] [--types Warning]`: the Events table.

Columns as ``kubectl events``: LAST SEEN (age of lastTimestamp), TYPE, REASON, OBJECT
(``kind/name``, lower-case kind), MESSAGE; with ``-A`` a NAMESPACE column first. Sorted
oldest first, so the newest is at the bottom.
"""

from __future__ import annotations

import time
from typing import Any

import typer

from gitkube.api.client import Client
from gitkube.cli.app import STORE_HELP, app
from gitkube.errors import UsageError
from gitkube.model import kinds
from gitkube.model.printers import human_duration
from gitkube.model.times import parse_time

Obj = dict[str, Any]


def _client(store: str | None) -> Client:
    from gitkube.cli.connect import client_for  # the daemon's API when one serves the store

    return client_for(store)


def last_seen(event: Obj) -> float:
    return (parse_time(event.get("lastTimestamp")) or parse_time(event.get("eventTime"))
            or parse_time(event.get("firstTimestamp"))
            or parse_time((event.get("metadata") or {}).get("creationTimestamp")) or 0.0)


def event_rows(events: list[Obj], now: float, *, all_namespaces: bool) -> list[list[str]]:
    """Pure: the table rows (header first) for ``events`` at ``now``."""
    header = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = [header]
    for e in sorted(events, key=lambda e: (last_seen(e), e["metadata"].get("name", ""))):
        ref = e.get("involvedObject") or {}
        seen = last_seen(e)
        age = human_duration(now - seen) if seen else "<unknown>"
        count = int(e.get("count") or 1)
        if count > 1:
            first = parse_time(e.get("firstTimestamp"))
            age += f" (x{count} over {human_duration(seen - first)})" if first else f" (x{count})"
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
