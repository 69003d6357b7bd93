"""The scheduling framework: extension points, statuses, and one scheduling cycle.

Shaped like kube-scheduler's framework (pkg/scheduler/framework/interface.go): a plugin is a
small object with a ``name`` implementing one or more extension points, and it returns a
``Status`` instead of raising.

=============  ===================================================  ========================
Point          Method                                               Returns
=============  ===================================================  ========================
PreFilter      ``pre_filter(state, pod)``                           Status (SKIP: no Filter)
Filter         ``filter(state, pod, node_info)``                    Status
PreScore       ``pre_score(state, pod, nodes)``                     Status (SKIP: no Score)
Score          ``score(state, pod, node_info)``                     int, 0..100
NormalizeScore ``normalize(state, pod, scores)``                    list[int], 0..100
=============  ===================================================  ========================

``pod`` is a ``PodInfo`` (``pod.obj`` is the wire object), ``node_info`` a ``NodeInfo``;
``state`` is a ``CycleState`` (a dict for one cycle, where PreFilter leaves what Filter needs).
Plugins are pure: no I/O, no mutation of their inputs.

**Verdict reuse.** A plugin may also define ``signature(pod) -> Hashable`` promising that its
Filter and Score for a node depend only on that value and the NodeInfo. When every enabled
plugin does, the framework memoizes each node's (filter status, scores) per pod signature on
the NodeInfo, which forgets them whenever the node or its pods change. Identical pods
(replicas) then cost one dictionary lookup per node instead of a pass through every plugin —
what makes 5,000 nodes affordable in Python. Plugins without ``signature`` simply disable it.

**Sampling.** Like upstream, the feasibility search starts where the previous one stopped and
ends once ``num_feasible_nodes_to_find`` nodes passed every filter (percentageOfNodesToScore:
adaptive ``50 - nodes/125`` percent, at least 5%, at least 100 nodes); only those are scored.
"""

from __future__ import annotations

import itertools
import operator
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol, runtime_checkable

from gitkube.agents.scheduler.types import NodeInfo, NodeList, PodInfo

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
NO_NODE_AVAILABLE = "0/{} nodes are available"
NO_NODES = "no nodes available to schedule pods"
MEMO_PER_NODE = 64
_SIGNATURE_IDS = itertools.count(1)


