"""Render a Plan for people (Terraform-like text) and for programs (the stable JSON).

Text: one line per object with a glyph (``+`` create, ``~`` update, ``-`` delete), then its
changed fields: scalars as ``before -> after``, mappings and lists as a unified diff of their
YAML. Drifted fields (changed outside git) are marked. Colour only when asked (on a
terminal). Secret values are masked in both forms (mask.py).
"""

from __future__ import annotations

import difflib
import io
import json
from typing import Any

from ruamel.yaml import YAML

from gitkube.plan.mask import masked_fields
from gitkube.plan.model import (
    FORMAT_VERSION,
    Action,
    Change,
    FieldChange,
    Plan,
    display,
    ref_json,
)

_GLYPH = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}
_COLOUR = {"+": "32", "~": "33", "-": "31", "drift": "35", "bold": "1", "dim": "2"}
DRIFT_NOTE = "drift: changed outside git; apply restores git's value"


class _Paint:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        if not self.enabled:
            return text
        return f"\x1b[{_COLOUR[style]}m{text}\x1b[0m"


def _yaml_lines(value: Any) -> list[str]:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    buf = io.StringIO()
    yaml.dump(value, buf)
    text = buf.getvalue()
    if text.endswith("...\n"):  # a bare scalar document
        text = text[: -len("...\n")]
    return text.rstrip("\n").splitlines()


def scalar(value: Any) -> str:
    """A scalar as JSON writes it (strings quoted, so ``"1"`` and ``1`` differ visibly)."""
    return json.dumps(value, ensure_ascii=False)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _field_lines(f: FieldChange, paint: _Paint, indent: str) -> list[str]:
    note = f"  # {DRIFT_NOTE}" if f.drift else ""
    if f.owner is not None:
        note = (f"  # drift: changed outside git by {scalar(f.owner)} (owns it now); apply "
                "restores git's value" if f.drift else
                f"  # conflict: owned by {scalar(f.owner)}; apply takes it over")
    note = paint(note, "drift") if note else ""
    path = f.dotted or "(object)"
    if f.op == "replace" and _is_scalar(f.before) and _is_scalar(f.after):
        line = f"{indent}{paint('~', '~')} {path}: {scalar(f.before)} -> {scalar(f.after)}"
        return [line + note]
    if f.op in ("add", "remove") and _is_scalar(f.after if f.op == "add" else f.before):
        glyph = "+" if f.op == "add" else "-"
        value = f.after if f.op == "add" else f.before
        return [f"{indent}{paint(glyph, glyph)} {path}: {scalar(value)}{note}"]
    glyph = {"add": "+", "remove": "-", "replace": "~"}[f.op]
    out = [f"{indent}{paint(glyph, glyph)} {path}:{note}"]
    before = _yaml_lines(f.before) if f.op != "add" else []
    after = _yaml_lines(f.after) if f.op != "remove" else []
    body = indent + "    "
    for line in list(difflib.unified_diff(before, after, n=2, lineterm=""))[2:]:
        if line.startswith("@@"):
            out.append(paint(f"{body}{line}", "dim"))
        elif line[:1] in "+-":
            out.append(paint(f"{body}{line[0]} {line[1:]}", line[0]))
        else:
            out.append(f"{body}  {line[1:]}")
    return out


def _header(change: Change, paint: _Paint) -> str:
    glyph = _GLYPH[change.action]
    text = f"  {paint(glyph, glyph)} {paint(display(change.ref), 'bold')}"
    extras = []
    if change.file and change.action is not Action.DELETE:
        extras.append(change.file)
    if change.reason:
        extras.append(change.reason)
    if extras:
        text += f"  ({'; '.join(extras)})"
    return text


def render_text(plan: Plan, *, colour: bool = False) -> str:
    """The human form of a plan, ending with the summary line."""
    paint = _Paint(colour)
    lines: list[str] = []
    actionable = plan.actionable
    if actionable:
        lines.append("gitkube will perform the following actions:")
        lines.append("")
        for change in actionable:
            lines.append(_header(change, paint))
            for f in masked_fields(change):
                lines.extend(_field_lines(f, paint, "      "))
    if plan.skipped:
        if lines:
            lines.append("")
        lines.append("Not pruned:")
        for skip in plan.skipped:
            lines.append(f"  {display(skip.ref)}: {skip.reason}")
    warnings = list(plan.warnings)
    if plan.empty_desired_guard:
        warnings.append(
            f"git holds no objects but this source owns {plan.owned_count} live objects; "
            "apply refuses unless --allow-empty"
        )
    if warnings:
        if lines:
            lines.append("")
        lines.append("Warnings:")
        lines.extend(f"  {w}" for w in warnings)
    if lines:
        lines.append("")
    summary = plan.summary
    if summary.has_changes:
        lines.append(paint(summary.line(), "bold"))
    else:
        lines.append(
            paint("No changes.", "bold")
            + f" Live state matches git ({summary.unchanged} objects)."
        )
    return "\n".join(lines) + "\n"


def change_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action.value,
        "object": ref_json(change.ref),
        "file": change.file,
        "reason": change.reason,
        "drift": change.drifted,
        "deletedWithNamespace": change.via_namespace,
        "resourceVersion": change.live_version,
        "fields": [f.to_json() for f in masked_fields(change)],
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    """The stable JSON form (docs/PLAN.md): no-op objects are counted, not listed."""
    return {
        "formatVersion": FORMAT_VERSION,
        "source": plan.source.to_json(),
        "store": {"url": plan.store_url, "revision": plan.store_revision},
        "prune": plan.prune,
        "summary": plan.summary.to_json(),
        "changes": [change_json(c) for c in plan.actionable],
        "skipped": [
            {"object": ref_json(s.ref), "reason": s.reason} for s in plan.skipped
        ],
        "warnings": list(plan.warnings),
        "emptyDesiredGuard": plan.empty_desired_guard,
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_json(plan), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
