"""Fixtures of the kubelet tests (they are defined in kubelet_env.py)."""

from tests.agents.kubelet.kubelet_env import node, podman_runtime  # noqa: F401
