"""The controllers (the seed's controller-manager): one module per kind, each with a pure
"what should exist" core and a ``controller(manager, ...) -> Controller`` factory.

They are composed with every other agent by gitkube/agents/compose.py (its ``AGENTS``
table); their tunables are ``gitkube.settings.ControllerSettings``.
"""

from gitkube.settings import ControllerSettings

__all__ = ["ControllerSettings"]
