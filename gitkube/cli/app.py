"""The typer application every command module registers on, shared options, and the
command's ``settings()`` (the one place the CLI reads the environment)."""

from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass

import typer

from gitkube.settings import Settings
from gitkube.statedir import secure_dir

app = typer.Typer(
    name="gitkube",
    help="Declarative GitOps engine: Kubernetes manifests in git, reconciled onto Podman.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

STORE_HELP = "Store URL: sqlite:///PATH (default, under the state directory), etcd://HOST:PORT."


@dataclass
class _Holder:
    value: Settings | None = None


_current: ContextVar[_Holder | None] = ContextVar("gitkube_settings", default=None)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """Declarative GitOps engine: Kubernetes manifests in git, reconciled onto Podman."""
    token = _current.set(_Holder())  # this command run's settings, read on first use
    ctx.call_on_close(lambda: _current.reset(token))


def settings(store: str | None = None) -> Settings:
    """This command's settings: the environment, read once per command run (the first call
    reads it; later calls in the same run get the same object), with ``--store`` applied.
    GitkubeError when a variable holds a value that cannot be used."""
    holder = _current.get()
    if holder is None:  # outside a command run (a test calling a helper): read it now
        return Settings.from_env(os.environ).with_store(store)
    if holder.value is None:
        holder.value = Settings.from_env(os.environ)
        for note in secure_dir(holder.value.state_dir):  # it holds Secrets
            typer.echo(f"warning: {note}", err=True)
    return holder.value.with_store(store)
