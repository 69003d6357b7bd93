"""Plugins by name: the registry a configuration's names are looked up in.

``default_registry()`` holds the built-ins; ``registry.register("MyPlugin", factory)`` adds a
user's own algorithm, where ``factory(args) -> plugin`` gets the profile's ``pluginConfig``
arguments for that name (a dict, empty when none). A class taking ``args`` is a factory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gitkube.agents.scheduler.plugins import BUILTIN
from gitkube.errors import GitkubeError

PluginFactory = Callable[[Mapping[str, Any]], Any]


class UnknownPlugin(GitkubeError):
    """A configuration names a plugin that no registry entry provides."""


class Registry:
    """Plugin factories by name. Plugins are created once per configuration."""

    def __init__(self, factories: Mapping[str, PluginFactory] | None = None):
        self._factories: dict[str, PluginFactory] = dict(factories or {})

    def register(self, name: str, factory: PluginFactory) -> None:
        """Add (or replace) the plugin called ``name``."""
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def create(self, name: str, args: Mapping[str, Any] | None = None) -> Any:
        factory = self._factories.get(name)
        if factory is None:
            raise UnknownPlugin(f"no scheduler plugin named {name!r}",
                                hint=f"registered plugins: {', '.join(self.names())}")
        plugin = factory(dict(args or {}))
        if not getattr(plugin, "name", None):
            plugin.name = name
        return plugin

    def copy(self) -> Registry:
        return Registry(self._factories)


def default_registry() -> Registry:
    """A new registry holding every built-in plugin under its upstream name."""
    return Registry({cls.name: cls for cls in BUILTIN})


__all__ = ["PluginFactory", "Registry", "UnknownPlugin", "default_registry"]
