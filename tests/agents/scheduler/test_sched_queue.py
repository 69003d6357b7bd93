"""The scheduling queue with a fake clock: priority order, back-off, the unschedulable queue
and what moves pods out of it."""

from __future__ import annotations

from gitkube.agents.scheduler.queue import SchedulingQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _queue() -> tuple[SchedulingQueue, FakeClock]:
    clock = FakeClock()
    return SchedulingQueue(initial_backoff=1.0, max_backoff=4.0, clock=clock), clock


def test_higher_priority_first_then_fifo() -> None:
    q, _ = _queue()
    q.add("ns/low")
    q.add("ns/high", priority=10)
    q.add("ns/low2")
    q.add("ns/low")  # already queued: no duplicate
    assert [q.pop(0), q.pop(0), q.pop(0), q.pop(0)] == ["ns/high", "ns/low", "ns/low2", None]


def test_unschedulable_pods_wait_for_a_cluster_change() -> None:
    q, clock = _queue()
    q.add("ns/p")
    assert q.pop(0) == "ns/p"
    q.unschedulable("ns/p", q.move_seq)
    assert q.counts() == (0, 0, 1)
    assert q.pop(0) is None
    clock.now += 5  # longer than its back-off
    q.move_all()
    assert q.pop(0) == "ns/p"


def test_a_change_during_the_cycle_sends_the_pod_to_backoff_not_unschedulable() -> None:
    q, clock = _queue()
    q.add("ns/p")
    assert q.pop(0) == "ns/p"
    seq = q.move_seq
    q.move_all()  # e.g. a node was added while the cycle ran
    q.unschedulable("ns/p", seq)
    assert q.counts() == (0, 1, 0)
    assert q.pop(0) is None  # backing off for 1 s
    clock.now += 1.0
    assert q.pop(0) == "ns/p"


def test_backoff_doubles_up_to_the_maximum() -> None:
    q, clock = _queue()
    q.add("ns/p")
    for expected in (1.0, 2.0, 4.0, 4.0):
        assert q.pop(0) == "ns/p"
        q.retry("ns/p")
        clock.now += expected - 0.01
        assert q.pop(0) is None
        clock.now += 0.01
    assert q.pop(0) == "ns/p"


def test_flush_retries_pods_parked_too_long_and_delete_forgets() -> None:
    q, clock = _queue()
    for key in ("ns/a", "ns/b"):
        q.add(key)
        assert q.pop(0) == key
        q.unschedulable(key, q.move_seq)
    q.delete("ns/b")
    q.flush(60)
    assert q.pop(0) is None
    clock.now += 60
    q.flush(60)
    assert q.pop(0) == "ns/a"
    assert q.pop(0) is None
