"""The environment of the programs gitkube runs (git, podman): gitkube's own, adjusted.

This is the one module below the entry points that touches ``os.environ``, and only to hand
it on to child processes (a program gitkube runs gets the user's environment, as it would
from a shell). Settings are never read from it: gitkube/settings.py builds them from the
environment the entry point passes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping


def child_env(overrides: Mapping[str, str] | None = None,
              drop: Iterable[str] = ()) -> dict[str, str]:
    """This process's environment for a child: without the ``drop`` variables, with
    ``overrides`` set."""
    env = {k: v for k, v in os.environ.items() if k not in set(drop)}
    env.update(overrides or {})
    return env


def search_path() -> list[str]:
    """The directories of this process's PATH, in order (empty entries left out)."""
    return [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]


__all__ = ["child_env", "search_path"]
