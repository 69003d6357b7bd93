"""Fixtures of the runtime contract (helpers live in runtime_env.py: a unique module name)."""

from runtime_env import podman_runtime, runtime  # noqa: F401
