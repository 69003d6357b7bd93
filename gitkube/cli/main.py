"""Entry point: import the command modules, run the app, map errors to exit codes.

This is the one place a GitkubeError becomes text and an exit code; user mistakes never
show a traceback.
"""

from __future__ import annotations

import sys

import typer

from gitkube import __version__
from gitkube.cli.app import app
from gitkube.errors import GitkubeError

# Command modules register themselves on `app` when imported.
from gitkube.cli import validate as _validate  # noqa: F401  # isort: skip
from gitkube.cli import plan as _plan  # noqa: F401  # isort: skip
from gitkube.cli import agent as _agent  # noqa: F401  # isort: skip
from gitkube.cli import get as _get  # noqa: F401  # isort: skip
from gitkube.cli import rollout as _rollout  # noqa: F401  # isort: skip
from gitkube.cli import events as _events  # noqa: F401  # isort: skip
from gitkube.cli import serve as _serve  # noqa: F401  # isort: skip
from gitkube.cli import delete as _delete  # noqa: F401  # isort: skip
from gitkube.cli import scale as _scale  # noqa: F401  # isort: skip
from gitkube.cli import repo as _repo  # noqa: F401  # isort: skip
from gitkube.cli import watch as _watch  # noqa: F401  # isort: skip
from gitkube.cli import streams as _streams  # noqa: F401  # isort: skip
from gitkube.cli import debug as _debug  # noqa: F401  # isort: skip


@app.command()
def version() -> None:
    """Print gitkube's version."""
    typer.echo(f"gitkube {__version__}")


def main() -> None:
    try:
        app()  # standalone: click turns usage errors into exit code 2 itself
    except GitkubeError as err:
        typer.echo(f"error: {err.render()}", err=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
