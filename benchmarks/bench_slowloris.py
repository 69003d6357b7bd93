"""An honest client's GET latency while a slowloris holds 1,500 connections to the API.

    .venv/bin/python benchmarks/bench_slowloris.py [--connections 1500] [--seconds 20]

A real `gitkube serve --runtime simulated` (API server, scheduler, controllers, a kubelet on
simulated nodes; SQLite in a temporary state directory; TLS and a bearer token on
127.0.0.1) runs as its own process. This process is the honest client; the attacker is a
second process (this script with ``--attack``). Everything stays on loopback: every
connection goes to 127.0.0.1; the attacker's connections come from 127.0.0.2 (a second
loopback address, as an attacker is another host than its victims; ``--attacker-source``
changes it).

1. the honest client's GETs of single ConfigMaps, idle: ``--gets`` on one keep-alive
   connection and ``--fresh`` each on a new HTTPS connection (TCP + TLS handshake + GET);
2. the attacker opens ``--connections`` TLS connections, sends a request line and then one
   header line per connection every ``--trickle`` seconds, never ending the head, and
   reopens each connection the server closes, once per round, for ``--attack-seconds``;
3. once every connection has been tried, the same GETs again, under the attack;
4. the daemon's threads (/proc) during the attack, and how the attacker fared.

Printed: p50/p99 idle and under attack for both kinds of GET, and their ratio (target: the
fresh-connection p99 under attack within 3x of idle). The machine may be shared: the
figures are what this run saw.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.serving import start_serve, stop
from gitkube.api.http_client import HTTPClient
from gitkube.daemon.state import DaemonInfo
from gitkube.daemon.tokens import load_tokens

TARGET_RATIO = 3.0
OBJECTS = 100


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"n": len(ms), "mean": statistics.fmean(ms), "p50": pct(ms, 50),
            "p99": pct(ms, 99), "max": max(ms)}


def proc_status(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "Threads":
            out[key] = float(value.split()[0])
        elif key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


# --- the daemon -------------------------------------------------------------------------------


def start_daemon(state: Path) -> tuple[subprocess.Popen[bytes], DaemonInfo]:
    return start_serve(state, "--runtime", "simulated")


# --- the honest client ------------------------------------------------------------------------


def keepalive_gets(client: HTTPClient, n: int) -> dict[str, float]:
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        client.get("v1", "ConfigMap", "default", f"cm-{i % OBJECTS}")
        samples.append(time.perf_counter() - t0)
    return summary_ms(samples)


def fresh_gets(port: int, ctx: ssl.SSLContext, token: str, n: int) -> dict[str, Any]:
    """GETs each on a new HTTPS connection; a refused or failed one counts as an error."""
    samples, errors = [], 0
    for i in range(n):
        t0 = time.perf_counter()
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
        try:
            conn.request("GET", f"/api/v1/namespaces/default/configmaps/cm-{i % OBJECTS}",
                         headers={"Authorization": f"Bearer {token}", "Connection": "close"})
            response = conn.getresponse()
            json.loads(response.read())
            if response.status != 200:
                errors += 1
        except (OSError, http.client.HTTPException, ValueError):
            errors += 1
        finally:
            conn.close()
        samples.append(time.perf_counter() - t0)
    return {**summary_ms(samples), "errors": errors}


# --- the attacker (a second process) ----------------------------------------------------------


def attack(port: int, ca: str, connections: int, seconds: float, trickle: float,
           source: str) -> None:
    """Hold ``connections`` slow TLS requests open for ``seconds``; print what happened as
    one JSON line on stdout when done (and a progress line once all were first tried)."""
    ctx = ssl.create_default_context(cafile=ca)
    end = time.monotonic() + seconds
    socks: list[ssl.SSLSocket | None] = [None] * connections
    stats = {"opened": 0, "failed": 0, "closed_by_server": 0, "refused_429_503": 0}
    first_round = True
    while time.monotonic() < end:
        round_started = time.monotonic()
        for i in range(connections):
            if time.monotonic() >= end:
                break
            sock = socks[i]
            if sock is not None:
                sock = _trickle(sock, stats)
            if sock is None:
                sock = _open_slow(ctx, port, source, stats)
            socks[i] = sock
        if first_round:
            print(json.dumps({"ready": True, **stats}), flush=True)
            first_round = False
        time.sleep(max(0.0, trickle - (time.monotonic() - round_started)))
    for sock in socks:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
    print(json.dumps(stats), flush=True)


def _open_slow(ctx: ssl.SSLContext, port: int, source: str,
               stats: dict[str, int]) -> ssl.SSLSocket | None:
    """A TLS connection from ``source`` with a request whose headers never end (None, and
    counted as failed, when the server does not take it)."""
    raw = socket.socket()
    try:
        raw.settimeout(5)
        raw.bind((source, 0))
        raw.connect(("127.0.0.1", port))
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        tls.setblocking(False)
        stats["opened"] += 1
        return tls
    except (OSError, ssl.SSLError):
        stats["failed"] += 1
        raw.close()
        return None


def _trickle(sock: ssl.SSLSocket, stats: dict[str, int]) -> ssl.SSLSocket | None:
    """Send one more header line on ``sock``; None (counted) when the server answered or
    closed it meanwhile."""
    try:
        data = sock.recv(4096)
        if data.startswith((b"HTTP/1.1 429", b"HTTP/1.1 503")):
            stats["refused_429_503"] += 1
    except (ssl.SSLWantReadError, BlockingIOError):
        try:
            sock.send(b"X-Slow: 1\r\n")  # one more header line; never the end
            return sock
        except (OSError, ssl.SSLError):
            pass
    except (OSError, ssl.SSLError):
        pass
    stats["closed_by_server"] += 1
    sock.close()
    return None


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=1500)
    ap.add_argument("--gets", type=int, default=1000, help="keep-alive GETs per phase")
    ap.add_argument("--fresh", type=int, default=300, help="new-connection GETs per phase")
    ap.add_argument("--trickle", type=float, default=5.0)
    ap.add_argument("--attack-seconds", type=float, default=60.0)
    ap.add_argument("--attacker-source", default="127.0.0.2")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--attack", nargs=2, metavar=("PORT", "CA"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.attack:
        attack(int(args.attack[0]), args.attack[1], args.connections, args.attack_seconds,
               args.trickle, args.attacker_source)
        return

    results: dict[str, Any] = {"connections": args.connections}
    with tempfile.TemporaryDirectory(prefix="gk-bench-slowloris-") as tmp:
        proc, info = start_daemon(Path(tmp))
        attacker: subprocess.Popen[str] | None = None
        try:
            assert info.url and info.tokens_file and info.ca_file
            port = int(info.url.rsplit(":", 1)[1])
            token = next(e.token for e in load_tokens(Path(info.tokens_file))
                         if e.role == "admin")
            ctx = ssl.create_default_context(cafile=info.ca_file)
            client = HTTPClient(info.url, token=token, ca=info.ca_file)
            for i in range(OBJECTS):
                client.create({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": f"cm-{i}", "namespace": "default"},
                               "data": {"k": "v" * 200}})
            keepalive_gets(client, 200)  # warm up
            results["daemon_idle"] = proc_status(proc.pid)
            results["idle_keepalive"] = keepalive_gets(client, args.gets)
            results["idle_fresh"] = fresh_gets(port, ctx, token, args.fresh)
            attacker = subprocess.Popen(
                [sys.executable, __file__, "--attack", str(port), info.ca_file,
                 "--connections", str(args.connections), "--attack-seconds",
                 str(args.attack_seconds), "--trickle", str(args.trickle),
                 "--attacker-source", args.attacker_source],
                stdout=subprocess.PIPE, text=True)
            assert attacker.stdout is not None
            ready = json.loads(attacker.stdout.readline())  # every connection tried once
            results["attack_ramp"] = ready
            time.sleep(args.trickle)  # a trickle round with all of them held
            results["daemon_attack"] = proc_status(proc.pid)
            results["attack_keepalive"] = keepalive_gets(client, args.gets)
            results["attack_fresh"] = fresh_gets(port, ctx, token, args.fresh)
            results["daemon_attack_end"] = proc_status(proc.pid)
            results["attacker"] = json.loads(attacker.stdout.readline())
            attacker.wait(30)
            results["after_attack_keepalive"] = keepalive_gets(client, args.gets)
        finally:
            if attacker is not None:
                stop(attacker)
            stop(proc)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    report(results, args)


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    def row(label: str, s: dict[str, float]) -> str:
        return (f"  {label:<30} p50 {s['p50']:7.2f} ms   p99 {s['p99']:7.2f} ms   "
                f"max {s['max']:8.2f} ms   (n={s['n']})")

    print(f"gitkube serve (simulated kubelet, HTTPS + token); slowloris of "
          f"{r['connections']:,} TLS connections from {args.attacker_source}, a header line "
          f"each every {args.trickle:g} s")
    print("idle:")
    print(row("GET, keep-alive connection", r["idle_keepalive"]))
    print(row("GET, new connection each", r["idle_fresh"])
          + f"  errors {r['idle_fresh']['errors']}")
    print("under the slowloris:")
    print(row("GET, keep-alive connection", r["attack_keepalive"]))
    print(row("GET, new connection each", r["attack_fresh"])
          + f"  errors {r['attack_fresh']['errors']}")
    print(row("GET, keep-alive, after it", r["after_attack_keepalive"]))
    for kind in ("keepalive", "fresh"):
        ratio = r[f"attack_{kind}"]["p99"] / r[f"idle_{kind}"]["p99"]
        label = "keep-alive" if kind == "keepalive" else "new connection"
        verdict = ""
        if kind == "fresh":
            ok = ratio <= TARGET_RATIO and r["attack_fresh"]["errors"] == 0
            verdict = f"  (target <= {TARGET_RATIO:g}x, no errors: {'met' if ok else 'MISSED'})"
        print(f"  p99 ratio, {label}: {ratio:.2f}x{verdict}")
    a = r["attacker"]
    print(f"attacker: {a['opened']:,} connections opened, {a['refused_429_503']:,} answered "
          f"429/503, {a['closed_by_server']:,} closed by the server, {a['failed']:,} failed")
    d0, d1 = r["daemon_idle"], r["daemon_attack"]
    print(f"daemon threads: idle {d0['Threads']:.0f}, under attack {d1['Threads']:.0f} "
          f"(then {r['daemon_attack_end']['Threads']:.0f}); RSS idle {d0['VmRSS']:.0f} MB, "
          f"under attack {d1['VmRSS']:.0f} MB (peak {r['daemon_attack_end']['VmHWM']:.0f} MB)")


if __name__ == "__main__":
    main()
