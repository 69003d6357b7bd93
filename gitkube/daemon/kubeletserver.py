"""The kubelet's own server (``gitkube agent kubelet --streams-listen HOST:PORT``): serves
exec, attach, port-forward and logs of this node's pods to the API server, which proxies
clients' requests to it (gitkube/api/server/nodeproxy.py says how both sides authenticate).

It is gitkube's API server with no resources of its own to write: the same ``pods/exec``,
``pods/attach``, ``pods/portforward`` and ``pods/log`` handlers, reading pods through the
kubelet's client and reaching containers in the node's runtime. TLS with a self-signed
certificate whose SHA-256 the Node publishes; only client certificates signed by the
daemon's CA (the one the kubelet already trusts for the API server) get in.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from gitkube.api.client import Client
from gitkube.api.server import APIServer, RuntimeLogs, RuntimeStreams
from gitkube.api.server.nodeproxy import CERT_ANNOTATION, ENDPOINT_ANNOTATION
from gitkube.daemon.tls import self_signed
from gitkube.errors import GitkubeError
from gitkube.runtime.base import ContainerRuntime


def server_context(crt: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """TLS 1.2+ presenting ``crt``, requiring a client certificate signed by ``ca`` for
    client authentication."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(crt), str(key))
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(str(ca))
    except (OSError, ssl.SSLError) as e:
        raise GitkubeError(f"cannot load the certificate authority {ca}: {e}",
                           hint="pass the daemon's tls/ca.crt with --certificate-authority") \
            from e
    return ctx


class KubeletServer:
    """The server of one node's kubelet (module docstring); ``start`` publishes where it
    listens on the Node, ``stop`` ends it."""

    def __init__(self, client: Client, runtime: ContainerRuntime, *, node_name: str,
                 tls_dir: Path, ca: Path):
        self.client = client
        self.node_name = node_name
        self.crt, self.key = tls_dir / "kubelet-serving.crt", tls_dir / "kubelet-serving.key"
        self.ca = ca
        self.server = APIServer(client, logs=RuntimeLogs(lambda: runtime),
                                streams=RuntimeStreams(lambda: runtime))
        self.port = 0

    def start(self, host: str, port: int, *, advertise: str = "") -> int:
        """Listen on ``host:port`` (0: a free port), then name it on the Node (with
        ``advertise`` as the address others reach, default ``host``); the bound port."""
        pin = self_signed(self.crt, self.key, [host, advertise])
        ctx = server_context(self.crt, self.key, self.ca)
        self.port = self.server.serve_tcp(host, port, ctx, auth=None)
        where = advertise or host
        where = f"[{where}]" if ":" in where else where
        self.client.patch("v1", "Node", None, self.node_name, {"metadata": {"annotations": {
            ENDPOINT_ANNOTATION: f"{where}:{self.port}", CERT_ANNOTATION: pin}}})
        return self.port

    def stop(self) -> None:
        self.server.shutdown()


__all__ = ["KubeletServer", "server_context"]
