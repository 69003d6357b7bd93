"""`gitkube serve`, `up`, `down`, `status` and `kubeconfig`: the daemon (docs/DAEMON.md).

``serve`` runs in the foreground (logs to stderr; SIGTERM/SIGINT stop it cleanly); ``up``
starts the same command in the background with its log in the state directory and waits
until the API answers; ``down`` sends SIGTERM to the recorded PID and waits for it to go.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gitkube.cli.app import STORE_HELP, app, settings
from gitkube.daemon.listen import DEFAULT_LISTEN
from gitkube.daemon.paths import DaemonPaths
from gitkube.errors import GitkubeError, UsageError
from gitkube.settings import Settings

if TYPE_CHECKING:
    from gitkube.daemon.embedded_etcd import EmbeddedEtcd


class RuntimeChoice(StrEnum):
    podman = "podman"
    simulated = "simulated"


class StatusOutput(StrEnum):
    text = "text"
    json = "json"


EVENT_TTL_HELP = ("How long Events are kept after they were last seen (90s, 5m, 1h; default "
                  "1h, or $GITKUBE_EVENT_TTL).")
LEADER_ELECT_HELP = ("Run the scheduler and the controllers only while this daemon holds "
                     "their Lease in kube-system (several daemons on one etcd: one leads).")
LISTEN_HELP = ("TCP address of the API (HOST:PORT; `none`: unix socket only). Any host but "
               "loopback requires TLS; every TCP client needs a bearer token.")


# Options `serve` and `up` share (one definition each; typer reads them as metadata).
LEADER_ELECT = typer.Option(True, "--leader-elect/--no-leader-elect", help=LEADER_ELECT_HELP)
LEASE_DURATION = typer.Option(None, "--leader-elect-lease-duration",
                              help="How long a leader's Lease holds without renewal "
                                   "(default 15s).")
RENEW_DEADLINE = typer.Option(None, "--leader-elect-renew-deadline",
                              help="A leader that could not renew for this long stops its "
                                   "agents (default 10s).")
RETRY_PERIOD = typer.Option(None, "--leader-elect-retry-period",
                            help="How often Leases are tried and renewed (default 2s).")
CLUSTER_INIT = typer.Option(False, "--cluster-init",
                            help="Run an etcd member of a new cluster next to this daemon "
                                 "and keep the store in it.")
JOIN = typer.Option(None, "--join",
                    help="Run an etcd member that joins the cluster of this etcd client URL "
                         "(http://HOST:2379) and keep the store in it.")
ETCD_HOST = typer.Option("127.0.0.1", "--etcd-host",
                         help="Where the embedded etcd member listens.")
ETCD_CLIENT_PORT = typer.Option(2379, "--etcd-client-port",
                                help="The embedded member's client port.")
ETCD_PEER_PORT = typer.Option(2380, "--etcd-peer-port",
                              help="The embedded member's peer port.")


@app.command()
def serve(
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    listen: str = typer.Option(DEFAULT_LISTEN, "--listen", help=LISTEN_HELP),
    tls_cert: Path | None = typer.Option(None, "--tls-cert",
                                         help="PEM certificate (default: generated in the "
                                              "state directory on first start)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM key of --tls-cert."),
    tls_san: list[str] = typer.Option([], "--tls-san",
                                      help="Another name or IP for the generated certificate "
                                           "(repeatable): how remote clients reach this host."),
    no_tls: bool = typer.Option(False, "--no-tls",
                                help="Plain HTTP on a loopback --listen (kubectl then sends "
                                     "no token: use it for gitkube's own clients only)."),
    tokens: Path | None = typer.Option(None, "--tokens",
                                       help="Tokens file, CSV token,user,role (admin or "
                                            "read-only). Default: tokens.csv in the state "
                                            "directory, generated with one admin token."),
    node_name: str | None = typer.Option(None, "--node-name",
                                         help="The kubelet's node name (default: host name)."),
    kubelet: bool = typer.Option(True, "--kubelet/--no-kubelet",
                                 help="Run a kubelet on local Podman in this process."),
    runtime: RuntimeChoice = typer.Option(RuntimeChoice.podman, "--runtime",
                                          help="The kubelet's container runtime (simulated: "
                                               "no containers, for tests and demos).",
                                          hidden=True),
    event_ttl: str | None = typer.Option(None, "--event-ttl", help=EVENT_TTL_HELP),
    leader_elect: bool = LEADER_ELECT,
    lease_duration: str | None = LEASE_DURATION,
    renew_deadline: str | None = RENEW_DEADLINE,
    retry_period: str | None = RETRY_PERIOD,
    cluster_init: bool = CLUSTER_INIT,
    join: str | None = JOIN,
    etcd_host: str = ETCD_HOST,
    etcd_client_port: int = ETCD_CLIENT_PORT,
    etcd_peer_port: int = ETCD_PEER_PORT,
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING."),
) -> None:
    """Run the API server, scheduler, controllers and kubelet in the foreground."""
    from gitkube.daemon.daemon import Daemon, ServeOptions, configure_logging

    election = ElectionFlags(leader_elect, lease_duration, renew_deadline, retry_period)
    current = election.apply(_daemon_settings(store, node_name, runtime, event_ttl))
    etcd = _embedded_etcd(current, cluster_init, join, etcd_host, etcd_client_port,
                          etcd_peer_port)
    configure_logging(log_level)
    daemon = Daemon(ServeOptions(settings=current, listen=listen, tls_cert=tls_cert,
                                 tls_key=tls_key, no_tls=no_tls, tokens=tokens,
                                 tls_sans=list(tls_san), kubelet=kubelet, etcd=etcd))
    daemon.run()


def _daemon_settings(store: str | None, node_name: str | None, runtime: RuntimeChoice,
                     event_ttl: str | None) -> Settings:
    """The command's settings with ``serve``'s flags applied."""
    from gitkube.settings import parse_duration

    current = dataclasses.replace(settings(store), runtime=runtime.value,
                                  node_name=node_name)
    if event_ttl is not None:
        ttl = parse_duration(event_ttl, "--event-ttl")
        current = dataclasses.replace(current,
                                      controllers=current.controllers.with_event_ttl(ttl))
    return current


def _embedded_etcd(current: Settings, cluster_init: bool, join: str | None, host: str,
                   client_port: int, peer_port: int) -> EmbeddedEtcd | None:
    """``--cluster-init``/``--join`` read (None: neither); UsageError for flags that
    contradict each other."""
    from gitkube.daemon.embedded_etcd import EmbeddedEtcd, check

    if not cluster_init and join is None:
        return None
    if cluster_init and join is not None:
        raise UsageError("--cluster-init and --join exclude each other",
                         hint="--cluster-init on the first daemon, --join on the others")
    etcd = EmbeddedEtcd(join=join, host=host, client_port=client_port, peer_port=peer_port)
    check(etcd, current.store)
    return etcd


@dataclasses.dataclass(frozen=True)
class ElectionFlags:
    """``serve``'s leader-election flags (upstream kube-controller-manager's names)."""

    enabled: bool = True
    lease_duration: str | None = None
    renew_deadline: str | None = None
    retry_period: str | None = None

    def apply(self, current: Settings) -> Settings:
        """``current`` with leader election on (or off) and the durations given; a
        GitkubeError naming the flag for a value that cannot be used."""
        from gitkube.settings import parse_duration

        e = current.leader_election

        def given(raw: str | None, flag: str, default: float) -> float:
            return default if raw is None else parse_duration(raw, flag)

        e = dataclasses.replace(
            e, enabled=self.enabled,
            lease_duration=given(self.lease_duration, "--leader-elect-lease-duration",
                                 e.lease_duration),
            renew_deadline=given(self.renew_deadline, "--leader-elect-renew-deadline",
                                 e.renew_deadline),
            retry_period=given(self.retry_period, "--leader-elect-retry-period",
                               e.retry_period))
        e.check()
        return dataclasses.replace(current, leader_election=e)

    def argv(self) -> list[str]:
        args = [] if self.enabled else ["--no-leader-elect"]
        for flag, raw in (("--leader-elect-lease-duration", self.lease_duration),
                          ("--leader-elect-renew-deadline", self.renew_deadline),
                          ("--leader-elect-retry-period", self.retry_period)):
            if raw is not None:
                args += [flag, raw]
        return args


@dataclasses.dataclass(frozen=True)
class _ServeFlags:
    """The flags ``up`` hands on to the ``serve`` it starts."""

    store: str | None
    listen: str
    tls_cert: Path | None
    tls_key: Path | None
    tls_sans: tuple[str, ...]
    no_tls: bool
    tokens: Path | None
    node_name: str | None
    kubelet: bool
    runtime: RuntimeChoice
    event_ttl: str | None
    election: ElectionFlags

    def argv(self) -> list[str]:
        """The ``serve`` command line (paths made absolute: it runs detached)."""
        args = ["serve", "--listen", self.listen, *self.election.argv()]
        if self.event_ttl is not None:
            args += ["--event-ttl", self.event_ttl]
        if self.store:
            args += ["--store", self.store]
        if self.no_tls:
            args.append("--no-tls")
        if self.tokens is not None:
            args += ["--tokens", str(self.tokens.absolute())]
        if self.tls_cert is not None and self.tls_key is not None:
            args += ["--tls-cert", str(self.tls_cert.absolute()),
                     "--tls-key", str(self.tls_key.absolute())]
        if self.node_name:
            args += ["--node-name", self.node_name]
        if not self.kubelet:
            args.append("--no-kubelet")
        if self.runtime is not RuntimeChoice.podman:
            args += ["--runtime", self.runtime.value]
        for name in self.tls_sans:
            args += ["--tls-san", name]
        return args


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("  " + line for line in text[-lines:])


@app.command()
def up(
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    listen: str = typer.Option(DEFAULT_LISTEN, "--listen", help=LISTEN_HELP),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM key of --tls-cert."),
    tls_san: list[str] = typer.Option([], "--tls-san", help="Another certificate name/IP."),
    no_tls: bool = typer.Option(False, "--no-tls", help="Plain HTTP on a loopback --listen."),
    tokens: Path | None = typer.Option(None, "--tokens", help="Tokens file (see serve)."),
    node_name: str | None = typer.Option(None, "--node-name", help="The kubelet's node name."),
    kubelet: bool = typer.Option(True, "--kubelet/--no-kubelet",
                                 help="Run a kubelet on local Podman."),
    runtime: RuntimeChoice = typer.Option(RuntimeChoice.podman, "--runtime", hidden=True),
    event_ttl: str | None = typer.Option(None, "--event-ttl", help=EVENT_TTL_HELP),
    leader_elect: bool = LEADER_ELECT,
    lease_duration: str | None = LEASE_DURATION,
    renew_deadline: str | None = RENEW_DEADLINE,
    retry_period: str | None = RETRY_PERIOD,
    cluster_init: bool = CLUSTER_INIT,
    join: str | None = JOIN,
    etcd_host: str = ETCD_HOST,
    etcd_client_port: int = ETCD_CLIENT_PORT,
    etcd_peer_port: int = ETCD_PEER_PORT,
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the API."),
) -> None:
    """Start `gitkube serve` in the background (log and PID in the state directory)."""
    from gitkube.daemon.daemon import check_free_space
    from gitkube.daemon.status import daemon_status, probe_socket

    # the daemon reads the same environment: a setting it could not use stops `up` here
    election = ElectionFlags(leader_elect, lease_duration, renew_deadline, retry_period)
    etcd = _embedded_etcd(election.apply(_daemon_settings(store, node_name, runtime,
                                                          event_ttl)),
                          cluster_init, join, etcd_host, etcd_client_port, etcd_peer_port)
    paths = DaemonPaths.of(settings())
    check_free_space(paths.root)  # a full disk: one clear line, not an empty log
    current = daemon_status(paths, probe=False)
    if current.running:
        typer.echo(f"gitkube daemon already running (pid {current.pid}).")
        typer.echo(current.render(), nl=False)
        return
    paths.root.mkdir(parents=True, exist_ok=True)
    args = _ServeFlags(store=store, listen=listen, tls_cert=tls_cert, tls_key=tls_key,
                       tls_sans=tuple(tls_san), no_tls=no_tls, tokens=tokens,
                       node_name=node_name, kubelet=kubelet, runtime=runtime,
                       event_ttl=event_ttl, election=election).argv()
    if etcd is not None:
        args += etcd.argv()
    fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gitkube.cli.main", *args],
            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True,
            close_fds=True)
    finally:
        os.close(fd)
    deadline = time.monotonic() + timeout
    while True:
        status = daemon_status(paths, probe=False)
        if status.running and status.info is not None and status.info.pid == proc.pid \
                and probe_socket(status.info.socket, timeout=2.0):
            break
        code = proc.poll()
        if code is not None:
            raise GitkubeError(f"gitkube serve exited with code {code} before it was ready; "
                               f"its log ({paths.log}) ends:\n{_log_tail(paths.log)}",
                               hint="fix the cause above and run `gitkube up` again")
        if time.monotonic() > deadline:
            raise GitkubeError(f"the daemon (pid {proc.pid}) did not answer within "
                               f"{timeout:g}s; it keeps starting. Its log ({paths.log}) ends:"
                               f"\n{_log_tail(paths.log)}",
                               hint="`gitkube status` tells when it answers; `gitkube down` "
                                    "stops it")
        time.sleep(0.1)
    typer.echo(f"gitkube daemon started (pid {proc.pid}); log: {paths.log}")
    typer.echo(daemon_status(paths).render(), nl=False)


@app.command()
def down(
    timeout: float = typer.Option(60.0, "--timeout",
                                  help="Seconds to wait for a clean shutdown."),
) -> None:
    """Stop the background daemon: SIGTERM to the recorded PID, then wait for it to exit."""
    from gitkube.daemon.state import is_locked, read_pid

    paths = DaemonPaths.of(settings())
    pid = read_pid(paths)
    if not is_locked(paths):
        if pid is not None:
            paths.pid.unlink(missing_ok=True)
            typer.echo(f"gitkube daemon not running (removed a stale PID file for pid {pid}).")
        else:
            typer.echo("gitkube daemon not running.")
        return
    if pid is None or pid <= 1:
        raise GitkubeError(f"a daemon holds the lock of {paths.root} but its PID file is "
                           "unreadable", hint=f"find it with: fuser {paths.pid}")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise GitkubeError(f"not allowed to signal the daemon (pid {pid})",
                           hint="run `gitkube down` as the user that started it") from exc
    deadline = time.monotonic() + timeout
    while is_locked(paths):
        if time.monotonic() > deadline:
            raise GitkubeError(f"the daemon (pid {pid}) is still stopping after {timeout:g}s",
                               hint=f"wait longer, or see {paths.log}")
        time.sleep(0.1)
    typer.echo(f"gitkube daemon stopped (pid {pid}).")


@app.command()
def status(
    output: StatusOutput = typer.Option(StatusOutput.text, "--output", "-o",
                                        help="text or json."),
) -> None:
    """Whether a daemon is running, where (socket, URL) and on which store."""
    from gitkube.daemon.status import daemon_status
    from gitkube.gitops.status import status_section

    current = settings()
    st = daemon_status(DaemonPaths.of(current))
    gitops_text, gitops_json = status_section(current.with_store(st.store))  # GitOps sources
    if output is StatusOutput.json:
        typer.echo(json.dumps({**st.to_dict(), "gitops": gitops_json}, indent=2))
    else:
        typer.echo(st.render() + gitops_text, nl=False)


@app.command()
def kubeconfig(
    user: str | None = typer.Option(None, "--user",
                                    help="Whose token (a user of the tokens file; default: "
                                         "the first admin)."),
    server: str | None = typer.Option(None, "--server",
                                      help="Server URL to write (default: the daemon's)."),
    namespace: str | None = typer.Option(None, "--namespace", "-n",
                                         help="The context's default namespace."),
    role: str | None = typer.Option(None, "--role",
                                    help="With --user: create that user's token with this "
                                         "role (admin or read-only) if it has none."),
) -> None:
    """Print a kubeconfig (server, CA, token) for the running daemon: kubectl uses it as is.
    It holds a secret token: keep the file private (chmod 600)."""
    from gitkube.daemon.kubeconfig import build_kubeconfig, render_yaml
    from gitkube.daemon.status import running_daemon
    from gitkube.daemon.tokens import ROLES, append_token, load_tokens

    info = running_daemon(DaemonPaths.of(settings()))
    if info is None:
        raise GitkubeError("no gitkube daemon is running", hint="start one: gitkube up")
    if not info.url or not info.tokens_file:
        raise GitkubeError("the daemon serves no TCP address (started with --listen none)",
                           hint="restart it with --listen 127.0.0.1:PORT")
    entries = load_tokens(Path(info.tokens_file))
    if user is None:
        chosen = next((e for e in entries if e.role == "admin"), None)
        if chosen is None:
            raise GitkubeError(f"no admin token in {info.tokens_file}", hint="pass --user NAME")
    else:
        chosen = next((e for e in entries if e.user == user), None)
        if chosen is None and role is not None:
            if role not in ROLES:
                raise UsageError(f"--role {role!r}: one of {', '.join(ROLES)}")
            chosen = append_token(Path(info.tokens_file), user, role)
            typer.echo(f"created a {role} token for {user!r} in {info.tokens_file} (the "
                       "daemon picks it up within a second)", err=True)
        if chosen is None:
            raise UsageError(f"no token for user {user!r} in {info.tokens_file}",
                             hint="users: " + ", ".join(sorted({e.user for e in entries}))
                                  + "; --role read-only creates one")
    ca_pem = Path(info.ca_file).read_bytes() if info.ca_file else None
    doc = build_kubeconfig(server or info.url, ca_pem, chosen.token, chosen.user,
                           namespace=namespace)
    typer.echo(render_yaml(doc), nl=False)
