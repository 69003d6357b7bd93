"""Fixtures of the runtime contract (they are defined in runtime_env.py)."""

from tests.runtime.runtime_env import podman_runtime, runtime  # noqa: F401
