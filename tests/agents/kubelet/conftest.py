"""Fixtures of the kubelet tests (helpers live in kubelet_env.py: a unique module name)."""

from kubelet_env import node, podman_runtime  # noqa: F401
