"""pods/exec, pods/attach and pods/portforward: the request checked, the stream opened, and
the switch to WebSocket handed to the transport (an ``Upgrade`` answer).

The checks come in upstream's order and words, before the protocol: kubectl tries a
WebSocket first and, when that fails, SPDY, and shows the second answer; so a missing
container or a finished pod is refused the same way to both, and only a request that would
otherwise be served learns that SPDY is not spoken here. Then the subprotocol: exec and
attach speak ``v5.channel.k8s.io``, ``v4.channel.k8s.io`` or ``v4.base64.channel.k8s.io``
(gitkube/api/server/channels.py), port-forward ``SPDY/3.1+portforward.k8s.io`` (kubectl)
or the v4 channels (gitkube/api/server/portforward.py). The process or the pod's connector
is opened before the ``101``, so a failure is a Status the client can show.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gitkube.api.client import Client
from gitkube.api.server import websocket
from gitkube.api.server.bodies import flag
from gitkube.api.server.channels import EXEC_PROTOCOLS, ProcessSession
from gitkube.api.server.logs import choose_container
from gitkube.api.server.messages import Answer, Request, Upgrade
from gitkube.api.server.nodestreams import StreamsProvider
from gitkube.api.server.portforward import (
    CHANNEL_PROTOCOLS,
    SPDY_TUNNEL,
    ChannelPortForward,
    SpdyPortForward,
)
from gitkube.api.server.routes import Route
from gitkube.errors import BadRequest
from gitkube.runtime.base import StreamOptions

Obj = dict[str, Any]
SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
_serial = itertools.count(1)


def _all_values(req: Request, name: str) -> list[str]:
    """Every value of a query parameter given more than once (``command``, ``ports``)."""
    if req.target:
        values = parse_qs(urlsplit(req.target).query, keep_blank_values=True).get(name)
        if values is not None:
            return values
    value = req.query.get(name)
    return [value] if value is not None else []


def choose_protocol(offers: list[str], supported: tuple[str, ...]) -> str:
    """The first supported subprotocol the client offers; BadRequest naming them when none
    is."""
    for offer in offers:
        if offer in supported:
            return offer
    raise BadRequest(f"unsupported WebSocket subprotocol {', '.join(offers) or '(none)'}: "
                     f"this server speaks {', '.join(supported)}")


def _check_upgrade(req: Request) -> None:
    kind = websocket.upgrade_kind(req.headers)
    if kind == "websocket":
        problem = websocket.handshake_problem(req.headers)
        if problem:
            raise BadRequest(problem)
        return
    if kind == "spdy":
        raise BadRequest("SPDY is not supported by this server: exec, attach and "
                         "port-forward speak WebSocket (v5.channel.k8s.io, v4.channel.k8s.io; "
                         "SPDY/3.1+portforward.k8s.io for port-forward), which kubectl uses "
                         "by default since 1.31")
    raise BadRequest("Upgrade request required: exec, attach and port-forward are served "
                     "over WebSocket (Connection: Upgrade, Upgrade: websocket)")


def _check_pod_for_process(pod: Obj, verb: str) -> None:
    name = pod["metadata"]["name"]
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise BadRequest(f"cannot {verb} a container in a completed pod; current phase is "
                         f"{phase}")
    if not (pod.get("spec") or {}).get("nodeName"):
        raise BadRequest(f"pod {name} does not have a host assigned")


class Streaming:
    """Serves the three subresources over a Client (the pod) and a provider (its node)."""

    def __init__(self, client: Client, streams: StreamsProvider):
        self.client = client
        self.streams = streams

    def handle(self, req: Request, route: Route) -> Answer:
        if req.method not in ("GET", "POST"):
            from gitkube.api.server.bodies import MethodNotAllowed

            raise MethodNotAllowed(f"pods/{route.subresource} accepts GET and POST")
        pod = self.client.get("v1", "Pod", route.namespace, route.name)
        if route.subresource == "portforward":
            return self._portforward(req, pod)
        return self._process(req, route.subresource, pod)

    def _process(self, req: Request, sub: str, pod: Obj) -> Answer:
        q = req.query
        container = choose_container(pod, q.get("container"))
        options = StreamOptions(stdin=flag(q, "stdin"), stdout=flag(q, "stdout"),
                                stderr=flag(q, "stderr"), tty=flag(q, "tty"))
        command = _all_values(req, "command") if sub == "exec" else []
        if sub == "exec" and not command:
            raise BadRequest("you must specify at least 1 command")
        if not (options.stdin or options.stdout or options.stderr):
            raise BadRequest("you must specify at least one of stdin, stdout, stderr")
        _check_pod_for_process(pod, "exec into" if sub == "exec" else "attach to")
        _check_upgrade(req)
        subprotocol = choose_protocol(websocket.offered(req.headers), EXEC_PROTOCOLS)
        if sub == "exec":
            stream = self.streams.exec(pod, container, command, options)
        else:
            stream = self.streams.attach(pod, container, options)
        session = ProcessSession(stream, subprotocol, stdin=options.stdin,
                                 name=f"{sub}-{next(_serial)}")
        return Upgrade(subprotocol, session, cancel=stream.close)

    def _portforward(self, req: Request, pod: Obj) -> Answer:
        meta = pod["metadata"]
        if not (pod.get("spec") or {}).get("nodeName"):
            raise BadRequest(f"pod {meta['name']} does not have a host assigned")
        _check_upgrade(req)
        offers = websocket.offered(req.headers)
        # as Kubernetes' port-forward handler: a client that names no subprotocol (kr8s)
        # speaks the binary channel protocol, answered without Sec-WebSocket-Protocol
        subprotocol = choose_protocol(offers, (SPDY_TUNNEL, *CHANNEL_PROTOCOLS)) \
            if offers else ""
        describe = f"pod {meta.get('namespace')}/{meta['name']}, uid {meta.get('uid')}"
        name = f"portforward-{next(_serial)}"
        if subprotocol == SPDY_TUNNEL:
            connector = self.streams.connector(pod)
            return Upgrade(subprotocol, SpdyPortForward(connector, describe=describe,
                                                        name=name))
        ports = _ports(req)
        connector = self.streams.connector(pod)
        return Upgrade(subprotocol, ChannelPortForward(connector, ports, subprotocol,
                                                       describe=describe, name=name))


def _ports(req: Request) -> list[int]:
    """The ``ports`` (or ``port``) query parameter: comma-separated or repeated."""
    raw = [p for v in _all_values(req, "ports") + _all_values(req, "port")
           for p in v.split(",") if p.strip()]
    if not raw:
        raise BadRequest('query parameter "ports" is required: the ports to forward')
    ports: list[int] = []
    for text in raw:
        port = None
        with contextlib.suppress(ValueError):
            port = int(text)
        if port is None or not 0 < port < 65536:
            raise BadRequest(f'invalid port "{text}": a port is a number from 1 to 65535')
        if port in ports:
            raise BadRequest(f"port {port} is given twice")
        ports.append(port)
    return ports


__all__ = ["SUBRESOURCES", "Streaming", "choose_protocol"]
