"""The scheduler's configuration: which plugins run, with which weights, and its timings.

A profile is plain data, loadable from YAML or JSON (keys as in kube-scheduler's
KubeSchedulerConfiguration where one exists)::

    schedulerName: default-scheduler
    percentageOfNodesToScore: 0          # 0: adaptive, like upstream
    filters: [NodeUnschedulable, NodeReady, TaintToleration, NodeAffinity, NodePorts,
              NodeResourcesFit]
    scores:
      - {name: NodeResourcesMostAllocated, weight: 1}   # bin packing
      - {name: TaintToleration, weight: 3}
    pluginConfig:
      - name: NodeResourcesMostAllocated
        args: {resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}]}

``SchedulerConfig()`` is the default (spread) profile; ``SchedulerConfig.bin_packing()``
swaps least-allocated for most-allocated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitkube.errors import GitkubeError

DEFAULT_FILTERS = ("NodeUnschedulable", "NodeReady", "TaintToleration", "NodeAffinity",
                   "NodePorts", "NodeResourcesFit")


@dataclass(frozen=True)
class ScoreSpec:
    """An enabled score plugin and its weight."""

    name: str
    weight: int = 1


DEFAULT_SCORES = (ScoreSpec("NodeResourcesLeastAllocated", 1),
                  ScoreSpec("NodeResourcesBalancedAllocation", 1),
                  ScoreSpec("TaintToleration", 3), ScoreSpec("NodeAffinity", 2))
BIN_PACKING_SCORES = (ScoreSpec("NodeResourcesMostAllocated", 1),
                      ScoreSpec("TaintToleration", 3), ScoreSpec("NodeAffinity", 2))


class SchedulerConfigError(GitkubeError):
    """A scheduler profile that cannot be used."""


@dataclass(frozen=True)
class SchedulerConfig:
    """One scheduler profile. Times are seconds.

    - ``scheduler_name``: pods whose spec.schedulerName equals it are ours.
    - ``filters`` (in order; a node's first failing filter is its reason) and ``scores``.
    - ``plugin_args``: per plugin name, the args given to its factory.
    - ``percentage_of_nodes_to_score``: 0 = adaptive (upstream's default).
    - ``bind_batch_size``: at most this many bindings per api transaction.
    - ``initial_backoff``/``max_backoff``: per pod, doubling after each failed attempt.
    - ``unschedulable_flush_interval``/``max_unschedulable_duration``: how often to look at,
      and how long a pod may wait in the unschedulable queue with nothing changing before it
      is retried anyway (upstream: 30 s and 5 min).
    - ``memoize``: reuse plugin verdicts for unchanged nodes and identical pods.
    - ``scheduled_events``: record a Normal ``Scheduled`` Event for every binding, as upstream.
    - ``seed``: for the random tie-break between equally scored nodes (tests).
    """

    scheduler_name: str = "default-scheduler"
    filters: tuple[str, ...] = DEFAULT_FILTERS
    scores: tuple[ScoreSpec, ...] = DEFAULT_SCORES
    plugin_args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    percentage_of_nodes_to_score: int = 0
    bind_batch_size: int = 256
    initial_backoff: float = 1.0
    max_backoff: float = 10.0
    unschedulable_flush_interval: float = 30.0
    max_unschedulable_duration: float = 300.0
    memoize: bool = True
    scheduled_events: bool = True
    seed: int | None = None

    @classmethod
    def bin_packing(cls, **overrides: Any) -> SchedulerConfig:
        """The default profile with most-allocated scoring: fill nodes before using more."""
        return cls(scores=BIN_PACKING_SCORES, **overrides)

    def with_(self, **changes: Any) -> SchedulerConfig:
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SchedulerConfig:
        """A profile from its YAML/JSON form (camelCase keys, see the module docstring).
        Unknown keys are refused (SchedulerConfigError), so a typo does not silently do nothing."""
        if not isinstance(data, Mapping):
            raise SchedulerConfigError("a scheduler profile must be a mapping")
        keys = {
            "schedulerName": "scheduler_name",
            "percentageOfNodesToScore": "percentage_of_nodes_to_score",
            "bindBatchSize": "bind_batch_size",
            "podInitialBackoffSeconds": "initial_backoff",
            "podMaxBackoffSeconds": "max_backoff",
            "unschedulableFlushIntervalSeconds": "unschedulable_flush_interval",
            "podMaxInUnschedulablePodsDurationSeconds": "max_unschedulable_duration",
            "memoize": "memoize",
            "scheduledEvents": "scheduled_events",
            "seed": "seed",
        }
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in keys:
                kwargs[keys[key]] = value
            elif key == "filters":
                kwargs["filters"] = tuple(_names(value, "filters"))
            elif key == "scores":
                kwargs["scores"] = tuple(_scores(value))
            elif key == "pluginConfig":
                kwargs["plugin_args"] = _plugin_args(value)
            elif key not in ("apiVersion", "kind"):
                raise SchedulerConfigError(f"unknown scheduler profile field {key!r}",
                                           hint="known: filters, scores, pluginConfig, "
                                           + ", ".join(keys))
        return cls(**kwargs)

    @classmethod
    def load(cls, path: str | Path) -> SchedulerConfig:
        """Read a profile from a YAML (or JSON) file."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            if str(path).endswith(".json"):
                data = json.loads(text)
            else:
                from ruamel.yaml import YAML

                data = YAML(typ="safe").load(text)
        except Exception as e:
            raise SchedulerConfigError(f"cannot parse scheduler profile {path}: {e}") from e
        return cls.from_dict(data or {})


def _names(value: Any, what: str) -> list[str]:
    if not isinstance(value, list):
        raise SchedulerConfigError(f"{what} must be a list of plugin names")
    out = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise SchedulerConfigError(f"{what}: {item!r} is not a plugin name")
        out.append(name)
    return out


def _scores(value: Any) -> list[ScoreSpec]:
    if not isinstance(value, list):
        raise SchedulerConfigError("scores must be a list of {name, weight}")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(ScoreSpec(item))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise SchedulerConfigError(f"scores: {item!r} is not {{name, weight}}")
        weight = item.get("weight", 1)
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            raise SchedulerConfigError(f"scores: weight of {item['name']} must be an integer >= 0")
        out.append(ScoreSpec(item["name"], weight))
    return out


def _plugin_args(value: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(value, list):
        raise SchedulerConfigError("pluginConfig must be a list of {name, args}")
    out: dict[str, Mapping[str, Any]] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise SchedulerConfigError(f"pluginConfig: {item!r} is not {{name, args}}")
        args = item.get("args") or {}
        if not isinstance(args, dict):
            raise SchedulerConfigError(f"pluginConfig: args of {item['name']} must be a mapping")
        out[item["name"]] = args
    return out


__all__ = ["BIN_PACKING_SCORES", "DEFAULT_FILTERS", "DEFAULT_SCORES", "SchedulerConfig",
           "SchedulerConfigError", "ScoreSpec"]
