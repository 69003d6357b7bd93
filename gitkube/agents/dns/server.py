"""The DNS wire side: UDP and TCP listeners, answers from a Zone, forwarding the rest.

``DnsServer(zone_source, listen, upstreams)`` answers every query whose name is inside the
cluster domain from ``zone_source()`` (authoritative, TTL ``ttl``); other names are forwarded
as they are to ``upstreams`` in turn (``timeout`` s each) and the first answer is relayed;
when none answers: SERVFAIL; with no upstreams at all: REFUSED. Queries that are not plain
QUERY opcodes get NOTIMP. Wire format by dnslib.

Each listen address gets a UDP socket and a TCP socket (``IP_FREEBIND``: an address whose
interface does not exist yet — the pod network's gateway before the first pod — can be bound).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from dnslib import CNAME, QTYPE, RCODE, RR, SOA, SRV, A, DNSRecord

from gitkube.agents.dns.records import Zone

log = logging.getLogger("gitkube.dns")
Address = tuple[str, int]
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
_UDP_LIMIT = 512


def host_resolvers(path: str = "/etc/resolv.conf") -> list[Address]:
    """The host's nameservers (port 53), in file order."""
    out: list[Address] = []
    with contextlib.suppress(OSError), open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                out.append((parts[1], 53))
    return out


class DnsServer:
    """UDP+TCP DNS server (see the module docstring)."""

    def __init__(self, zone_source: Callable[[], Zone], listen: Sequence[Address],
                 upstreams: Sequence[Address], *, ttl: int = 5, timeout: float = 2.0,
                 workers: int = 8):
        self.zone_source = zone_source
        self.listen = list(listen)
        self.upstreams = [u for u in upstreams if u not in self.listen]
        self.ttl = ttl
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dns")
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.bound: list[tuple[str, Address]] = []  # ("udp"|"tcp", address) actually bound

    # -- lifecycle

    def start(self) -> None:
        for address in self.listen:
            for kind in ("udp", "tcp"):
                try:
                    sock = self._bind(kind, address)
                except OSError as e:
                    log.warning("dns: cannot listen on %s %s:%d: %s", kind, *address, e)
                    continue
                self._socks.append(sock)
                self.bound.append((kind, sock.getsockname()[:2]))
                target = self._serve_udp if kind == "udp" else self._serve_tcp
                t = threading.Thread(target=target, args=(sock,), daemon=True,
                                     name=f"dns {kind} {address[0]}:{address[1]}")
                t.start()
                self._threads.append(t)
        if not self._socks:
            raise OSError(f"dns: could not listen on any of {self.listen}")

    def stop(self) -> None:
        self._stop.set()
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for t in self._threads:
            t.join(timeout=5)
        self._socks, self._threads = [], []
        self._pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _bind(kind: str, address: Address) -> socket.socket:
        sock = socket.socket(socket.AF_INET,
                             socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
            sock.bind(address)
            if kind == "tcp":
                sock.listen(64)
            sock.settimeout(0.5)
        except OSError:
            sock.close()
            raise
        return sock

    # -- serving

    def _serve_udp(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self._pool.submit(self._answer_udp, sock, data, peer)

    def _answer_udp(self, sock: socket.socket, data: bytes, peer: Address) -> None:
        out = self.answer(data, tcp=False)
        if out is not None:
            with contextlib.suppress(OSError):
                sock.sendto(out, peer)

    def _serve_tcp(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._pool.submit(self._answer_tcp, conn)

    def _answer_tcp(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(self.timeout * 2)
            try:
                while True:
                    head = _recv_exact(conn, 2)
                    if not head:
                        return
                    data = _recv_exact(conn, struct.unpack("!H", head)[0])
                    out = self.answer(data, tcp=True)
                    if out is None:
                        return
                    conn.sendall(struct.pack("!H", len(out)) + out)
            except OSError:
                return

    # -- answers

    def answer(self, data: bytes, *, tcp: bool) -> bytes | None:
        """The reply to one query message (None: not a DNS message, no answer). An internal
        error answers SERVFAIL (and is logged) rather than leaving the client waiting."""
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        try:
            return self._answer(request, data, tcp)
        except Exception:
            log.exception("dns: answering %s failed", request.q.qname)
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return bytes(reply.pack())

    def _answer(self, request: DNSRecord, data: bytes, tcp: bool) -> bytes:
        if request.header.opcode != 0 or not request.questions:
            reply = request.reply()
            reply.header.rcode = RCODE.NOTIMP
            return bytes(reply.pack())
        zone = self.zone_source()
        question = request.q
        name = str(question.qname)
        if not zone.in_zone(name):
            return self._forward(request, data, tcp)
        reply = request.reply()  # aa set
        kind = QTYPE[question.qtype]
        found = zone.lookup(name, kind)
        if not found.exists:
            reply.header.rcode = RCODE.NXDOMAIN
        if found.cname:
            reply.add_answer(RR(question.qname, QTYPE.CNAME, rdata=CNAME(found.cname + "."),
                                ttl=self.ttl))
        for ip in found.addresses:
            reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(ip), ttl=self.ttl))
        for srv in found.srv:
            reply.add_answer(RR(question.qname, QTYPE.SRV, ttl=self.ttl,
                                rdata=SRV(srv.priority, srv.weight, srv.port, srv.target)))
        for target, ip in found.extra:
            reply.add_ar(RR(target, QTYPE.A, rdata=A(ip), ttl=self.ttl))
        if not reply.rr:
            reply.add_auth(RR(zone.domain, QTYPE.SOA, ttl=self.ttl, rdata=SOA(
                f"ns.dns.{zone.domain}", f"hostmaster.{zone.domain}",
                (1, 7200, 1800, 86400, self.ttl))))
        packed = bytes(reply.pack())
        if not tcp and len(packed) > _UDP_LIMIT:
            packed = bytes(reply.truncate().pack())
        return packed

    def _forward(self, request: DNSRecord, data: bytes, tcp: bool) -> bytes:
        if not self.upstreams:
            reply = request.reply()
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return bytes(reply.pack())
        for upstream in self.upstreams:
            try:
                return _ask(upstream, data, tcp, self.timeout)
            except OSError as e:
                log.debug("dns: upstream %s:%d: %s", *upstream, e)
        reply = request.reply()
        reply.header.aa = 0
        reply.header.rcode = RCODE.SERVFAIL
        return bytes(reply.pack())


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf


def _ask(upstream: Address, data: bytes, tcp: bool, timeout: float) -> bytes:
    """Send one query to an upstream resolver and return its reply (OSError on failure)."""
    query_id = data[:2]
    if tcp:
        with socket.create_connection(upstream, timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(data)) + data)
            head = _recv_exact(s, 2)
            if not head:
                raise OSError("upstream closed the connection")
            return _recv_exact(s, struct.unpack("!H", head)[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(upstream)
        s.send(data)
        while True:
            reply = s.recv(65535)
            if reply[:2] == query_id:
                return reply


__all__ = ["DnsServer", "host_resolvers"]
