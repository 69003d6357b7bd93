"""`gitkube validate [PATH] [--revision REV] [--output text|json]`: parse, call, render."""

from __future__ import annotations

import dataclasses
import json
import posixpath
from enum import StrEnum
from pathlib import PurePath

import typer

from gitkube.cli.app import app, settings
from gitkube.diagnostics import Diagnostic
from gitkube.source.loader import SourceOptions
from gitkube.validate import Report, validate


class Output(StrEnum):
    text = "text"
    json = "json"


def _shown(path: str, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Paths as typed from where gitkube ran: PATH joined with the path inside it."""
    prefix = PurePath(path).as_posix()
    if prefix in (".", ""):
        return diagnostics
    return [dataclasses.replace(d, file=posixpath.join(prefix, d.file)) if d.file else d
            for d in diagnostics]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(report: Report) -> str:
    """One line: how much was read, and how many problems."""
    scope = f"{_plural(report.files, 'file')}, {_plural(report.documents, 'document')}"
    if report.commit:
        scope += f" at {report.commit[:12]}"
    errors = sum(1 for d in report.diagnostics if d.severity == "error")
    warnings = len(report.diagnostics) - errors
    if not report.diagnostics:
        return f"valid: {scope}"
    counts = ", ".join(p for p in (_plural(errors, "error") if errors else "",
                                   _plural(warnings, "warning") if warnings else "") if p)
    return f"{'invalid' if errors else 'valid'}: {counts} in {scope}"


@app.command("validate")
def validate_command(
    path: str = typer.Argument(".", metavar="PATH",
                               help="Directory of manifests (searched recursively)."),
    revision: str | None = typer.Option(
        None, "--revision", "-r", metavar="REV",
        help="Read the manifests as of this git commit, branch or tag (no checkout).",
    ),
    output: Output = typer.Option(Output.text, "--output", "-o",
                                  help="text, or json (structure: docs/VALIDATE.md)."),
) -> None:
    """Check every manifest against gitkube's schemas; report every problem.

    Exit status: 0 valid, 1 problems found, 2 bad arguments.
    """
    # the content cache under the state directory, GITKUBE_JOBS, GITKUBE_MAX_FILE_BYTES
    report = validate(path, revision, options=SourceOptions.of(settings()))
    diagnostics = _shown(path, report.diagnostics)
    if output is Output.json:
        data = report.to_json()
        data["diagnostics"] = [d.to_json() for d in diagnostics]
        typer.echo(json.dumps(data, indent=2))
    else:
        for diagnostic in diagnostics:
            typer.echo(diagnostic.render())
        typer.echo(summary(report))
    if not report.valid:
        raise typer.Exit(1)
