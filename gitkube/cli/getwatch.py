"""`gitkube get -w`: list, then print each change as it happens, like kubectl get --watch.

The table (or the first objects, for -o yaml/json/name) is printed from a list; then a
watch from the list's resourceVersion prints one row per ADDED/MODIFIED/DELETED event
(kubectl prints a deleted object's last state too), aligned with the first table's columns.
It ends on Ctrl-C, when the server closes the stream, or after ``--watch-timeout`` seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitkube.api.client import Client
from gitkube.cli import tables
from gitkube.errors import Gone
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]


class _Printer:
    def __init__(self, rt: ResourceType, output: str, all_namespaces: bool,
                 echo: Callable[[str], None]):
        self.rt, self.output, self.echo = rt, output, echo
        self.prefix_ns = all_namespaces and rt.namespaced
        self.wide = output == "wide"
        self.widths: list[int] = []

    def _cells(self, obj: Obj) -> list[str]:
        cells = tables.row(obj, time.time(), self.wide)
        if self.prefix_ns:
            cells = [str(obj["metadata"].get("namespace", "")), *cells]
        return cells

    def _line(self, cells: list[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], self.widths, strict=False)]
        return "   ".join([*padded, cells[-1]]).rstrip()

    def first(self, items: list[Obj]) -> None:
        if self.output not in ("table", "wide"):
            for obj in items:
                self.one(obj)
            return
        headers = tables.columns(self.rt.kind, self.wide)
        if self.prefix_ns:
            headers = ["NAMESPACE", *headers]
        rows = [self._cells(o) for o in items]
        self.widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        self.echo(self._line(headers))
        for r in rows:
            self.echo(self._line(r))

    def one(self, obj: Obj) -> None:
        if self.output == "json":
            self.echo(json.dumps(obj, indent=4))
        elif self.output == "yaml":
            from io import StringIO

            from ruamel.yaml import YAML

            yaml = YAML(typ="safe", pure=True)
            yaml.default_flow_style = False
            buf = StringIO()
            yaml.dump(obj, buf)
            self.echo("---\n" + buf.getvalue().rstrip("\n"))
        elif self.output == "name":
            group = f".{self.rt.group}" if self.rt.group else ""
            self.echo(f"{self.rt.singular}{group}/{obj['metadata']['name']}")
        else:
            if not self.widths:
                self.first([obj])
                return
            self.echo(self._line(self._cells(obj)))


@dataclass(frozen=True)
class Watched:
    """Which objects ``get -w`` follows: those of one type in ``namespace`` (None: every
    namespace), the one called ``name``, or those ``selector`` matches."""

    rt: ResourceType
    namespace: str | None
    name: str | None = None
    selector: str | None = None


def watch_get(client: Client, watched: Watched, output: str, *, timeout: float | None,
              echo: Callable[[str], None]) -> None:
    """List then follow (see the module docstring)."""
    rt, namespace, selector = watched.rt, watched.namespace, watched.selector
    fields = f"metadata.name={watched.name}" if watched.name else None
    deadline = None if not timeout else time.monotonic() + timeout
    printer = _Printer(rt, output, namespace is None, echo)
    listed = client.list(rt.api_version, rt.kind, namespace, label_selector=selector,
                         field_selector=fields)
    if listed.items:
        printer.first(listed.items)
    rv = listed.resource_version
    while True:
        try:
            with client.watch(rt.api_version, rt.kind, namespace, resource_version=rv,
                              label_selector=selector, field_selector=fields) as watcher:
                while True:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return
                    event = watcher.next_event(timeout=1.0 if left is None else min(left, 1.0))
                    if event is None:
                        if getattr(watcher, "ended", False):
                            return  # the server closed the stream: kubectl exits too
                        continue
                    if event.type in ("ADDED", "MODIFIED", "DELETED"):
                        rv = str(event.object["metadata"].get("resourceVersion") or rv)
                        printer.one(event.object)
        except Gone:
            # The history we asked for is gone: list again and go on from there, like an
            # informer; objects are not reprinted (kubectl would print them again).
            rv = client.list(rt.api_version, rt.kind, namespace, label_selector=selector,
                             field_selector=fields).resource_version
