"""The gitkube CLI's typer app with every command registered, as the `gitkube` script runs
it: importing gitkube.cli.main registers the command modules on ``app``."""

from __future__ import annotations

import gitkube.cli.main  # noqa: F401  (registers every command on app)
from gitkube.cli.app import app

__all__ = ["app"]
