"""Which api the GitOps loop talks to: the running daemon's, or the store directly.

The daemon's routing decides (``gitkube.daemon.client.client_for``): when ``gitkube
serve`` runs for the store, an HTTP client over its unix socket, and the daemon's agents
converge what the loop applies; otherwise a ``LocalClient`` over the store opened in this
process, and ``gitkube watch`` runs the agents itself. Using the same routing as every other
command keeps "same results either way" true for the hooks and the loop too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from gitkube.api.client import Client
from gitkube.settings import Settings
from gitkube.source.loader import SourceOptions


@dataclass(frozen=True)
class Connection:
    client: Client
    store_url: str
    daemon: bool  # True: an HTTP client to a running daemon (its agents converge)
    settings: Settings  # what the loop, the hooks and the agents they run are configured by

    @property
    def source_options(self) -> SourceOptions:
        return SourceOptions.of(self.settings)

    @property
    def cache_dir(self) -> Path:
        return self.settings.cache_dir


def connect(settings: Settings) -> Connection:
    """The api for the settings' store (named: only a daemon serving that very store is
    used): the daemon's when one runs for it, else in-process."""
    from gitkube.daemon.client import client_for, through_daemon

    explicit = replace(settings, store=settings.store_url)
    client = client_for(explicit)
    return Connection(client, explicit.store_url, through_daemon(client), explicit)
