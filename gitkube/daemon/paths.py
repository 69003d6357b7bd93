"""The daemon's files in the state directory, in one place.

=====================  ==================================================================
``gitkube.sock``       the API on a unix socket (mode 0600) for the local CLI
``daemon.pid``         the PID of the running ``gitkube serve`` (``up`` writes, ``down`` reads)
``daemon.json``        what the running daemon serves: pid, store, socket, URL, CA fingerprint
                       (never a token)
``daemon.log``         stderr of a daemon started by ``gitkube up``
``tokens.csv``         bearer tokens (``token,user,role``), mode 0600, made on first start
``tls/``               ``ca.crt``/``ca.key`` and ``server.crt``/``server.key`` when generated
=====================  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitkube.settings import Settings


@dataclass(frozen=True)
class DaemonPaths:
    """Where one state directory keeps the daemon's files."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> DaemonPaths:
        """The paths under the settings' state directory."""
        return cls(settings.state_dir)

    @property
    def socket(self) -> Path:
        return self.root / "gitkube.sock"

    @property
    def pid(self) -> Path:
        return self.root / "daemon.pid"

    @property
    def info(self) -> Path:
        return self.root / "daemon.json"

    @property
    def log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens.csv"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"
