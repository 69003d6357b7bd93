"""Settings: every variable read once from the environment the entry point passes, with a
clear error naming the variable for a value that cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitkube.errors import GitkubeError, UsageError
from gitkube.settings import ControllerSettings, Settings, parse_duration


def test_defaults(tmp_path: Path) -> None:
    s = Settings.from_env({"HOME": str(tmp_path)}, home=tmp_path)
    assert s.state_dir == tmp_path / ".local" / "state" / "gitkube"
    assert s.store is None and s.store_url == f"sqlite:///{s.state_dir / 'state.db'}"
    assert s.cache_dir == s.state_dir / "cache"
    assert s.kubelet_dir == s.state_dir / "kubelet"
    assert s.podman_dir == s.state_dir / "podman"
    assert not s.no_daemon
    assert s.network.name == "gitkube0" and s.network.enabled
    assert s.network.subnet == "10.244.0.0/16" and s.network.service_cidr == "10.96.0.0/16"
    assert s.network.domain == "cluster.local"
    assert s.services and s.proxy_mode == "auto"
    assert s.controllers == ControllerSettings()
    assert s.podman_linger == 120 and s.podman_url is None
    assert s.max_file_bytes == 4 * 1024 * 1024 and s.jobs >= 1


def test_every_variable_is_read(tmp_path: Path) -> None:
    s = Settings.from_env({
        "XDG_STATE_HOME": str(tmp_path / "xdg"), "GITKUBE_STORE": "memory://x",
        "GITKUBE_NO_DAEMON": "1", "GITKUBE_AUTHOR": "ann", "GITKUBE_MAX_FILE_BYTES": "1000",
        "GITKUBE_JOBS": "3", "GITKUBE_PODMAN_URL": "unix:///run/p.sock",
        "GITKUBE_PODMAN_LINGER": "5", "GITKUBE_POD_NETWORK": "", "GITKUBE_POD_SUBNET":
        "10.250.0.0/24", "GITKUBE_SERVICE_CIDR": "10.251.0.7/24",
        "GITKUBE_CLUSTER_DOMAIN": "example.internal", "GITKUBE_SERVICES": "0",
        "GITKUBE_PROXY_MODE": " Userspace ", "GITKUBE_EVENT_TTL": "5m"})
    assert s.state_dir == tmp_path / "xdg" / "gitkube"
    assert s.store_url == "memory://x" and s.no_daemon and s.author == "ann"
    assert (s.max_file_bytes, s.jobs) == (1000, 3)
    assert (s.podman_url, s.podman_linger) == ("unix:///run/p.sock", 5)
    assert not s.network.enabled and s.network.subnet == "10.250.0.0/24"
    assert s.network.service_cidr == "10.251.0.0/24"  # normalised
    assert s.network.dns_service_ip == "10.251.0.10"
    assert s.network.domain == "example.internal"
    assert not s.services and s.proxy_mode == "userspace"
    assert s.controllers.event_ttl == 300 and s.controllers.event_sweep_period == 30
    explicit = Settings.from_env({"GITKUBE_STATE_DIR": str(tmp_path / "explicit"),
                                  "XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert explicit.state_dir == tmp_path / "explicit"


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("GITKUBE_PROXY_MODE", "ipvs", "GITKUBE_PROXY_MODE='ipvs' is not a proxy mode"),
    ("GITKUBE_SERVICE_CIDR", "10.96.0.0/99", "GITKUBE_SERVICE_CIDR='10.96.0.0/99' is not an "
                                             "IPv4 network"),
    ("GITKUBE_POD_SUBNET", "pods", "GITKUBE_POD_SUBNET='pods' is not an IPv4 network"),
    ("GITKUBE_EVENT_TTL", "soon", "GITKUBE_EVENT_TTL='soon' is not a duration"),
    ("GITKUBE_EVENT_TTL", "-5s", "GITKUBE_EVENT_TTL='-5s' is not a duration"),
])
def test_a_value_that_cannot_be_used_is_one_clear_error(variable: str, value: str,
                                                        message: str) -> None:
    with pytest.raises(GitkubeError) as info:
        Settings.from_env({"GITKUBE_STATE_DIR": "/tmp/x", variable: value})
    assert info.value.message == message
    assert info.value.hint


def test_max_file_bytes_must_be_a_number() -> None:
    with pytest.raises(UsageError, match="GITKUBE_MAX_FILE_BYTES='lots'"):
        Settings.from_env({"GITKUBE_STATE_DIR": "/tmp/x", "GITKUBE_MAX_FILE_BYTES": "lots"})


@pytest.mark.parametrize(("raw", "seconds"), [("90", 90), ("90s", 90), ("1.5m", 90),
                                              ("2h", 7200)])
def test_durations(raw: str, seconds: float) -> None:
    assert parse_duration(raw, "x") == seconds


def test_event_ttl_sweeps_often_enough() -> None:
    s = ControllerSettings()
    assert s.with_event_ttl(8).event_sweep_period == 1  # at least every second
    assert s.with_event_ttl(120).event_sweep_period == 12  # a tenth of the TTL
    assert s.with_event_ttl(86400).event_sweep_period == 600  # at most upstream-ish 10 min


def test_store_flag_wins(tmp_path: Path) -> None:
    s = Settings.from_env({"GITKUBE_STATE_DIR": str(tmp_path), "GITKUBE_STORE": "memory://a"})
    assert s.with_store("memory://b").store_url == "memory://b"
    assert s.with_store(None).store_url == "memory://a"


@pytest.mark.parametrize(("value", "expected"), [(None, 120), ("5", 5), ("0", 1), ("x", 120)])
def test_podman_linger(value: str | None, expected: int) -> None:
    """0 would mean "never exit" to Podman: the floor is 1 s; junk is the default."""
    env = {"GITKUBE_STATE_DIR": "/tmp/x"}
    if value is not None:
        env["GITKUBE_PODMAN_LINGER"] = value
    assert Settings.from_env(env).podman_linger == expected


def test_aggregated_discovery_is_on_unless_turned_off() -> None:
    home = Path("/nonexistent-home")
    assert Settings.from_env({}, home=home).aggregated_discovery is True
    assert Settings.from_env({"GITKUBE_AGGREGATED_DISCOVERY": "0"},
                             home=home).aggregated_discovery is False
