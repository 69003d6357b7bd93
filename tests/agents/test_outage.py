"""A store outage is said once, not once per retry: an informer that cannot list or watch
logs one warning when it starts failing and one line when it works again, with the count
(an etcd outage used to flood the log with ~84 tracebacks per 10 s)."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest

from gitkube.agents.manager import Manager, Outage
from gitkube.api.local import LocalClient
from gitkube.errors import StoreUnavailable
from gitkube.store import open_store
from gitkube.store.etcd import EtcdWatch
from tests.support.etcdserver import EtcdServer


def test_an_outage_is_one_line_then_one_line_when_it_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    outage = Outage("informer Pod: list/watch", logging.getLogger("test.outage"),
                    clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "test.outage"):
        for _ in range(50):
            outage.failed(StoreUnavailable("etcd at 127.0.0.1:1 does not answer"))
        now[0] += 12
        outage.recovered()
        outage.recovered()  # nothing more to say
    assert [r.getMessage() for r in caplog.records] == [
        "informer Pod: list/watch failed: etcd at 127.0.0.1:1 does not answer (retrying; "
        "said once until it works again)",
        "informer Pod: list/watch works again after 50 failed attempt(s) in 12s"]
    assert caplog.records[0].exc_info is None  # a known failure: no traceback


@pytest.mark.etcd
def test_an_etcd_outage_is_said_once_per_informer(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("etcd") is None:
        pytest.skip("the etcd server binary is not installed (scripts/setup installs it)")
    # an outage longer than a dropped etcd watch is resumed for (shorter ones go unseen)
    monkeypatch.setattr(EtcdWatch, "RESUME_FOR", 2.0)
    etcd = EtcdServer(tmp_path / "data")
    etcd.wait_healthy()
    store = open_store(etcd.url)
    manager = Manager(LocalClient(store))
    kinds = [("v1", "Pod"), ("v1", "ConfigMap"), ("apps/v1", "Deployment")]
    for api_version, kind in kinds:
        manager.informer(api_version, kind)
    try:
        manager.start()
        with caplog.at_level(logging.WARNING, "gitkube.agents"):
            ports = (etcd.client_port, etcd.peer_port)
            etcd.stop()
            time.sleep(8)  # informers retry with back-off up to 5 s: several attempts each
            etcd = EtcdServer(tmp_path / "data", ports=ports)
            etcd.wait_healthy()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and sum(
                    "works again after" in r.getMessage() for r in caplog.records) < len(kinds):
                time.sleep(0.2)
        messages = [r.getMessage() for r in caplog.records if r.name == "gitkube.agents"]
        for _, kind in kinds:
            mine = [m for m in messages if m.startswith(f"informer {kind}:")]
            assert len(mine) == 2, mine  # failed once, works again once
            assert "works again after" in mine[1]
        assert not any(r.exc_info for r in caplog.records if r.name == "gitkube.agents")
    finally:
        manager.stop()
        store.close()
        etcd.stop()
