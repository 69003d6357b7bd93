"""`gitkube describe`: one object in kubectl's describe layout, with its Events."""

from __future__ import annotations

from io import StringIO
from typing import Any

from gitkube.api.client import Client
from gitkube.cli import tables
from gitkube.model.printers import human_duration, pod_status_text
from gitkube.model.times import parse_time

Obj = dict[str, Any]


def _kv(pairs: dict[str, Any] | None, indent: int) -> list[str]:
    if not pairs:
        return ["<none>"]
    return [f"{k}={v}" for k, v in sorted(pairs.items())]


def _field(lines: list[str], label: str, value: Any, width: int = 18) -> None:
    lines.append(f"{label + ':':<{width}}{value}")


def _multi(lines: list[str], label: str, values: list[str], width: int = 18) -> None:
    lines.append(f"{label + ':':<{width}}{values[0]}")
    lines += [" " * width + v for v in values[1:]]


def _yaml(value: Any, indent: str) -> list[str]:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buf = StringIO()
    yaml.dump(value, buf)
    return [indent + line for line in buf.getvalue().splitlines()]


def _pod_section(pod: Obj, lines: list[str]) -> None:
    spec, st = pod.get("spec") or {}, pod.get("status") or {}
    _field(lines, "Node", spec.get("nodeName") or "<none>")
    _field(lines, "Start Time", st.get("startTime") or "<unset>")
    _field(lines, "Status", pod_status_text(pod))
    _field(lines, "IP", st.get("podIP") or "")
    statuses = {cs.get("name"): cs for cs in (st.get("containerStatuses") or []) +
                (st.get("initContainerStatuses") or [])}
    for title, key in (("Init Containers", "initContainers"), ("Containers", "containers")):
        if not spec.get(key):
            continue
        lines.append(f"{title}:")
        for c in spec[key]:
            _container(c, statuses.get(c.get("name")) or {}, lines)
    conditions = st.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        lines.append("  Type              Status")
        lines += [f"  {c.get('type', ''):<18}{c.get('status', '')}" for c in conditions]
    volumes = spec.get("volumes") or []
    if volumes:
        lines.append("Volumes:")
        for v in volumes:
            kind = next((k for k in v if k != "name"), "")
            lines.append(f"  {v.get('name')}:")
            lines.append(f"    Type:  {kind}")
            lines += _yaml(v.get(kind), "    ") if v.get(kind) else []


_SUB = "    "  # a container's fields, under its name


def _container(c: Obj, cs: Obj, lines: list[str]) -> None:
    """One container of a pod (``cs``: its status, {} when there is none)."""
    sub = _SUB
    lines.append(f"  {c.get('name')}:")
    lines.append(f"{sub}Container ID:  {cs.get('containerID', '')}")
    lines.append(f"{sub}Image:         {c.get('image')}")
    lines.append(f"{sub}Image ID:      {cs.get('imageID', '')}")
    ports = [f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}"
             + (f" (host {p['hostPort']})" if p.get("hostPort") else "")
             for p in c.get("ports") or []]
    if ports:
        lines.append(f"{sub}Port:          {', '.join(ports)}")
    if c.get("command"):
        lines.append(f"{sub}Command:       {' '.join(map(str, c['command']))}")
    if c.get("args"):
        lines.append(f"{sub}Args:          {' '.join(map(str, c['args']))}")
    for label, state_key in (("State", "state"), ("Last State", "lastState")):
        _container_state(label, cs.get(state_key) or {}, state_key == "state", lines)
    lines.append(f"{sub}Ready:         {cs.get('ready', False)}")
    lines.append(f"{sub}Restart Count: {cs.get('restartCount', 0)}")
    for probe in ("liveness", "readiness", "startup"):
        p = c.get(f"{probe}Probe")
        if p:
            how = next((k for k in ("httpGet", "tcpSocket", "exec", "grpc") if k in p), "")
            lines.append(f"{sub}{probe.capitalize() + ':':<15}{how} {p.get(how)} "
                         f"delay={p.get('initialDelaySeconds', 0)}s "
                         f"timeout={p.get('timeoutSeconds', 1)}s "
                         f"period={p.get('periodSeconds', 10)}s "
                         f"#success={p.get('successThreshold', 1)} "
                         f"#failure={p.get('failureThreshold', 3)}")


def _container_state(label: str, state: Obj, current: bool, lines: list[str]) -> None:
    """A container's State (``current``) or Last State; no current state is Waiting."""
    if not state:
        if current:
            lines.append(f"{_SUB}State:         Waiting")
        return
    name, detail = next(iter(state.items()))
    lines.append(f"{_SUB}{label + ':':<15}{name.capitalize()}")
    for k in ("reason", "message", "exitCode", "startedAt", "finishedAt"):
        if k in (detail or {}):
            lines.append(f"{_SUB}  {k[0].upper() + k[1:] + ':':<13}{detail[k]}")


def events_for(client: Client, obj: Obj) -> list[Obj]:
    meta = obj.get("metadata") or {}
    fields = [f"involvedObject.name={meta.get('name')}"]
    if meta.get("namespace"):
        fields.append(f"involvedObject.namespace={meta['namespace']}")
    if meta.get("uid"):
        fields.append(f"involvedObject.uid={meta['uid']}")
    try:
        events = client.list("v1", "Event", meta.get("namespace") or None,
                             field_selector=",".join(fields)).items
    except Exception:
        return []
    return sorted(events, key=lambda e: str(e.get("lastTimestamp") or ""))


def describe_text(client: Client, obj: Obj, now: float) -> str:
    """The describe text of ``obj`` (kubectl's layout for the common fields)."""
    meta = obj.get("metadata") or {}
    lines: list[str] = []
    _field(lines, "Name", meta.get("name", ""))
    if meta.get("namespace"):
        _field(lines, "Namespace", meta["namespace"])
    _multi(lines, "Labels", _kv(meta.get("labels"), 18))
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith("gitkube.io/last-applied")}
    _multi(lines, "Annotations", _kv(annotations, 18))
    _field(lines, "CreationTimestamp", meta.get("creationTimestamp", ""))
    owners = meta.get("ownerReferences") or []
    if owners:
        _field(lines, "Controlled By", f"{owners[0].get('kind')}/{owners[0].get('name')}")
    if obj.get("kind") == "Pod":
        _pod_section(obj, lines)
    else:
        for key in ("spec", "data", "status"):
            value = obj.get(key)
            if key == "data" and obj.get("kind") == "Secret" and isinstance(value, dict):
                value = {k: f"{len(str(v)) * 3 // 4} bytes" for k, v in value.items()}
            if value:
                lines.append(f"{key.capitalize()}:")
                lines += _yaml(value, "  ")
    events = events_for(client, obj)
    if not events:
        lines.append("Events:            <none>")
    else:
        lines.append("Events:")
        rows = []
        for e in events:
            last = parse_time(e.get("lastTimestamp"))
            count = int(e.get("count") or 1)
            first = parse_time(e.get("firstTimestamp"))
            when = human_duration(now - last) if last else "<unknown>"
            if count > 1 and first:
                when = f"{when} (x{count} over {human_duration(now - first)})"
            rows.append([e.get("type", ""), e.get("reason", ""), when,
                         (e.get("source") or {}).get("component", ""),
                         str(e.get("message", "")).strip()])
        table = tables.render(["Type", "Reason", "Age", "From", "Message"],
                              [["----", "------", "----", "----", "-------"], *rows])
        lines += ["  " + line for line in table.splitlines()]
    return "\n".join(lines) + "\n"
