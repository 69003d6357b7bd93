"""From a configuration to a Framework: plugins created by name, once each, and sorted into
the extension points they implement."""

from __future__ import annotations

import random
from typing import Any

from gitkube.agents.scheduler.config import SchedulerConfig, SchedulerConfigError
from gitkube.agents.scheduler.framework import (
    FilterPlugin,
    Framework,
    PreFilterPlugin,
    PreScorePlugin,
    ScorePlugin,
    WeightedScore,
)
from gitkube.agents.scheduler.registry import Registry, default_registry


def build_framework(config: SchedulerConfig, registry: Registry | None = None) -> Framework:
    """The Framework for ``config``; UnknownPlugin for a name the registry lacks,
    SchedulerConfigError for a plugin enabled at a point it does not implement."""
    registry = registry or default_registry()
    instances: dict[str, Any] = {}

    def plugin(name: str) -> Any:
        if name not in instances:
            instances[name] = registry.create(name, config.plugin_args.get(name))
        return instances[name]

    filters: list[FilterPlugin] = []
    pre_filters: list[PreFilterPlugin] = []
    for name in config.filters:
        p = plugin(name)
        if not isinstance(p, FilterPlugin):
            raise SchedulerConfigError(f"plugin {name!r} has no filter(state, pod, node_info)")
        filters.append(p)
        if isinstance(p, PreFilterPlugin):
            pre_filters.append(p)
    scores: list[WeightedScore] = []
    pre_scores: list[PreScorePlugin] = []
    for spec in config.scores:
        p = plugin(spec.name)
        if not isinstance(p, ScorePlugin):
            raise SchedulerConfigError(f"plugin {spec.name!r} has no score(state, pod, node_info)")
        if spec.weight == 0:
            continue
        scores.append(WeightedScore(p, spec.weight))
        if isinstance(p, PreScorePlugin) and p not in pre_scores:
            pre_scores.append(p)
    return Framework(pre_filters=pre_filters, filters=filters, pre_scores=pre_scores,
                     scores=scores, percentage_of_nodes_to_score=config.
                     percentage_of_nodes_to_score, rng=random.Random(config.seed),
                     memoize=config.memoize)


__all__ = ["build_framework"]
