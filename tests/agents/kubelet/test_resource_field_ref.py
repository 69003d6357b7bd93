"""``valueFrom.resourceFieldRef``: a container's limits and requests in its environment."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.agents.kubelet.volumes import ContainerConfigError, resolve_env

NODE = {"cpu": "2", "memory": "4Gi"}


def env_of(resources: dict[str, Any], *refs: dict[str, Any]) -> dict[str, str]:
    main = {"name": "main", "resources": resources,
            "env": [{"name": f"V{i}", "valueFrom": {"resourceFieldRef": r}}
                    for i, r in enumerate(refs)]}
    side = {"name": "side", "resources": {"limits": {"memory": "96Mi"}}}
    pod = {"metadata": {"name": "p", "namespace": "ns"},
           "spec": {"containers": [main, side]}}
    return resolve_env(pod, main, lambda *a: None, pod_ip="", host_ip="", allocatable=NODE)


def test_limits_and_requests_divided_and_rounded_up() -> None:
    env = env_of({"limits": {"cpu": "1500m", "memory": "128Mi"},
                  "requests": {"cpu": "250m", "memory": "64Mi"}},
                 {"resource": "limits.cpu"},  # 1.5 cores -> 2
                 {"resource": "limits.cpu", "divisor": "1m"},
                 {"resource": "limits.memory", "divisor": "1Mi"},
                 {"resource": "requests.cpu", "divisor": "100m"},  # 2.5 -> 3
                 {"resource": "requests.memory"},
                 {"resource": "limits.memory", "divisor": "1Mi", "containerName": "side"})
    assert env == {"V0": "2", "V1": "1500", "V2": "128", "V3": "3", "V4": str(64 * 2**20),
                   "V5": "96"}


def test_unset_limits_are_the_nodes_and_unset_requests_the_limit_or_zero() -> None:
    env = env_of({"limits": {"memory": "1Gi"}},
                 {"resource": "limits.cpu"}, {"resource": "limits.memory", "divisor": "1Gi"},
                 {"resource": "requests.memory", "divisor": "1Mi"},
                 {"resource": "requests.cpu"}, {"resource": "limits.ephemeral-storage"})
    assert env == {"V0": "2", "V1": "1", "V2": "1024", "V3": "0", "V4": "0"}


@pytest.mark.parametrize(("ref", "error"), [
    ({"resource": "limits.nvidia.com/gpu"}, "unsupported resource"),
    ({"resource": "cpu"}, "unsupported resource"),
    ({"resource": "limits.cpu", "containerName": "nope"}, 'no container "nope"'),
    ({"resource": "limits.cpu", "divisor": "0"}, "divisor must be positive"),
    ({"resource": "limits.cpu", "divisor": "lots"}, "resourceFieldRef limits.cpu"),
])
def test_a_bad_reference_is_a_config_error(ref: dict[str, Any], error: str) -> None:
    with pytest.raises(ContainerConfigError) as info:
        env_of({}, ref)
    assert error in info.value.message
