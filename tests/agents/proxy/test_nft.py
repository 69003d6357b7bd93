"""The proxy's kernel mode: gitkube's own nftables table, on loopback only.

The service range is a piece of 127.0.0.0/8 and the backends are servers on 127.0.1.x; the
table has a name of the test's own and is the only one created, changed or deleted."""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.agents.proxy.nft import (
    KernelPort,
    NftTable,
    nft,
    range_prefix,
    remove_stale,
    render,
    table_name,
)
from gitkube.agents.proxy.table import Backend
from tests.agents.proxy.proxy_env import (
    Cluster,
    ask,
    backends,
    nft_unusable,
    stop_all,
    wait_for,
)


def test_render_is_one_transaction_of_our_table_only() -> None:
    script = render("gk_t", "10.96.0.0/16", [
        KernelPort("10.96.0.7", 80, "ns/web:80/TCP", (Backend("10.244.0.5", 8080),
                                                      Backend("10.244.0.6", 8080))),
        KernelPort("10.96.0.8", 443, "ns/gone:443/TCP", ())])
    lines = script.splitlines()
    assert lines[:2] == ["table ip gk_t {}", "flush table ip gk_t"]
    assert all("table" not in line or "gk_t" in line for line in lines)
    assert ("ip daddr 10.96.0.7 tcp dport 80 dnat ip to numgen inc mod 2 map "
            "{ 0 : 10.244.0.5 . 8080, 1 : 10.244.0.6 . 8080 }") in script
    assert "ip daddr 10.96.0.8 tcp dport 443 reject with tcp reset" in script
    assert "10.96.0.8 tcp dport 443 dnat" not in script
    assert range_prefix("10.96.0.0/16") == "gitkube_svc_10_96_0_0_16"
    first, second = table_name("10.96.0.0/16"), table_name("10.96.0.0/16")
    assert first.startswith(f"gitkube_svc_10_96_0_0_16_p{os.getpid()}_") and first != second


def tables() -> list[str]:
    """The tables of everyone but gitkube (Podman's, iptables-nft's, ...): gitkube tables of
    other proxies running on this machine meanwhile come and go on their own."""
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                         timeout=10, check=True).stdout
    return sorted(line.strip() for line in out.splitlines()
                  if line.strip() and " gitkube_" not in line)


def listed(name: str) -> str:
    proc = subprocess.run(["nft", "list", "table", "ip", name], capture_output=True,
                          text=True, timeout=10)
    return proc.stdout if proc.returncode == 0 else ""


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    if reason := nft_unusable():
        pytest.skip(reason)
    c = Cluster(monkeypatch, "process", 1, "kernel")
    try:
        yield c
    finally:
        c.manager.stop()
        NftTable("127.77.0.0/16", c.table).remove()  # in case the test failed before


@pytest.mark.nft
def test_rules_follow_endpoints_and_services_and_stop_removes_only_our_table(
        kernel: Cluster) -> None:
    before = tables()
    servers = backends(3)
    port = servers[0].server_address[1]
    try:
        kernel.service("web", [{"port": 80, "targetPort": port}], clusterIP="127.77.0.30")
        kernel.endpoints("web", ["127.0.1.1", "127.0.1.2"], [{"port": port}])
        wait_for(lambda: "127.0.1.2" in listed(kernel.table))
        rules = listed(kernel.table)
        assert f"ip daddr 127.77.0.30 tcp dport 80 dnat ip to numgen inc mod 2 map " \
               f"{{ 0 : 127.0.1.1 . {port}, 1 : 127.0.1.2 . {port} }}" in rules
        assert Counter(ask("127.77.0.30", 80) for _ in range(6)) == {"pod-1": 3, "pod-2": 3}
        assert kernel.proxy.describe()[0]["mode"] == "kernel"

        # an endpoint added: the rule follows, round robin spreads over all three
        kernel.endpoints("web", ["127.0.1.1", "127.0.1.2", "127.0.1.3"], [{"port": port}])
        wait_for(lambda: "mod 3" in listed(kernel.table))
        assert Counter(ask("127.77.0.30", 80) for _ in range(9)) == \
            {"pod-1": 3, "pod-2": 3, "pod-3": 3}

        # no Ready endpoints: refused at once by a reject rule
        kernel.endpoints("web", [], [])
        wait_for(lambda: "127.77.0.30 tcp dport 80 reject" in listed(kernel.table))
        with pytest.raises(ConnectionRefusedError):
            ask("127.77.0.30", 80, timeout=2)

        # the service gone: nothing of it is left in the table
        kernel.client.delete("v1", "Service", "default", "web")
        wait_for(lambda: "127.77.0.30" not in listed(kernel.table))
        assert "chain services" in listed(kernel.table)  # the table itself stays
    finally:
        stop_all(servers)
    kernel.proxy.stop()
    assert listed(kernel.table) == ""
    assert tables() == before  # every other table is still there, none added
    assert f"table ip {kernel.table}" not in subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True, timeout=10).stdout


@pytest.mark.nft
def test_an_existing_table_of_that_name_is_replaced_whole(kernel: Cluster) -> None:
    """Each apply rewrites the whole table in one transaction (no rule of an older content
    survives), and the table is never missing in between."""
    table = NftTable("127.77.0.0/16", f"gitkube_test_{uuid.uuid4().hex[:8]}")
    try:
        table.create()
        a = KernelPort("127.77.0.40", 80, "a", (Backend("127.0.1.1", 9),))
        b = KernelPort("127.77.0.41", 80, "b", (Backend("127.0.1.2", 9),))
        assert table.apply([a, b])
        assert not table.apply([b, a])  # the same content: nothing done
        assert table.apply([b])
        text = listed(table.name)
        assert "127.77.0.41" in text and "127.77.0.40" not in text
        # written again every `refresh` s even when unchanged: a table deleted by hand
        # (here: ours) comes back
        table.refresh = 0.0
        subprocess.run(["nft", "delete", "table", "ip", table.name], check=True, timeout=10)
        assert not table.apply([b]) and "127.77.0.41" in listed(table.name)
    finally:
        table.remove()
    assert listed(table.name) == ""


@pytest.mark.nft
def test_tables_of_proxies_that_are_gone_are_removed_at_start(kernel: Cluster) -> None:
    """A proxy killed before it could delete its table: the next one on the range deletes
    it; the table of a proxy still running (this process) stays."""
    cidr = "127.78.0.0/16"
    with subprocess.Popen(["true"]) as proc:  # a process that has exited: its PID is free
        proc.wait(timeout=10)
        gone_pid = proc.pid
    stale = f"{range_prefix(cidr)}_p{gone_pid}_1"
    alive = NftTable(cidr)
    try:
        nft(f"table ip {stale} {{}}\n")
        alive.create()
        assert listed(stale) == ""
        assert remove_stale(cidr) == []
        assert "chain services" in listed(alive.name)
    finally:
        alive.remove()
        NftTable(cidr, stale).remove()


def test_without_nftables_the_proxy_falls_back_to_userspace_and_says_so(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nft command
    caplog.set_level(logging.INFO, logger="gitkube.proxy")
    c = Cluster(monkeypatch, "thread", 1, "userspace")
    try:
        c.proxy.stop()
        c.proxy.config.backend = "auto"
        c.proxy.start()
        assert c.proxy.mode == "userspace"
        assert "nftables unusable (the nft command (nftables) is not installed); " \
               "userspace mode" in caplog.text
    finally:
        c.manager.stop()