class Code(IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    SKIP = 4


@dataclass(frozen=True, slots=True)
class Status:
    """A plugin's answer: a code and the reasons (each counted in the FailedScheduling
    message). ``plugin`` names who failed (filled in by the framework)."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code == Code.SUCCESS

    @property
    def skip(self) -> bool:
        return self.code == Code.SKIP

    def with_plugin(self, name: str) -> Status:
        return Status(self.code, self.reasons, name)

    @staticmethod
    def unschedulable(*reasons: str, resolvable: bool = True) -> Status:
        """Unschedulable on this node; ``resolvable=False`` for UnschedulableAndUnresolvable
        (waiting for other pods to go away would not help)."""
        code = Code.UNSCHEDULABLE if resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        return Status(code, reasons)

    @staticmethod
    def error(message: str) -> Status:
        return Status(Code.ERROR, (message,))


SUCCESS = Status()
SKIP = Status(Code.SKIP)


class CycleState(dict[str, Any]):
    """Data shared by the plugins during one pod's scheduling cycle."""


# --- extension points ----------------------------------------------------------------------


@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status: ...


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(self, state: CycleState, pod: PodInfo,
                  nodes: Sequence[NodeInfo]) -> Status: ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int: ...


@runtime_checkable
class NormalizePlugin(Protocol):
    """Called with the raw scores of the nodes being compared, only when they are not all
    equal (equal raw scores must normalize to equal scores: they change no decision)."""

    name: str

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> list[int]: ...


@runtime_checkable
class SignaturePlugin(Protocol):
    name: str

    def signature(self, pod: PodInfo) -> Hashable: ...


def default_normalize(scores: list[int], *, reverse: bool = False) -> list[int]:
    """Upstream's DefaultNormalizeScore: scale to 0..100 by the highest score; ``reverse``
    turns high into low (for counts of bad things, like untolerated PreferNoSchedule taints).
    """
    top = max(scores, default=0)
    if top == 0:
        return [MAX_NODE_SCORE] * len(scores) if reverse else list(scores)
    out = [MAX_NODE_SCORE * s // top for s in scores]
    return [MAX_NODE_SCORE - s for s in out] if reverse else out


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes to find before scoring (upstream's numFeasibleNodesToFind)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if percentage >= 100:
        return num_all_nodes
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def fit_error_message(num_all_nodes: int, statuses: Sequence[Status],
                      pre_filter: Status | None = None) -> str:
    """The FailedScheduling message, exactly like upstream's FitError.Error(): a histogram of
    reasons, each "COUNT REASON", sorted as strings (so "10 ..." sorts before "2 ...")."""
    if num_all_nodes == 0:
        return NO_NODES
    message = NO_NODE_AVAILABLE.format(num_all_nodes) + ":"
    if pre_filter is not None:
        return message + f" {', '.join(pre_filter.reasons)}."
    counts: dict[str, int] = {}
    for status in statuses:
        for reason in status.reasons:
            counts[reason] = counts.get(reason, 0) + 1
    histogram = sorted(f"{n} {reason}" for reason, n in counts.items())
    if histogram:
        message += f" {', '.join(histogram)}."
    return message


@dataclass(frozen=True)
class ScheduleResult:
    """A cycle's outcome: the chosen node (None when the pod fits nowhere), how many nodes
    were looked at and found feasible, and — on failure — the message and every node's
    failing status."""

    node: str | None
    evaluated: int = 0
    feasible: int = 0
    message: str = ""
    statuses: dict[str, Status] = field(default_factory=dict)


@dataclass(frozen=True)
class WeightedScore:
    plugin: ScorePlugin
    weight: int


# A verdict on one node: (failing status or None, weighted sum of the scores that need no
# normalizing, raw scores of the plugins that normalize, node name).
_Verdict = tuple[Status | None, int, tuple[int, ...], str]


class Framework:
    """One profile: the enabled plugins, in order, and the cycle that runs them."""

    def __init__(self, *, pre_filters: Sequence[PreFilterPlugin] = (),
                 filters: Sequence[FilterPlugin] = (), pre_scores: Sequence[PreScorePlugin] = (),
                 scores: Sequence[WeightedScore] = (), percentage_of_nodes_to_score: int = 0,
                 rng: random.Random | None = None, memoize: bool = True):
        self.pre_filters = list(pre_filters)
        self.filters = list(filters)
        self.pre_scores = list(pre_scores)
        self.scores = list(scores)
        self.percentage = percentage_of_nodes_to_score
        self.rng = rng or random.Random()
        self.next_start = 0
        plugins: list[Any] = [*self.pre_filters, *self.filters, *self.pre_scores,
                              *(s.plugin for s in self.scores)]
        unique = {id(p): p for p in plugins}.values()
        self._signers = [p for p in unique if isinstance(p, SignaturePlugin)]
        self.memoize = memoize and len(self._signers) == len(unique)
        self._normalized = [s for s in self.scores if isinstance(s.plugin, NormalizePlugin)]
        self._plain = [s for s in self.scores if not isinstance(s.plugin, NormalizePlugin)]
        # Pod signatures interned to small ints: a memo lookup then hashes an int, not a
        # nested tuple. Bounded; when full it starts over (old memo entries just go unused).
        self._sig_ids: dict[Hashable, int] = {}
        self._tables: dict[int, _Table] = {}
        self._seen: set[int] = set()

    def signature(self, pod: PodInfo) -> int | None:
        """The memo key for ``pod`` (None: this profile cannot memoize)."""
        if not self.memoize:
            return None
        sig = tuple(p.signature(pod) for p in self._signers)
        sid = self._sig_ids.get(sig)
        if sid is None:
            if len(self._sig_ids) >= 4096:
                self._sig_ids.clear()
            # Unique across frameworks: profiles share NodeInfos, never each other's memo.
            sid = self._sig_ids[sig] = next(_SIGNATURE_IDS)
        return sid

    # --- the cycle -------------------------------------------------------------------------

    def schedule(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> ScheduleResult:
        """Run one scheduling cycle over ``nodes`` (an unchanging view while it runs)."""
        n_all = len(nodes)
        if n_all == 0:
            return ScheduleResult(None, message=NO_NODES)
        state = CycleState()
        skipped, refused = self._pre_filter(state, pod)
        if refused is not None:
            return ScheduleResult(None, message=fit_error_message(n_all, [], refused))
        verdict = self._verdicts(state, pod, nodes,
                                 [f for f in self.filters if f.name not in skipped])
        sig = self.signature(pod)
        if sig is not None and isinstance(nodes, NodeList) and self._repeated(sig):
            feasible, failed, evaluated = self._find_feasible_tabled(nodes, sig, verdict)
        else:
            feasible, failed, evaluated = self._find_feasible(nodes, sig, verdict)
        if not feasible:
            statuses = {v[3]: v[0] for v in failed if v[0] is not None}
            message = fit_error_message(n_all, list(statuses.values()))
            return ScheduleResult(None, evaluated, 0, message, statuses)
        return ScheduleResult(self._select(pod, state, feasible), evaluated, len(feasible))

    def _pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[set[str], Status | None]:
        """Run the PreFilter plugins: the names of those that skip their Filter, and the
        status (with its plugin) of the first that refuses the pod, if any."""
        skipped: set[str] = set()
        for pf in self.pre_filters:
            st = pf.pre_filter(state, pod)
            if st.skip:
                skipped.add(pf.name)
            elif not st.ok:
                return skipped, st.with_plugin(pf.name)
        return skipped, None

    def _verdicts(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                  filters: list[FilterPlugin]) -> Callable[[NodeInfo], _Verdict]:
        """The verdict on one node for this cycle: ``filters`` in order, then (once the
        first node passes them) the PreScore plugins, and the node's scores."""
        score_skipped: set[str] = set()
        pre_scores_done = False

        def verdict(ni: NodeInfo) -> _Verdict:
            nonlocal pre_scores_done
            for f in filters:
                st = f.filter(state, pod, ni)
                if not st.ok:
                    return (st.with_plugin(f.name), 0, (), ni.name)
            if not pre_scores_done:
                pre_scores_done = True
                for ps in self.pre_scores:
                    if ps.pre_score(state, pod, nodes).skip:
                        score_skipped.add(ps.name)
            total = 0
            for ws in self._plain:
                if ws.plugin.name not in score_skipped:
                    total += ws.weight * ws.plugin.score(state, pod, ni)
            raw = tuple(0 if ws.plugin.name in score_skipped
                        else ws.plugin.score(state, pod, ni) for ws in self._normalized)
            return (None, total, raw, ni.name)

        return verdict

    def _find_feasible(
        self, nodes: Sequence[NodeInfo], sig: int | None,
        verdict: Callable[[NodeInfo], _Verdict],
    ) -> tuple[list[_Verdict], list[_Verdict], int]:
        """Verdicts from ``next_start`` on, until enough nodes are feasible (or all were
        seen): (feasible, failed, how many nodes were looked at)."""
        n_all = len(nodes)
        to_find = num_feasible_nodes_to_find(n_all, self.percentage)
        feasible: list[_Verdict] = []
        failed: list[_Verdict] = []
        start = self.next_start % n_all
        found = 0
        processed = 0
        for ni in itertools.chain(nodes[start:], nodes[:start]) if start else nodes:
            processed += 1
            if sig is None:
                v = verdict(ni)
            else:
                v = ni.memo.get(sig)  # type: ignore[assignment]
                if v is None:
                    memo = ni.memo
                    if len(memo) >= MEMO_PER_NODE:
                        memo.clear()  # many distinct pods: keep memory bounded
                    v = memo[sig] = verdict(ni)
            if v[0] is None:
                feasible.append(v)
                found += 1
                if found >= to_find:
                    break
            else:
                failed.append(v)
        self.next_start = (start + processed) % n_all
        return feasible, failed, processed

    def _find_feasible_tabled(
        self, nodes: NodeList, sig: int, verdict: Callable[[NodeInfo], _Verdict],
    ) -> tuple[list[_Verdict], list[_Verdict], int]:
        """``_find_feasible`` for a cache's NodeList: the verdicts of every node for this pod
        signature are kept in a table refreshed only where the list's log says a node
        changed, so the search itself runs in C (compress/islice) instead of a Python loop
        over the nodes."""
        n_all = len(nodes)
        table = self._tables.get(sig)
        log = nodes.log
        if table is None or table.epoch != nodes.epoch or table.log_pos > len(log):
            if len(self._tables) >= MEMO_PER_NODE:
                self._tables.clear()
            verdicts = [self._memoized(ni, sig, verdict) for ni in nodes]
            table = self._tables[sig] = _Table(nodes.epoch, len(log), verdicts,
                                               [v[0] is None for v in verdicts])
        elif table.log_pos < len(log):
            verdicts, ok = table.verdicts, table.ok
            for i in set(log[table.log_pos:]):
                v = verdicts[i] = self._memoized(nodes[i], sig, verdict)
                ok[i] = v[0] is None
            table.log_pos = len(log)
        to_find = num_feasible_nodes_to_find(n_all, self.percentage)
        start = self.next_start % n_all
        if start:
            window = table.verdicts[start:] + table.verdicts[:start]
            ok = table.ok[start:] + table.ok[:start]
        else:
            window, ok = table.verdicts, table.ok
        feasible = list(itertools.islice(itertools.compress(window, ok), to_find))
        if len(feasible) < to_find:
            processed = n_all
        else:
            last = itertools.islice(itertools.compress(range(n_all), ok), to_find - 1, None)
            processed = next(last) + 1
        self.next_start = (start + processed) % n_all
        failed = [v for v in window[:processed] if v[0] is not None] if not feasible else []
        return feasible, failed, processed

    def _repeated(self, sig: int) -> bool:
        """True from the second pod with this signature on: a table covers every node, so
        it pays only for signatures that repeat (replicas), not for one-off pods."""
        if sig in self._tables:
            return True
        if sig in self._seen:
            return True
        if len(self._seen) >= 4096:
            self._seen.clear()
        self._seen.add(sig)
        return False

    @staticmethod
    def _memoized(ni: NodeInfo, sig: int, verdict: Callable[[NodeInfo], _Verdict]) -> _Verdict:
        memo = ni.memo
        v: _Verdict | None = memo.get(sig)
        if v is None:
            if len(memo) >= MEMO_PER_NODE:
                memo.clear()
            v = memo[sig] = verdict(ni)
        return v

    def _select(self, pod: PodInfo, state: CycleState, feasible: list[_Verdict]) -> str:
        totals = list(map(_TOTAL, feasible))
        raws = list(map(_RAW, feasible))
        if self._normalized and raws.count(raws[0]) != len(raws):
            for j, ws in enumerate(self._normalized):
                raw = [r[j] for r in raws]
                if raw.count(raw[0]) == len(raw):
                    continue  # all equal: adds the same to every node, changes no decision
                plugin: Any = ws.plugin
                normalized: list[int] = plugin.normalize(state, pod, raw)
                w = ws.weight
                totals = [t + w * s for t, s in zip(totals, normalized, strict=True)]
        # The highest total; ties broken uniformly at random (as upstream's selectHost).
        best = max(totals)
        if totals.count(best) == 1:
            return feasible[totals.index(best)][3]
        ties = list(itertools.compress(range(len(totals)), map(best.__eq__, totals)))
        return feasible[ties[self.rng.randrange(len(ties))]][3]


_TOTAL = operator.itemgetter(1)
_RAW = operator.itemgetter(2)


@dataclass
class _Table:
    """One pod signature's verdicts on every node of a NodeList (see _find_feasible_tabled)."""

    epoch: int
    log_pos: int
    verdicts: list[_Verdict]
    ok: list[bool]


__all__ = [
    "MAX_NODE_SCORE",
    "SKIP",
    "SUCCESS",
    "Code",
    "CycleState",
    "FilterPlugin",
    "Framework",
    "NormalizePlugin",
    "Plugin",
    "PreFilterPlugin",
    "PreScorePlugin",
    "ScheduleResult",
    "ScorePlugin",
    "SignaturePlugin",
    "Status",
    "WeightedScore",
    "default_normalize",
    "fit_error_message",
    "num_feasible_nodes_to_find",
]
