"""``gitkube serve``: the control plane as one long-lived process.

``Daemon(options).start()`` does, in order:

1. takes the daemon lock of the state directory (one daemon per state directory);
2. opens the store and the in-process api (``LocalClient``): every write from the HTTP API
   goes through it, exactly like ``gitkube apply``'s;
3. serves the HTTP API (one APIServer, gitkube/api/server) on the unix socket
   ``gitkube.sock`` (mode 0600, no token: only this user can connect) and, unless
   ``--listen none``, on TCP: TLS (a generated CA and server certificate, or the given ones)
   and bearer tokens (the tokens file; one admin token is generated on first start) — each
   listener with its own auth;
4. starts the agents (``gitkube.agents.compose.AgentSet``, the composition ``apply --wait``
   and ``watch`` run): kubelet (unless ``--no-kubelet``), scheduler, every controller, the
   proxy and the cluster DNS, configured by the one ``Settings`` it was given;
5. writes ``daemon.json`` (what it serves, never a token).

``stop()`` reverses it: stop accepting and close every watch stream, stop the agents, close
the runtime and the store, remove the socket and the state files. ``run()`` starts, waits
for SIGTERM or SIGINT, and stops (a second signal exits at once).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from gitkube import __version__
from gitkube.daemon.embedded_etcd import EmbeddedEtcd
from gitkube.daemon.listen import DEFAULT_LISTEN, Listen, check_security, parse_listen
from gitkube.daemon.paths import DaemonPaths
from gitkube.daemon.redact import TokenRedactor
from gitkube.daemon.state import DaemonInfo, PidLock, store_identity, write_info
from gitkube.daemon.tls import TLSFiles, ensure_certificates, server_context
from gitkube.daemon.tokens import TokenAuth, create_tokens_file, loose_permissions
from gitkube.errors import GitkubeError
from gitkube.model.times import rfc3339_of
from gitkube.settings import Settings
from gitkube.statedir import MIN_FREE, free_bytes, secure_dir

log = logging.getLogger("gitkube.daemon")
TRIM_INTERVAL = 10.0


@dataclass
class ServeOptions:
    """``gitkube serve``'s flags (see docs/DAEMON.md); everything else (store, state
    directory, node name, runtime, networking, controllers) is in ``settings``."""

    settings: Settings
    listen: str = DEFAULT_LISTEN
    tls_cert: Path | None = None
    tls_key: Path | None = None
    no_tls: bool = False
    tokens: Path | None = None
    tls_sans: list[str] = field(default_factory=list)  # extra certificate names
    kubelet: bool = True
    etcd: EmbeddedEtcd | None = None  # --cluster-init/--join: run an etcd member too


class Daemon:
    """One running control plane (see the module docstring)."""

    def __init__(self, options: ServeOptions):
        self.options = options
        self.settings = options.settings
        self.paths = DaemonPaths.of(options.settings)
        self.listen: Listen | None = parse_listen(options.listen)
        check_security(self.listen, no_tls=options.no_tls, cert=options.tls_cert,
                       key=options.tls_key)
        self.info: DaemonInfo | None = None
        self.tls: TLSFiles | None = None
        self.token_auth: TokenAuth | None = None
        self._lock = PidLock(self.paths)
        self._store: Any = None
        self._client: Any = None
        self._runtime: Any = None
        self._agents: Any = None
        self._server: Any = None
        self._logs: Any = None
        self._streams: Any = None
        self._endpoints: Any = None
        self._etcd: Any = None
        self._stopped = threading.Event()
        self._started = False

    @property
    def agents(self) -> Any:
        """The running ``AgentSet`` (None before ``start``)."""
        return self._agents

    # --- start -----------------------------------------------------------------------------

    def start(self) -> DaemonInfo:
        """Start everything (module docstring); on any failure, undo what was started."""
        check_free_space(self.paths.root)
        raise_open_file_limit()
        for note in secure_dir(self.paths.root):  # it holds the store, tokens and keys
            log.warning("%s", note)
        self._lock.acquire()
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> DaemonInfo:
        from gitkube.api.local import LocalClient
        from gitkube.store import open_store

        opts = self.options
        if opts.etcd is not None:
            from gitkube.daemon.embedded_etcd import start_member

            self._etcd, member_store = start_member(opts.etcd, self.paths.root)
            self.settings = dataclasses.replace(self.settings, store=member_store)
        url = self.settings.store_url
        self._store = open_store(url)
        self._client = LocalClient(self._store,
                                   service_cidr=self.settings.network.service_cidr)
        self._started = True
        ensure_system_namespaces(self._client)
        if opts.kubelet:
            self._runtime = self._make_runtime()
        self._serve_unix()
        bound_url = self._serve_tcp() if self.listen is not None else None
        node_name = self._start_agents()
        if bound_url is not None:
            self._publish_endpoint(bound_url)
        self.info = DaemonInfo(
            pid=os.getpid(), store=url, store_id=store_identity(url),
            socket=str(self.paths.socket), url=bound_url,
            tls=self.tls is not None, ca_file=str(self.tls.ca) if self.tls else None,
            ca_fingerprint=self.tls.fingerprint if self.tls else None,
            tokens_file=str(self.token_auth.path) if self.token_auth else None,
            node_name=node_name, kubelet=opts.kubelet,
            started=rfc3339_of(datetime.now(UTC)), version=__version__)
        write_info(self.paths, self.info)
        self._start_trimmer()
        log.info("ready: store %s; socket %s%s; %s", url, self.paths.socket,
                 f"; {bound_url}" if bound_url else "",
                 f"kubelet for node {node_name}" if opts.kubelet else "no kubelet")
        return self.info

    def _make_runtime(self) -> Any:
        from gitkube.agents.compose import open_runtime

        try:
            return open_runtime(self.settings)
        except GitkubeError as err:
            raise GitkubeError(f"the kubelet cannot use Podman: {err.message}",
                               hint=(err.hint + "; " if err.hint else "") + "or run without "
                                    "a local kubelet: gitkube serve --no-kubelet") from err

    def _api_server(self) -> Any:
        """The one APIServer; each listener brings its own auth."""
        from gitkube.api.server import APIServer, RuntimeLogs, RuntimeStreams
        from gitkube.api.server.nodeproxy import NodeDialer, NodeLogs, NodeStreams

        if self._server is None:
            # pods/log, exec, attach and portforward use the kubelet's runtime (shared);
            # without a kubelet, local Podman (started on first use).
            from gitkube.agents.compose import open_runtime

            runtime = self._runtime
            self._logs = RuntimeLogs((lambda: open_runtime(self.settings)) if runtime is None
                                     else (lambda: runtime))
            self._streams = RuntimeStreams((lambda: open_runtime(self.settings))
                                           if runtime is None else (lambda: runtime))
            # pods on a node whose kubelet serves its own streams: proxied there
            dialer = NodeDialer(self._client, self._kubelet_credentials)
            self._server = APIServer(self._client, auth=None,
                                     logs=NodeLogs(self._logs, dialer),
                                     streams=NodeStreams(self._streams, dialer),
                                     log_requests=True,
                                     git_version=f"v1.32.0-gitkube.{__version__}")
            self._server.router.aggregated_discovery = self.settings.aggregated_discovery
        return self._server

    def _kubelet_credentials(self) -> tuple[Path, Path]:
        """The API server's client certificate for nodes' kubelets (signed by the CA)."""
        from gitkube.daemon.tls import ensure_client_certificate

        tls_dir = self.paths.tls_dir
        if not (tls_dir / "ca.key").exists():
            raise GitkubeError("this daemon has no certificate authority of its own "
                               "(started with --no-tls or its own certificate)")
        return ensure_client_certificate(tls_dir)

    def _serve_unix(self) -> None:
        sock = self.paths.socket
        self.paths.root.mkdir(parents=True, exist_ok=True)
        sock.unlink(missing_ok=True)  # a leftover of a daemon that died: we hold the lock
        # No token on the socket: it is mode 0600, so only this user (or root) connects.
        self._api_server().serve_unix(sock, mode=0o600, auth=None)
        log.info("API on unix socket %s (mode 0600)", sock)

    def _tokens(self) -> TokenAuth:
        path = self.options.tokens or self.paths.tokens
        if self.options.tokens is None and not path.exists():
            entry = create_tokens_file(path)
            log.info("generated an admin token for user %r in %s (mode 0600); "
                     "`gitkube kubeconfig` uses it", entry.user, path)
        elif loose_permissions(path):
            log.warning("tokens file %s can be read by other users: chmod 600 it", path)
        return TokenAuth(path)

    def _serve_tcp(self) -> str:
        assert self.listen is not None
        opts = self.options
        self.token_auth = self._tokens()
        _install_redactor(self.token_auth)
        ctx = None
        if not opts.no_tls:
            if opts.tls_cert is not None and opts.tls_key is not None:
                self.tls = TLSFiles(opts.tls_cert, opts.tls_key, opts.tls_cert, False)
            else:
                self.tls = ensure_certificates(self.paths.tls_dir, self._cert_names())
                if self.tls.generated:
                    log.info("generated a TLS certificate in %s", self.paths.tls_dir)
            ctx = server_context(self.tls.cert, self.tls.key)
            log.info("TLS CA certificate %s, SHA-256 fingerprint %s", self.tls.ca,
                     self.tls.fingerprint)
        try:
            port = self._api_server().serve_tcp(self.listen.host, self.listen.port, ctx,
                                                auth=self.token_auth)
        except OSError as exc:
            raise GitkubeError(f"cannot listen on {self.listen.host}:{self.listen.port}: "
                               f"{exc.strerror}",
                               hint="is another daemon using the port? `--listen "
                                    "127.0.0.1:PORT` picks another one") from exc
        bound = port if isinstance(port, int) else self.listen.port
        url = self.listen.url(bound, tls=ctx is not None)
        log.info("API on %s (%s, bearer tokens from %s)", url,
                 "TLS" if ctx is not None else "plain HTTP on loopback", self.token_auth.path)
        return url

    def _cert_names(self) -> list[str]:
        """The listen host, ``--tls-san`` names and, on a wildcard address, the host name
        (no lookup: the machine's other addresses must be given with --tls-san)."""
        assert self.listen is not None
        names = [self.listen.host, *self.options.tls_sans]
        if self.listen.host in ("0.0.0.0", "::", ""):
            names.append(socket.gethostname())
        return names

    def _agent_settings(self) -> Settings:
        """The settings the agents run with: a daemon without a kubelet runs no proxy and
        no cluster DNS (they serve the pods of a node, and would touch the host's
        networking), and leader election names this daemon by host and state directory
        (a restart of the same daemon resumes its own Lease at once)."""
        current = self.settings
        if not self.options.kubelet:
            current = dataclasses.replace(current, services=False)
        election = current.leader_election
        if election.enabled and election.identity is None:
            election = dataclasses.replace(election, identity=leader_identity(self.paths.root))
            current = dataclasses.replace(current, leader_election=election)
        return current

    def _start_agents(self) -> str | None:
        from gitkube.agents.compose import AgentSet

        self._agents = AgentSet(self._client, self._agent_settings(), self._runtime).start()
        kubelet = self._agents.kubelet
        return kubelet.node_name if kubelet is not None else None

    def _publish_endpoint(self, url: str) -> None:
        """This API server an endpoint of default/kubernetes (apiserver_endpoints.py)."""
        from urllib.parse import urlsplit

        from gitkube.daemon.apiserver_endpoints import APIServerEndpoints

        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        assert self.listen is not None
        if self.listen.host in ("0.0.0.0", "", "::"):  # every address: name the host's own
            with contextlib.suppress(OSError):
                host = socket.gethostbyname(socket.gethostname())
        self._endpoints = APIServerEndpoints(
            self._client, leader_identity(self.paths.root), host, parts.port or 443,
            self.settings.network.service_cidr, clock=time.time).start()

    def _start_trimmer(self) -> None:
        """Hand freed heap back to the OS every ``TRIM_INTERVAL`` s (glibc keeps it after a
        big LIST or many closed connections; RSS would stay at its peak)."""
        trim = _malloc_trim()
        if trim is None:
            return

        def loop() -> None:
            while not self._stopped.wait(TRIM_INTERVAL):
                trim(0)

        threading.Thread(target=loop, name="gitkube-malloc-trim", daemon=True).start()

    # --- stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop accepting and close the watches, stop the agents, close the runtime and the
        store, remove the socket and the state files. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.shutdown()
        if self._endpoints is not None:
            with contextlib.suppress(Exception):
                self._endpoints.stop()
        if self._agents is not None:
            with contextlib.suppress(Exception):
                self._agents.stop()
        if self._runtime is not None:
            with contextlib.suppress(Exception):
                self._runtime.close()
        else:  # each started its own runtime, if it was used
            for provider in (self._logs, self._streams):
                if provider is not None:
                    with contextlib.suppress(Exception):
                        provider.close()
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
        if self._etcd is not None:
            with contextlib.suppress(Exception):
                self._etcd.stop()
        with contextlib.suppress(OSError):
            self.paths.socket.unlink(missing_ok=True)
        self._lock.release()
        if self._started:
            log.info("stopped")

    def run(self, on_ready: Any = None) -> None:
        """Start, wait for SIGTERM/SIGINT, stop (module docstring)."""
        done = threading.Event()

        def handler(signum: int, _frame: FrameType | None) -> None:
            if done.is_set():
                log.warning("second signal: exiting now")
                os._exit(1)
            log.info("%s: shutting down", signal.Signals(signum).name)
            done.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        info = self.start()
        try:
            if on_ready is not None:
                on_ready(info)
            while not done.wait(1.0):
                pass
        finally:
            self.stop()


def leader_identity(state_dir: Path) -> str:
    """How the daemon of ``state_dir`` names itself in Leases: the host name and a digest
    of the state directory (several daemons on one machine differ; one daemon restarted
    is the same holder, and resumes its Leases at once)."""
    digest = hashlib.sha256(str(state_dir.absolute()).encode()).hexdigest()
    return f"{socket.gethostname()}_{digest[:8]}"


def ensure_system_namespaces(client: Any) -> None:
    """Create the Namespaces every cluster has (default, kube-system, kube-public,
    kube-node-lease) when missing, as the kube-apiserver does at start: objects could always
    be created in them, but ``kubectl get ns`` and ``cluster-info dump -A``, which list
    Namespaces, found none."""
    from gitkube.errors import AlreadyExists
    from gitkube.model.objects import SYSTEM_NAMESPACE_NAMES

    for name in SYSTEM_NAMESPACE_NAMES:
        with contextlib.suppress(AlreadyExists):
            client.create({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": name}})


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (systemd's default soft
    limit is 1,024: every connection, watch and store reader takes descriptors). Returns
    (before, after)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
        return soft, soft
    log.info("open-file limit raised from %d to %d", soft, hard)
    return soft, hard


def check_free_space(state: Path) -> None:
    """GitkubeError when the state directory's disk is (nearly) full: the daemon could not
    write its log, lock or store, and would fail in a less clear way."""
    free = free_bytes(state)
    if free is not None and free < MIN_FREE:
        raise GitkubeError(f"the disk of the state directory {state} is full ({free:,} bytes "
                           "free)", hint="free some space, or choose another state directory "
                                         "(GITKUBE_STATE_DIR)")


def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None elsewhere."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def _install_redactor(auth: TokenAuth) -> None:
    """Every handler of the root logger drops tokens (gitkube/daemon/redact.py)."""
    redactor = TokenRedactor(auth.known_tokens)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(redactor)


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr, one line per record with a UTC timestamp (systemd/journald-friendly)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
