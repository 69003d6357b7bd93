"""The typer application every command module registers on, and shared options."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="gitkube",
    help="Declarative GitOps engine: Kubernetes manifests in git, reconciled onto Podman.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

STORE_HELP = "Store URL: sqlite:///PATH (default, under the state directory), etcd://HOST:PORT."
