"""The built-in PriorityClasses: ``system-cluster-critical`` and ``system-node-critical``
are created when missing, as upstream's API server does in a post-start hook.

An Agent with one thread: at start it creates whichever of the two the store lacks, and
retries (every ``retry`` seconds) until both exist or it is stopped. Pod admission knows
them even before they are stored (``gitkube/model/priority.py``); this makes them
visible (``kubectl get priorityclasses``) and protected like any stored object.
"""

from __future__ import annotations

import copy
import logging
import threading

from gitkube.agents.manager import Manager
from gitkube.api.client import Client
from gitkube.errors import AlreadyExists, GitkubeError
from gitkube.model.priority import BUILTIN

log = logging.getLogger("gitkube.agents.priorityclass")


class BuiltinPriorityClasses:
    """An Agent: ensures the built-in PriorityClasses exist."""

    name = "priorityclass-bootstrap"

    def __init__(self, client: Client, *, retry: float = 5.0):
        self.client = client
        self.retry = retry
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure(self) -> bool:
        """Create the missing built-in classes; True once both exist."""
        done = True
        for pc in BUILTIN.values():
            try:
                self.client.create(copy.deepcopy(pc))
            except AlreadyExists:
                pass
            except GitkubeError as e:
                log.warning("cannot create PriorityClass %s: %s", pc["metadata"]["name"], e)
                done = False
        return done

    def _run(self) -> None:
        while not self.ensure() and not self._stop.wait(self.retry):
            pass

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def controller(manager: Manager) -> BuiltinPriorityClasses:
    """The bootstrap agent for ``manager``'s client."""
    return BuiltinPriorityClasses(manager.client)
