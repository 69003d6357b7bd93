"""What the kubelet asks the runtime to create, built purely: sandboxes and containers."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.agents.kubelet.containerspec import (
    Resolved,
    container_config,
    grace_period,
    needs_infra,
    sandbox_config,
)
from gitkube.runtime.base import (
    Mount,
    PortMapping,
    SandboxInfo,
    Security,
)

Obj = dict[str, Any]
SCOPE = {"io.gitkube.node": "n1", "io.gitkube.cluster": "c1"}
NETWORK = {"network": "gitkube0", "dns_servers": ("10.244.0.1",), "dns_searches": ("ns.svc",)}


def pod(containers: list[Obj], **spec: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "0123456789abcdef"},
            "spec": {"containers": containers, **spec},
            "status": {"podIP": "10.244.0.9"}}


def web(**fields: Any) -> Obj:
    return {"name": "web", "image": "localhost/app:1", **fields}


def sandbox(infra: bool) -> SandboxInfo:
    return SandboxInfo(id="sb", name="web_ns_01234567", labels={},
                       ip="10.244.0.9" if infra else "", running=True, infra=infra)


def config(p: Obj, *, infra: bool, restart: bool = False, init: bool = False,
           env: dict[str, str] | None = None, attempt: int = 0) -> Any:
    c = (p["spec"].get("initContainers") or p["spec"]["containers"])[0]
    resolved = Resolved(env=env or {}, mounts=(Mount("/h", "/c"),),
                        security=Security(user="1000"), network=NETWORK)
    return container_config(p, c, resolved, attempt=attempt, init=init, sandbox=sandbox(infra),
                            scope=SCOPE, restart=restart)


@pytest.mark.parametrize(("spec", "infra"), [
    ({"containers": [web()]}, False),
    ({"containers": [web(), web(name="side")]}, True),
    ({"containers": [web()], "initContainers": [web(name="init")]}, True),
    ({"containers": [web()], "shareProcessNamespace": True}, True),
    ({"containers": [web(env=[{"name": "IP", "valueFrom": {
        "fieldRef": {"fieldPath": "status.podIP"}}}])]}, True),
], ids=["one container", "two containers", "init containers", "shared PID namespace",
        "status.podIP in the env"])
def test_which_pods_need_an_infra_container(spec: Obj, infra: bool) -> None:
    assert needs_infra({"metadata": {}, "spec": spec}) is infra


def test_sandbox_of_a_pod_with_infra() -> None:
    p = pod([web(ports=[{"containerPort": 80, "hostPort": 8080}]), web(name="side")],
            terminationGracePeriodSeconds=5, hostname="h", shareProcessNamespace=True,
            hostAliases=[{"ip": "10.0.0.1", "hostnames": ["a", "b"]}])
    sb = sandbox_config(p, scope=SCOPE, network=NETWORK)
    assert sb.name == "web_ns_01234567"
    assert sb.labels == {"io.gitkube.managed": "true", "io.gitkube.pod-uid": "0123456789abcdef",
                         "io.gitkube.pod-namespace": "ns", "io.gitkube.pod-name": "web",
                         "io.gitkube.grace-seconds": "5", **SCOPE}
    assert (sb.infra, sb.hostname, sb.share_pid) == (True, "h", True)
    assert sb.ports == (PortMapping(80, 8080, "TCP", ""),)
    assert sb.hosts == (("a", "10.0.0.1"), ("b", "10.0.0.1"))
    assert (sb.network, sb.dns_servers) == ("gitkube0", ("10.244.0.1",))


def test_sandbox_without_infra_leaves_ports_to_the_container() -> None:
    sb = sandbox_config(pod([web(ports=[{"containerPort": 80, "hostPort": 8080}])]),
                        scope=SCOPE, network={})
    assert (sb.infra, sb.ports, sb.network) == (False, (), "")
    assert sb.labels["io.gitkube.grace-seconds"] == "30"


def test_host_network_joins_no_network_and_keeps_the_resolv_conf() -> None:
    sb = sandbox_config(pod([web(), web(name="side")], hostNetwork=True, hostIPC=True),
                        scope=SCOPE, network=NETWORK)
    assert (sb.host_network, sb.host_ipc, sb.network, sb.ports) == (True, True, "", ())
    assert sb.dns_servers == ("10.244.0.1",)


def test_container_in_a_sandbox_with_infra() -> None:
    p = pod([web(command=["sh", "-c", "echo $(GREETING)"], args=["$(WHO)", "x"],
                 workingDir="/w", resources={"limits": {"memory": "64Mi", "cpu": "250m"}}),
             web(name="side")], hostPID=True)
    spec = config(p, infra=True, env={"GREETING": "hi", "WHO": "you"}, attempt=2)
    assert spec.name == "web_ns_01234567_web_2"
    assert spec.labels["io.gitkube.container"] == "web"
    assert spec.labels["io.gitkube.attempt"] == "2"
    assert spec.labels["io.gitkube.image"] == "localhost/app:1"
    assert "io.gitkube.init" not in spec.labels
    assert spec.entrypoint == ("sh", "-c", "echo hi")
    assert spec.command == ("you", "x")
    assert (spec.working_dir, spec.memory_limit, spec.cpu_limit_milli) == ("/w", 64 << 20, 250)
    assert spec.mounts == (Mount("/h", "/c"),) and spec.security == Security(user="1000")
    assert spec.host_pid is True
    # the infra container owns the network: nothing of it on the container
    assert (spec.hostname, spec.ports, spec.network, spec.ip) == ("", (), "", "")


def test_no_command_keeps_the_image_entrypoint_and_empty_args_stay_empty() -> None:
    spec = config(pod([web(args=[])]), infra=True)
    assert spec.entrypoint is None and spec.command == ()


def test_an_init_container_is_labelled() -> None:
    p = pod([web()], initContainers=[web(name="setup")])
    assert config(p, infra=True, init=True).labels["io.gitkube.init"] == "true"


@pytest.mark.parametrize(("restart", "ip"), [(False, ""), (True, "10.244.0.9")],
                         ids=["first start: any address", "restart: the pod's address"])
def test_container_without_infra_owns_the_network(restart: bool, ip: str) -> None:
    p = pod([web(ports=[{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}])],
            hostAliases=[{"ip": "10.0.0.1", "hostnames": ["a"]}])
    spec = config(p, infra=False, restart=restart)
    assert (spec.hostname, spec.network, spec.ip) == ("web", "gitkube0", ip)
    assert spec.ports == (PortMapping(80, 8080, "UDP", ""),)
    assert spec.hosts == (("a", "10.0.0.1"),)
    assert spec.dns_searches == ("ns.svc",)


def test_host_network_container_without_infra() -> None:
    spec = config(pod([web(ports=[{"containerPort": 80, "hostPort": 80}])], hostNetwork=True),
                  infra=False, restart=True)
    assert (spec.host_network, spec.ports, spec.network, spec.ip) == (True, (), "", "")


@pytest.mark.parametrize(("value", "grace"), [(None, 30.0), (0, 0.0), (7, 7.0)])
def test_grace_period(value: int | None, grace: float) -> None:
    spec: Obj = {} if value is None else {"terminationGracePeriodSeconds": value}
    assert grace_period({"spec": spec}) == grace
