"""Leader election on Leases: the pure claim rules, and electors racing on a real store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.agents.compose import AgentSet
from gitkube.agents.leaderelection import FencedClient, LeaderElector, LeadershipLost
from gitkube.api.client import Client
from gitkube.api.local import LocalClient
from gitkube.errors import NotFound
from gitkube.model import leases
from gitkube.model.leases import LeaseRecord, claim, record_of, released
from gitkube.settings import LeaderElectionSettings, Settings
from gitkube.store import open_store

FAST = LeaderElectionSettings(enabled=True, lease_duration=3, renew_deadline=2,
                              retry_period=0.2)


def test_claim_rules() -> None:
    fresh = claim(None, "a", 100.0, 15, held_by_other=False)
    assert fresh == LeaseRecord("a", 15, 100.0, 100.0, 0)
    # renewing keeps acquireTime and transitions
    assert claim(fresh, "a", 110.0, 15, held_by_other=False) == LeaseRecord(
        "a", 15, 100.0, 110.0, 0)
    # another holder: not while its lease holds, then one more transition
    assert claim(fresh, "b", 105.0, 15, held_by_other=True) is None
    assert claim(fresh, "b", 120.0, 15, held_by_other=False) == LeaseRecord(
        "b", 15, 120.0, 120.0, 1)
    # a released lease (no holder) is free at once
    free = released(LeaseRecord("a", 15, 100.0, 110.0, 4), 111.0)
    assert free.holder == "" and free.transitions == 4
    assert claim(free, "b", 111.5, 15, held_by_other=True) == LeaseRecord(
        "b", 15, 111.5, 111.5, 5)


def test_lease_object_round_trip() -> None:
    record = LeaseRecord("me", 15, 1_700_000_000.25, 1_700_000_010.5, 3)
    obj = leases.lease_object("kube-system", "x", record)
    assert obj["spec"]["renewTime"] == "2023-11-14T22:13:30.500000Z"
    assert record_of(obj) == record


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield LocalClient(store)
    finally:
        store.close()


class Candidate:
    def __init__(self, client: Client, identity: str, log: list[tuple[str, str]],
                 lock: threading.Lock):
        self.identity = identity
        self.leading = threading.Event()

        def started() -> None:
            with lock:
                log.append(("start", identity))
            self.leading.set()

        def stopped() -> None:
            with lock:
                log.append(("stop", identity))
            self.leading.clear()

        self.elector = LeaderElector(client, "test-lock", identity, FAST,
                                     on_started=started, on_stopped=stopped)


def _wait(predicate: object, timeout: float) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _never_two(log: list[tuple[str, str]]) -> None:
    """Replaying start/stop callbacks: never two leaders at once."""
    leading: set[str] = set()
    for what, who in log:
        if what == "start":
            assert not leading, f"{who} started while {leading} led: {log}"
            leading.add(who)
        else:
            leading.discard(who)


def test_one_leader_then_handover_on_release(client: Client) -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    cands = [Candidate(client, f"c{i}", log, lock) for i in range(3)]
    for c in cands:
        c.elector.start()
    try:
        assert _wait(lambda: sum(c.leading.is_set() for c in cands) == 1, 10)
        time.sleep(1.0)  # several renewals: still exactly one
        assert sum(c.leading.is_set() for c in cands) == 1
        leader = next(c for c in cands if c.leading.is_set())
        lease = client.get(leases.API_VERSION, "Lease", "kube-system", "test-lock")
        assert lease["spec"]["holderIdentity"] == leader.identity
        # a leader that stops releases the lease: another takes over well before expiry
        leader.elector.stop()
        rest = [c for c in cands if c is not leader]
        assert _wait(lambda: sum(c.leading.is_set() for c in rest) == 1, 10)
        lease = client.get(leases.API_VERSION, "Lease", "kube-system", "test-lock")
        assert lease["spec"]["holderIdentity"] != leader.identity
        assert lease["spec"]["leaseTransitions"] == 1
    finally:
        for c in cands:
            c.elector.stop()
    _never_two(log)


class _Cut:
    """A client whose calls fail while ``cut`` is set (a leader partitioned from the
    store), and which records when each successful Lease write happened."""

    def __init__(self, client: Client):
        self.client = client
        self.cut = threading.Event()

    def __getattr__(self, name: str) -> object:
        target = getattr(self.client, name)

        def call(*args: object, **kwargs: object) -> object:
            if self.cut.is_set():
                raise NotFound("partitioned")  # any GitkubeError: the attempt fails
            return target(*args, **kwargs)

        return call


def test_partitioned_leader_steps_down_before_another_acts(client: Client) -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    cut = _Cut(client)
    first = Candidate(cut, "first", log, lock)  # type: ignore[arg-type]
    first.elector.start()
    try:
        assert _wait(first.leading.is_set, 10)
        second = Candidate(client, "second", log, lock)
        second.elector.start()
        time.sleep(0.5)
        assert not second.leading.is_set()
        cut.cut.set()
        assert _wait(lambda: second.leading.is_set(), 15)
        _never_two(log)
        # the stop came before the start, not merely at the same moment
        assert log.index(("stop", "first")) < log.index(("start", "second"))
        assert not first.elector.is_leader()
    finally:
        cut.cut.clear()
        first.elector.stop()
        second.elector.stop()


def test_fenced_client_refuses_writes_when_not_leading(client: Client) -> None:
    allowed = [True]
    fenced = FencedClient(client, lambda: allowed[0], "x")
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "a", "namespace": "default"}}
    fenced.create(cm)
    allowed[0] = False
    with pytest.raises(LeadershipLost):
        fenced.create({**cm, "metadata": {"name": "b", "namespace": "default"}})
    assert fenced.get("v1", "ConfigMap", "default", "a")["metadata"]["name"] == "a"


def test_agent_set_elects_scheduler_and_controllers(client: Client, tmp_path: Path) -> None:
    settings = Settings.defaults(tmp_path)
    one = AgentSet(client, _with(settings, "one"), None).start()
    two = AgentSet(client, _with(settings, "two"), None).start()
    try:
        def holders() -> dict[str, str]:
            out = {}
            for name in ("kube-scheduler", "kube-controller-manager"):
                try:
                    lease = client.get(leases.API_VERSION, "Lease", "kube-system", name)
                except NotFound:
                    continue
                out[name] = lease["spec"].get("holderIdentity", "")
            return out

        assert _wait(lambda: len(holders()) == 2, 10)
        running = [g for s in (one, two) for g in s.groups if g.manager is not None]
        assert _wait(lambda: len([g for s in (one, two) for g in s.groups
                                  if g.manager is not None]) == 2, 10), running
        # no group runs in both sets
        for lease in ("kube-scheduler", "kube-controller-manager"):
            assert sum(g.manager is not None for s in (one, two) for g in s.groups
                       if g.lease == lease) == 1
    finally:
        one.stop()
        two.stop()


def _with(settings: Settings, identity: str) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, services=False, leader_election=dataclasses.replace(
        FAST, identity=identity))


def test_leader_steps_down_at_once_when_the_lease_names_another(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    log: list[tuple[str, str]] = []
    cand = Candidate(client, "a", log, threading.Lock())
    cand.elector.start()
    try:
        assert _wait(cand.leading.is_set, 10)
        lease = client.get(leases.API_VERSION, "Lease", "kube-system", "test-lock")
        client.update({**lease, "spec": {**lease["spec"], "holderIdentity": "intruder"}})
        assert _wait(lambda: not cand.leading.is_set(), 10)
        assert log == [("start", "a"), ("stop", "a")]
        # at its next renewal, not when its renew deadline ran out
        assert "was taken over" in caplog.text
        assert "could not renew" not in caplog.text
    finally:
        cand.elector.stop()
