"""Where gitkube keeps its state, and which store it uses, in one place."""

from __future__ import annotations

import os
from pathlib import Path

STORE_ENV = "GITKUBE_STORE"
STATE_ENV = "GITKUBE_STATE_DIR"


def state_dir() -> Path:
    """``$GITKUBE_STATE_DIR``, else ``$XDG_STATE_HOME/gitkube``, else ``~/.local/state/gitkube``."""
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "gitkube"


def cache_dir() -> Path:
    """Content-addressed caches (parsed and validated manifests by git blob id)."""
    return state_dir() / "cache"


def default_store_url() -> str:
    """The store URL when neither ``--store`` nor ``$GITKUBE_STORE`` names one."""
    return os.environ.get(STORE_ENV) or f"sqlite:///{state_dir() / 'state.db'}"
